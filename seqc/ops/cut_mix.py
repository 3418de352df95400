"""CutMix: per batch alpha ~ U(factor) + 1e-6; per image w ~ Beta(alpha, alpha), a box with
sides sqrt(1 - w) of the image's at a uniform position, and a partner j from a random
permutation; y = x[j] inside the box, x outside, in training; y = x at inference.

Inside a model the layer sees only the images, so, as in Keras, the labels are NOT mixed
(Keras mixes them only when CutMix is called on an {"images", "labels"} dict in the data
pipeline). ONNX: nothing (the input is returned). Shape: unchanged, a batch of images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._intensity import Factor, ImageAugment, box_masks, finish_data_format, keras_factor
from .base import BadExample, Example, register
from .mix_up import scatter_back


@dataclass(frozen=True)
class CutMixAttrs:
    factor: Factor = 1.0
    # Kept for Keras configs; draws come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        keras_factor(self, "factor", (0.0, 1.0))
        finish_data_format(self)


@register
class CutMix(ImageAugment):
    kind = "CutMix"
    Attrs = CutMixAttrs
    summary = "In training, pastes a random box from another image of the batch (labels unmixed)."
    examples = [
        Example({}, (5, 6, 3)),
        Example({"factor": [0.5, 1.0], "seed": 15}, (4, 4, 1)),
        Example({"data_format": "channels_first"}, (2, 4, 4)),
        Example({}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"factor": 1.5}, (3, 3, 3), "factor"),
        BadExample({}, (3, 3), "rank 4"),
    ]

    def draw(self, a, shape, rng):
        n = shape[0]
        alpha = rng.uniform(a.factor[0], a.factor[1]) + 1e-6
        ratio = np.sqrt(1.0 - rng.beta(alpha, alpha, n)).astype(np.float32)
        masks = box_masks(rng, shape, ratio, ratio)
        return {"permutation_order": rng.permutation(n), "batch_masks": masks}

    def transform(self, a, x, t):
        masks, order = np.asarray(t["batch_masks"]), np.asarray(t["permutation_order"])
        return np.where(masks, x[order], x), (masks, order)

    def transform_backward(self, a, cache, dy):
        masks, order = cache
        return np.where(masks, 0.0, dy) + scatter_back(np.where(masks, dy, 0.0), order)
