"""RandomSharpness: per image f = 2u, u ~ U(lower, upper); y = clip(x + (1 - f) (k * x - x),
value_range) with k * x each channel smoothed by [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 (zero
padding, same size), in training; y = x at inference.

ONNX: nothing (the input is returned). Shape: unchanged, a batch of images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._intensity import (
    FactorAttrs,
    ImageAugment,
    clip,
    depthwise_same,
)
from .base import BadExample, Example, register

SMOOTH = np.array([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0


@dataclass(frozen=True)
class RandomSharpnessAttrs(FactorAttrs):
    FACTOR_BOUNDS = (0.0, 1.0)


@register
class RandomSharpness(ImageAugment):
    kind = "RandomSharpness"
    Attrs = RandomSharpnessAttrs
    summary = "In training, blends with a smoothed copy by a random factor (sharpen or blur)."
    examples = [
        Example({"factor": 0.5}, (4, 4, 3), input_range=(0.0, 255.0)),
        Example({"factor": [0.6, 1.0], "value_range": [0, 1], "seed": 6}, (3, 5, 2),
                input_range=(0.0, 1.0)),
        Example({"factor": 0.4, "data_format": "channels_first"}, (2, 3, 4),
                input_range=(0.0, 255.0)),
        Example({"factor": 0.3}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"factor": 1.5}, (3, 3, 3), "factor"),
        BadExample({"factor": 0.5}, (3, 3), "rank 4"),
    ]

    def draw(self, a, shape, rng):
        return {"factor": rng.uniform(a.factor[0], a.factor[1], shape[0]).astype(np.float32)}

    def transform(self, a, x, t):
        keep = x.dtype.type(1.0) - np.asarray(t["factor"], x.dtype).reshape(-1, 1, 1, 1) * 2
        y, inside = clip(x + keep * (depthwise_same(x, SMOOTH) - x), *a.value_range)
        return y, (keep, inside)

    def transform_backward(self, a, cache, dy):
        keep, inside = cache
        d = dy * inside
        # SMOOTH is symmetric, so the convolution is its own adjoint.
        return d * (1.0 - keep) + keep * depthwise_same(d, SMOOTH)
