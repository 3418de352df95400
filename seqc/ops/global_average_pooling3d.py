"""GlobalAveragePooling3D: y[n, c] = mean of x[n, ..., c] over every spatial axis
(depth, rows, cols).
ONNX: GlobalAveragePool on (N, C, *spatial), then Flatten(axis=1) unless keepdims.
Shape: (N, D, H, W, C) -> (N, C), or (N, 1, 1, 1, C) with keepdims=True.
"""

from __future__ import annotations

from ._pooling import GlobalPooling, GlobalPoolingAttrs, global_bad_examples
from .base import Example, register


@register
class GlobalAveragePooling3D(GlobalPooling):
    kind = "GlobalAveragePooling3D"
    Attrs = GlobalPoolingAttrs
    nd = 3
    mode = "average"
    summary = "Average over every 3-D spatial position, per channel."
    examples = [
        Example({}, (2, 3, 3, 2)),
        Example({"keepdims": True}, (2, 2, 3, 2)),
        Example({"data_format": "channels_first"}, (2, 2, 3, 3)),
        Example({"data_format": "channels_first", "keepdims": True}, (2, 3, 2, 2)),
        Example({}, (None, 2, 2, 1)),
    ]
    bad_examples = global_bad_examples(3)
