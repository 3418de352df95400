"""Conv2D: y[n, i, j, f] = sum_{a, b, c} x[n, i*s0 + a*d0, j*s1 + b*d1, c] * kernel[a, b, c, f]
+ bias[f], on the input padded by Keras' rule (same: extra pixel at the end).

ONNX: Conv with kernel (F, Cin/groups, kh, kw), explicit pads (SAME_UPPER when a size is unknown).
Shape: (N, H, W, Cin) -> (N, H', W', F); same: ceil(H / s), valid: (H - k_eff) // s + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv import ConvAttrs, ConvBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class Conv2DAttrs(ConvAttrs):
    nd: ClassVar[int] = 2


@register
class Conv2D(ConvBase):
    kind = "Conv2D"
    Attrs = Conv2DAttrs
    summary = "2-D convolution over images (rows, cols), with strides, dilation and groups."
    examples = [
        Example({"filters": 3, "kernel_size": [3, 3]}, (5, 5, 2)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (5, 5, 2)),
        Example({"filters": 2, "kernel_size": [2, 3], "strides": [1, 2], "use_bias": False},
                (4, 5, 1)),
        Example({"filters": 2, "kernel_size": 2, "dilation_rate": 2, "padding": "same"}, (5, 4, 2)),
        Example({"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same"}, (4, 4, 4)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                 "data_format": "channels_first"}, (2, 5, 5)),
        Example({"filters": 2, "kernel_size": 3, "padding": "same"}, (None, None, 2)),
        Example({"filters": 2, "kernel_size": 2, "strides": 2}, (None, 5, 1)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 3}, (5,), "rank"),
        BadExample({"filters": 2, "kernel_size": 5}, (4, 4, 1), "larger"),
        BadExample({"filters": 2, "kernel_size": 3, "padding": "full"}, (5, 5, 1), "padding"),
        BadExample({"filters": 2, "kernel_size": 3, "padding": "causal"}, (5, 5, 1), "Conv1D"),
        BadExample({"filters": 2, "kernel_size": 3, "strides": 0}, (5, 5, 1), "strides"),
        BadExample({"filters": 2, "kernel_size": [3, 3, 3]}, (5, 5, 1), "kernel_size"),
        BadExample({"filter": 2, "kernel_size": 3}, (5, 5, 1), "did you mean"),
        BadExample({"filters": 0, "kernel_size": 3}, (5, 5, 1), "filters"),
        BadExample({"filters": 3, "kernel_size": 1, "groups": 2}, (4, 4, 2), "groups"),
        BadExample({"filters": 4, "kernel_size": 1, "groups": 2}, (4, 4, 3), "groups"),
        BadExample({"filters": 2, "kernel_size": 2, "strides": 2, "dilation_rate": 2},
                   (6, 6, 1), "dilation_rate"),
        BadExample({"filters": 2, "kernel_size": 3, "data_format": "channels_first"},
                   (None, 5, 5), "channels"),
    ]
