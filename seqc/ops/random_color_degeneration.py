"""RandomColorDegeneration: per image f ~ U(lower, upper); y = clip(x + f (luma(x) - x),
value_range), luma = 0.2989 r + 0.587 g + 0.114 b, in training; y = x at inference.

ONNX: nothing (the input is returned). Shape: unchanged, a batch of RGB images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._color import grayscale, grayscale_backward
from ._intensity import (
    FactorAttrs,
    ImageAugment,
    clip,
)
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomColorDegenerationAttrs(FactorAttrs):
    pass


@register
class RandomColorDegeneration(ImageAugment):
    kind = "RandomColorDegeneration"
    Attrs = RandomColorDegenerationAttrs
    channels = (3,)
    summary = "In training, blends images towards their grayscale by a random factor."
    examples = [
        Example({"factor": 0.5}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"factor": [0.2, 0.9], "value_range": [0, 1], "seed": 7}, (2, 3, 3),
                input_range=(0.0, 1.0)),
        Example({"factor": 0.5, "data_format": "channels_first"}, (3, 2, 3),
                input_range=(0.0, 255.0)),
        Example({"factor": 0.3}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"factor": 1.5}, (3, 3, 3), "factor"),
        BadExample({"factor": 0.5}, (3, 3, 1), "channels"),
    ]

    def draw(self, a, shape, rng):
        f = rng.uniform(a.factor[0], a.factor[1], (shape[0], 1, 1, 1))
        return {"factor": f.astype(np.float32)}

    def transform(self, a, x, t):
        f = np.asarray(t["factor"], x.dtype).reshape(-1, 1, 1, 1)
        y, inside = clip(x + f * (grayscale(x) - x), *a.value_range)
        return y, (f, inside)

    def transform_backward(self, a, cache, dy):
        f, inside = cache
        d = dy * inside
        return d * (1.0 - f) + grayscale_backward((d * f).sum(axis=-1, keepdims=True), 3)
