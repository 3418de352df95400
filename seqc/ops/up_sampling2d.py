"""UpSampling2D: nearest repeats each pixel size = (rows, cols) times; bilinear interpolates
with half-pixel centres (Keras' ops.image.resize, antialias off): y = A_r x A_c^T per channel.

ONNX: Resize (scales input [1, 1, *size]; nearest: asymmetric + floor; bilinear: linear +
half_pixel) on (N, C, rows, cols). Shape: rows -> rows * size[0], cols -> cols * size[1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._resize import UpSamplingBase, check_interpolation, finish_format
from ._spatial import expand
from .base import BadExample, Example, register


@dataclass(frozen=True)
class UpSampling2DAttrs:
    size: tuple[int, ...] = (2, 2)
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"
    # Keras lowercases it; seqc supports "nearest" and "bilinear".
    interpolation: str = "nearest"

    def __post_init__(self) -> None:
        expand(self, ("size",), 2)
        finish_format(self)
        check_interpolation(self)


@register
class UpSampling2D(UpSamplingBase):
    kind = "UpSampling2D"
    Attrs = UpSampling2DAttrs
    nd = 2
    summary = "Upsamples each image by repeating or bilinearly interpolating pixels."
    examples = [
        Example({}, (2, 3, 1)),
        Example({"size": [3, 2]}, (2, 2, 2)),
        Example({"size": [2, 2], "interpolation": "bilinear"}, (3, 3, 1)),
        Example({"size": [3, 2], "interpolation": "bilinear"}, (3, 5, 2)),
        Example({"size": 2, "data_format": "channels_first", "interpolation": "bilinear"},
                (2, 3, 3)),
        Example({"size": [1, 2], "data_format": "channels_first"}, (1, 2, 3)),
        Example({"interpolation": "Bilinear"}, (None, None, 1)),
    ]
    bad_examples = [
        BadExample({"interpolation": "bicubic"}, (3, 3, 1), "supported: 'nearest', 'bilinear'"),
        BadExample({"interpolation": "cubic"}, (3, 3, 1), "interpolation"),
        BadExample({"size": 0}, (3, 3, 1), "positive"),
        BadExample({"size": [2, 2, 2]}, (3, 3, 1), "size"),
        BadExample({}, (3, 3), "rank 4"),
        BadExample({"interpolaton": "bilinear"}, (3, 3, 1), "did you mean"),
    ]
