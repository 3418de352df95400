"""GlobalAveragePooling3D: y[n, c] = mean of x[n, ..., c] over every spatial axis
(depth, rows, cols).
ONNX: GlobalAveragePool on (N, C, *spatial), then Flatten(axis=1) unless keepdims.
Shape: (N, D, H, W, C) -> (N, C), or (N, 1, 1, 1, C) with keepdims=True.
"""

from __future__ import annotations

from ._pooling import GlobalPooling, GlobalPoolingAttrs, global_bad_examples, global_examples
from .base import register


@register
class GlobalAveragePooling3D(GlobalPooling):
    kind = "GlobalAveragePooling3D"
    Attrs = GlobalPoolingAttrs
    nd = 3
    mode = "average"
    summary = "Average over every 3-D spatial position, per channel."
    examples = global_examples(3)
    bad_examples = global_bad_examples(3)
