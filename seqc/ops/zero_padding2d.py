"""ZeroPadding2D: y = x with zero rows ((top, bottom)) and columns ((left, right)) added.

ONNX: Pad (pads as an input) on the (N, C, rows, cols) layout.
Shape: rows -> rows + top + bottom, cols -> cols + left + right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._resize import ZeroPaddingBase, canonical_pairs, finish_format
from .base import BadExample, Example, register


@dataclass(frozen=True)
class ZeroPadding2DAttrs:
    # int, (sym_rows, sym_cols) or ((top, bottom), (left, right)); canonical is the last.
    padding: int | tuple[int | tuple[int, ...], ...] = (1, 1)
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        canonical_pairs(self, "padding", 2)
        finish_format(self)


@register
class ZeroPadding2D(ZeroPaddingBase):
    kind = "ZeroPadding2D"
    Attrs = ZeroPadding2DAttrs
    nd = 2
    summary = "Adds rows and columns of zeros around each image."
    examples = [
        Example({}, (2, 3, 1)),
        Example({"padding": [1, 2]}, (2, 2, 2)),
        Example({"padding": [[0, 1], [2, 0]]}, (3, 2, 2)),
        Example({"padding": 1, "data_format": "channels_first"}, (2, 3, 2)),
        Example({"padding": [[1, 0], [0, 1]]}, (None, None, 1)),
    ]
    bad_examples = [
        BadExample({"padding": [1, 2, 3]}, (3, 3, 1), "padding"),
        BadExample({"padding": [[1, 2, 3], [0, 0]]}, (3, 3, 1), "padding"),
        BadExample({"padding": -1}, (3, 3, 1), ">= 0"),
        BadExample({"padding": "valid"}, (3, 3, 1), "padding"),
        BadExample({"padding": 1}, (3, 3), "rank 4"),
        BadExample({"pading": 1}, (3, 3, 1), "did you mean"),
        BadExample({"data_format": "channels_middle"}, (3, 3, 1), "data_format"),
    ]
