"""Solarization: per image a ~ U(add_lo, add_hi * 255), t ~ U(thr_lo, thr_hi * 255) (Keras
scales only the upper bounds); with x scaled from value_range to [0, 255], r = clip(x + a,
0, 255), y = r where r < t else 255 - r, scaled back, in training; y = x at inference (Keras
applies it only with training=True).

ONNX: nothing (the input is returned). Shape: unchanged, a batch of images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DefinitionError
from ._intensity import (
    Factor,
    ImageAugment,
    clip,
    finish_data_format,
    keras_value_range,
    rescale,
)
from .base import BadExample, Example, register

BYTE = (0.0, 255.0)


def _factor(attrs, name: str) -> None:
    """Solarization's own rule: a number f -> (0, f); a pair sorted; every value in [0, 1]."""
    v = getattr(attrs, name)
    pair = tuple(sorted(v)) if isinstance(v, tuple) else (0.0, v)
    if len(pair) != 2 or not all(0.0 <= p <= 1.0 for p in pair):
        raise DefinitionError(f"'{name}' must be a number (or a list of two numbers) in the "
                              "range [0, 1]", field=name,
                              received=f"{name}={list(v) if isinstance(v, tuple) else v}")
    object.__setattr__(attrs, name, (float(pair[0]), float(pair[1])))


@dataclass(frozen=True)
class SolarizationAttrs:
    addition_factor: Factor = 0.0
    threshold_factor: Factor = 0.0
    value_range: tuple[float, float] = (0.0, 255.0)
    # Kept for Keras configs; draws come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        _factor(self, "addition_factor")
        _factor(self, "threshold_factor")
        keras_value_range(self, sort=True)
        finish_data_format(self)


@register
class Solarization(ImageAugment):
    kind = "Solarization"
    Attrs = SolarizationAttrs
    summary = "In training, inverts pixels above a random threshold after a random offset."
    examples = [
        Example({"threshold_factor": 0.8}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"addition_factor": [0.1, 0.3], "threshold_factor": 0.5, "value_range": [0, 1],
                 "seed": 10}, (2, 3, 1), input_range=(0.0, 1.0)),
        Example({}, (3, 2, 4), input_range=(0.0, 255.0)),
        Example({"threshold_factor": 0.5}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"threshold_factor": 1.5}, (3, 3, 3), "threshold_factor"),
        BadExample({"addition_factor": [-0.1, 0.5]}, (3, 3, 3), "addition_factor"),
        BadExample({}, (3, 3), "rank 4"),
    ]

    def draw(self, a, shape, rng):
        n = (shape[0], 1, 1, 1)
        (a0, a1), (t0, t1) = a.addition_factor, a.threshold_factor
        return {"additions": rng.uniform(a0, a1 * 255, n).astype(np.float32),
                "thresholds": rng.uniform(t0, t1 * 255, n).astype(np.float32)}

    def transform(self, a, x, t):
        f = x.dtype.type
        r, inside = clip(rescale(x, a.value_range, BYTE) + np.asarray(t["additions"], x.dtype),
                         0.0, 255.0)
        keep = r < np.asarray(t["thresholds"], x.dtype)
        y = np.where(keep, r, f(255.0) - r)
        # The two rescalings cancel in the slope: dy/dx is +-1 inside the clip, else 0.
        return rescale(y, BYTE, a.value_range), np.where(keep, 1.0, -1.0) * inside

    def transform_backward(self, a, slope, dy):
        return dy * slope
