"""Equalization: histogram equalization per channel over the whole batch (Keras counts one
histogram of `bins` bins per channel across every image), in training; y = x at inference
(Keras applies it only with training=True). A channel whose values fall in one bin is kept.

ONNX: nothing (the input is returned). Shape: unchanged, a batch of images. Gradient: zero
where a channel is equalized (a lookup table: piecewise constant in x), dy where it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._intensity import ImageAugment, finish_data_format, keras_value_range
from .base import BadExample, Example, positive_int, register


@dataclass(frozen=True)
class EqualizationAttrs:
    value_range: tuple[float, float] = (0.0, 255.0)
    bins: int = 256
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        keras_value_range(self, sort=True)
        finish_data_format(self)


def _scale(v: np.ndarray, src, dst) -> np.ndarray:
    """Keras' Equalization._scale_values (its own form of the range change)."""
    f = v.dtype.type
    scale = f((dst[1] - dst[0]) / (src[1] - src[0]))
    return v * scale + f(dst[0] - src[0] * scale)


def _equalize(channel: np.ndarray, bins: int) -> tuple[np.ndarray, bool]:
    f32 = np.float32
    idx = np.clip(((channel.astype(f32) - f32(0)) * f32(bins - 1) / f32(255)).astype(np.int32),
                  0, bins - 1)
    hist = np.bincount(idx.reshape(-1), minlength=bins)
    if np.count_nonzero(hist) <= 1:
        return channel, False
    cdf = np.cumsum(hist)
    cdf_min = cdf[np.nonzero(cdf)[0][0]]
    denom = cdf[-1] - cdf_min or 1
    lut = np.clip(np.round((cdf - cdf_min).astype(f32) * f32(255) / f32(denom)), 0, 255)
    pos = np.clip(channel / channel.dtype.type(255.0) * channel.dtype.type(bins - 1), 0,
                  bins - 1).astype(np.int32)
    return lut[pos].astype(channel.dtype), True


@register
class Equalization(ImageAugment):
    kind = "Equalization"
    Attrs = EqualizationAttrs
    summary = "In training, equalizes each channel's histogram (counted over the batch)."
    examples = [
        Example({}, (4, 4, 3), input_range=(0.0, 255.0)),
        Example({"bins": 16, "value_range": [0, 1]}, (3, 3, 2), input_range=(0.0, 1.0)),
        Example({"data_format": "channels_first"}, (3, 2, 4), input_range=(0.0, 255.0)),
        Example({}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"bins": 0}, (3, 3, 3), "bins"),
        BadExample({}, (3, 3), "rank 4"),
    ]

    def check(self, a):
        positive_int(a, "bins")

    def draw(self, a, shape, rng):
        return None  # deterministic

    def transform(self, a, x, t):
        byte = (0.0, 255.0)
        out, kept = [], []
        for c in range(x.shape[-1]):
            y, done = _equalize(_scale(x[..., c], a.value_range, byte), a.bins)
            out.append(_scale(y, byte, a.value_range))
            kept.append(not done)
        return np.stack(out, axis=-1).astype(x.dtype), np.array(kept)

    def transform_backward(self, a, kept, dy):
        return dy * kept
