"""UpSampling1D: y[:, i] = x[:, i // size] (each step repeated `size` times).

ONNX: Resize (nearest, asymmetric, floor; scales input [1, 1, size]) on (N, C, steps).
Shape: steps -> steps * size.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._resize import UpSamplingBase
from .base import BadExample, Example, positive_int, register


@dataclass(frozen=True)
class UpSampling1DAttrs:
    # Keras' UpSampling1D takes one integer only (a tuple is a TypeError there).
    size: int = 2


@register
class UpSampling1D(UpSamplingBase):
    kind = "UpSampling1D"
    Attrs = UpSampling1DAttrs
    nd = 1
    summary = "Repeats each step `size` times along the steps axis."
    examples = [
        Example({}, (3, 2)),
        Example({"size": 3}, (2, 1)),
        Example({"size": 1}, (2, 2)),
        Example({"size": 2}, (None, 2)),
    ]
    bad_examples = [
        BadExample({"size": 0}, (3, 2), "positive"),
        BadExample({"size": [2, 2]}, (3, 2), "size"),
        BadExample({"size": 2}, (3,), "rank 3"),
        BadExample({"sise": 2}, (3, 2), "did you mean"),
    ]

    def check(self, a: UpSampling1DAttrs) -> None:
        positive_int(a, "size")
