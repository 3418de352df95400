"""RandomPerspective: in training each image is, with probability p (p drawn uniformly from
factor per image), warped by the homography that moves its corners (x, y) to
(x, y) * (1 + d), d uniform in [-scale/2, scale/2] per coordinate (Keras' corner rule, so the
top-left corner stays); the output samples the input at the inverse mapping, filling with
fill_value outside; y = x at inference.

ONNX: absent (inference identity). Shape: unchanged. Backward: the adjoint of the sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DefinitionError
from ._augment import WarpBase, factor_range, finish_warp
from .base import BadExample, Example, register

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])


@dataclass(frozen=True)
class RandomPerspectiveAttrs:
    factor: float | tuple[float, float] = 1.0
    scale: float = 1.0
    interpolation: str = "bilinear"
    fill_value: float = 0.0
    # Kept for Keras configs; warps come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    data_format: Literal["channels_last", "channels_first"] | None = None

    def __post_init__(self):
        finish_warp(self, fill_mode=False)
        factor_range(self, "factor", 0.0, 1.0, base=True)
        if not 0.0 <= self.scale <= 1.0:
            raise DefinitionError("'scale' must be in [0, 1]", field="scale",
                                  received=f"scale={self.scale}")


@register
class RandomPerspective(WarpBase):
    kind = "RandomPerspective"
    Attrs = RandomPerspectiveAttrs
    summary = "Warps each image by a random perspective (corners moved by scale / 2) in training."
    examples = [
        Example({}, (5, 4, 2)),
        Example({"factor": [0.5, 1.0], "scale": 0.4, "fill_value": 0.5, "seed": 1},
                (4, 5, 1)),
        Example({"scale": 0.6, "interpolation": "nearest"}, (4, 4, 2)),
        Example({"scale": 0.3, "data_format": "channels_first"}, (2, 4, 5)),
        Example({"factor": 0.5}, (4, 4, 1), training=False),
    ]
    bad_examples = [
        BadExample({"scale": 1.5}, (4, 4, 1), "scale"),
        BadExample({"factor": 2.0}, (4, 4, 1), "factor"),
        BadExample({"fill_mode": "reflect"}, (4, 4, 1), "fill_mode"),
    ]

    def transforms(self, a, rng, n, h, w):
        p = rng.uniform(*a.factor, n)
        apply = rng.uniform(0.0, 1.0, n) < p
        d = rng.uniform(-0.5 * a.scale, 0.5 * a.scale, (n, 4, 2))
        start = np.broadcast_to(corners(h, w), (n, 4, 2))
        t = homographies(start, start + start * d)
        return np.where(apply[:, None], t, IDENTITY)


def corners(h: int, w: int) -> np.ndarray:
    return np.array([[0.0, 0.0], [w - 1, 0.0], [0.0, h - 1], [w - 1, h - 1]])


def homographies(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Keras' compute_homography_matrix: the (N, 8) [a0..a7] mapping each end point (output
    pixel) to its start point (source): x_s = (a0 x + a1 y + a2) / (a6 x + a7 y + 1), ..."""
    n = start.shape[0]
    m = np.zeros((n, 8, 8))
    ex, ey, sx, sy = end[..., 0], end[..., 1], start[..., 0], start[..., 1]
    for i in range(4):
        m[:, 2 * i, 0:3] = np.stack([ex[:, i], ey[:, i], np.ones(n)], axis=1)
        m[:, 2 * i, 6:8] = np.stack([-sx[:, i] * ex[:, i], -sx[:, i] * ey[:, i]], axis=1)
        m[:, 2 * i + 1, 3:6] = np.stack([ex[:, i], ey[:, i], np.ones(n)], axis=1)
        m[:, 2 * i + 1, 6:8] = np.stack([-sy[:, i] * ex[:, i], -sy[:, i] * ey[:, i]], axis=1)
    target = np.stack([sx, sy], axis=-1).reshape(n, 8, 1)
    return np.linalg.solve(m, target)[..., 0]
