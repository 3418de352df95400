"""RandomTranslation: in training each image is shifted by u * height rows and v * width
columns, u and v drawn uniformly from height_factor and width_factor (positive = down/right);
sampled with Keras' fill mode and interpolation; y = x at inference.

ONNX: absent (inference identity). Shape: unchanged. Backward: the adjoint of the sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._augment import WarpBase, factor_range, finish_warp
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomTranslationAttrs:
    height_factor: float | tuple[float, float]
    width_factor: float | tuple[float, float]
    fill_mode: str = "reflect"
    interpolation: str = "bilinear"
    # Kept for Keras configs; shifts come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    fill_value: float = 0.0
    data_format: Literal["channels_last", "channels_first"] | None = None

    def __post_init__(self):
        finish_warp(self)
        for name in ("height_factor", "width_factor"):
            factor_range(self, name, -1.0, 1.0)


@register
class RandomTranslation(WarpBase):
    kind = "RandomTranslation"
    Attrs = RandomTranslationAttrs
    summary = "Shifts each image by a random fraction of its height and width in training."
    examples = [
        Example({"height_factor": 0.2, "width_factor": 0.3}, (5, 4, 2)),
        Example({"height_factor": [-0.3, 0.0], "width_factor": [0.1, 0.4],
                 "fill_mode": "constant", "fill_value": 0.25}, (4, 5, 1)),
        Example({"height_factor": 0.5, "width_factor": 0.5, "fill_mode": "wrap",
                 "interpolation": "nearest", "seed": 2}, (4, 4, 2)),
        Example({"height_factor": 0.3, "width_factor": 0.1, "fill_mode": "nearest",
                 "data_format": "channels_first"}, (2, 4, 5)),
        Example({"height_factor": 0.2, "width_factor": 0.2}, (4, 4, 1), training=False),
    ]
    bad_examples = [
        BadExample({"height_factor": 1.5, "width_factor": 0.1}, (4, 4, 1), "height_factor"),
        BadExample({"height_factor": 0.1}, (4, 4, 1), "width_factor"),
        BadExample({"height_factor": 0.1, "width_factor": [0.1, 0.2, 0.3]}, (4, 4, 1),
                   "width_factor"),
    ]

    def transforms(self, a, rng, n, h, w):
        ty = rng.uniform(*a.height_factor, n) * h
        tx = rng.uniform(*a.width_factor, n) * w
        return translation_transforms(tx, ty)


def translation_transforms(tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Keras' _get_translation_matrix: [1, 0, -tx, 0, 1, -ty, 0, 0] (shifts in pixels)."""
    one, zero = np.ones_like(tx), np.zeros_like(tx)
    return np.stack([one, zero, -tx, zero, one, -ty, zero, zero], axis=1)
