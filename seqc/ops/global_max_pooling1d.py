"""GlobalMaxPooling1D: y[n, c] = max of x[n, ..., c] over every spatial axis (steps).
ONNX: GlobalMaxPool on (N, C, *spatial), then Flatten(axis=1) unless keepdims.
Shape: (N, L, C) -> (N, C), or (N, 1, C) with keepdims=True.
"""

from __future__ import annotations

from ._pooling import GlobalPooling, GlobalPoolingAttrs, global_bad_examples, global_examples
from .base import register


@register
class GlobalMaxPooling1D(GlobalPooling):
    kind = "GlobalMaxPooling1D"
    Attrs = GlobalPoolingAttrs
    nd = 1
    mode = "max"
    summary = "Max over every 1-D spatial position, per channel."
    examples = global_examples(1)
    bad_examples = global_bad_examples(1)
