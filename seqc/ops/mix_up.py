"""MixUp: per image w ~ Beta(alpha, alpha) and a partner j from a random permutation of the
batch; y = w x + (1 - w) x[j], in training; y = x at inference.

Inside a model the layer sees only the images, so, as in Keras, the labels are NOT mixed
(Keras mixes them only when MixUp is called on an {"images", "labels"} dict in the data
pipeline). ONNX: nothing (the input is returned). Shape: unchanged, a batch of images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DefinitionError
from ._intensity import ImageAugment, finish_data_format
from .base import BadExample, Example, register


@dataclass(frozen=True)
class MixUpAttrs:
    alpha: float = 0.2
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"
    # Kept for Keras configs; draws come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None

    def __post_init__(self) -> None:
        finish_data_format(self)


def scatter_back(dy: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Adjoint of x[order] (a gather along the batch)."""
    dx = np.zeros_like(dy)
    np.add.at(dx, order, dy)
    return dx


@register
class MixUp(ImageAugment):
    kind = "MixUp"
    Attrs = MixUpAttrs
    summary = "In training, blends each image with another of the batch (labels unmixed)."
    examples = [
        Example({}, (3, 4, 3)),
        Example({"alpha": 1.0, "seed": 14}, (2, 3, 1)),
        Example({"alpha": 0.5, "data_format": "channels_first"}, (3, 2, 4)),
        Example({}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"alpha": 0.0}, (3, 3, 3), "alpha"),
        BadExample({}, (3, 3), "rank 4"),
    ]

    def check(self, a):
        if a.alpha <= 0:
            raise DefinitionError("'alpha' must be positive (the Beta distribution's "
                                  "parameter)", field="alpha", received=f"alpha={a.alpha}")

    def draw(self, a, shape, rng):
        n = shape[0]
        return {"permutation_order": rng.permutation(n),
                "mix_weight": rng.beta(a.alpha, a.alpha, n).astype(np.float32)}

    def transform(self, a, x, t):
        w = np.asarray(t["mix_weight"], x.dtype).reshape(-1, 1, 1, 1)
        order = np.asarray(t["permutation_order"])
        return w * x + (1.0 - w) * x[order], (w, order)

    def transform_backward(self, a, cache, dy):
        w, order = cache
        return w * dy + scatter_back((1.0 - w) * dy, order)
