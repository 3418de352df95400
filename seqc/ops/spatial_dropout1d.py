"""SpatialDropout1D: Dropout of whole channels: mask (N, 1, C) on (N, steps, C), kept entries
scaled by 1 / (1 - rate) in training; identity at inference.

ONNX: nothing (inference identity; the input value is returned). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._noise import SpatialDropoutBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class SpatialDropout1DAttrs:
    rate: float
    # Kept for Keras configs; masks come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None


@register
class SpatialDropout1D(SpatialDropoutBase):
    kind = "SpatialDropout1D"
    Attrs = SpatialDropout1DAttrs
    nd = 1
    summary = "Drops whole channels of a sequence in training, scaling the rest by 1/(1-rate)."
    examples = [
        Example({"rate": 0.5}, (3, 4)),
        Example({"rate": 0.5, "seed": 2}, (3, 4), training=False),
        Example({"rate": 0.0}, (2, 2)),
    ]
    bad_examples = [
        BadExample({"rate": 1.0}, (3, 4), "rate"),
        BadExample({}, (3, 4), "rate"),
        BadExample({"rate": 0.5}, (4,), "rank 3"),
        BadExample({"rate": 0.5, "data_format": "channels_last"}, (3, 4), "data_format"),
    ]
