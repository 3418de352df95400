"""GaussianNoise: y = x + e, e ~ N(0, stddev^2) elementwise, in training; y = x at inference.

ONNX: nothing (inference identity; the input value is returned). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import BadExample, Example, OpDef, in_range, register


@dataclass(frozen=True)
class GaussianNoiseAttrs:
    stddev: float
    # Kept for Keras configs; noise comes from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None


@register
class GaussianNoise(OpDef):
    inference_identity = True
    kind = "GaussianNoise"
    supports_masking = True  # passes a timestep mask on, as in Keras
    Attrs = GaussianNoiseAttrs
    category = "regularization"
    summary = "Adds zero-mean Gaussian noise with standard deviation stddev in training."
    layout = "agnostic"
    examples = [
        Example({"stddev": 0.1}, (4,)),
        Example({"stddev": 0.5, "seed": 1}, (2, 3)),
        Example({"stddev": 0.5}, (2, 2, 1), training=False),
        Example({"stddev": 0.0}, (3,)),
    ]
    bad_examples = [
        BadExample({"stddev": -0.1}, (3,), "stddev"),
        BadExample({"stddev": 1.5}, (3,), "stddev"),
        BadExample({}, (3,), "stddev"),
        BadExample({"stdev": 0.1}, (3,), "did you mean"),
    ]

    def check(self, a: GaussianNoiseAttrs) -> None:
        # Keras' own bound: stddev in [0, 1].
        in_range(a, "stddev", 0.0, 1.0, hi_open=False)

    def infer(self, a, in_types):
        return [in_types[0]]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        if not ctx.training or a.stddev == 0.0:
            return [x], None
        rng = ctx.rng if ctx.rng is not None else np.random.default_rng(a.seed)
        noise = rng.standard_normal(x.shape, dtype=np.float32) * np.float32(a.stddev)
        return [x + noise.astype(x.dtype)], None

    def backward(self, a, params, cache, dys):
        # The noise does not depend on x: dy passes through unchanged.
        return [dys[0]], {}

    def lower(self, a, params, xs, em):
        return [xs[0]]
