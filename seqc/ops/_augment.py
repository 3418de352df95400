"""Shared code for the geometric augmentation kinds (RandomFlip, RandomRotation, RandomZoom,
RandomTranslation, RandomShear, RandomPerspective, RandomCrop).

Keras 3 warps an image by sampling it at source coordinates computed for every output pixel
(`keras.src.backend.*.image.affine_transform` / `perspective_transform`, ports of
scipy.ndimage.map_coordinates): "nearest" rounds a coordinate half to even, "bilinear" blends
its 2x2 neighbours; a neighbour outside the image is mapped by the fill mode (reflect
`dcba|abcd|dcba`, wrap, nearest = clamp) or, for "constant", contributes `fill_value`.
For fixed random parameters the warp is affine in x, y = sum_k c_k * x[src_k] + fill * r, so
its backward scatters dy * c_k back to src_k (the adjoint). In training these kinds draw their
parameters from the run's generator (ctx.rng) as Dropout does; at inference they are the
identity and absent from the ONNX graph (RandomCrop's inference crop+resize is the exception).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._resize import channels_first, finish_format
from .base import OpDef, RunContext

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


# ---- attributes ----

def check_choice(attrs: Any, name: str, choices: tuple[str, ...]) -> None:
    v = getattr(attrs, name)
    if v not in choices:
        raise DefinitionError(f"'{name}' must be one of {', '.join(map(repr, choices))}",
                              field=name, received=f"{name}={v!r}")


def finish_warp(attrs: Any, fill_mode: bool = True) -> None:
    """data_format None -> channels_last; fill_mode and interpolation checked (Keras raises
    NotImplementedError for other names)."""
    finish_format(attrs)
    check_choice(attrs, "data_format", ("channels_last", "channels_first"))
    check_choice(attrs, "interpolation", INTERPOLATIONS)
    if fill_mode:
        check_choice(attrs, "fill_mode", FILL_MODES)


def factor_range(attrs: Any, name: str, lo: float, hi: float, *, lo_open: bool = False,
                 base: bool = False, pair_lo: float | None = None) -> None:
    """A Keras factor (a number f, or a pair) -> its (lower, upper) range, in place.

    A number must lie in the bounds and means (-|f|, |f|); `base` (Keras'
    BaseImagePreprocessingLayer._set_factor: RandomRotation, RandomPerspective) clips the lower
    end at `lo` and checks a pair only as loosely as Keras does (pair[0] <= hi, pair[1] >= lo);
    otherwise each entry of a pair must be in the bounds (from `pair_lo` when given). A pair is
    sorted, as Keras sorts it.
    """
    v = getattr(attrs, name)
    if v is None:
        return
    left = "(" if lo_open else "["
    bounds = f"{left}{lo}, {hi}]"

    def bad():
        return DefinitionError(f"'{name}' must be a number or a pair of numbers in {bounds}",
                               field=name, received=f"{name}={_js(v)}")

    def inside(e: float, lo: float = lo) -> bool:
        return (lo < e if lo_open else lo <= e) and e <= hi

    if isinstance(v, tuple):
        if base:
            if v[0] > hi or v[1] < lo:
                raise bad()
        elif not all(inside(e, lo if pair_lo is None else pair_lo) for e in v):
            raise bad()
        pair = tuple(sorted(v))
    else:
        if not inside(v):
            raise bad()
        f = abs(v)
        pair = (max(-f, lo) if base else -f, f)
    object.__setattr__(attrs, name, (float(pair[0]), float(pair[1])))


def _js(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


# ---- the base kind ----

class AugmentBase(OpDef):
    """Rank-4 float images in `data_format`; identity at inference (lowered to nothing)."""
    inference_identity = True  # but RandomCrop (it crops at inference)

    category = "preprocessing"
    layout = "agnostic"

    def image_sizes(self, a: Any, x: TensorType) -> tuple[int | None, int | None]:
        if x.rank != 4:
            layout = "(batch, channels, height, width)" if channels_first(a) else \
                "(batch, height, width, channels)"
            raise DefinitionError(f"{self.kind} needs a batch of images of rank 4 {layout}",
                                  field="input", received=f"input {x} (rank {x.rank})")
        if not x.dtype.startswith("float"):
            raise DefinitionError(
                f"{self.kind} needs float images (Keras casts them to float32)",
                field="input", received=f"input {x}",
                hint="declare the input as float32 (\"input_dtype\": \"float32\")")
        return (x.shape[2], x.shape[3]) if channels_first(a) else (x.shape[1], x.shape[2])

    def infer(self, a, in_types):
        self.image_sizes(a, in_types[0])
        return [in_types[0]]

    def lower(self, a, params, xs, em):
        return [xs[0]]


def generator(ctx: RunContext, seed: int | None) -> np.random.Generator:
    """The run's generator (seeded by fit's seed), or one seeded by the layer's `seed`."""
    return ctx.rng if ctx.rng is not None else np.random.default_rng(seed)


def to_nhwc(x: np.ndarray, a: Any) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if channels_first(a) else x


def from_nhwc(y: np.ndarray, a: Any) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(y, -1, 1)) if channels_first(a) else y


# ---- sampling (Keras' map_coordinates) ----

def affine_coords(t: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Source (row, col) coordinates of every output pixel, each (N, H, W), for Keras'
    transforms t (N, 8) = [a0, a1, a2, b0, b1, b2, c0, c1]: the output pixel (x, y) reads the
    input at ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1."""
    t = np.asarray(t, np.float64)
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                         indexing="ij")
    a0, a1, a2, b0, b1, b2, c0, c1 = (t[:, i, None, None] for i in range(8))
    k = c0 * xs + c1 * ys + 1.0
    return (b0 * xs + b1 * ys + b2) / k, (a0 * xs + a1 * ys + a2) / k


def _fix(index: np.ndarray, size: int, fill_mode: str) -> np.ndarray:
    """Keras' index fixers: an out-of-range neighbour's index inside the image."""
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "reflect":
        # Keras' _reflect_index_fixer (dcba|abcd|dcba): its integer triangle wave of half
        # period 2 * size at 2 * index + 1, halved back to an index.
        s = 2 * size
        return (np.abs((2 * index + 1 + s) % (2 * s) - s) - 1) // 2
    return np.clip(index, 0, size - 1)  # nearest and constant (constant masks it out)


def _nodes(c: np.ndarray, size: int, order: int, fill_mode: str):
    """[(index, weight, valid)] of one axis: order 0 one node, order 1 two."""
    if order == 0:
        idx = np.round(c).astype(np.int64)
        nodes = [(idx, np.ones_like(c))]
    else:
        lower = np.floor(c)
        up = c - lower
        idx = lower.astype(np.int64)
        nodes = [(idx, 1.0 - up), (idx + 1, up)]
    out = []
    for i, wt in nodes:
        valid = (i >= 0) & (i < size) if fill_mode == "constant" else None
        out.append((_fix(i, size, fill_mode), wt, valid))
    return out


class Warp:
    """A fixed sampling of (N, H, W, C) images at (N, Ho, Wo) source coordinates: gathers,
    weights and the fill share of each output pixel; `apply` is the forward, `adjoint` its
    backward."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, in_hw: tuple[int, int],
                 interpolation: str, fill_mode: str) -> None:
        h, w = in_hw
        order = 0 if interpolation == "nearest" else 1
        n = rows.shape[0]
        base = (np.arange(n) * (h * w))[:, None, None]
        self.in_shape = (n, h, w)
        self.index, self.coef = [], []
        fill = np.zeros(rows.shape)
        for ri, rw, rv in _nodes(rows, h, order, fill_mode):
            for ci, cw, cv in _nodes(cols, w, order, fill_mode):
                wt = rw * cw
                if rv is not None:
                    ok = rv & cv
                    fill += np.where(ok, 0.0, wt)
                    wt = np.where(ok, wt, 0.0)
                self.index.append(base + ri * w + ci)
                self.coef.append(wt)
        self.fill = fill if fill_mode == "constant" else None

    def apply(self, x: np.ndarray, fill_value: float) -> np.ndarray:
        c = x.shape[-1]
        flat = x.reshape(-1, c)
        y = np.zeros((*self.index[0].shape, c), x.dtype)
        for idx, wt in zip(self.index, self.coef):
            y += wt.astype(x.dtype)[..., None] * flat[idx]
        if self.fill is not None and fill_value != 0.0:
            y += (self.fill * fill_value).astype(x.dtype)[..., None]
        return y

    def adjoint(self, dy: np.ndarray) -> np.ndarray:
        c = dy.shape[-1]
        size = int(np.prod(self.in_shape)) * c
        dx = np.zeros(size, dy.dtype)
        channel = np.arange(c)
        for idx, wt in zip(self.index, self.coef):
            # bincount sums repeated targets (np.add.at does too, an order of magnitude slower).
            dx += np.bincount((idx[..., None] * c + channel).ravel(),
                              weights=(wt.astype(dy.dtype)[..., None] * dy).ravel(),
                              minlength=size).astype(dy.dtype)
        return dx.reshape(*self.in_shape, c)


class WarpBase(AugmentBase):
    """A random per-image transform (`transforms`) sampled with Keras' fill mode and
    interpolation; the subclass draws Keras' transform rows from the generator."""

    fill_attr: ClassVar[bool] = True  # False: fill_mode is always "constant" (Perspective)

    def transforms(self, a: Any, rng: np.random.Generator, n: int, h: int, w: int
                   ) -> np.ndarray:
        raise NotImplementedError

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        if not ctx.training:
            return [x], None
        xi = to_nhwc(x, a)
        n, h, w, _ = xi.shape
        t = self.transforms(a, generator(ctx, a.seed), n, h, w)
        warp = warp_for(t, (h, w), a)
        return [from_nhwc(warp.apply(xi, a.fill_value), a)], warp

    def backward(self, a, params, warp, dys):
        (dy,) = dys
        if warp is None:
            return [dy], {}
        return [from_nhwc(warp.adjoint(to_nhwc(dy, a)), a)], {}


def warp_for(t: np.ndarray, hw: tuple[int, int], a: Any) -> Warp:
    """The Warp of transforms t (N, 8) on images of size hw under the layer's attrs."""
    rows, cols = affine_coords(t, *hw)
    return Warp(rows, cols, hw, a.interpolation, getattr(a, "fill_mode", "constant"))
