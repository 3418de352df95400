"""ZeroPadding3D: y = x with (before, after) zeros added on depth, rows and cols.

ONNX: Pad (pads as an input) on the (N, C, depth, rows, cols) layout.
Shape: each spatial size grows by its before + after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._resize import ZeroPaddingBase, canonical_pairs, finish_format
from .base import BadExample, Example, register


@dataclass(frozen=True)
class ZeroPadding3DAttrs:
    # int, 3 symmetric ints or 3 (before, after) pairs; canonical is the last.
    padding: int | tuple[int | tuple[int, ...], ...] = ((1, 1), (1, 1), (1, 1))
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        canonical_pairs(self, "padding", 3)
        finish_format(self)


@register
class ZeroPadding3D(ZeroPaddingBase):
    kind = "ZeroPadding3D"
    Attrs = ZeroPadding3DAttrs
    nd = 3
    summary = "Adds zeros around each volume along depth, rows and cols."
    examples = [
        Example({"padding": 1}, (2, 2, 1, 1)),
        Example({"padding": [[1, 0], [0, 1], [0, 0]]}, (2, 1, 2, 2)),
        Example({"padding": [1, 0, 1], "data_format": "channels_first"}, (2, 2, 1, 2)),
        Example({}, (1, None, 2, 1)),
    ]
    bad_examples = [
        BadExample({"padding": [1, 2]}, (2, 2, 2, 1), "padding"),
        BadExample({"padding": [[1, 1], [1, 1], [1, -1]]}, (2, 2, 2, 1), ">= 0"),
        BadExample({"padding": 1}, (2, 2, 1), "rank 5"),
        BadExample({"padding": 1, "data_fromat": "channels_last"}, (2, 2, 2, 1), "data_format"),
    ]
