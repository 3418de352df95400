"""GlobalAveragePooling1D: y[n, c] = mean of x[n, ..., c] over every spatial axis (steps).
ONNX: GlobalAveragePool on (N, C, *spatial), then Flatten(axis=1) unless keepdims.
Shape: (N, L, C) -> (N, C), or (N, 1, C) with keepdims=True.
"""

from __future__ import annotations

from ._pooling import GlobalPooling, GlobalPoolingAttrs, global_bad_examples
from .base import Example, register


@register
class GlobalAveragePooling1D(GlobalPooling):
    kind = "GlobalAveragePooling1D"
    Attrs = GlobalPoolingAttrs
    nd = 1
    mode = "average"
    summary = "Average over every 1-D spatial position, per channel."
    # Keras' call also takes a mask (padded steps left out of the mean); seqc has no
    # masks yet, so every step counts.
    examples = [
        Example({}, (5, 3)),
        Example({"keepdims": True}, (4, 2)),
        Example({"data_format": "channels_first"}, (3, 5)),
        Example({"data_format": "channels_first", "keepdims": True}, (2, 4)),
        Example({}, (None, 3)),
    ]
    bad_examples = global_bad_examples(1)
