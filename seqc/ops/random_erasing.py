"""RandomErasing: per image, with probability p ~ U(lower, upper), a box of area fraction
~ U(scale) (each side sqrt of a draw) at a uniform position is filled with fill_value (or, when
null, Gaussian noise times value_range[1]), clipped to value_range, in training; y = x at
inference.

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
    box_masks,
    finish_data_format,
    keras_factor,
    keras_value_range,
)
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomErasingAttrs:
    factor: Factor = 1.0
    scale: Factor = (0.02, 0.33)
    fill_value: float | tuple[float, float, float] | None = None
    value_range: tuple[float, float] = (0.0, 255.0)
    # Kept for Keras configs; draws come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        keras_factor(self, "factor", (0.0, 1.0))
        keras_factor(self, "scale", (0.0, 1.0))
        keras_value_range(self, sort=False)
        finish_data_format(self)


@register
class RandomErasing(ImageAugment):
    kind = "RandomErasing"
    Attrs = RandomErasingAttrs
    summary = "In training, fills a random box with noise or fill_value, with a probability."
    examples = [
        Example({}, (5, 6, 3), input_range=(0.0, 255.0)),
        Example({"factor": [0.8, 1.0], "scale": [0.2, 0.6], "fill_value": 0.5,
                 "value_range": [0, 1], "seed": 11}, (4, 4, 1), input_range=(0.0, 1.0)),
        Example({"fill_value": [10.0, 20.0, 30.0], "scale": 0.5}, (4, 5, 3),
                input_range=(0.0, 255.0)),
        Example({"data_format": "channels_first", "scale": 0.5}, (2, 4, 4)),
        Example({}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"scale": 1.5}, (3, 3, 3), "scale"),
        BadExample({"fill_value": [1.0, 2.0]}, (3, 3, 3), "fill_value"),
        BadExample({"fill_value": [1.0, 2.0, 3.0]}, (3, 3, 2), "fill_value"),
        BadExample({"fill_value": [1.0, 2.0, 3.0], "data_format": "channels_first"}, (3, 4, 4),
                   "fill_value"),
    ]

    def infer(self, a, in_types):
        (x,) = super().infer(a, in_types)
        rgb_last = a.data_format == "channels_last" and x.shape[-1] == 3
        if isinstance(a.fill_value, tuple) and not rgb_last:
            raise DefinitionError(
                "a list fill_value gives one value per channel of channels_last RGB images "
                "(Keras broadcasts it against the last axis)", field="fill_value",
                received=f"fill_value={list(a.fill_value)}, data_format={a.data_format!r}, "
                         f"input {x}")
        return [x]

    def draw(self, a, shape, rng):
        n = shape[0]
        side = np.sqrt(rng.uniform(a.scale[0], a.scale[1], (n, 2))).astype(np.float32)
        masks = box_masks(rng, shape, side[:, 0], side[:, 1])
        p = rng.uniform(a.factor[0], a.factor[1], n)
        apply = rng.random(n) < p
        if a.fill_value is None:
            fill = rng.standard_normal(shape, dtype=np.float32) * np.float32(a.value_range[1])
        else:
            fill = np.broadcast_to(np.asarray(a.fill_value, np.float32), shape)
        fill = np.clip(fill, a.value_range[0], a.value_range[1])
        return {"apply_erasing": apply, "batch_masks": masks, "fill_value": fill}

    def transform(self, a, x, t):
        erase = np.asarray(t["batch_masks"]) & np.asarray(t["apply_erasing"]).reshape(-1, 1, 1, 1)
        return np.where(erase, np.asarray(t["fill_value"], x.dtype), x), erase

    def transform_backward(self, a, erase, dy):
        return np.where(erase, 0.0, dy).astype(dy.dtype)
