"""SpatialDropout2D: Dropout of whole feature maps: mask (N, 1, 1, C) (channels_first:
(N, C, 1, 1)), kept maps scaled by 1 / (1 - rate) in training; identity at inference.

ONNX: nothing (inference identity; the input value is returned). Shape: unchanged.
"""

from __future__ import annotations

from ._noise import SpatialDropoutAttrs, SpatialDropoutBase
from .base import BadExample, Example, register


@register
class SpatialDropout2D(SpatialDropoutBase):
    kind = "SpatialDropout2D"
    Attrs = SpatialDropoutAttrs
    nd = 2
    summary = "Drops whole feature maps in training, scaling the rest by 1/(1-rate)."
    examples = [
        Example({"rate": 0.5}, (2, 2, 3)),
        Example({"rate": 0.5, "data_format": "channels_first", "seed": 3}, (3, 2, 2)),
        Example({"rate": 0.3}, (2, 2, 3), training=False),
    ]
    bad_examples = [
        BadExample({"rate": 1.5}, (2, 2, 3), "rate"),
        BadExample({"rate": 0.5}, (2, 3), "rank 4"),
        BadExample({"rate": 0.5, "data_format": "nhwc"}, (2, 2, 3), "data_format"),
        BadExample({"rate": 0.5, "sed": 1}, (2, 2, 3), "did you mean"),
    ]
