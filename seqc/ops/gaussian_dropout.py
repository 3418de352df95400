"""GaussianDropout: y = x * m, m ~ N(1, rate / (1 - rate)) elementwise, in training (the
multiplicative noise has std sqrt(rate / (1 - rate))); y = x at inference.

ONNX: nothing (inference identity; the input value is returned). Shape: unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import BadExample, Example, OpDef, in_range, register


@dataclass(frozen=True)
class GaussianDropoutAttrs:
    rate: float
    # Kept for Keras configs; noise comes from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None


@register
class GaussianDropout(OpDef):
    inference_identity = True
    kind = "GaussianDropout"
    supports_masking = True  # passes a timestep mask on, as in Keras
    Attrs = GaussianDropoutAttrs
    category = "regularization"
    summary = "Multiplies inputs by Gaussian noise (mean 1, variance rate/(1-rate)) in training."
    layout = "agnostic"
    examples = [
        Example({"rate": 0.3}, (4,)),
        Example({"rate": 0.5, "seed": 4}, (2, 3)),
        Example({"rate": 0.2}, (2, 2, 1), training=False),
        Example({"rate": 0.0}, (3,)),
    ]
    bad_examples = [
        BadExample({"rate": 1.0}, (3,), "rate"),
        BadExample({"rate": -0.5}, (3,), "rate"),
        BadExample({}, (3,), "rate"),
        BadExample({"rates": 0.1}, (3,), "did you mean"),
    ]

    def check(self, a: GaussianDropoutAttrs) -> None:
        # Keras allows rate=1, whose noise std sqrt(1/0) is infinite; reject it.
        in_range(a, "rate", 0.0, 1.0)

    def infer(self, a, in_types):
        return [in_types[0]]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        if not ctx.training or a.rate == 0.0:
            return [x], None
        rng = ctx.rng if ctx.rng is not None else np.random.default_rng(a.seed)
        std = math.sqrt(a.rate / (1.0 - a.rate))
        m = (rng.standard_normal(x.shape, dtype=np.float32) * np.float32(std) + 1).astype(x.dtype)
        return [x * m], m

    def backward(self, a, params, m, dys):
        (dy,) = dys
        return [dy if m is None else dy * m], {}

    def lower(self, a, params, xs, em):
        return [xs[0]]
