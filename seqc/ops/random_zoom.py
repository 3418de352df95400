"""RandomZoom: in training each image is scaled about its centre by 1 + u per axis, u drawn
uniformly from height_factor (and width_factor; None keeps the aspect ratio), positive
zooming out; sampled with Keras' fill mode and interpolation; y = x at inference.

ONNX: absent (inference identity). Shape: unchanged. Backward: the adjoint of the sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._augment import WarpBase, factor_range, finish_warp
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomZoomAttrs:
    height_factor: float | tuple[float, float]
    width_factor: float | tuple[float, float] | None = None
    fill_mode: str = "reflect"
    interpolation: str = "bilinear"
    # Kept for Keras configs; zooms come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    fill_value: float = 0.0
    data_format: Literal["channels_last", "channels_first"] | None = None

    def __post_init__(self):
        finish_warp(self)
        for name in ("height_factor", "width_factor"):
            factor_range(self, name, -1.0, 1.0, lo_open=True)


@register
class RandomZoom(WarpBase):
    kind = "RandomZoom"
    Attrs = RandomZoomAttrs
    summary = "Zooms each image in or out by a random factor per axis in training."
    examples = [
        Example({"height_factor": 0.2}, (5, 4, 2)),
        Example({"height_factor": [-0.3, -0.1], "width_factor": [0.1, 0.4],
                 "fill_mode": "constant", "fill_value": -1.0}, (4, 5, 1)),
        Example({"height_factor": 0.5, "fill_mode": "wrap", "interpolation": "nearest",
                 "seed": 2}, (4, 4, 2)),
        Example({"height_factor": 0.3, "fill_mode": "nearest",
                 "data_format": "channels_first"}, (2, 4, 5)),
        Example({"height_factor": 0.2}, (4, 4, 1), training=False),
    ]
    bad_examples = [
        BadExample({"height_factor": -1.0}, (4, 4, 1), "height_factor"),
        BadExample({"height_factor": 0.1, "width_factor": [0.1, 2.0]}, (4, 4, 1),
                   "width_factor"),
        BadExample({"height_factor": 0.1, "fill_mode": "edge"}, (4, 4, 1), "fill_mode"),
        BadExample({}, (4, 4, 1), "height_factor"),
    ]

    def transforms(self, a, rng, n, h, w):
        zy = 1.0 + rng.uniform(*a.height_factor, n)
        zx = zy if a.width_factor is None else 1.0 + rng.uniform(*a.width_factor, n)
        return zoom_transforms(zx, zy, h, w)


def zoom_transforms(zx: np.ndarray, zy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Keras' _get_zoom_matrix: [zx, 0, (w-1)/2 (1-zx), 0, zy, (h-1)/2 (1-zy), 0, 0]."""
    zero = np.zeros_like(zx)
    return np.stack([zx, zero, (w - 1) / 2.0 * (1.0 - zx), zero, zy,
                     (h - 1) / 2.0 * (1.0 - zy), zero, zero], axis=1)
