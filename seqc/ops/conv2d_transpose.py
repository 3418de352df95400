"""Conv2DTranspose: the adjoint of Conv2D (each input pixel scatters x[n, i, j] @ kernel[a, b].T
to output pixel (i*s0 + a*d0, j*s1 + b*d1)), cropped/extended to Keras' size.

ONNX: ConvTranspose, kernel (kh, kw, F, Cin) as (Cin, F, kh, kw), crop as pads/output_padding.
Shape: (N, H, W, Cin) -> (N, H', W', F); per axis valid: (H-1)*s + max(k_eff, s), same: H*s;
with output_padding p: valid (H-1)*s + k_eff + p, same (H-1)*s + k_eff % 2 + p.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv import TransposeAttrs
from ._conv_variants import TransposeBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class Conv2DTransposeAttrs(TransposeAttrs):
    nd: ClassVar[int] = 2


@register
class Conv2DTranspose(TransposeBase):
    kind = "Conv2DTranspose"
    Attrs = Conv2DTransposeAttrs
    summary = "Transposed 2-D convolution (learned upsampling by strides)."
    examples = [
        Example({"filters": 2, "kernel_size": 3}, (3, 3, 2)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (3, 3, 2)),
        Example({"filters": 2, "kernel_size": [3, 2], "strides": 2, "output_padding": [1, 0]},
                (3, 2, 2)),
        Example({"filters": 2, "kernel_size": 2, "strides": [3, 1], "use_bias": False}, (2, 3, 1)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                 "output_padding": 1}, (3, 3, 1)),
        Example({"filters": 2, "kernel_size": 2, "dilation_rate": 2, "padding": "same"}, (3, 3, 2)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "data_format": "channels_first"},
                (2, 3, 3)),
        Example({"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same"},
                (None, None, 2)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 3}, (5, 5), "rank"),
        BadExample({"filters": 2, "kernel_size": 3, "padding": "full"}, (5, 5, 1), "padding"),
        BadExample({"filters": 2, "kernel_size": 3, "strides": 0}, (5, 5, 1), "strides"),
        BadExample({"filters": 2, "kernel_size": 3, "output_padding": 1}, (5, 5, 1),
                   "output_padding"),
        BadExample({"filters": 2, "kernel_size": 2, "strides": 2, "dilation_rate": 2},
                   (5, 5, 1), "dilation_rate"),
        BadExample({"filters": 2, "kernel_size": 3, "stride": 2}, (5, 5, 1), "did you mean"),
    ]
