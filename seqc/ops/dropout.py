"""Dropout: y = x * mask / (1 - rate) in training (inverted dropout), y = x at inference.

ONNX: absent (inference identity; the input value is returned). Shape: unchanged; the mask
has `noise_shape` (None entries take the input's size) and broadcasts over the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from .base import BadExample, Example, OpDef, in_range, register


@dataclass(frozen=True)
class DropoutAttrs:
    rate: float
    noise_shape: tuple[int | None, ...] | None = None
    # Kept for Keras configs. Masks come from the run's generator (ctx.rng, seeded by fit's
    # seed), so a whole run is reproducible without per-layer seeds.
    seed: int | None = None


@register
class Dropout(OpDef):
    inference_identity = True
    kind = "Dropout"
    supports_masking = True  # passes a timestep mask on, as in Keras
    Attrs = DropoutAttrs
    category = "regularization"
    summary = "Randomly zeroes inputs in training, scaling the rest by 1/(1-rate)."
    examples = [
        Example({"rate": 0.5}, (4,)),
        Example({"rate": 0.5}, (4,), training=False),
        Example({"rate": 0.0}, (3,)),
        Example({"rate": 0.3, "noise_shape": [None, 1, 3], "seed": 7}, (2, 3)),
    ]
    bad_examples = [
        BadExample({"rate": 1.0}, (3,), "rate"),
        BadExample({"rate": -0.1}, (3,), "rate"),
        BadExample({}, (3,), "rate"),
        BadExample({"rate": 0.5, "noise_shape": [None, 2]}, (3,), "noise_shape"),
        BadExample({"rate": 0.5, "noise_shape": [None]}, (3,), "noise_shape"),
        BadExample({"rate": 0.5, "noise_shape": [None, 0]}, (3,), "noise_shape"),
    ]

    def check(self, a: DropoutAttrs) -> None:
        # Keras allows rate=1, which divides by zero in training; reject it here.
        in_range(a, "rate", 0.0, 1.0)
        if a.noise_shape is not None and any(d is not None and d <= 0 for d in a.noise_shape):
            raise DefinitionError("`noise_shape` entries must be positive or null",
                                  field="noise_shape",
                                  received=f"noise_shape={list(a.noise_shape)}")

    def infer(self, a: DropoutAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        ns = a.noise_shape
        if ns is not None:
            ok = len(ns) == x.rank and all(
                n is None or n == 1 or n == d for n, d in zip(ns, x.shape))
            if not ok:
                raise DefinitionError(
                    "`noise_shape` must have the input's rank (batch included), each entry "
                    "null, 1 or the input's size", field="noise_shape",
                    received=f"noise_shape={list(ns)}, input {x}")
        return [x]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        if not ctx.training or a.rate == 0.0:
            return [x], None
        shape = x.shape if a.noise_shape is None else tuple(
            s if n is None else n for n, s in zip(a.noise_shape, x.shape))
        scale = inverted_mask(ctx, a.seed, shape, a.rate, x.dtype)
        return [x * scale], scale

    def backward(self, a, params, scale, dys):
        return scaled_backward(scale, dys)

    layout = "agnostic"

    def lower(self, a, params, xs, em):
        return [xs[0]]


def inverted_mask(ctx, seed: int | None, shape: tuple, rate: float, dtype) -> np.ndarray:
    """Inverted-dropout scale: 0 with probability `rate`, else 1 / (1 - rate), broadcastable
    to the input; drawn from the run's generator (or one seeded by the layer's `seed`)."""
    rng = ctx.rng if ctx.rng is not None else np.random.default_rng(seed)
    # float32 draws: half the random bits of float64, and the mask never needs more.
    keep = rng.random(shape, dtype=np.float32) >= rate
    # The scale rounded once from double, then multiplied in the input's dtype: the same values
    # as dividing the mask in float64 and casting, without the float64 temporary.
    return np.multiply(keep, np.asarray(1.0 / (1.0 - rate)).astype(dtype), dtype=dtype)


def scaled_backward(scale, dys) -> tuple[list, dict]:
    """Backward of x * scale for the dropout family (scale None: identity at inference)."""
    (dy,) = dys
    return [dy if scale is None else dy * scale], {}
