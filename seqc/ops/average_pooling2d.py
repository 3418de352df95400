"""AveragePooling2D: the mean of x over each pool window (rows, cols); with 'same'
padding it divides by the real (unpadded) cells only. ONNX: AveragePool
(count_include_pad=0) on (N, C, *spatial) with explicit pads.
Shape: (N, H, W, C) -> (N, H', W', C); n' = floor((n - pool) / stride) + 1 (valid),
ceil(n / stride) (same).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._pooling import Pooling, normalize_pool_attrs, pool_bad_examples, pool_examples
from .base import Example, register


@dataclass(frozen=True)
class AveragePooling2DAttrs:
    pool_size: tuple[int, ...]  # required, as in Keras
    strides: tuple[int, ...] | None = None  # None: pool_size (made explicit on parsing)
    padding: str = "valid"
    data_format: str | None = "channels_last"

    def __post_init__(self) -> None:
        normalize_pool_attrs(self, 2)


@register
class AveragePooling2D(Pooling):
    kind = "AveragePooling2D"
    Attrs = AveragePooling2DAttrs
    nd = 2
    mode = "average"
    summary = "Average pooling over 2-D windows (rows, cols)."
    examples = [
        Example({"pool_size": 2}, (4, 4, 2)),
        *pool_examples(2),
        Example({"pool_size": (2, 2)}, (5, 5, 2)),  # valid drops the last row and column
        Example({"pool_size": (2, 3), "strides": (2, 1), "padding": "Same"}, (4, 5, 1)),
    ]
    bad_examples = pool_bad_examples(2, {"pool_size": 2})
