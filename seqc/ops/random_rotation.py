"""RandomRotation: in training each image is rotated about its centre by an angle drawn
uniformly from factor * 360 degrees (positive = counter-clockwise), sampled with Keras' fill
mode and interpolation (seqc/ops/_augment.py); y = x at inference.

ONNX: absent (inference identity). Shape: unchanged. Backward: the adjoint of the sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._augment import WarpBase, factor_range, finish_warp
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomRotationAttrs:
    factor: float | tuple[float, float]
    fill_mode: str = "reflect"
    interpolation: str = "bilinear"
    # Kept for Keras configs; angles come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    fill_value: float = 0.0
    data_format: Literal["channels_last", "channels_first"] | None = None

    def __post_init__(self):
        finish_warp(self)
        factor_range(self, "factor", -1.0, 1.0, base=True)


@register
class RandomRotation(WarpBase):
    kind = "RandomRotation"
    Attrs = RandomRotationAttrs
    summary = "Rotates each image by a random angle (factor x 360 degrees) in training."
    examples = [
        Example({"factor": 0.1}, (5, 4, 2)),
        Example({"factor": [-0.2, 0.3], "fill_mode": "constant", "fill_value": 0.5,
                 "seed": 1}, (4, 5, 1)),
        Example({"factor": 0.5, "fill_mode": "wrap", "interpolation": "nearest"}, (4, 4, 2)),
        Example({"factor": 0.25, "fill_mode": "nearest", "data_format": "channels_first"},
                (2, 4, 5)),
        Example({"factor": 0.2}, (4, 4, 1), training=False),
    ]
    bad_examples = [
        BadExample({"factor": 1.5}, (4, 4, 1), "factor"),
        BadExample({"factor": 0.1, "fill_mode": "mirror"}, (4, 4, 1), "fill_mode"),
        BadExample({"factor": 0.1, "interpolation": "bicubic"}, (4, 4, 1), "interpolation"),
        BadExample({"factor": 0.1}, (4, 4), "rank 4"),
        BadExample({}, (4, 4, 1), "factor"),
    ]

    def transforms(self, a, rng, n, h, w):
        lo, hi = a.factor
        return rotation_transforms(rng.uniform(lo * 360.0, hi * 360.0, n), h, w)


def rotation_transforms(degrees: np.ndarray, h: int, w: int) -> np.ndarray:
    """Keras' _compute_affine_matrix for a rotation about the centre ((w-1)/2, (h-1)/2):
    rows [cos, -sin, a2, sin, cos, b2, 0, 0] (N, 8)."""
    theta = np.deg2rad(np.asarray(degrees, np.float64))
    cos, sin = np.cos(theta), np.sin(theta)
    cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
    a0, a1, b0, b1 = cos, -sin, sin, cos
    zero = np.zeros_like(theta)
    return np.stack([a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1,
                     zero, zero], axis=1)
