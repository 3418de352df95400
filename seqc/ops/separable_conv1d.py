"""SeparableConv1D: a depthwise conv (depthwise_kernel (k, C, dm)), then a pointwise 1x1 conv
(pointwise_kernel (1, C*dm, F)) and bias: y = (depthwise(x) @ pointwise) + bias.

ONNX: Conv(group=C) then a 1-wide Conv carrying the bias.
Shape: (N, L, C) -> (N, L', F); L' by the Conv1D rule (valid/same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv import SeparableAttrs
from ._conv_variants import SeparableBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class SeparableConv1DAttrs(SeparableAttrs):
    nd: ClassVar[int] = 1


@register
class SeparableConv1D(SeparableBase):
    kind = "SeparableConv1D"
    Attrs = SeparableConv1DAttrs
    summary = "Depthwise 1-D convolution followed by a pointwise (1x1) convolution."
    examples = [
        Example({"filters": 3, "kernel_size": 3}, (6, 2)),
        Example({"filters": 2, "kernel_size": 3, "depth_multiplier": 2, "strides": 2,
                 "padding": "same", "use_bias": False}, (7, 2)),
        Example({"filters": 2, "kernel_size": 2, "dilation_rate": 2}, (6, 2)),
        Example({"filters": 2, "kernel_size": 2, "data_format": "channels_first"}, (3, 5)),
        Example({"filters": 2, "kernel_size": 3, "padding": "same"}, (None, 2)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 3}, (5,), "rank"),
        BadExample({"filters": 2, "kernel_size": 6}, (5, 2), "larger"),
        BadExample({"filters": 2, "kernel_size": 2, "padding": "causal"}, (5, 2), "padding"),
        BadExample({"filters": 2, "kernel_size": 2, "strides": 0}, (5, 2), "strides"),
        BadExample({"filters": 0, "kernel_size": 2}, (5, 2), "filters"),
        BadExample({"filters": 2, "kernel_size": 2, "pointwise_initialiser": "zeros"}, (5, 2),
                   "did you mean"),
    ]
