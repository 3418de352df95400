"""RepeatVector: y[n, t, f] = x[n, f] for t < n_repeats (Keras' `n`); backward sums over t.

ONNX: Unsqueeze(x, [1]) then Expand to (1, n, 1) (broadcasts the batch, which stays dynamic).
Shape: (N, F) -> (N, n, F).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.types import TensorType
from .base import BadExample, Example, OpDef, expect_rank, positive_int, register


@dataclass(frozen=True)
class RepeatVectorAttrs:
    n: int


@register
class RepeatVector(OpDef):
    kind = "RepeatVector"
    Attrs = RepeatVectorAttrs
    category = "reshaping"
    summary = "Repeats a vector n times along a new time axis."
    examples = [
        Example({"n": 3}, (2,)),
        Example({"n": 1}, (4,)),
    ]
    bad_examples = [
        BadExample({"n": 0}, (3,), "'n'"),
        BadExample({"n": 2}, (3, 2), "rank 2"),
        BadExample({"n": 2.5}, (3,), "integer"),
        BadExample({"times": 2}, (3,), "Valid arguments"),
    ]

    def check(self, a: RepeatVectorAttrs) -> None:
        positive_int(a, "n")

    def infer(self, a: RepeatVectorAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        expect_rank(x, 2, "RepeatVector", max_rank=2)
        return [x.with_shape((x.shape[0], a.n, x.shape[1]))]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        # A broadcast view would be read-only and aliased; later ops may write in place.
        return [np.repeat(x[:, None, :], a.n, axis=1)], None

    def backward(self, a, params, cache, dys):
        return [dys[0].sum(axis=1)], {}

    def lower(self, a, params, xs, em):
        y = em.op("Unsqueeze", [xs[0], em.const(np.array([1], np.int64), "axes")])
        return [em.op("Expand", [y, em.const(np.array([1, a.n, 1], np.int64), "repeats")])]
