"""Shared code for SpatialDropout1D/2D/3D: Dropout whose mask has shape (N, 1, ..., 1, C)
(channels_first: (N, C, 1, ..., 1)), so a dropped channel is dropped at every position.

Training: y = x * mask / (1 - rate), mask ~ Bernoulli(1 - rate), drawn from the run's generator
(ctx.rng) like Dropout. Inference: y = x; ONNX: nothing emitted (the input is returned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ._resize import channels_first, finish_format, spatial_sizes
from .base import OpDef, in_range
from .dropout import inverted_mask, scaled_backward


@dataclass(frozen=True)
class SpatialDropoutAttrs:
    """Keras' arguments of SpatialDropout2D/3D (1D has no data_format)."""

    rate: float
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"
    # Kept for Keras configs; masks come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None

    def __post_init__(self) -> None:
        finish_format(self)


class SpatialDropoutBase(OpDef):
    inference_identity = True
    nd: ClassVar[int]
    category = "regularization"
    layout = "agnostic"
    supports_masking = True  # passes a timestep mask on, as in Keras (a Dropout subclass)

    def check(self, a) -> None:
        # Keras allows rate=1, which divides by zero in training; reject it as Dropout does.
        in_range(a, "rate", 0.0, 1.0)

    def infer(self, a, in_types):
        (x,) = in_types
        spatial_sizes(x, self.nd, self.kind, a)
        return [x]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        if not ctx.training or a.rate == 0.0:
            return [x], None
        ones = (1,) * self.nd
        shape = ((x.shape[0], x.shape[1], *ones) if channels_first(a)
                 else (x.shape[0], *ones, x.shape[-1]))
        scale = inverted_mask(ctx, a.seed, shape, a.rate, x.dtype)
        return [x * scale], scale

    def backward(self, a, params, scale, dys):
        return scaled_backward(scale, dys)

    def lower(self, a, params, xs, em):
        return [xs[0]]
