"""Resizing: images to (height, width) with Keras 3's interpolation, optionally cropping or padding
to the target aspect ratio first; y = M_h · x · M_wᵀ (+ fill) per channel (seqc/ops/_resample.py
says which Keras backend defines each mode).

ONNX: per resized axis, Gathers with per-pixel weights where each output pixel reads at most 4
input pixels (nearest, bilinear, bicubic upsampling), else a MatMul; a Slice in front for
crop_to_aspect_ratio. Shape: (N, H, W, C) -> (N, height, width, C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import DefinitionError
from ._resample import DYNAMIC_SIZE_MODES, cached_resize_plan
from ._resample_layer import ImageResampleBase, lower_bilinear_dynamic, lower_nearest_dynamic
from ._resize import finish_format
from .base import BadExample, Example, register

Interpolation = Literal["bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5"]


@dataclass(frozen=True)
class ResizingAttrs:
    height: int
    width: int
    interpolation: Interpolation = "bilinear"
    crop_to_aspect_ratio: bool = False
    pad_to_aspect_ratio: bool = False
    fill_mode: str = "constant"
    fill_value: float = 0.0
    antialias: bool = False
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        finish_format(self)


@register
class Resizing(ImageResampleBase):
    kind = "Resizing"
    Attrs = ResizingAttrs
    any_size_hint = ("; bilinear and nearest without crop_to_aspect_ratio, pad_to_aspect_ratio "
                     "or antialias take any size")
    summary = "Resizes images to (height, width), optionally cropping or padding to the ratio."
    examples = [
        Example({"height": 5, "width": 4}, (3, 6, 2)),
        Example({"height": 7, "width": 9, "interpolation": "bicubic"}, (4, 5, 1)),
        Example({"height": 4, "width": 7, "interpolation": "nearest"}, (6, 3, 2)),
        Example({"height": 5, "width": 2, "interpolation": "nearest", "antialias": True},
                (3, 7, 1)),  # Keras ignores antialias for nearest
        Example({"height": 3, "width": 4, "antialias": True}, (7, 9, 1)),
        Example({"height": 3, "width": 6, "interpolation": "bicubic", "antialias": True},
                (8, 4, 2)),
        Example({"height": 4, "width": 4, "crop_to_aspect_ratio": True}, (6, 9, 1)),
        Example({"height": 4, "width": 6, "pad_to_aspect_ratio": True, "fill_value": 0.5},
                (5, 5, 2)),
        Example({"height": 6, "width": 4, "pad_to_aspect_ratio": True}, (5, 5, 1)),
        Example({"height": 6, "width": 4, "pad_to_aspect_ratio": True,
                 "interpolation": "nearest"}, (5, 5, 1)),
        Example({"height": 3, "width": 5, "data_format": "channels_first"}, (2, 6, 4)),
        Example({"height": 4, "width": 3, "interpolation": "nearest"}, (None, None, 2)),
        Example({"height": 4, "width": 3}, (None, None, 1)),
        # Keras' torch backend has no lanczos or area: numpy/JAX and TensorFlow definitions,
        # compared with those in tests/ops/test_resizing.py.
        Example({"height": 4, "width": 7, "interpolation": "lanczos3"}, (6, 5, 1), keras=False),
        Example({"height": 3, "width": 8, "interpolation": "lanczos5", "antialias": True},
                (9, 4, 1), keras=False),
        Example({"height": 2, "width": 5, "interpolation": "area"}, (5, 3, 2), keras=False),
    ]
    bad_examples = [
        BadExample({"height": 0, "width": 4}, (4, 4, 1), "positive"),
        BadExample({"height": 4, "width": 4, "interpolation": "cubic"}, (4, 4, 1),
                   "interpolation"),
        BadExample({"height": 4, "width": 4, "crop_to_aspect_ratio": True,
                    "pad_to_aspect_ratio": True}, (4, 4, 1), "only one"),
        BadExample({"height": 4, "width": 4, "fill_mode": "reflect"}, (4, 4, 1), "constant"),
        BadExample({"height": 4, "width": 4}, (4, 4), "rank 4"),
        BadExample({"height": 4, "width": 4, "interpolation": "area"}, (None, None, 1),
                   "build time"),
        BadExample({"height": 4, "width": 4, "crop_to_aspect_ratio": True}, (None, 4, 1),
                   "build time"),
        BadExample({"height": 4, "widht": 4}, (4, 4, 1), "did you mean"),
    ]

    def check(self, a: ResizingAttrs) -> None:
        super().check(a)
        if a.crop_to_aspect_ratio and a.pad_to_aspect_ratio:
            raise DefinitionError(
                "only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be true",
                field="pad_to_aspect_ratio",
                received="crop_to_aspect_ratio=True, pad_to_aspect_ratio=True")
        if a.fill_mode != "constant":
            raise DefinitionError(
                "only fill_mode 'constant' is supported (as in Keras): the padding of "
                "pad_to_aspect_ratio is filled with fill_value", field="fill_mode",
                received=f"fill_mode={a.fill_mode!r}")

    def infer(self, a, in_types):
        if not in_types[0].dtype.startswith("float"):
            # Keras rounds an integer input's result back to integers, where a float32 tie
            # (x.5) falls either way depending on the order of the sums.
            raise DefinitionError(
                "Resizing needs a float input (Keras would round its result back to the "
                "input's integer dtype)", field="input", received=f"input {in_types[0]}",
                hint="declare the input float32 (the default), or put a Rescaling first")
        return super().infer(a, in_types)

    def dynamic_ok(self, a: ResizingAttrs) -> bool:
        return (a.interpolation in DYNAMIC_SIZE_MODES and not a.crop_to_aspect_ratio
                and not a.pad_to_aspect_ratio
                and not (a.antialias and a.interpolation != "nearest"))

    def plan(self, a: ResizingAttrs, in_size):
        # Keras (torch) ignores antialias for nearest.
        antialias = a.antialias and a.interpolation != "nearest"
        return cached_resize_plan(tuple(in_size), (a.height, a.width), a.interpolation,
                                  antialias, a.crop_to_aspect_ratio, a.pad_to_aspect_ratio,
                                  a.fill_value)

    def lower_dynamic(self, a, x, em):
        if a.interpolation == "nearest":
            return lower_nearest_dynamic(x, (a.height, a.width), em)
        return lower_bilinear_dynamic(x, (a.height, a.width), em)
