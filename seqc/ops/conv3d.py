"""Conv3D: y[n, p, i, j, f] = sum over the (kd, kh, kw) window and channels of x * kernel
+ bias[f], padded by Keras' rule.

ONNX: Conv with kernel (F, Cin/groups, kd, kh, kw) and explicit pads.
Shape: (N, D, H, W, Cin) -> (N, D', H', W', F), each size by the Conv2D rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv import ConvAttrs, ConvBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class Conv3DAttrs(ConvAttrs):
    nd: ClassVar[int] = 3


@register
class Conv3D(ConvBase):
    kind = "Conv3D"
    Attrs = Conv3DAttrs
    summary = "3-D convolution over volumes (depth, rows, cols)."
    examples = [
        Example({"filters": 2, "kernel_size": 2}, (3, 4, 3, 2)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                 "use_bias": False}, (3, 3, 5, 1)),
        Example({"filters": 1, "kernel_size": 2, "dilation_rate": [1, 2, 1]}, (3, 4, 3, 1)),
        Example({"filters": 2, "kernel_size": 2, "groups": 2,
                 "data_format": "channels_first"}, (2, 3, 3, 3)),
        Example({"filters": 2, "kernel_size": [1, 2, 2], "padding": "same"},
                (None, 3, None, 1)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 2}, (4, 4, 1), "rank"),
        BadExample({"filters": 2, "kernel_size": [2, 5, 2]}, (4, 4, 4, 1), "larger"),
        BadExample({"filters": 2, "kernel_size": 2, "padding": "vaild"}, (4, 4, 4, 1),
                   "did you mean 'valid'"),
        BadExample({"filters": 2, "kernel_size": 2, "strides": [1, 0, 1]}, (4, 4, 4, 1),
                   "strides"),
        BadExample({"filters": 2, "kernel_size": 2, "groups": 3}, (4, 4, 4, 3), "groups"),
        BadExample({"filters": 2, "kernel_size": 2, "dilation": 2}, (4, 4, 4, 1),
                   "did you mean"),
    ]
