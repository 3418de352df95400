"""RandomFlip: in training each image is flipped with probability 1/2 (left-right for
"horizontal", top-bottom for "vertical"; "horizontal_and_vertical" flips both axes of the
images it picks, one draw per image, as Keras 3 does); y = x at inference.

ONNX: absent (inference identity). Shape: unchanged. Backward: dy flipped back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._augment import AugmentBase, check_choice, from_nhwc, generator, to_nhwc
from ._resize import finish_format
from .base import BadExample, Example, register

MODES = ("horizontal", "vertical", "horizontal_and_vertical")


@dataclass(frozen=True)
class RandomFlipAttrs:
    mode: str = "horizontal_and_vertical"
    # Kept for Keras configs; flips come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    data_format: Literal["channels_last", "channels_first"] | None = None

    def __post_init__(self):
        finish_format(self)
        check_choice(self, "mode", MODES)


@register
class RandomFlip(AugmentBase):
    kind = "RandomFlip"
    Attrs = RandomFlipAttrs
    summary = "Flips each image left-right and/or top-bottom with probability 1/2 in training."
    examples = [
        Example({"mode": "horizontal"}, (3, 4, 2)),
        Example({"mode": "vertical", "seed": 3}, (4, 3, 1)),
        Example({}, (3, 3, 2)),
        Example({"mode": "horizontal", "data_format": "channels_first"}, (2, 3, 4)),
        Example({"mode": "horizontal"}, (3, 4, 2), training=False),
    ]
    bad_examples = [
        BadExample({"mode": "diagonal"}, (3, 3, 1), "mode"),
        BadExample({"mode": "horizontal"}, (3, 3), "rank 4"),
        BadExample({"mode": "horizontal", "data_format": "nchw"}, (3, 3, 1), "data_format"),
    ]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        if not ctx.training:
            return [x], None
        # Keras: flip where uniform <= 0.5, one draw per image.
        flips = generator(ctx, a.seed).random(x.shape[0]) <= 0.5
        return [flip(x, flips, a)], flips

    def backward(self, a, params, flips, dys):
        (dy,) = dys
        return [dy if flips is None else flip(dy, flips, a)], {}


def flip(x: np.ndarray, flips: np.ndarray, a: RandomFlipAttrs) -> np.ndarray:
    """x with the images selected by `flips` flipped along the mode's axes (its own inverse)."""
    y = to_nhwc(x, a).copy()
    axes = {"horizontal": (1,), "vertical": (0,), "horizontal_and_vertical": (0, 1)}[a.mode]
    y[flips] = np.flip(y[flips], axis=tuple(ax + 1 for ax in axes))
    return from_nhwc(y, a)
