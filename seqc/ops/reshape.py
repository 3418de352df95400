"""Reshape: (N, *in) -> (N, *target_shape); one -1 takes the remaining size, as in Keras.

ONNX: Reshape(x, [0, *target_shape]); the leading 0 copies the batch, so it stays dynamic.
Shape: the element count per sample must be unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, DefinitionError
from ..ir.types import TensorType
from .base import BadExample, Example, OpDef, register


@dataclass(frozen=True)
class ReshapeAttrs:
    target_shape: tuple[int, ...]


@register
class Reshape(OpDef):
    kind = "Reshape"
    Attrs = ReshapeAttrs
    category = "reshaping"
    summary = "Reshapes each sample to target_shape (one -1 allowed)."
    examples = [
        Example({"target_shape": [3, 2]}, (6,)),
        Example({"target_shape": [-1]}, (2, 3)),
        Example({"target_shape": [2, -1, 2]}, (2, 2, 3)),
        Example({"target_shape": [-1, 2]}, (None, 2)),
        Example({"target_shape": [4]}, (2, 2)),
    ]
    bad_examples = [
        BadExample({"target_shape": [4, 2]}, (6,), "element count"),
        BadExample({"target_shape": [-1, -1]}, (6,), "-1"),
        BadExample({"target_shape": [0, 6]}, (6,), "positive"),
        BadExample({"target_shape": [-2, 3]}, (6,), "positive"),
        BadExample({"target_shape": [4, -1]}, (6,), "divide"),
        BadExample({}, (6,), "target_shape"),
        BadExample({"target_shape": "3,2"}, (6,), "target_shape"),
    ]

    def check(self, a: ReshapeAttrs) -> None:
        t = list(a.target_shape)
        if t.count(-1) > 1:
            raise DefinitionError("`target_shape` may hold at most one -1 (the inferred size)",
                                  field="target_shape", received=f"target_shape={t}")
        if any(d <= 0 and d != -1 for d in t):
            raise DefinitionError("`target_shape` entries must be positive, or -1 once",
                                  field="target_shape", received=f"target_shape={t}")

    def infer(self, a: ReshapeAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        t = a.target_shape
        feats = x.shape[1:]
        if any(d is None for d in feats):
            # Only run time knows the size; -1 stays unknown.
            return [x.with_shape((x.shape[0], *(None if d == -1 else d for d in t)))]
        n = math.prod(feats)
        known = math.prod(d for d in t if d != -1)
        if -1 not in t:
            if known != n:
                raise DefinitionError(
                    f"Reshape must keep the element count per sample ({n})",
                    field="target_shape", received=f"target_shape={list(t)} ({known} elements), "
                    f"input {x}")
            return [x.with_shape((x.shape[0], *t))]
        if n % known:
            raise DefinitionError(
                f"the {n} elements per sample do not divide into target_shape",
                field="target_shape", received=f"target_shape={list(t)}, input {x}")
        return [x.with_shape((x.shape[0], *(n // known if d == -1 else d for d in t)))]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        try:
            y = x.reshape(x.shape[0], *a.target_shape)
        except ValueError:
            # Reachable only with variable-length inputs: the static check could not see it.
            raise DataError("input cannot be reshaped to target_shape", field="target_shape",
                            received=f"target_shape={list(a.target_shape)}, input array "
                            f"shape {x.shape}") from None
        return [y], x.shape

    def backward(self, a, params, shape, dys):
        return [dys[0].reshape(shape)], {}

    def lower(self, a, params, xs, em):
        shape = em.const(np.array([0, *a.target_shape], np.int64), "shape")
        return [em.op("Reshape", [xs[0], shape])]
