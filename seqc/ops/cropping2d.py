"""Cropping2D: y = x[:, top : rows - bottom, left : cols - right, :].

ONNX: Slice (starts/ends/axes as inputs) on the (N, C, rows, cols) layout.
Shape: rows -> rows - top - bottom, cols -> cols - left - right, each >= 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._resize import CroppingBase, canonical_pairs, finish_format
from .base import BadExample, Example, register


@dataclass(frozen=True)
class Cropping2DAttrs:
    # int, (sym_rows, sym_cols) or ((top, bottom), (left, right)); canonical is the last.
    cropping: int | tuple[int | tuple[int, ...], ...] = ((0, 0), (0, 0))
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        canonical_pairs(self, "cropping", 2)
        finish_format(self)


@register
class Cropping2D(CroppingBase):
    kind = "Cropping2D"
    Attrs = Cropping2DAttrs
    nd = 2
    summary = "Removes rows and columns at the borders of each image."
    examples = [
        Example({}, (2, 2, 1)),
        Example({"cropping": [[1, 0], [0, 2]]}, (3, 4, 2)),
        Example({"cropping": 1, "data_format": "channels_first"}, (2, 3, 4)),
        Example({"cropping": [1, 0]}, (None, 3, 1)),
    ]
    bad_examples = [
        BadExample({"cropping": [[2, 1], [0, 0]]}, (3, 3, 1), "removes all 3 rows"),
        BadExample({"cropping": [0, 2], "data_format": "channels_first"}, (1, 3, 4),
                   "removes all 4 cols"),
        BadExample({"cropping": [1, 2, 3]}, (5, 5, 1), "cropping"),
        BadExample({"cropping": [[1, 2], [1]]}, (5, 5, 1), "pair"),
        BadExample({"cropping": 1}, (5, 5), "rank 4"),
        BadExample({"cropping": 1, "dataformat": "channels_last"}, (5, 5, 1), "did you mean"),
    ]
