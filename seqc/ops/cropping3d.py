"""Cropping3D: y = x with (before, after) entries removed on depth, rows and cols.

ONNX: Slice (starts/ends/axes as inputs) on the (N, C, depth, rows, cols) layout.
Shape: each spatial size shrinks by its before + after and must stay >= 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._resize import CroppingBase, canonical_pairs, finish_format
from .base import BadExample, Example, register


@dataclass(frozen=True)
class Cropping3DAttrs:
    # int, 3 symmetric ints or 3 (before, after) pairs; canonical is the last.
    cropping: int | tuple[int | tuple[int, ...], ...] = ((1, 1), (1, 1), (1, 1))
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        canonical_pairs(self, "cropping", 3)
        finish_format(self)


@register
class Cropping3D(CroppingBase):
    kind = "Cropping3D"
    Attrs = Cropping3DAttrs
    nd = 3
    summary = "Removes entries at the borders of each volume along depth, rows and cols."
    examples = [
        Example({}, (3, 3, 3, 1)),
        Example({"cropping": [[1, 0], [0, 1], [0, 0]], "data_format": "channels_first"},
                (1, 2, 2, 2)),
        Example({"cropping": [0, 1, 0]}, (2, 3, None, 1)),
    ]
    bad_examples = [
        BadExample({}, (2, 3, 3, 1), "removes all 2 depth"),
        BadExample({"cropping": [1, 1]}, (3, 3, 3, 1), "cropping"),
        BadExample({"cropping": 1}, (3, 3, 3), "rank 5"),
        BadExample({"crop": 1}, (3, 3, 3, 1), "cropping"),
    ]
