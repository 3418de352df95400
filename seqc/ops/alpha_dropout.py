"""AlphaDropout (Keras 3, for SELU networks): in training, each unit is kept with probability
1 - rate or set to alpha' = -1.7581 (SELU's negative saturation), then y = a * x + b with
a = ((1 - rate)(1 + rate alpha'^2))^-1/2 and b = -a alpha' rate, so mean and variance stay;
y = x at inference.

ONNX: nothing (inference identity; the input value is returned). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from .base import BadExample, Example, OpDef, in_range, register

# SELU's constants, as Keras writes them.
_ALPHA = 1.6732632423543772848170429916717
_SCALE = 1.0507009873554804934193349852946
ALPHA_P = -_ALPHA * _SCALE


@dataclass(frozen=True)
class AlphaDropoutAttrs:
    rate: float
    noise_shape: tuple[int | None, ...] | None = None
    # Kept for Keras configs; noise comes from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None


@register
class AlphaDropout(OpDef):
    inference_identity = True
    kind = "AlphaDropout"
    supports_masking = True  # passes a timestep mask on, as in Keras
    Attrs = AlphaDropoutAttrs
    category = "regularization"
    summary = "Dropout that keeps a SELU network's mean and variance (training only)."
    layout = "agnostic"
    examples = [
        Example({"rate": 0.3}, (4,)),
        Example({"rate": 0.1, "seed": 4}, (2, 3)),
        Example({"rate": 0.2}, (2, 2, 1), training=False),
        Example({"rate": 0.0}, (3,)),
    ]
    bad_examples = [
        BadExample({"rate": 1.0}, (3,), "rate"),
        BadExample({"rate": -0.5}, (3,), "rate"),
        BadExample({"rate": 0.2, "noise_shape": [1, 3]}, (3,), "noise_shape"),
        BadExample({"rates": 0.1}, (3,), "did you mean"),
    ]

    def check(self, a: AlphaDropoutAttrs) -> None:
        # rate=1 would keep nothing: a = 1/0.
        in_range(a, "rate", 0.0, 1.0)
        if a.noise_shape is not None:
            raise DefinitionError("AlphaDropout(noise_shape=...) is not supported by seqc",
                                  field="noise_shape", received=f"noise_shape={a.noise_shape}",
                                  hint="drop noise_shape: each unit is dropped on its own")

    def infer(self, a, in_types):
        return [in_types[0]]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        if not ctx.training or a.rate == 0.0:
            return [x], None
        rng = ctx.rng if ctx.rng is not None else np.random.default_rng(a.seed)
        kept = (rng.random(x.shape, dtype=np.float32) >= np.float32(a.rate)).astype(x.dtype)
        scale = ((1 - a.rate) * (1 + a.rate * ALPHA_P**2)) ** -0.5
        shift = -scale * ALPHA_P * a.rate
        y = np.float32(scale) * (x * kept + np.float32(ALPHA_P) * (1 - kept)) + np.float32(shift)
        return [y.astype(x.dtype)], kept * np.asarray(scale, x.dtype)

    def backward(self, a, params, gain, dys):
        (dy,) = dys
        return [dy if gain is None else dy * gain], {}

    def lower(self, a, params, xs, em):
        return [xs[0]]
