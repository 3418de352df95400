"""MaxPooling1D: the max of x over each pool window (steps); 'same' pads
with -inf (TF's rule). ONNX: MaxPool on (N, C, *spatial) with explicit pads.
Shape: (N, L, C) -> (N, L', C); n' = floor((n - pool) / stride) + 1 (valid),
ceil(n / stride) (same).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._pooling import Pooling, normalize_pool_attrs, pool_bad_examples, pool_examples
from .base import Example, register


@dataclass(frozen=True)
class MaxPooling1DAttrs:
    pool_size: tuple[int, ...] = (2,)
    strides: tuple[int, ...] | None = None  # None: pool_size (made explicit on parsing)
    padding: str = "valid"
    data_format: str | None = "channels_last"

    def __post_init__(self) -> None:
        normalize_pool_attrs(self, 1)


@register
class MaxPooling1D(Pooling):
    kind = "MaxPooling1D"
    Attrs = MaxPooling1DAttrs
    nd = 1
    mode = "max"
    summary = "Max pooling over 1-D windows (steps)."
    examples = [
        Example({}, (6, 2)),  # the default pool_size
        *pool_examples(1),
    ]
    bad_examples = pool_bad_examples(1, {})
