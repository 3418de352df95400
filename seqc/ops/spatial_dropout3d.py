"""SpatialDropout3D: Dropout of whole feature volumes: mask (N, 1, 1, 1, C) (channels_first:
(N, C, 1, 1, 1)), kept ones scaled by 1 / (1 - rate) in training; identity at inference.

ONNX: nothing (inference identity; the input value is returned). Shape: unchanged.
"""

from __future__ import annotations

from ._noise import SpatialDropoutAttrs, SpatialDropoutBase
from .base import BadExample, Example, register


@register
class SpatialDropout3D(SpatialDropoutBase):
    kind = "SpatialDropout3D"
    Attrs = SpatialDropoutAttrs
    nd = 3
    summary = "Drops whole feature volumes in training, scaling the rest by 1/(1-rate)."
    examples = [
        Example({"rate": 0.4}, (2, 2, 1, 3)),
        Example({"rate": 0.5, "data_format": "channels_first"}, (3, 1, 2, 2)),
    ]
    bad_examples = [
        BadExample({"rate": -0.1}, (2, 2, 2, 3), "rate"),
        BadExample({"rate": 0.5}, (2, 2, 3), "rank 5"),
        BadExample({"rat": 0.5}, (2, 2, 2, 3), "did you mean"),
    ]
