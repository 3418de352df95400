"""AveragePooling1D: the mean of x over each pool window (steps); with 'same'
padding it divides by the real (unpadded) cells only. ONNX: AveragePool
(count_include_pad=0) on (N, C, *spatial) with explicit pads.
Shape: (N, L, C) -> (N, L', C); n' = floor((n - pool) / stride) + 1 (valid),
ceil(n / stride) (same).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._pooling import Pooling, normalize_pool_attrs, pool_bad_examples, pool_examples
from .base import Example, register


@dataclass(frozen=True)
class AveragePooling1DAttrs:
    pool_size: tuple[int, ...]  # required, as in Keras
    strides: tuple[int, ...] | None = None  # None: pool_size (made explicit on parsing)
    padding: str = "valid"
    data_format: str | None = "channels_last"

    def __post_init__(self) -> None:
        normalize_pool_attrs(self, 1)


@register
class AveragePooling1D(Pooling):
    kind = "AveragePooling1D"
    Attrs = AveragePooling1DAttrs
    nd = 1
    mode = "average"
    summary = "Average pooling over 1-D windows (steps)."
    examples = [
        Example({"pool_size": 2}, (6, 2)),
        *pool_examples(1),
    ]
    bad_examples = pool_bad_examples(1, {"pool_size": 2})
