"""MaxPooling3D: the max of x over each pool window (depth, rows, cols); 'same' pads
with -inf (TF's rule). ONNX: MaxPool on (N, C, *spatial) with explicit pads.
Shape: (N, D, H, W, C) -> (N, D', H', W', C); n' = floor((n - pool) / stride) + 1 (valid),
ceil(n / stride) (same).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._pooling import Pooling, normalize_pool_attrs, pool_bad_examples, pool_examples
from .base import Example, register


@dataclass(frozen=True)
class MaxPooling3DAttrs:
    pool_size: tuple[int, ...] = (2, 2, 2)
    strides: tuple[int, ...] | None = None  # None: pool_size (made explicit on parsing)
    padding: str = "valid"
    data_format: str | None = "channels_last"

    def __post_init__(self) -> None:
        normalize_pool_attrs(self, 3)


@register
class MaxPooling3D(Pooling):
    kind = "MaxPooling3D"
    Attrs = MaxPooling3DAttrs
    nd = 3
    mode = "max"
    summary = "Max pooling over 3-D windows (depth, rows, cols)."
    examples = [
        Example({}, (4, 4, 4, 1)),  # the default pool_size
        *pool_examples(3),
        Example({"pool_size": 2, "strides": 1, "padding": "same"}, (3, 3, 3, 1)),
    ]
    bad_examples = pool_bad_examples(3, {})
