"""RandomShear: in training each image is sheared about its top-left corner by s_x and s_y,
drawn uniformly from x_factor and y_factor and negated together with probability 1/2 (the
output pixel (x, y) reads the input at (x + s_x y, s_y x + y)); sampled with Keras' fill mode
and interpolation; y = x at inference.

ONNX: absent (inference identity). Shape: unchanged. Backward: the adjoint of the sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._augment import WarpBase, factor_range, finish_warp
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomShearAttrs:
    x_factor: float | tuple[float, float] = 0.0
    y_factor: float | tuple[float, float] = 0.0
    interpolation: str = "bilinear"
    fill_mode: str = "reflect"
    fill_value: float = 0.0
    data_format: Literal["channels_last", "channels_first"] | None = None
    # Kept for Keras configs; shears come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None

    def __post_init__(self):
        finish_warp(self)
        for name in ("x_factor", "y_factor"):
            # A number is in [0, 1] and means (-f, f): Keras' get_config writes that pair,
            # which its own from_config then refuses; seqc reads it (pairs in [-1, 1]).
            factor_range(self, name, 0.0, 1.0, pair_lo=-1.0)


@register
class RandomShear(WarpBase):
    kind = "RandomShear"
    Attrs = RandomShearAttrs
    summary = "Shears each image by random x and y factors in training."
    examples = [
        Example({"x_factor": 0.2, "y_factor": 0.1}, (5, 4, 2)),
        Example({"x_factor": [0.1, 0.3], "fill_mode": "constant", "fill_value": 0.5},
                (4, 5, 1)),
        Example({"y_factor": 0.5, "fill_mode": "wrap", "interpolation": "nearest",
                 "seed": 4}, (4, 4, 2)),
        Example({"x_factor": 0.3, "fill_mode": "nearest", "data_format": "channels_first"},
                (2, 4, 5)),
        Example({"x_factor": 0.2}, (4, 4, 1), training=False),
    ]
    bad_examples = [
        BadExample({"x_factor": 1.5}, (4, 4, 1), "x_factor"),
        BadExample({"y_factor": [-1.1, 0.2]}, (4, 4, 1), "y_factor"),
        BadExample({"y_factor": -0.1}, (4, 4, 1), "y_factor"),
        BadExample({"x_factor": 0.1, "fill_mode": "mirror"}, (4, 4, 1), "fill_mode"),
    ]

    def attrs_to_config(self, a):
        config = super().attrs_to_config(a)
        for name in ("x_factor", "y_factor"):
            lo, hi = getattr(a, name)
            if lo == -hi:
                config[name] = hi  # the number form, which Keras' from_config reads
        return config

    def transforms(self, a, rng, n, h, w):
        invert = np.where(rng.random(n) > 0.5, -1.0, 1.0)
        sy = rng.uniform(*a.y_factor, n) * invert
        sx = rng.uniform(*a.x_factor, n) * invert
        return shear_transforms(sx, sy)


def shear_transforms(sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Keras' _get_shear_matrix: [1, sx, 0, sy, 1, 0, 0, 0]."""
    one, zero = np.ones_like(sx), np.zeros_like(sx)
    return np.stack([one, sx, zero, sy, one, zero, zero, zero], axis=1)
