"""Conv1DTranspose: the adjoint of Conv1D (each input step scatters x[n, t] @ kernel[i].T
to output step t*s + i*d), cropped/extended to Keras' length (compute_conv_transpose_output_shape).

ONNX: ConvTranspose, kernel (k, F, Cin) as (Cin, F, k), Keras' crop as pads/output_padding.
Shape: (N, L, Cin) -> (N, L', F); valid: (L-1)*s + max(k_eff, s), same: L*s; with output_padding
p: valid (L-1)*s + k_eff + p, same (L-1)*s + k_eff % 2 + p.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv import TransposeAttrs
from ._conv_variants import TransposeBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class Conv1DTransposeAttrs(TransposeAttrs):
    nd: ClassVar[int] = 1


@register
class Conv1DTranspose(TransposeBase):
    kind = "Conv1DTranspose"
    Attrs = Conv1DTransposeAttrs
    summary = "Transposed 1-D convolution (upsampling by strides)."
    examples = [
        Example({"filters": 2, "kernel_size": 3}, (4, 2)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (5, 2)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1,
                 "use_bias": False}, (3, 2)),
        Example({"filters": 2, "kernel_size": 2, "strides": 3}, (3, 1)),
        Example({"filters": 2, "kernel_size": 2, "dilation_rate": 2, "padding": "same"}, (4, 2)),
        Example({"filters": 2, "kernel_size": 3, "data_format": "channels_first"}, (2, 4)),
        Example({"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same"}, (None, 2)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 3}, (5,), "rank"),
        BadExample({"filters": 2, "kernel_size": 3, "padding": "causal"}, (5, 1), "padding"),
        BadExample({"filters": 2, "kernel_size": 3, "strides": 0}, (5, 1), "strides"),
        BadExample({"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 2},
                   (5, 1), "output_padding"),
        BadExample({"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same",
                    "output_padding": 0}, (1, 1), "empty"),
        BadExample({"filters": 2, "kernel_size": 3, "outputpadding": 1}, (5, 1),
                   "did you mean"),
    ]
