"""RandomGrayscale: with probability `factor` per image, y = luma(x) = 0.2989 r + 0.587 g +
0.114 b in every channel, in training; y = x at inference.

ONNX: nothing (the input is returned). Shape: unchanged, a batch of 1- or 3-channel images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DefinitionError
from ._color import grayscale, grayscale_backward
from ._intensity import ImageAugment, finish_data_format
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomGrayscaleAttrs:
    factor: float = 0.5
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"
    # Kept for Keras configs; draws come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.factor <= 1.0:
            raise DefinitionError("'factor' must be between 0 and 1", field="factor",
                                  received=f"factor={self.factor}")
        finish_data_format(self)


@register
class RandomGrayscale(ImageAugment):
    kind = "RandomGrayscale"
    Attrs = RandomGrayscaleAttrs
    channels = (1, 3)
    summary = "In training, turns images to grayscale (kept in 3 channels) with probability factor."
    examples = [
        Example({"factor": 0.5}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"factor": 1.0}, (2, 2, 3)),  # Keras get_config drops `seed`
        Example({"factor": 1.0, "data_format": "channels_first"}, (3, 2, 4)),
        Example({}, (3, 3, 1), training=False),
    ]
    bad_examples = [
        BadExample({"factor": 1.5}, (3, 3, 3), "factor"),
        BadExample({"factor": 0.5}, (3, 3, 2), "channels"),
    ]

    def draw(self, a, shape, rng):
        # Keras' transformation is the bool array itself, (N, 1, 1, 1).
        return (rng.random(shape[0], dtype=np.float32) < a.factor).reshape(-1, 1, 1, 1)

    def transform(self, a, x, t):
        return np.where(t, grayscale(x), x), t

    def transform_backward(self, a, apply, dy):
        dgray = grayscale_backward(dy.sum(axis=-1, keepdims=True), dy.shape[-1])
        return np.where(apply, dgray, dy)
