"""Colour-space maths shared by the colour augmentation layers, as Keras' backends compute it
(keras/src/backend/*/image.py, after dm_pix), each with its vector-Jacobian product.

Arrays are channels-last, (..., 3) for RGB/HSV. Hue, saturation and value follow Keras:
h in [0, 1), s = (max - min) / max, v = max. The conversions are piecewise differentiable; the
backward functions give the derivative of the piece the input lies in (ties between channels
and the boundaries between pieces have measure zero).
"""

from __future__ import annotations

import numpy as np

# Keras' rgb_to_grayscale weights (every backend; ITU-R 601-2 luma as in torchvision).
GRAY = (0.2989, 0.587, 0.114)


def grayscale(x: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 1) luma; a single channel passes through (Keras' rule)."""
    if x.shape[-1] == 1:
        return x.copy()
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    w = [x.dtype.type(c) for c in GRAY]
    return (w[0] * r + w[1] * g + w[2] * b)[..., None]


def grayscale_backward(dgray: np.ndarray, channels: int) -> np.ndarray:
    """VJP of `grayscale`: (..., 1) -> (..., channels)."""
    if channels == 1:
        return dgray
    return dgray * np.asarray(GRAY, dgray.dtype)


def _planes(x: np.ndarray):
    """(r, g, b), value, minimum, range, and which channel holds the max/min (Keras' hue
    priority for the max: red, then green, then blue)."""
    x = np.where(np.abs(x) < np.finfo(x.dtype).eps, 0.0, x).astype(x.dtype)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    value = np.maximum(np.maximum(r, g), b)
    minimum = np.minimum(np.minimum(r, g), b)
    imax = np.where(value == r, 0, np.where(value == g, 1, 2))
    imin = np.where(minimum == r, 0, np.where(minimum == g, 1, 2))
    return (r, g, b), value, minimum, value - minimum, imax, imin


def rgb_to_hsv(x: np.ndarray) -> np.ndarray:
    (r, g, b), value, _, rng, _, _ = _planes(x)
    one = x.dtype.type(1.0)
    safe_value = np.where(value > 0, value, one)
    safe_range = np.where(rng > 0, rng, one)
    saturation = np.where(value > 0, rng / safe_value, 0.0)
    norm = one / (x.dtype.type(6.0) * safe_range)
    hue = np.where(value == g, norm * (b - r) + x.dtype.type(2.0 / 6.0),
                   norm * (r - g) + x.dtype.type(4.0 / 6.0))
    hue = np.where(value == r, norm * (g - b), hue)
    hue = np.where(rng > 0, hue, 0.0) + (hue < 0.0)
    return np.stack([hue, saturation, value], axis=-1).astype(x.dtype)


def rgb_to_hsv_backward(x: np.ndarray, dhsv: np.ndarray) -> np.ndarray:
    """VJP of `rgb_to_hsv` at x, for the upstream gradient dhsv (..., 3)."""
    (r, g, b), value, minimum, rng, imax, imin = _planes(x)
    dh, ds, dv = dhsv[..., 0], dhsv[..., 1], dhsv[..., 2]
    pos_v, pos_r = value > 0, rng > 0
    safe_v = np.where(pos_v, value, 1.0)
    safe_r = np.where(pos_r, rng, 1.0)
    # s = 1 - min / max where max > 0; h = u / (6 range) + const, u the difference of the two
    # channels other than the max (g - b, b - r or r - g).
    u = np.choose(imax, [g - b, b - r, r - g])
    d_max = dv + np.where(pos_v, ds * minimum / safe_v**2, 0.0)
    d_min = np.where(pos_v, -ds / safe_v, 0.0)
    d_range = np.where(pos_r, -dh * u / (6.0 * safe_r**2), 0.0)
    d_u = np.where(pos_r, dh / (6.0 * safe_r), 0.0)
    d_max, d_min = d_max + d_range, d_min - d_range
    dx = np.zeros(x.shape, dhsv.dtype)
    for c in range(3):
        dx[..., c] += np.where(imax == c, d_max, 0.0) + np.where(imin == c, d_min, 0.0)
        # u is g - b (max red), b - r (max green), r - g (max blue): channel c enters it
        # with + when the max is channel c - 1, with - when it is channel c + 1.
        plus, minus = (c - 1) % 3, (c + 1) % 3
        dx[..., c] += np.where(imax == plus, d_u, 0.0) - np.where(imax == minus, d_u, 0.0)
    return dx * (np.abs(x) >= np.finfo(x.dtype).eps)


def _hue_ramps(h: np.ndarray):
    dh = np.remainder(h, 1.0) * 6.0
    pre = (np.abs(dh - 3.0) - 1.0, 2.0 - np.abs(dh - 2.0), 2.0 - np.abs(dh - 4.0))
    slope = (np.sign(dh - 3.0), -np.sign(dh - 2.0), -np.sign(dh - 4.0))
    return pre, slope


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    pre, _ = _hue_ramps(h)
    return np.stack([v * (1.0 - s + s * np.clip(p, 0.0, 1.0)) for p in pre],
                    axis=-1).astype(hsv.dtype)


def hsv_to_rgb_backward(hsv: np.ndarray, drgb: np.ndarray) -> np.ndarray:
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    pre, slope = _hue_ramps(h)
    dh = np.zeros_like(h)
    ds = np.zeros_like(h)
    dv = np.zeros_like(h)
    for c in range(3):
        d, g = np.clip(pre[c], 0.0, 1.0), drgb[..., c]
        dv += g * (1.0 - s + s * d)
        ds += g * v * (d - 1.0)
        dh += g * v * s * 6.0 * slope[c] * ((pre[c] > 0.0) & (pre[c] < 1.0))
    return np.stack([dh, ds, dv], axis=-1).astype(drgb.dtype)
