"""ZeroPadding1D: y = x with `padding` = (before, after) zero steps added on the steps axis.

ONNX: Pad (pads as an input) on the (N, C, steps) layout. Shape: steps -> steps + before + after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._resize import ZeroPaddingBase, canonical_pairs, finish_format
from .base import BadExample, Example, register


@dataclass(frozen=True)
class ZeroPadding1DAttrs:
    # An int pads both ends equally; Keras' get_config form is (before, after).
    padding: int | tuple[int, ...] = 1
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        canonical_pairs(self, "padding", 1)
        finish_format(self)


@register
class ZeroPadding1D(ZeroPaddingBase):
    kind = "ZeroPadding1D"
    Attrs = ZeroPadding1DAttrs
    nd = 1
    summary = "Adds zeros at the start and end of the steps axis."
    examples = [
        Example({}, (3, 2)),
        Example({"padding": [1, 2]}, (4, 1)),
        Example({"padding": [0, 2], "data_format": "channels_first"}, (2, 3)),
        Example({"padding": 2}, (None, 2)),
    ]
    bad_examples = [
        BadExample({"padding": [1, 2, 3]}, (3, 2), "padding"),
        BadExample({"padding": -1}, (3, 2), ">= 0"),
        BadExample({"padding": "same"}, (3, 2), "padding"),
        BadExample({"padding": 1}, (3,), "rank 3"),
        BadExample({"paddings": 1}, (3, 2), "did you mean"),
    ]
