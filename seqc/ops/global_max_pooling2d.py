"""GlobalMaxPooling2D: y[n, c] = max of x[n, ..., c] over every spatial axis (rows, cols).
ONNX: GlobalMaxPool on (N, C, *spatial), then Flatten(axis=1) unless keepdims.
Shape: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims=True.
"""

from __future__ import annotations

from ._pooling import GlobalPooling, GlobalPoolingAttrs, global_bad_examples, global_examples
from .base import register


@register
class GlobalMaxPooling2D(GlobalPooling):
    kind = "GlobalMaxPooling2D"
    Attrs = GlobalPoolingAttrs
    nd = 2
    mode = "max"
    summary = "Max over every 2-D spatial position, per channel."
    examples = global_examples(2)
    bad_examples = global_bad_examples(2)
