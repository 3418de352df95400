"""Cropping1D: y = x[:, before : steps - after, :] with `cropping` = (before, after).

ONNX: Slice (starts/ends/axes as inputs) on the (N, C, steps) layout.
Shape: steps -> steps - before - after, which must stay >= 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._resize import CroppingBase, canonical_pairs
from .base import BadExample, Example, register


@dataclass(frozen=True)
class Cropping1DAttrs:
    # Keras' Cropping1D has no data_format: always (batch, steps, channels).
    cropping: int | tuple[int, ...] = (1, 1)

    def __post_init__(self) -> None:
        canonical_pairs(self, "cropping", 1)


@register
class Cropping1D(CroppingBase):
    kind = "Cropping1D"
    Attrs = Cropping1DAttrs
    nd = 1
    summary = "Removes steps from the start and end of each sequence."
    examples = [
        Example({}, (4, 2)),
        Example({"cropping": [0, 2]}, (5, 1)),
        Example({"cropping": [2, 0]}, (3, 2)),
        Example({"cropping": 1}, (None, 2)),
    ]
    bad_examples = [
        BadExample({"cropping": [2, 2]}, (4, 2), "removes all 4 steps"),
        BadExample({"cropping": [1, 2, 3]}, (5, 2), "cropping"),
        BadExample({"cropping": -1}, (5, 2), ">= 0"),
        BadExample({"cropping": 1}, (5,), "rank 3"),
        BadExample({"croping": 1}, (5, 2), "did you mean"),
    ]
