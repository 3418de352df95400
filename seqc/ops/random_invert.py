"""RandomInvert: per image p ~ U(lower, upper) and, when a uniform draw is below p,
y = value_range[1] - x, in training; y = x at inference.

ONNX: nothing (the input is returned). Shape: unchanged, a batch of images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._intensity import Factor, FactorSeedAttrs, ImageAugment
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomInvertAttrs(FactorSeedAttrs):
    FACTOR_BOUNDS = (0.0, 1.0)
    SORT_RANGE = False
    factor: Factor = 1.0


@register
class RandomInvert(ImageAugment):
    kind = "RandomInvert"
    Attrs = RandomInvertAttrs
    summary = "In training, inverts images (value_range[1] - x) with a random probability."
    examples = [
        Example({}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"factor": [0.9, 1.0], "value_range": [0, 1], "seed": 8}, (2, 3, 1),
                input_range=(0.0, 1.0)),
        Example({"factor": 1.0, "data_format": "channels_first"}, (3, 2, 4)),
        Example({"factor": 0.3}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"factor": 1.5}, (3, 3, 3), "factor"),
        BadExample({"factor": 0.5}, (3, 3), "rank 4"),
    ]

    def draw(self, a, shape, rng):
        p = rng.uniform(a.factor[0], a.factor[1], shape[0])
        return {"apply_inversion": rng.random(shape[0]) < p}

    def transform(self, a, x, t):
        apply = np.asarray(t["apply_inversion"]).reshape(-1, 1, 1, 1)
        return np.where(apply, x.dtype.type(a.value_range[1]) - x, x), apply

    def transform_backward(self, a, apply, dy):
        return np.where(apply, -dy, dy)
