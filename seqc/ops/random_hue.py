"""RandomHue: per image d = +-u / 2, u ~ U(lower, upper); the hue of x (scaled from value_range
to [0, 1]) moves by d (wrapped into [0, 1)), y = clip(rgb, 0, 1) scaled back, in training;
y = x at inference.

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
    rescale,
    rescale_slope,
)
from .base import BadExample, Example, register

UNIT = (0.0, 1.0)


@dataclass(frozen=True)
class RandomHueAttrs(FactorAttrs):
    FACTOR_BOUNDS = (0.0, 1.0)
    SORT_RANGE = False


def adjust_hue(a, x, t):
    u = rescale(x, a.value_range, UNIT)
    hsv = rgb_to_hsv(u)
    h = hsv[..., 0] + np.asarray(t["factor"], x.dtype).reshape(-1, 1, 1)
    h = np.where(h > 1.0, h - 1.0, h)
    h = np.where(h < 0.0, h + 1.0, h)
    moved = np.stack([h, hsv[..., 1], hsv[..., 2]], axis=-1).astype(x.dtype)
    y, inside = clip(hsv_to_rgb(moved), 0.0, 1.0)
    return rescale(y, UNIT, a.value_range), (u, moved, inside)


def adjust_hue_backward(a, cache, dy):
    u, moved, inside = cache
    d = dy * (inside * rescale_slope(UNIT, a.value_range))
    d = hsv_to_rgb_backward(moved, d)  # the shift and the wrap have slope 1 in h
    return rgb_to_hsv_backward(u, d) * rescale_slope(a.value_range, UNIT)


def draw_hue(factor, n, rng):
    sign = np.where(rng.random(n, dtype=np.float32) > 0.5, -1.0, 1.0)
    return {"factor": (sign * rng.uniform(factor[0], factor[1], n) * 0.5).astype(np.float32)}


@register
class RandomHue(ImageAugment):
    kind = "RandomHue"
    Attrs = RandomHueAttrs
    channels = (3,)
    summary = "In training, rotates each RGB image's hue by a random amount."
    examples = [
        Example({"factor": 0.5}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"factor": [0.2, 0.9], "value_range": [0, 1], "seed": 4}, (2, 3, 3),
                input_range=(0.0, 1.0)),
        Example({"factor": 0.8, "data_format": "channels_first"}, (3, 2, 3),
                input_range=(0.0, 255.0)),
        Example({"factor": 0.3}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"factor": 1.5}, (3, 3, 3), "factor"),
        BadExample({"factor": 0.5}, (3, 3, 1), "channels"),
    ]

    def draw(self, a, shape, rng):
        return draw_hue(a.factor, shape[0], rng)

    def transform(self, a, x, t):
        return adjust_hue(a, x, t)

    def transform_backward(self, a, cache, dy):
        return adjust_hue_backward(a, cache, dy)
