"""RandomSaturation: per image f = u / (1 - u + 1e-7), u ~ U(lower, upper); in HSV,
s' = clip(s * f, value_range), y = rgb(h, s', v), in training; y = x at inference. As in
Keras, the images are not scaled to [0, 1] first and s' is clipped to value_range.

ONNX: nothing (the input is returned). Shape: unchanged, a batch of RGB images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._color import hsv_to_rgb, hsv_to_rgb_backward, rgb_to_hsv, rgb_to_hsv_backward
from ._intensity import (
    FactorAttrs,
    ImageAugment,
    clip,
)
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomSaturationAttrs(FactorAttrs):
    pass


def adjust_saturation(a, x, t):
    f = np.asarray(t["factor"], x.dtype).reshape(-1, 1, 1)
    hsv = rgb_to_hsv(x)
    s, inside = clip(hsv[..., 1] * f, *a.value_range)
    moved = np.stack([hsv[..., 0], s, hsv[..., 2]], axis=-1).astype(x.dtype)
    return hsv_to_rgb(moved), (x, moved, f * inside)


def adjust_saturation_backward(cache, dy):
    x, moved, slope = cache
    d = hsv_to_rgb_backward(moved, dy)
    d[..., 1] *= slope
    return rgb_to_hsv_backward(x, d)


def draw_saturation(factor, n, rng):
    u = rng.uniform(factor[0], factor[1], n)
    return {"factor": (u / (1.0 - u + 1e-7)).astype(np.float32)}


@register
class RandomSaturation(ImageAugment):
    kind = "RandomSaturation"
    Attrs = RandomSaturationAttrs
    channels = (3,)
    summary = "In training, scales each RGB image's HSV saturation by a random factor."
    examples = [
        Example({"factor": 0.5}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"factor": [0.2, 0.6], "value_range": [0, 1], "seed": 5}, (2, 3, 3),
                input_range=(0.0, 1.0)),
        Example({"factor": 0.4, "data_format": "channels_first"}, (3, 2, 3),
                input_range=(0.0, 255.0)),
        Example({"factor": 0.3}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"factor": 2.0}, (3, 3, 3), "factor"),
        BadExample({"factor": 0.5}, (3, 3, 4), "channels"),
    ]

    def draw(self, a, shape, rng):
        return draw_saturation(a.factor, shape[0], rng)

    def transform(self, a, x, t):
        return adjust_saturation(a, x, t)

    def transform_backward(self, a, cache, dy):
        return adjust_saturation_backward(cache, dy)
