"""Conv3DTranspose: the adjoint of Conv3D, cropped/extended to Keras' size per axis
(compute_conv_transpose_output_shape). Keras puts data_format before output_padding here.

ONNX: ConvTranspose, kernel (kd, kh, kw, F, Cin) as (Cin, F, kd, kh, kw), pads/output_padding.
Shape: (N, D, H, W, Cin) -> (N, D', H', W', F), each size by the Conv2DTranspose rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv import DataFormat, SpatialArgs
from ._conv_variants import TransposeBase
from .base import BadExample, Example, Initializer, register


@dataclass(frozen=True)
class Conv3DTransposeAttrs(SpatialArgs):
    nd: ClassVar[int] = 3
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = 1  # type: ignore[assignment]  (made (1,) * nd)
    padding: str = "valid"
    data_format: DataFormat | None = "channels_last"
    output_padding: tuple[int, ...] | None = None
    dilation_rate: tuple[int, ...] = 1  # type: ignore[assignment]
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


@register
class Conv3DTranspose(TransposeBase):
    kind = "Conv3DTranspose"
    Attrs = Conv3DTransposeAttrs
    summary = "Transposed 3-D convolution (learned upsampling of volumes)."
    examples = [
        Example({"filters": 2, "kernel_size": 2}, (2, 3, 2, 2)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                 "use_bias": False}, (2, 3, 2, 1)),
        Example({"filters": 1, "kernel_size": [2, 3, 2], "strides": [2, 1, 2],
                 "output_padding": [1, 0, 0]}, (2, 2, 2, 1)),
        Example({"filters": 2, "kernel_size": 2, "data_format": "channels_first"},
                (2, 2, 3, 2)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 2}, (4, 4, 1), "rank"),
        BadExample({"filters": 2, "kernel_size": 2, "padding": "full"}, (3, 3, 3, 1),
                   "padding"),
        BadExample({"filters": 2, "kernel_size": 2, "strides": 0}, (3, 3, 3, 1), "strides"),
        BadExample({"filters": 2, "kernel_size": 2, "strides": 2, "output_padding": 3},
                   (3, 3, 3, 1), "output_padding"),
        BadExample({"filters": 2, "kernel_size": 2, "use_bais": False}, (3, 3, 3, 1),
                   "did you mean"),
    ]
