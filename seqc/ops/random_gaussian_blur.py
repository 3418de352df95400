"""RandomGaussianBlur: per batch (sx, sy) ~ U(sigma) + 1e-6; per image, with probability
p ~ U(factor), x is blurred by a normalised Gaussian kernel (kernel_size, zero padding, same
size); then y = clip(., value_range) (every image), in training; y = x at inference.

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
    clip,
    depthwise_same,
    finish_data_format,
    keras_factor,
    keras_value_range,
)
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomGaussianBlurAttrs:
    factor: Factor = 1.0
    kernel_size: int | tuple[int, int] = 3
    sigma: Factor = 1.0
    value_range: tuple[float, float] = (0.0, 255.0)
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"
    # Kept for Keras configs; draws come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None

    def __post_init__(self) -> None:
        keras_factor(self, "factor", (0.0, 1.0))
        keras_factor(self, "sigma", (0.0, 1.0))
        k = self.kernel_size
        k = (k, k) if isinstance(k, int) else k
        if k[0] != k[1] or k[0] % 2 == 0 or k[0] <= 0:
            # Keras' backends disagree on a non-square kernel (torch views it transposed).
            raise DefinitionError("'kernel_size' must be one positive odd number (a square "
                                  "kernel)", field="kernel_size",
                                  received=f"kernel_size={list(k)}")
        object.__setattr__(self, "kernel_size", k)
        keras_value_range(self, sort=False)
        finish_data_format(self)


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, dtype) -> np.ndarray:
    """Keras' kernel: outer(k(sigma_y), k(sigma_x)), rows along height."""
    t = np.arange(size, dtype=dtype) - dtype((size - 1) / 2)

    def k1(s):
        k = np.exp(dtype(-0.5) * (t / dtype(s)) ** 2)
        return k / k.sum()

    return np.outer(k1(sigma_y), k1(sigma_x))


@register
class RandomGaussianBlur(ImageAugment):
    kind = "RandomGaussianBlur"
    Attrs = RandomGaussianBlurAttrs
    summary = "In training, blurs with a random-width Gaussian kernel, with a probability."
    examples = [
        Example({}, (5, 4, 3), input_range=(0.0, 255.0)),
        Example({"factor": [0.5, 1.0], "kernel_size": 5, "sigma": [0.3, 0.9],
                 "value_range": [0, 1], "seed": 12}, (6, 5, 2), input_range=(0.0, 1.0)),
        Example({"data_format": "channels_first"}, (2, 4, 4), input_range=(0.0, 255.0)),
        Example({}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"kernel_size": 4}, (3, 3, 3), "kernel_size"),
        BadExample({"kernel_size": [3, 5]}, (3, 3, 3), "kernel_size"),
        BadExample({"sigma": 2.0}, (3, 3, 3), "sigma"),
    ]

    def draw(self, a, shape, rng):
        p = rng.uniform(a.factor[0], a.factor[1], shape[0])
        apply = rng.random(shape[0]) < p
        sigma = rng.uniform(a.sigma[0], a.sigma[1], 2).astype(np.float32) + np.float32(1e-6)
        return {"should_apply_blur": apply, "blur_factor": sigma}

    def transform(self, a, x, t):
        s = np.asarray(t["blur_factor"], np.float64)
        kernel = gaussian_kernel(a.kernel_size[0], s[0], s[1], x.dtype.type)
        apply = np.asarray(t["should_apply_blur"]).reshape(-1, 1, 1, 1)
        y, inside = clip(np.where(apply, depthwise_same(x, kernel), x), *a.value_range)
        return y, (kernel, apply, inside)

    def transform_backward(self, a, cache, dy):
        kernel, apply, inside = cache
        d = dy * inside
        return np.where(apply, depthwise_same(d, kernel[::-1, ::-1]), d)
