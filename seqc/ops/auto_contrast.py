"""AutoContrast: per image and channel, y = clip((x' - min) * 255 / (max - min), 0, 255) with
x' = x scaled from value_range to [0, 255] and min/max over axes 1 and 2, scaled back; a
constant channel (NaN) keeps x. Applied in training AND at inference, as Keras does.

ONNX: ReduceMin/ReduceMax, Sub, Div, Mul, Clip, IsNaN, Where. Shape: unchanged. As in Keras,
the reduction is over axes 1 and 2 whatever the data_format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._intensity import (
    ImageAugment,
    finish_data_format,
    keras_value_range,
    rescale,
    rescale_slope,
)
from .base import BadExample, Example, register

BYTE = (0.0, 255.0)
AXES = (1, 2)


@dataclass(frozen=True)
class AutoContrastAttrs:
    value_range: tuple[float, float] = (0.0, 255.0)
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        keras_value_range(self, sort=True)
        finish_data_format(self)


@register
class AutoContrast(ImageAugment):
    inference_identity = False  # applies at inference too
    kind = "AutoContrast"
    Attrs = AutoContrastAttrs
    summary = "Stretches each image channel to the full value_range (also at inference)."
    layout = "canonical"
    examples = [
        Example({}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"value_range": [0, 1]}, (2, 3, 1), input_range=(0.0, 1.0)),
        Example({"data_format": "channels_first"}, (3, 2, 4), input_range=(0.0, 255.0)),
        Example({}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"value_range": [0, 1, 2]}, (3, 3, 3), "value_range"),
        BadExample({}, (3, 3), "rank 4"),
    ]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        f = x.dtype.type
        v = rescale(x, a.value_range, BYTE)
        low, high = v.min(axis=AXES, keepdims=True), v.max(axis=AXES, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = f(255.0) / (high - low)
            pre = v * scale + (-low * scale)
        y = rescale(np.clip(pre, 0.0, 255.0), BYTE, a.value_range)
        flat = np.isnan(y)
        y = np.where(flat, x, y).astype(x.dtype)
        return [y], (v, low, high, scale, (pre >= 0) & (pre <= 255), flat)

    def backward(self, a, params, cache, dys):
        v, low, high, scale, inside, flat = cache
        d = dys[0] * rescale_slope(BYTE, a.value_range) * inside
        d = np.where(flat, 0.0, d)
        u = np.where(flat, 0.0, (v - low) * scale / 255.0)  # the output in [0, 1]
        # y = (v - low) * 255 / (high - low): dy/dv, and the pull on the argmin/argmax.
        dv = d * np.where(flat, 0.0, scale)
        d_low = (d * np.where(flat, 0.0, scale * (u - 1.0))).sum(axis=AXES, keepdims=True)
        d_high = (d * np.where(flat, 0.0, -scale * u)).sum(axis=AXES, keepdims=True)
        dv = dv + _to_arg(v, low, d_low) + _to_arg(v, high, d_high)
        dx = dv * rescale_slope(a.value_range, BYTE)
        return [np.where(flat, dys[0], dx).astype(dys[0].dtype)], {}

    def lower(self, a, params, xs, em):
        (x,) = xs
        c = lambda v, name: em.const(np.asarray(v, np.float32), name)  # noqa: E731
        lo, hi = a.value_range

        def reduce(op: str, v: str) -> str:
            if em.opset >= 18:  # axes moved from an attribute to an input in opset 18
                return em.op(op, [v, em.const(np.asarray(AXES, np.int64), "axes")], keepdims=1)
            return em.op(op, [v], axes=list(AXES), keepdims=1)

        v = x  # the same operations, in the same order, as the NumPy forward (and Keras)
        if (lo, hi) != BYTE:
            v = em.op("Mul", [em.op("Div", [em.op("Sub", [x, c(lo, "lo")]), c(hi - lo, "span")]),
                              c(255.0, "byte")])
        low, high = reduce("ReduceMin", v), reduce("ReduceMax", v)
        scale = em.op("Div", [c(255.0, "byte"), em.op("Sub", [high, low])])
        pre = em.op("Add", [em.op("Mul", [v, scale]), em.op("Neg", [em.op("Mul", [low, scale])])])
        y = em.op("Clip", [pre, c(0.0, "zero"), c(255.0, "byte")])
        if (lo, hi) != BYTE:
            y = em.op("Add", [em.op("Mul", [em.op("Div", [y, c(255.0, "byte")]),
                                            c(hi - lo, "span")]), c(lo, "lo")])
        # NaN (a constant channel: 0 * inf) survives np.clip but maybe not every runtime's
        # Clip, so the test reads `pre`: the clip and the rescaling make no NaN of their own.
        return [em.op("Where", [em.op("IsNaN", [pre]), x, y])]


def _to_arg(v: np.ndarray, extreme: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Spread a reduction's gradient g over the positions holding its extreme (ties share
    it evenly, as torch's amin/amax do)."""
    hit = v == extreme
    return hit * (g / hit.sum(axis=AXES, keepdims=True))
