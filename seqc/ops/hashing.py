"""Hashing (Keras preprocessing): bin = Fingerprint64(str(int(x))) % num_bins, Keras'
tf.strings.to_hash_bucket_fast over tf.as_string (floats are cast to int64 first), or with
`salt` SipHash-2-4 keyed by it (to_hash_bucket_strong); with mask_value, x == mask_value -> 0
and the others hash into 1..num_bins-1. Then int (int64) or one_hot / multi_hot / count.
ONNX: the exact uint64 hash graph of _hashes, Mod, the encoding. Shape: int keeps it; see
_categorical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._categorical import OutputMode, encode, encoded_type, lower_encode
from ._hashes import hash_bins, lower_hash_bins
from .base import BadExample, Example, OpDef, UInt64, expect_rank, positive_int, register
from .category_encoding import refuse_sparse


@dataclass(frozen=True)
class HashingAttrs:
    num_bins: int
    mask_value: int | float | None = None
    # Keras: an int s means (s, s); SipHash's key halves are uint64
    salt: UInt64 | tuple[UInt64, UInt64] | None = None
    output_mode: OutputMode = "int"
    sparse: bool = False
    dtype: str | None = None  # Keras: int64 for output_mode="int", else float32

    def __post_init__(self) -> None:
        if isinstance(self.salt, int):
            object.__setattr__(self, "salt", (self.salt, self.salt))


def _out_dtype(a: HashingAttrs) -> str:
    return a.dtype or ("int64" if a.output_mode == "int" else "float32")


def _hash_bins(a: HashingAttrs) -> int:
    return a.num_bins - 1 if a.mask_value is not None and a.num_bins > 1 else a.num_bins


@register
class Hashing(OpDef):
    kind = "Hashing"
    Attrs = HashingAttrs
    category = "preprocessing"
    summary = "Hashes integer values into num_bins bins with Keras' FarmHash fingerprint."
    examples = [
        Example({"num_bins": 3}, (4,), "int64", (-1000, 1000)),
        Example({"num_bins": 1000, "mask_value": 0}, (3,), "int32", (-3, 3)),
        Example({"num_bins": 5, "output_mode": "one_hot"}, (1,), "int64", (0, 10 ** 9)),
        Example({"num_bins": 4, "output_mode": "multi_hot"}, (3,), "int64", (-50, 50)),
        Example({"num_bins": 6, "output_mode": "count", "dtype": "float32"}, (5,), "int32",
                (0, 20)),
        Example({"num_bins": 7, "dtype": "int32"}, (2, 3), "float32", (-100, 100)),
        Example({"num_bins": 3, "salt": [133, 137]}, (4,), "int64", (-10 ** 9, 10 ** 9)),
        Example({"num_bins": 5, "salt": 7, "mask_value": 1}, (3,), "int32", (0, 4)),
    ]
    bad_examples = [
        BadExample({"num_bins": 0}, (3,), "num_bins"),
        BadExample({"num_bins": 3, "salt": [1, 2, 3]}, (3,), "salt"),
        BadExample({"num_bins": 3, "mask_value": ""}, (3,), "mask_value"),
        BadExample({"num_bins": 3, "output_mode": "count"}, (2, 3), "(batch, values)"),
        BadExample({"num_bins": 3, "dtype": "float32"}, (3,), "dtype"),
        BadExample({"num_bins": 3, "sparse": True, "output_mode": "count"}, (3,), "sparse"),
    ]

    def check(self, a: HashingAttrs) -> None:
        positive_int(a, "num_bins")
        refuse_sparse(a)
        ok = ("int32", "int64") if a.output_mode == "int" else ("float32",)
        if a.dtype is not None and a.dtype not in ok:
            raise DefinitionError(f"with output_mode={a.output_mode!r} `dtype` must be one of "
                                  f"{', '.join(ok)}", field="dtype", received=f"dtype={a.dtype!r}")

    def infer(self, a: HashingAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        expect_rank(x, 2, "Hashing")
        if x.dtype not in ("int32", "int64", "float32", "float64"):
            raise DefinitionError("Hashing needs numeric inputs", field="input",
                                  received=f"input {x}")
        return [encoded_type(x, a.output_mode, a.num_bins, _out_dtype(a), "Hashing")]

    def forward(self, a, params, xs, ctx):
        x = xs[0]
        bins = hash_bins(x.astype(np.int64), _hash_bins(a), a.salt)  # floats truncate
        if a.mask_value is not None:
            bins = np.where(x == a.mask_value, 0, bins + 1)
        return [encode(bins, a.output_mode, a.num_bins, _out_dtype(a))], None

    def backward(self, a, params, cache, dys):
        return [None], {}  # hashes are not differentiable

    def lower(self, a, params, xs, em):
        t = em.type_of(xs[0])
        x = em.op("Cast", [xs[0]], to=7)  # INT64 (floats truncate, as tf.cast does)
        bins = lower_hash_bins(em, x, t.rank, _hash_bins(a), a.salt)
        if a.mask_value is not None:
            mask = em.op("Equal", [xs[0], em.const(np.array(a.mask_value, t.dtype), "mask")])
            one = em.const(np.array(1, np.int64), "one")
            bins = em.op("Where", [mask, em.const(np.array(0, np.int64), "zero"),
                                   em.op("Add", [bins, one])])
        return [lower_encode(em, bins, t, a.output_mode, a.num_bins, _out_dtype(a))]
