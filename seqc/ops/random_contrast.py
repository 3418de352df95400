"""RandomContrast: per image c ~ U(1 - lower, 1 + upper); y = clip((x - m) * c + m, value_range)
with m each channel's mean over height and width, in training; y = x at inference.

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
class RandomContrastAttrs(FactorSeedAttrs):
    FACTOR_BOUNDS = (0.0, 1.0)
    SORT_RANGE = False


def adjust_contrast(a, x, t):
    c = np.asarray(t["contrast_factor"], x.dtype).reshape(-1, 1, 1, 1)
    mean = x.mean(axis=(1, 2), keepdims=True)
    y, inside = clip((x - mean) * c + mean, *a.value_range)
    return y, (c, inside)


def adjust_contrast_backward(cache, dy):
    c, inside = cache
    d = dy * inside
    return d * c + (1.0 - c) * d.mean(axis=(1, 2), keepdims=True)


def draw_contrast(factor, n, rng):
    lo, hi = factor
    return {"contrast_factor": rng.uniform(1.0 - lo, 1.0 + hi, (n, 1, 1, 1)).astype(np.float32)}


@register
class RandomContrast(ImageAugment):
    kind = "RandomContrast"
    Attrs = RandomContrastAttrs
    summary = "In training, scales contrast around each channel's mean by a random factor."
    examples = [
        Example({"factor": 0.5}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"factor": [0.2, 0.6], "value_range": [0, 1], "seed": 3}, (4, 3, 2),
                input_range=(0.0, 1.0)),
        Example({"factor": 0.3, "data_format": "channels_first"}, (2, 3, 4),
                input_range=(0.0, 255.0)),
        Example({"factor": 0.3}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"factor": 1.5}, (3, 3, 3), "factor"),
        BadExample({"factor": 0.2}, (3, 3), "rank 4"),
        BadExample({"factor": 0.2, "value_range": [1, 0]}, (3, 3, 3), "value_range"),
        BadExample({}, (3, 3, 3), "factor"),
    ]

    def draw(self, a, shape, rng):
        return draw_contrast(a.factor, shape[0], rng)

    def transform(self, a, x, t):
        return adjust_contrast(a, x, t)

    def transform_backward(self, a, cache, dy):
        return adjust_contrast_backward(cache, dy)
