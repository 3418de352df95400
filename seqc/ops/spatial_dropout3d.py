"""SpatialDropout3D: Dropout of whole feature volumes: mask (N, 1, 1, 1, C) (channels_first:
(N, C, 1, 1, 1)), kept ones scaled by 1 / (1 - rate) in training; identity at inference.

ONNX: nothing (inference identity; the input value is returned). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._noise import SpatialDropoutBase
from ._resize import finish_format
from .base import BadExample, Example, register


@dataclass(frozen=True)
class SpatialDropout3DAttrs:
    rate: float
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"
    # Kept for Keras configs; masks come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None

    def __post_init__(self) -> None:
        finish_format(self)


@register
class SpatialDropout3D(SpatialDropoutBase):
    kind = "SpatialDropout3D"
    Attrs = SpatialDropout3DAttrs
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
