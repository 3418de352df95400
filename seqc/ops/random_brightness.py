"""RandomBrightness: per image d ~ U(lower, upper) * (high - low) of value_range; y = clip(x + d,
value_range) in training; y = x at inference.

ONNX: nothing (the input is returned). Shape: unchanged, a batch of images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._intensity import (
    FactorSeedAttrs,
    ImageAugment,
    clip,
)
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomBrightnessAttrs(FactorSeedAttrs):
    pass


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
