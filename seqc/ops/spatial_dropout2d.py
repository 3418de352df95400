"""SpatialDropout2D: Dropout of whole feature maps: mask (N, 1, 1, C) (channels_first:
(N, C, 1, 1)), kept maps scaled by 1 / (1 - rate) in training; identity at inference.

ONNX: nothing (inference identity; the input value is returned). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._noise import SpatialDropoutBase
from ._resize import finish_format
from .base import BadExample, Example, register


@dataclass(frozen=True)
class SpatialDropout2DAttrs:
    rate: float
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"
    # Kept for Keras configs; masks come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None

    def __post_init__(self) -> None:
        finish_format(self)


@register
class SpatialDropout2D(SpatialDropoutBase):
    kind = "SpatialDropout2D"
    Attrs = SpatialDropout2DAttrs
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
