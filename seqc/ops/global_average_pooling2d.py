"""GlobalAveragePooling2D: y[n, c] = mean of x[n, ..., c] over every spatial axis (rows, cols).
ONNX: GlobalAveragePool on (N, C, *spatial), then Flatten(axis=1) unless keepdims.
Shape: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims=True.
"""

from __future__ import annotations

from ._pooling import GlobalPooling, GlobalPoolingAttrs, global_bad_examples
from .base import Example, register


@register
class GlobalAveragePooling2D(GlobalPooling):
    kind = "GlobalAveragePooling2D"
    Attrs = GlobalPoolingAttrs
    nd = 2
    mode = "average"
    summary = "Average over every 2-D spatial position, per channel."
    examples = [
        Example({}, (4, 4, 2)),
        Example({"keepdims": True}, (3, 5, 2)),
        Example({"data_format": "channels_first"}, (2, 3, 3)),
        Example({"data_format": "channels_first", "keepdims": True}, (2, 3, 4)),
        Example({}, (None, 3, 2)),
    ]
    bad_examples = global_bad_examples(2)
