"""CategoryEncoding (Keras preprocessing): integer ids in [0, num_tokens) -> one_hot, multi_hot
or count vectors of num_tokens float32 slots. ONNX: Equal(ids[..., None], Range) + Cast,
ReduceSum over the sample axis for multi_hot/count (see _categorical). Shape: one_hot (N, k) ->
(N, k, num_tokens) ((N, 1) -> (N, num_tokens)); multi_hot/count (N, k) -> (N, num_tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DataError, DefinitionError
from ..ir.types import TensorType
from ._categorical import encode, encoded_type, float_out, lower_encode
from .base import BadExample, Example, OpDef, expect_rank, positive_int, register

INT_OR_FLOAT = ("int32", "int64", "float32", "float64")


@dataclass(frozen=True)
class CategoryEncodingAttrs:
    num_tokens: int | None = None
    output_mode: Literal["one_hot", "multi_hot", "count", "binary"] = "multi_hot"
    sparse: bool = False

    def __post_init__(self) -> None:
        if self.output_mode == "binary":  # Keras' deprecated name
            object.__setattr__(self, "output_mode", "multi_hot")


def refuse_sparse(a) -> None:
    """Keras' sparse outputs are TensorFlow SparseTensors; ONNX graphs here are dense."""
    if a.sparse:
        raise DefinitionError(
            "sparse=True returns a TensorFlow SparseTensor, which seqc (dense arrays, dense "
            "ONNX) does not model", field="sparse", received="sparse=True",
            hint="use sparse=False (the default): the output is the same values, dense")


def checked_ids(x: np.ndarray, count: int, who: str) -> np.ndarray:
    """Ids as int64 (floats truncate, as Keras' cast does); one outside [0, count) is a
    DataError, as Keras documents ("an error will be thrown")."""
    ids = x.astype(np.int64, copy=False)
    bad = (ids < 0) | (ids >= count)
    if np.any(bad):
        value = x[tuple(np.argwhere(bad)[0])].item()
        raise DataError(f"{who} inputs must be integers in [0, {count}); the data holds "
                        f"{value}", field="input", received=f"value {value}",
                        hint="raise num_tokens, or map the values to [0, num_tokens) first "
                             "(IntegerLookup does that for any integer vocabulary)")
    return ids


@register
class CategoryEncoding(OpDef):
    kind = "CategoryEncoding"
    Attrs = CategoryEncodingAttrs
    category = "preprocessing"
    summary = "Encodes integer ids as one-hot, multi-hot or count vectors of num_tokens slots."
    examples = [
        Example({"num_tokens": 4}, (3,), "int32", (0, 4)),
        Example({"num_tokens": 5, "output_mode": "one_hot"}, (1,), "int64", (0, 5)),
        Example({"num_tokens": 3, "output_mode": "one_hot"}, (4,), "int32", (0, 3)),
        Example({"num_tokens": 6, "output_mode": "count"}, (5,), "int32", (0, 6)),
        Example({"num_tokens": 4, "output_mode": "count"}, (None,), "int64", (0, 4)),
        # Ids read from a CSV arrive as float32; the integer part is the id.
        Example({"num_tokens": 3, "output_mode": "binary"}, (2,), "float32", (0, 3)),
    ]
    bad_examples = [
        BadExample({}, (3,), "num_tokens"),
        BadExample({"num_tokens": 0}, (3,), "num_tokens"),
        BadExample({"num_tokens": 3, "output_mode": "tf_idf"}, (3,), "output_mode"),
        BadExample({"num_tokens": 3, "sparse": True}, (3,), "SparseTensor"),
        BadExample({"num_tokens": 3}, (2, 3), "(batch, values)"),
    ]

    def id_count(self, a):
        return a.num_tokens

    def check(self, a: CategoryEncodingAttrs) -> None:
        if a.num_tokens is None:
            raise DefinitionError(
                "num_tokens must be set to use CategoryEncoding", field="num_tokens",
                received="num_tokens=None",
                hint="set num_tokens to the number of ids; for an unknown integer vocabulary "
                     "use IntegerLookup")
        positive_int(a, "num_tokens")
        refuse_sparse(a)

    def infer(self, a: CategoryEncodingAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        expect_rank(x, 2, "CategoryEncoding")
        if x.dtype not in INT_OR_FLOAT:
            raise DefinitionError("CategoryEncoding needs integer ids", field="input",
                                  received=f"input {x}")
        return [encoded_type(x, a.output_mode, a.num_tokens, "float32", "CategoryEncoding")]

    def forward(self, a, params, xs, ctx):
        ids = checked_ids(xs[0], a.num_tokens, "CategoryEncoding")
        return [encode(ids, a.output_mode, a.num_tokens, float_out(xs[0]))], None

    def backward(self, a, params, cache, dys):
        return [None], {}  # ids are not differentiable

    def lower(self, a, params, xs, em):
        t = em.type_of(xs[0])
        ids = em.op("Cast", [xs[0]], to=7)  # INT64
        return [lower_encode(em, ids, t, a.output_mode, a.num_tokens, "float32")]
