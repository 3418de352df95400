"""Keras' promotion of an integer input that meets a layer's float32 weights.

Keras' ops compute `result_type(int, float32) = float32`: Dense's matmul, the convolutions,
the recurrent kinds' input projections on integer ids (an int32 Input, Discretization's or
Hashing's output) compute in float32 and give float32. Kinds that declare the
`promotes_integers(attrs)` facet (seqc/ops/base.py) do the same in seqc: their input is cast
to float32 before the kind sees it. This module is the one rule every stage applies:

- `infer` types the node's output as the kind's `infer` on the float32 input (the builder,
  the folder reader, the passes that re-infer types);
- `cast_inputs` casts the NumPy inputs once before `forward` (seqc.training.executor's
  `node_inputs`, used by every node runner);
- the exporter casts the ONNX inputs (Cast to FLOAT) before the kind's `lower`
  (seqc.export.emitter's `lower_op`), through `promoted`.

No gradient flows into an integer value: the executor never asks for one (a graph input, or
the output of a kind that reads or makes integers, needs none), and the kind's `dx` of the
float32 copy is dropped. Kinds that read integers themselves (Embedding, CategoryEncoding,
IntegerLookup, Hashing, Discretization) or cast them (Normalization, Rescaling) leave the
facet out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.types import TensorType


def is_integer(dtype: str) -> bool:
    return dtype.startswith(("int", "uint"))


def promotes(op: Any, attrs: Any) -> bool:
    """Whether the kind casts an integer input to float32 first, as Keras' ops do."""
    return op.promotes_integers is not None and op.promotes_integers(attrs)


def promoted(op: Any, attrs: Any, in_types: list[TensorType]) -> list[TensorType]:
    """The input types as the kind computes on them: integer ones float32 where it promotes."""
    if not any(is_integer(t.dtype) for t in in_types) or not promotes(op, attrs):
        return list(in_types)
    return [TensorType(t.shape, "float32") if is_integer(t.dtype) else t for t in in_types]


def infer(op: Any, attrs: Any, in_types: list[TensorType]) -> list[TensorType]:
    """`op.infer` on the promoted input types: the node's output types in the IR."""
    return op.infer(attrs, promoted(op, attrs, in_types))


def cast_inputs(op: Any, attrs: Any, xs: list[Any]) -> list[Any]:
    """The NumPy inputs as the kind computes on them (see `promoted`)."""
    if not any(np.issubdtype(x.dtype, np.integer) for x in xs) or not promotes(op, attrs):
        return xs
    return [x.astype(np.float32) if np.issubdtype(x.dtype, np.integer) else x for x in xs]


def always(op: Any, attrs: Any) -> bool:
    """The `promotes_integers` facet of a kind that computes in float32 whatever its attrs
    (a class attribute: `promotes_integers = promote_always`)."""
    return True
