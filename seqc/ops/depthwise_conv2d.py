"""DepthwiseConv2D: each input channel c convolved with its own depth_multiplier filters,
y[n, i, j, c*dm + m] = sum_{a, b} x[n, i*s0 + a*d0, j*s1 + b*d1, c] * kernel[a, b, c, m] + bias.

ONNX: Conv(group=C) with kernel (kh, kw, C, dm) as (C*dm, 1, kh, kw).
Shape: (N, H, W, C) -> (N, H', W', C * depth_multiplier); H', W' by the Conv2D rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv import DepthwiseAttrs
from ._conv_variants import DepthwiseBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class DepthwiseConv2DAttrs(DepthwiseAttrs):
    nd: ClassVar[int] = 2


@register
class DepthwiseConv2D(DepthwiseBase):
    kind = "DepthwiseConv2D"
    Attrs = DepthwiseConv2DAttrs
    summary = "Per-channel 2-D convolution, depth_multiplier outputs per input channel."
    examples = [
        Example({"kernel_size": 3}, (5, 5, 2)),
        Example({"kernel_size": 3, "depth_multiplier": 2, "strides": 2, "padding": "same"},
                (5, 5, 2)),
        Example({"kernel_size": 2, "dilation_rate": 2, "use_bias": False,
                 "depth_multiplier": 3}, (5, 4, 2)),
        Example({"kernel_size": [2, 3], "data_format": "channels_first", "depth_multiplier": 2},
                (2, 4, 4)),
        Example({"kernel_size": 3, "padding": "same"}, (None, None, 3)),
    ]
    bad_examples = [
        BadExample({"kernel_size": 3}, (5, 5), "rank"),
        BadExample({"kernel_size": 5}, (4, 4, 2), "larger"),
        BadExample({"kernel_size": 2, "padding": "full"}, (4, 4, 2), "padding"),
        BadExample({"kernel_size": 2, "strides": [0, 1]}, (4, 4, 2), "strides"),
        BadExample({"kernel_size": 2, "depth_multiplier": 0}, (4, 4, 2), "depth_multiplier"),
        BadExample({"kernel_size": 2, "filters": 2}, (4, 4, 2), "Valid arguments"),
    ]
