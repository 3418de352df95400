"""SeparableConv2D: a depthwise conv (depthwise_kernel (kh, kw, C, dm)), then a pointwise 1x1
conv (pointwise_kernel (1, 1, C*dm, F)) and bias: y = (depthwise(x) @ pointwise) + bias.

ONNX: Conv(group=C) then a 1x1 Conv carrying the bias.
Shape: (N, H, W, C) -> (N, H', W', F); H', W' by the Conv2D rule (valid/same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv import SeparableAttrs
from ._conv_variants import SeparableBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class SeparableConv2DAttrs(SeparableAttrs):
    nd: ClassVar[int] = 2


@register
class SeparableConv2D(SeparableBase):
    kind = "SeparableConv2D"
    Attrs = SeparableConv2DAttrs
    summary = "Depthwise 2-D convolution followed by a pointwise (1x1) convolution."
    examples = [
        Example({"filters": 3, "kernel_size": 3}, (5, 5, 2)),
        Example({"filters": 2, "kernel_size": 3, "depth_multiplier": 2, "strides": 2,
                 "padding": "same", "use_bias": False}, (5, 5, 2)),
        Example({"filters": 2, "kernel_size": 2, "dilation_rate": 2}, (5, 4, 2)),
        Example({"filters": 2, "kernel_size": 2, "data_format": "channels_first"}, (2, 4, 4)),
        Example({"filters": 2, "kernel_size": 3, "padding": "same"}, (None, None, 2)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 3}, (5,), "rank"),
        BadExample({"filters": 2, "kernel_size": 5}, (4, 4, 2), "larger"),
        BadExample({"filters": 2, "kernel_size": 2, "padding": "full"}, (4, 4, 2), "padding"),
        BadExample({"filters": 2, "kernel_size": 2, "strides": 0}, (4, 4, 2), "strides"),
        BadExample({"filters": 2, "kernel_size": 2, "depth_multiplier": -1}, (4, 4, 2),
                   "depth_multiplier"),
        BadExample({"filters": 2, "kernel_size": 2, "depth_multipler": 2}, (4, 4, 2),
                   "did you mean"),
    ]
