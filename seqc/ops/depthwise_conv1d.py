"""DepthwiseConv1D: each input channel c convolved with its own depth_multiplier filters,
y[n, t, c*dm + m] = sum_i x[n, t*s + i*d, c] * kernel[i, c, m] + bias[c*dm + m].

ONNX: Conv(group=C) with kernel (*k, C, dm) as (C*dm, 1, k).
Shape: (N, L, C) -> (N, L', C * depth_multiplier); L' by the Conv1D rule (valid/same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv import DepthwiseAttrs
from ._conv_variants import DepthwiseBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class DepthwiseConv1DAttrs(DepthwiseAttrs):
    nd: ClassVar[int] = 1


@register
class DepthwiseConv1D(DepthwiseBase):
    kind = "DepthwiseConv1D"
    Attrs = DepthwiseConv1DAttrs
    summary = "Per-channel 1-D convolution, depth_multiplier outputs per input channel."
    examples = [
        Example({"kernel_size": 3}, (6, 2)),
        Example({"kernel_size": 3, "depth_multiplier": 2, "strides": 2, "padding": "same"}, (7, 2)),
        Example({"kernel_size": 2, "dilation_rate": 2, "use_bias": False,
                 "depth_multiplier": 3}, (6, 2)),
        Example({"kernel_size": 2, "data_format": "channels_first"}, (3, 5)),
        Example({"kernel_size": 3, "padding": "same"}, (None, 2)),
    ]
    bad_examples = [
        BadExample({"kernel_size": 3}, (5,), "rank"),
        BadExample({"kernel_size": 6}, (5, 2), "larger"),
        BadExample({"kernel_size": 2, "padding": "causal"}, (5, 2), "padding"),
        BadExample({"kernel_size": 2, "strides": 0}, (5, 2), "strides"),
        BadExample({"kernel_size": 2, "depth_multiplier": 0}, (5, 2), "depth_multiplier"),
        BadExample({"kernel_size": 2, "depthmultiplier": 2}, (5, 2), "did you mean"),
    ]
