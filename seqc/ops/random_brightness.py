"""RandomBrightness: per image d ~ U(lower, upper) * (high - low) of value_range; y = clip(x + d,
value_range) in training; y = x at inference.

ONNX: nothing (the input is returned). Shape: unchanged, a batch of images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._intensity import (
    Factor,
    ImageAugment,
    clip,
    finish_data_format,
    keras_factor,
    keras_value_range,
)
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomBrightnessAttrs:
    factor: Factor
    value_range: tuple[float, float] = (0.0, 255.0)
    # Kept for Keras configs; draws come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        keras_factor(self, "factor", (-1.0, 1.0))
        keras_value_range(self, sort=True)
        finish_data_format(self)


def adjust_brightness(a, x, t):
    y, inside = clip(x + np.asarray(t["rgb_delta"], x.dtype).reshape(-1, 1, 1, 1),
                     *a.value_range)
    return y, inside


def draw_brightness(a, factor, n, rng):
    lo, hi = a.value_range
    delta = rng.uniform(factor[0], factor[1], (n, 1, 1, 1)).astype(np.float32)
    return {"rgb_delta": delta * np.float32(hi - lo)}


@register
class RandomBrightness(ImageAugment):
    kind = "RandomBrightness"
    Attrs = RandomBrightnessAttrs
    summary = "In training, adds a random offset (a fraction of value_range), clipped."
    examples = [
        Example({"factor": 0.2}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"factor": [-0.5, 0.1], "value_range": [0, 1], "seed": 1}, (2, 3, 1),
                input_range=(0.0, 1.0)),
        Example({"factor": 0.3, "data_format": "channels_first"}, (3, 2, 4),
                input_range=(0.0, 255.0)),
        Example({"factor": 0.3}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"factor": -1.5}, (3, 3, 3), "factor"),
        BadExample({"factor": [0.1, 0.2, 0.3]}, (3, 3, 3), "factor"),
        BadExample({"factor": 0.2}, (3,), "rank 4"),
    ]

    def draw(self, a, shape, rng):
        return draw_brightness(a, a.factor, shape[0], rng)

    def transform(self, a, x, t):
        return adjust_brightness(a, x, t)

    def transform_backward(self, a, inside, dy):
        return dy * inside
