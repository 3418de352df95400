"""RandomPosterization: per image b ~ randint[lower, upper) bits (lower when equal); x scaled
from value_range to [0, 255], cast to uint8, its low 8 - b bits cleared, scaled back, in
training; y = x at inference.

ONNX: nothing (the input is returned). Shape: unchanged, a batch of images. Gradient: zero
(the output is piecewise constant in x; Keras' uint8 cast passes no gradient either).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._intensity import (
    FactorAttrs,
    ImageAugment,
    rescale,
)
from .base import BadExample, Example, register

BYTE = (0.0, 255.0)


@dataclass(frozen=True)
class RandomPosterizationAttrs(FactorAttrs):
    FACTOR_BOUNDS = (1.0, 8.0)


@register
class RandomPosterization(ImageAugment):
    kind = "RandomPosterization"
    Attrs = RandomPosterizationAttrs
    summary = "In training, keeps a random number (1 to 8) of each 8-bit value's high bits."
    examples = [
        Example({"factor": 4}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"factor": [2, 6], "value_range": [0, 1], "seed": 9}, (2, 3, 1),
                input_range=(0.0, 1.0)),
        Example({"factor": 3, "data_format": "channels_first"}, (3, 2, 4),
                input_range=(0.0, 255.0)),
        Example({"factor": 3}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"factor": 9}, (3, 3, 3), "factor"),
        BadExample({"factor": 2}, (3, 3), "rank 4"),
    ]

    def draw(self, a, shape, rng):
        lo, hi = int(a.factor[0]), int(a.factor[1])
        bits = rng.integers(lo, hi, shape[0]) if lo != hi else np.full(shape[0], lo)
        return {"shift_factor": (8 - bits).astype(np.uint8)}

    def transform(self, a, x, t):
        shift = np.asarray(t["shift_factor"], np.uint8).reshape(-1, 1, 1, 1)
        # Keras casts to uint8, which wraps out-of-range values platform-dependently; seqc
        # saturates them first (in-range pixels are truncated alike).
        b = np.clip(rescale(x, a.value_range, BYTE), 0, 255).astype(np.uint8)
        y = ((b >> shift) << shift).astype(x.dtype)
        return rescale(y, BYTE, a.value_range), True  # the cache: only "it was applied"

    def transform_backward(self, a, cache, dy):
        return np.zeros_like(dy)
