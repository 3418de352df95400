"""RandomColorJitter: in training, RandomBrightness, RandomContrast, RandomSaturation and
RandomHue in that order, each only when its factor is given, all with this layer's
value_range; y = x at inference.

ONNX: nothing (the input is returned). Shape: unchanged, a batch of images (RGB when a
saturation or hue factor is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._intensity import (
    Factor,
    ImageAugment,
    check_image,
    factor_pair,
    finish_data_format,
    keras_value_range,
)
from .base import BadExample, Example, register
from .random_brightness import adjust_brightness, draw_brightness
from .random_contrast import adjust_contrast, adjust_contrast_backward, draw_contrast
from .random_hue import adjust_hue, adjust_hue_backward, draw_hue
from .random_saturation import adjust_saturation, adjust_saturation_backward, draw_saturation

# Each part's factor bounds (Keras' _FACTOR_BOUNDS of the layer it builds).
BOUNDS = {"brightness": (-1.0, 1.0), "contrast": (0.0, 1.0), "saturation": (-1.0, 1.0),
          "hue": (0.0, 1.0)}


@dataclass(frozen=True)
class RandomColorJitterAttrs:
    value_range: tuple[float, float] = (0.0, 255.0)
    brightness_factor: Factor | None = None
    contrast_factor: Factor | None = None
    saturation_factor: Factor | None = None
    hue_factor: Factor | None = None
    # Kept for Keras configs; draws come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        for part in BOUNDS:  # checked here; kept as given, as Keras' get_config keeps them
            if getattr(self, f"{part}_factor") is not None:
                factor_pair(getattr(self, f"{part}_factor"), f"{part}_factor", BOUNDS[part])
        keras_value_range(self, sort=False)
        finish_data_format(self)


def _parts(a):
    return [(p, factor_pair(getattr(a, f"{p}_factor"), f"{p}_factor", BOUNDS[p]))
            for p in BOUNDS if getattr(a, f"{p}_factor") is not None]


@register
class RandomColorJitter(ImageAugment):
    kind = "RandomColorJitter"
    Attrs = RandomColorJitterAttrs
    summary = "In training, random brightness, contrast, saturation and hue, in order."
    examples = [
        Example({"brightness_factor": 0.2, "contrast_factor": 0.5, "saturation_factor": 0.5,
                 "hue_factor": 0.3}, (3, 4, 3), input_range=(0.0, 255.0)),
        Example({"value_range": [0, 1], "contrast_factor": [0.2, 0.4], "seed": 13}, (2, 3, 1),
                input_range=(0.0, 1.0)),
        Example({"hue_factor": 0.5, "data_format": "channels_first"}, (3, 2, 3),
                input_range=(0.0, 255.0)),
        Example({"brightness_factor": 0.3}, (3, 3, 3), training=False),
    ]
    bad_examples = [
        BadExample({"hue_factor": 1.5}, (3, 3, 3), "hue_factor"),
        BadExample({"saturation_factor": 0.5}, (3, 3, 2), "channels"),
    ]

    def infer(self, a, in_types):
        rgb = a.saturation_factor is not None or a.hue_factor is not None
        check_image(in_types[0], self.kind, a, (3,) if rgb else ())
        return [in_types[0]]

    def draw(self, a, shape, rng):
        draws = {"brightness": lambda f: draw_brightness(a, f, shape[0], rng),
                 "contrast": lambda f: draw_contrast(f, shape[0], rng),
                 "saturation": lambda f: draw_saturation(f, shape[0], rng),
                 "hue": lambda f: draw_hue(f, shape[0], rng)}
        return {p: draws[p](f) for p, f in _parts(a)}

    def transform(self, a, x, t):
        apply = {"brightness": adjust_brightness, "contrast": adjust_contrast,
                 "saturation": adjust_saturation, "hue": adjust_hue}
        caches = []
        for part in t:  # drawn in Keras' order
            x, cache = apply[part](a, x, t[part])
            caches.append((part, cache))
        return x, caches

    def transform_backward(self, a, caches, dy):
        back = {"brightness": lambda c, d: d * c, "contrast": adjust_contrast_backward,
                "saturation": adjust_saturation_backward,
                "hue": lambda c, d: adjust_hue_backward(a, c, d)}
        for part, cache in reversed(caches):
            dy = back[part](cache, dy)
        return dy
