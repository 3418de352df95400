"""Shared code for the colour and intensity augmentation layers (RandomContrast, RandomHue,
RandomErasing, MixUp...): Keras' argument normalisation, the image-batch check, and a base
whose forward draws a transformation from the run's generator in training and applies it.

A kind defines `draw(a, shape, rng) -> t` (t uses the keys of Keras' `transformation` dict,
so a test can hand the same t to Keras' `transform_images`), `transform(a, x, t) -> (y, cache)`
on channels-last batches, and `transform_backward(a, cache, dy) -> dx`. At inference the
layer is the identity, as in Keras, and `lower` returns its input: nothing in the ONNX graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._resize import channels_first
from .base import OpDef

Factor = float | tuple[float, float]


def factor_pair(v: Any, name: str, bounds: tuple[float, float]) -> tuple[float, float]:
    """Keras' BaseImagePreprocessingLayer._set_factor: a number f in bounds ->
    (max(-|f|, low), |f|); a pair -> sorted. As a float pair."""
    lo, hi = bounds
    msg = (f"'{name}' must be a number (or a list of two numbers) in the range [{lo}, {hi}]")
    if isinstance(v, tuple):
        if len(v) != 2 or v[0] > hi or v[1] < lo:
            raise DefinitionError(msg, field=name, received=f"{name}={list(v)}")
        pair = tuple(sorted(v))
    else:
        if not lo <= v <= hi:
            raise DefinitionError(msg, field=name, received=f"{name}={v}")
        pair = (max(-abs(v), lo), abs(v))
    return float(pair[0]), float(pair[1])


def keras_factor(attrs: Any, name: str, bounds: tuple[float, float]) -> None:
    """`factor_pair` in a frozen Attrs' __post_init__ (the stored form is Keras' get_config)."""
    object.__setattr__(attrs, name, factor_pair(getattr(attrs, name), name, bounds))


def keras_value_range(attrs: Any, *, sort: bool) -> None:
    """value_range as Keras keeps it: sorted by the kinds that sort it; the others keep the
    order given, and seqc refuses a reversed one (Keras would clip everything to one end)."""
    v = attrs.value_range
    if sort:
        v = tuple(sorted(v))
    elif v[0] >= v[1]:
        raise DefinitionError("'value_range' must be [low, high] with low < high",
                              field="value_range", received=f"value_range={list(v)}")
    object.__setattr__(attrs, "value_range", (float(v[0]), float(v[1])))


def finish_data_format(attrs: Any) -> None:
    if attrs.data_format is None:  # Keras' global image_data_format, channels_last in seqc
        object.__setattr__(attrs, "data_format", "channels_last")


class _FactorChecks:
    """__post_init__ of the (factor, value_range, data_format, seed) Attrs: Keras' factor pair
    within the kind's FACTOR_BOUNDS, its value_range rule, and the data format."""

    FACTOR_BOUNDS: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    SORT_RANGE: ClassVar[bool] = True  # see keras_value_range

    def __post_init__(self) -> None:
        keras_factor(self, "factor", self.FACTOR_BOUNDS)
        keras_value_range(self, sort=self.SORT_RANGE)
        finish_data_format(self)


@dataclass(frozen=True)
class FactorAttrs(_FactorChecks):
    """Keras' arguments, in its order, of the colour layers with a factor and a value_range."""

    factor: Factor
    value_range: tuple[float, float] = (0.0, 255.0)
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"
    # Kept for Keras configs; draws come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None


@dataclass(frozen=True)
class FactorSeedAttrs(_FactorChecks):
    """As FactorAttrs, for the kinds whose Keras signature puts seed before data_format."""

    factor: Factor
    value_range: tuple[float, float] = (0.0, 255.0)
    # Kept for Keras configs; draws come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"


def check_image(x: TensorType, kind: str, attrs: Any, channels: tuple[int, ...] = ()) -> None:
    """A float batch of images (N, H, W, C) (or (N, C, H, W)), with one of `channels`."""
    if x.rank != 4:
        raise DefinitionError(f"{kind} needs a batch of images: an input of rank 4 (batch, "
                              "height, width, channels)", field="input",
                              received=f"input {x} (rank {x.rank})")
    if not x.dtype.startswith("float"):
        raise DefinitionError(f"{kind} needs float images", field="input",
                              received=f"input {x}",
                              hint="put Rescaling (or a cast to float) before it")
    c = x.shape[1] if channels_first(attrs) else x.shape[-1]
    if channels and c not in channels:
        want = " or ".join(str(n) for n in channels)
        raise DefinitionError(f"{kind} needs images with {want} channels (RGB)",
                              field="input", received=f"input {x}, {c} channels")


def clip(y: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """np.clip and where its gradient passes (inside [lo, hi], as torch.clamp)."""
    return np.clip(y, lo, hi), (y >= lo) & (y <= hi)


def rescale(x: np.ndarray, src: tuple[float, float], dst: tuple[float, float]) -> np.ndarray:
    """Keras' _transform_value_range: (x - src_lo) / (src_hi - src_lo) * (dst_hi - dst_lo)
    + dst_lo, nothing when the ranges are equal. Its derivative is `rescale_slope`."""
    if tuple(src) == tuple(dst):
        return x
    t = x.dtype.type
    return (x - t(src[0])) / (t(src[1]) - t(src[0])) * (t(dst[1]) - t(dst[0])) + t(dst[0])


def rescale_slope(src: tuple[float, float], dst: tuple[float, float]) -> float:
    return 1.0 if tuple(src) == tuple(dst) else (dst[1] - dst[0]) / (src[1] - src[0])


def depthwise_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Per-channel 2-D cross-correlation of (N, H, W, C) with an odd (kh, kw) kernel, zero
    padding, 'same' size (Keras' depthwise_conv / gaussian_blur on these kernels). Its
    adjoint is the same call with the kernel flipped."""
    kh, kw = kernel.shape
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    y = np.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            y += x.dtype.type(kernel[i, j]) * xp[:, i:i + h, j:j + w, :]
    return y


def box_masks(rng: np.random.Generator, shape: tuple, ratio_w: np.ndarray,
              ratio_h: np.ndarray) -> np.ndarray:
    """Keras' RandomErasing/CutMix boxes: per image a box ratio_w * W by ratio_h * H at a
    uniform position, as a bool mask (N, H, W, C) (pixel (i, j) in [x0, x1) x [y0, y1))."""
    n, h, w, c = shape
    f32 = np.float32

    def bounds(length: int, ratio: np.ndarray):
        crop = (ratio * length).astype(f32)
        start = rng.random(n, dtype=f32) * (f32(length) - crop)
        return start[:, None, None], (start + crop)[:, None, None]

    x0, x1 = bounds(w, ratio_w)
    y0, y1 = bounds(h, ratio_h)
    gy, gx = np.meshgrid(np.arange(h, dtype=f32), np.arange(w, dtype=f32), indexing="ij")
    inside = (gx >= x0) & (gx < x1) & (gy >= y0) & (gy < y1)
    return np.repeat(inside[..., None], c, axis=-1)


def _last(a: Any, x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if channels_first(a) else x


def _first(a: Any, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if channels_first(a) else x


class ImageAugment(OpDef):
    """Base of the colour/intensity augmentation kinds: random in training, identity (and
    absent from the ONNX graph) at inference."""
    inference_identity = True  # but AutoContrast (it applies at inference)

    category = "preprocessing"
    layout = "agnostic"
    # Channel counts the kind accepts (Keras' RGB checks); () for any.
    channels: ClassVar[tuple[int, ...]] = ()

    def infer(self, a, in_types):
        (x,) = in_types
        check_image(x, self.kind, a, self.channels)
        return [x]

    def draw(self, a: Any, shape: tuple, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def transform(self, a: Any, x: np.ndarray, t: Any) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def transform_backward(self, a: Any, cache: Any, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        if not ctx.training:
            return [x], None
        # The run's generator (seeded by fit's seed), as Dropout; `seed` only without one.
        rng = ctx.rng if ctx.rng is not None else np.random.default_rng(getattr(a, "seed", None))
        xl = _last(a, x)
        y, cache = self.transform(a, xl, self.draw(a, xl.shape, rng))
        return [_first(a, y.astype(x.dtype, copy=False))], cache

    def backward(self, a, params, cache, dys):
        if cache is None:
            return [dys[0]], {}
        return [_first(a, self.transform_backward(a, cache, _last(a, dys[0])))], {}

    def lower(self, a, params, xs, em):
        return [xs[0]]
