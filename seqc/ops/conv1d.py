"""Conv1D: y[n, t, f] = sum_{i, c} x[n, t*s + i*d, c] * kernel[i, c, f] + bias[f] (padded).

ONNX: Conv with kernel (F, Cin/groups, k); 'causal' becomes explicit pads (k_eff - 1, 0).
Shape: (N, L, Cin) -> (N, L', F); L' = ceil(L / s) for same/causal, (L - k_eff) // s + 1 valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv import ConvAttrs, ConvBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class Conv1DAttrs(ConvAttrs):
    nd: ClassVar[int] = 1
    paddings: ClassVar[tuple[str, ...]] = ("valid", "same", "causal")


@register
class Conv1D(ConvBase):
    kind = "Conv1D"
    Attrs = Conv1DAttrs
    summary = "1-D convolution over steps (temporal convolution), with groups and causal padding."
    examples = [
        Example({"filters": 3, "kernel_size": 3}, (7, 2)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (7, 2)),
        Example({"filters": 2, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (8, 2)),
        Example({"filters": 4, "kernel_size": 2, "groups": 2, "use_bias": False}, (6, 4)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "causal"}, (7, 1)),
        Example({"filters": 2, "kernel_size": 3, "data_format": "channels_first"}, (2, 6)),
        Example({"filters": 2, "kernel_size": 2, "padding": "same"}, (None, 3)),
        Example({"filters": 2, "kernel_size": 3, "padding": "causal"}, (None, 2)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 3}, (5,), "rank"),
        BadExample({"filters": 2, "kernel_size": 6}, (5, 1), "larger"),
        BadExample({"filters": 2, "kernel_size": 3, "padding": "full"}, (5, 1), "padding"),
        BadExample({"filters": 2, "kernel_size": 3, "strides": 0}, (5, 1), "strides"),
        BadExample({"filters": 2, "kernel_sise": 3}, (5, 1), "did you mean"),
        BadExample({"filters": 3, "kernel_size": 1, "groups": 2}, (5, 2), "groups"),
        BadExample({"filters": 2, "kernel_size": 2, "strides": 2, "dilation_rate": 2}, (8, 1),
                   "dilation_rate"),
    ]
