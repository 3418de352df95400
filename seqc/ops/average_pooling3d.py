"""AveragePooling3D: the mean of x over each pool window (depth, rows, cols); with 'same'
padding it divides by the real (unpadded) cells only. ONNX: AveragePool
(count_include_pad=0) on (N, C, *spatial) with explicit pads.
Shape: (N, D, H, W, C) -> (N, D', H', W', C); n' = floor((n - pool) / stride) + 1 (valid),
ceil(n / stride) (same).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._pooling import Pooling, normalize_pool_attrs, pool_bad_examples, pool_examples
from .base import Example, register


@dataclass(frozen=True)
class AveragePooling3DAttrs:
    pool_size: tuple[int, ...]  # required, as in Keras
    strides: tuple[int, ...] | None = None  # None: pool_size (made explicit on parsing)
    padding: str = "valid"
    data_format: str | None = "channels_last"

    def __post_init__(self) -> None:
        normalize_pool_attrs(self, 3)


@register
class AveragePooling3D(Pooling):
    kind = "AveragePooling3D"
    Attrs = AveragePooling3DAttrs
    nd = 3
    mode = "average"
    summary = "Average pooling over 3-D windows (depth, rows, cols)."
    examples = [
        Example({"pool_size": 2}, (4, 4, 4, 1)),
        *pool_examples(3),
        Example({"pool_size": 3, "strides": 1, "padding": "same"}, (3, 3, 3, 1)),
    ]
    bad_examples = pool_bad_examples(3, {"pool_size": 2})
