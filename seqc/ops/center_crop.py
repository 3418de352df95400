"""CenterCrop: the central (height, width) window of each image; an input smaller than that on
either axis is first cropped to the target aspect ratio and resized bilinearly (Keras'
smart_resize). The result is float32, as Keras casts to its compute dtype.

ONNX: Slice (plus Resize when the input is smaller). Shape: (N, H, W, C) -> (N, height, width, C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._resample import center_crop_plan
from ._resample_layer import ImageResampleBase
from ._resize import finish_format
from .base import BadExample, Example, register


@dataclass(frozen=True)
class CenterCropAttrs:
    height: int
    width: int
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        finish_format(self)


@register
class CenterCrop(ImageResampleBase):
    kind = "CenterCrop"
    Attrs = CenterCropAttrs
    keeps_int_dtype = False
    summary = "Crops the central (height, width) window of each image (resizing if smaller)."
    examples = [
        Example({"height": 3, "width": 4}, (5, 7, 2)),
        Example({"height": 4, "width": 4}, (4, 4, 1)),
        Example({"height": 2, "width": 3, "data_format": "channels_first"}, (2, 5, 6)),
        Example({"height": 6, "width": 4}, (4, 8, 1)),  # shorter input: smart_resize
        Example({"height": 5, "width": 5}, (3, 4, 2)),
        Example({"height": 6, "width": 4, "data_format": "channels_first"}, (2, 4, 8)),
        Example({"height": 2, "width": 2}, (5, 4, 1), input_dtype="int32", input_range=(0, 9)),
    ]
    bad_examples = [
        BadExample({"height": 0, "width": 2}, (4, 4, 1), "positive"),
        BadExample({"height": 2, "width": 2}, (None, 4, 1), "build time"),
        BadExample({"height": 2}, (4, 4, 1), "width"),
        BadExample({"height": 2, "width": 2}, (4, 4), "rank 4"),
    ]

    def plan(self, a: CenterCropAttrs, in_size):
        return center_crop_plan(tuple(in_size), (a.height, a.width))
