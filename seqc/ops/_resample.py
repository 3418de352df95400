"""Image resampling as Keras 3 computes it: per-axis interpolation matrices, crop and pad windows.

For a fixed input and output size every interpolation Keras offers is separable and linear, so
one resize is `y = M_h · x · M_wᵀ (+ fill_value · C)` per image and channel, with matrices built
once from the sizes (a `Plan`). The forward multiplies by them, the backward by their
transposes; `_resample_layer.py` lowers a plan to ONNX (per axis, weighted Gathers for narrow
kernels, else a MatMul) and holds the layer kinds' shared facets. Resizing, CenterCrop and the
augmentation layers' inference paths share both (Keras' RandomCrop at inference is
`resize_plan(in_size, (height, width), "bilinear")`).

Which definition each mode follows (tests compare with Keras on the torch backend):
- bilinear, bicubic, nearest: Keras' torch backend, F.interpolate(align_corners=False):
  bilinear's half-pixel triangle with edge clamping; bicubic's Keys cubic with a = -0.75 and
  edge-replicated taps; nearest is "nearest-exact", floor((j + 0.5) · in / out) in float32.
  Coordinates and weights follow torch's own float32 steps (see _torch_source).
  With antialias=True (bilinear and bicubic only; Keras ignores it for nearest), torch's
  `_upsample_*_aa` kernels: PIL-style weights stretched by the scale when downsampling,
  normalised over in-range taps, and a = -0.5 for the cubic.
- lanczos3, lanczos5: Keras' torch backend refuses them; this is Keras' numpy/JAX backend
  (jax.image.scale_and_translate), antialias stretching the kernel when downsampling.
- area: only Keras' TensorFlow backend has it: tf.image.resize(method="area"), TF's ResizeArea
  (each output pixel is the mean of the input box it covers, fractional pixels weighted);
  antialias does not change it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5")
# Modes whose ONNX lowering computes its indices and weights in the graph, so it takes any
# input size; the others need the input size at build time for their matrices.
DYNAMIC_SIZE_MODES = ("bilinear", "nearest")


# ---- one axis: an (out, in) float64 interpolation matrix ----

def axis_matrix(n_in: int, n_out: int, interpolation: str, antialias: bool = False) -> np.ndarray:
    """The (n_out, n_in) matrix resizing one axis from n_in to n_out samples."""
    if interpolation == "nearest":
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), nearest_indices(n_in, n_out)] = 1.0
        return m
    if n_in == n_out:
        return np.eye(n_in)  # every kernel is the identity at scale 1 (Keras skips the axis)
    if interpolation == "area":
        return _area_matrix(n_in, n_out)
    if interpolation in ("lanczos3", "lanczos5"):
        return _scale_and_translate_matrix(n_in, n_out, float(interpolation[-1]), antialias)
    if antialias:
        return _torch_aa_matrix(n_in, n_out, interpolation == "bicubic")
    if interpolation == "bicubic":
        return _torch_bicubic_matrix(n_in, n_out)
    return _torch_bilinear_matrix(n_in, n_out)


def nearest_indices(n_in: int, n_out: int) -> np.ndarray:
    """torch's nearest-exact source index: min(floor(fl32((j + 0.5) · fl32(in / out))), in - 1).
    Both factors are float32 values, so their float32 product is the float product torch rounds
    (a double product of two floats is exact); the lowering computes it the same way."""
    scale = np.float32(n_in) / np.float32(n_out)
    src = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * scale
    return np.minimum(np.floor(src).astype(np.int64), n_in - 1)


# torch computes its coordinates and weights in float32, and at image sizes the rounding of a
# source coordinate (about 1e-5 pixel at 224) moves a noisy image's output by 1e-4: the
# functions below repeat torch's float32 steps, so seqc matches Keras to float32 rounding of
# the sums (1e-7) rather than to that of the coordinates.
_F32 = np.float32


def _torch_source(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(floor index, fraction) of torch's half-pixel source coordinate
    x = scale · (j + 0.5) - 0.5, scale = fl32(in) / fl32(out): one float32 rounding of the
    product-and-difference (the compiled kernel fuses it into one multiply-add; the double
    product of two floats is exact, so rounding it once is that fused result)."""
    scale = _F32(n_in) / _F32(n_out)
    j = np.arange(n_out).astype(_F32) + _F32(0.5)
    src = (np.float64(scale) * j.astype(np.float64) - 0.5).astype(_F32)
    return src, np.floor(src).astype(np.int64)


def _torch_bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    # Source x clamped below at 0; it blends floor(x) and the next pixel with 1 - t and t (the
    # last pixel repeats past the end).
    src, _ = _torch_source(n_in, n_out)
    src = np.maximum(src, _F32(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    t = np.clip(src - i0.astype(_F32), _F32(0), _F32(1))
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), _F32(1) - t)
    np.add.at(m, (rows, np.minimum(i0 + 1, n_in - 1)), t)
    return m


def _cubic(x: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter a, in x's float precision, each `p · x + c`
    rounded once as the compiled kernel's fused multiply-adds do."""
    dt = x.dtype.type
    x = np.abs(x)
    a = dt(a)

    def fma(p, c):
        return (np.float64(p) * np.float64(x) + np.float64(c)).astype(dt)

    near = fma(fma(a + dt(2), -(a + dt(3))) * x, dt(1))
    far = fma(fma(fma(a, -(dt(5) * a)), dt(8) * a), -(dt(4) * a))
    return np.where(x <= 1, near, np.where(x < 2, far, dt(0))).astype(dt)


def _torch_bicubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    # Source x not clamped; taps floor(x) - 1 ... floor(x) + 2, each index clamped into the
    # image (torch's upsample_get_value_bounded), weights from t and 1 - t as torch forms them.
    src, base = _torch_source(n_in, n_out)
    base = np.minimum(base, n_in - 1)
    t = np.clip(src - base.astype(_F32), _F32(0), _F32(1))
    u = _F32(1) - t
    weights = (_cubic(t + _F32(1), -0.75), _cubic(t, -0.75), _cubic(u, -0.75),
               _cubic(u + _F32(1), -0.75))
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    for k, w in enumerate(weights):
        np.add.at(m, (rows, np.clip(base - 1 + k, 0, n_in - 1)), w)
    return m


def _torch_aa_matrix(n_in: int, n_out: int, cubic: bool) -> np.ndarray:
    # torch's _compute_weights_aa (align_corners=False), step by step in its precisions: the
    # kernel is stretched by the scale when downsampling, taps outside the image are dropped
    # and the rest renormalised (a sequential float32 sum).
    scale = _F32(n_in) / _F32(n_out)
    size = 4 if cubic else 2
    support = _F32(size * 0.5 * float(scale)) if scale >= 1 else _F32(size * 0.5)
    invscale = _F32(1.0 / float(scale)) if scale >= 1 else _F32(1.0)
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = _F32(float(scale) * (i + 0.5))
        lo = max(int(float(center - support) + 0.5), 0)
        hi = min(int(float(center + support) + 0.5), n_in)
        x = (((np.arange(lo, hi).astype(_F32) - center).astype(np.float64) + 0.5)
             * float(invscale)).astype(_F32)
        w = _cubic(x, -0.5) if cubic else np.maximum(_F32(0), _F32(1) - np.abs(x))
        total = np.cumsum(w, dtype=_F32)[-1] if len(w) else _F32(0)
        m[i, lo:hi] = w / total if total != 0 else w
    return m


def _lanczos(x: np.ndarray, radius: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius) / (np.pi**2 * x**2)
    return np.where(x > radius, 0.0, np.where(x > 1e-3, y, 1.0))


def _scale_and_translate_matrix(n_in: int, n_out: int, radius: float,
                                antialias: bool) -> np.ndarray:
    # Keras' numpy backend _compute_weight_mat (jax.image.scale_and_translate), translation 0.
    inv_scale = n_in / n_out
    kernel_scale = max(inv_scale, 1.0) if antialias else 1.0
    sample = (np.arange(n_out) + 0.5) * inv_scale - 0.5
    w = _lanczos(np.abs(sample[:, None] - np.arange(n_in)[None, :]) / kernel_scale, radius)
    total = w.sum(axis=1, keepdims=True)
    w = np.where(np.abs(total) > 1000.0 * np.finfo(np.float32).eps,
                 w / np.where(total != 0, total, 1), 0.0)
    inside = (sample >= -0.5) & (sample <= n_in - 0.5)
    return np.where(inside[:, None], w, 0.0)


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    # TF's ResizeArea (align_corners=False): output j averages the input span
    # [j · s, (j + 1) · s), s = in / out, the partly covered pixels at its ends weighted by the
    # fraction covered.
    s = n_in / n_out
    m = np.zeros((n_out, n_in))
    for j in range(n_out):
        a, b = j * s, (j + 1) * s
        for i in range(int(np.floor(a)), int(np.ceil(b))):
            m[j, min(i, n_in - 1)] += (min(i + 1, b) - max(i, a)) / s
    return m


# ---- a 2-D plan: crop/pad window, then the two matrices ----

@dataclass(frozen=True, eq=False)
class Plan:
    """A resize of (in_h, in_w) images to (out_h, out_w): `y = mats[0] · x · mats[1]ᵀ + const`
    per channel. `window` is the (start, stop) the rows and columns are read from (a crop, or the
    whole axis); `mats` act on that window, or are None for an axis copied unchanged (a pure
    crop). `pads` are the fill rows and columns added on each side before resizing (folded into
    `mats`), and `const` (out_h, out_w) the fill's contribution, or None (a zero fill)."""

    in_size: tuple[int, int]
    out_size: tuple[int, int]
    window: tuple[tuple[int, int], tuple[int, int]]
    mats: tuple[np.ndarray | None, np.ndarray | None]
    const: np.ndarray | None = None
    pads: tuple[int, int] = (0, 0)

    @property
    def is_noop(self) -> bool:
        """Whether the plan returns its input unchanged (a same-size resize or crop)."""
        whole = self.window == tuple((0, n) for n in self.in_size)
        return whole and self.const is None and all(is_identity(m) for m in self.mats)


def is_identity(m: np.ndarray | None) -> bool:
    """Whether an axis matrix (None: the axis copied) leaves the axis unchanged."""
    return m is None or (m.shape[0] == m.shape[1] and np.array_equal(m, np.eye(len(m))))


def aspect_crop(in_size: tuple[int, int], out_size: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """Keras' crop_to_aspect_ratio window (also smart_resize's): the largest centred box of the
    target aspect ratio, as (start, stop) per axis."""
    (h, w), (th, tw) = in_size, out_size
    ch = max(min(h, int(float(w * th) / tw)), 1)
    cw = max(min(w, int(float(h * tw) / th)), 1)
    hs, ws = int(float(h - ch) / 2), int(float(w - cw) / 2)
    return (hs, hs + ch), (ws, ws + cw)


def aspect_pad(in_size: tuple[int, int], out_size: tuple[int, int]) -> tuple[int, int]:
    """Keras' pad_to_aspect_ratio: the fill rows (columns) added before and after each axis."""
    (h, w), (th, tw) = in_size, out_size
    ph = max(h, int(float(w * th) / tw))
    pw = max(w, int(float(h * tw) / th))
    return int(float(ph - h) / 2), int(float(pw - w) / 2)


def resize_plan(in_size: tuple[int, int], out_size: tuple[int, int], interpolation: str,
                antialias: bool = False, crop_to_aspect_ratio: bool = False,
                pad_to_aspect_ratio: bool = False, fill_value: float = 0.0) -> Plan:
    """Keras' image.resize(images, out_size, ...) on (in_h, in_w) images, as a Plan."""
    window = tuple((0, n) for n in in_size)
    pads = (0, 0)
    if crop_to_aspect_ratio:
        window = aspect_crop(in_size, out_size)
    elif pad_to_aspect_ratio:
        pads = aspect_pad(in_size, out_size)
    mats, full_sums, inner_sums = [], [], []
    for (lo, hi), p, n_out in zip(window, pads, out_size):
        n = hi - lo
        a = axis_matrix(n + 2 * p, n_out, interpolation, antialias)
        inner = a[:, p:p + n]
        mats.append(inner)
        full_sums.append(a.sum(axis=1))
        inner_sums.append(inner.sum(axis=1))
    const = None
    if any(pads) and fill_value != 0:
        # The padded image is x inside and fill_value outside, so its resize adds
        # fill_value · (A_h 1)(A_w 1)ᵀ minus the same over the interior.
        const = fill_value * (np.outer(*full_sums) - np.outer(*inner_sums))
    for m in (*mats, const):
        if m is not None:
            m.setflags(write=False)  # plans are cached and shared
    return Plan(tuple(in_size), tuple(out_size), window, tuple(mats), const, pads)


def center_crop_plan(in_size: tuple[int, int], out_size: tuple[int, int]) -> Plan:
    """Keras' CenterCrop: a centred crop when the input is at least the target size on both
    axes, else smart_resize (the aspect-ratio crop, then a bilinear resize)."""
    (h, w), (th, tw) = in_size, out_size
    if h >= th and w >= tw:
        hs, ws = (h - th) // 2, (w - tw) // 2
        return Plan(in_size, out_size, ((hs, hs + th), (ws, ws + tw)), (None, None))
    return cached_resize_plan(in_size, out_size, "bilinear", False, True)


# ---- applying a plan to arrays (axes are the array's (height, width) axes) ----

def apply_plan(plan: Plan, x: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
    """Resize x along `axes` by the plan; float in, same float dtype out."""
    index = [slice(None)] * x.ndim
    for ax, (lo, hi) in zip(axes, plan.window):
        index[ax] = slice(lo, hi)
    y = x[tuple(index)]
    for ax, m in zip(axes, plan.mats):
        if m is not None:
            y = np.moveaxis(np.tensordot(m.astype(x.dtype), y, axes=([1], [ax])), 0, ax)
    if plan.const is not None:
        y = y + _expand(plan.const.astype(x.dtype), x.ndim, axes)
    return np.ascontiguousarray(y)


def apply_plan_backward(plan: Plan, dy: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
    """The gradient of apply_plan with respect to x: transposed matrices, zeros outside the
    window."""
    g = dy
    for ax, m in zip(axes, plan.mats):
        if m is not None:
            g = np.moveaxis(np.tensordot(m.T.astype(dy.dtype), g, axes=([1], [ax])), 0, ax)
    widths = [(0, 0)] * dy.ndim
    for ax, (lo, hi), n in zip(axes, plan.window, plan.in_size):
        widths[ax] = (lo, n - hi)
    return np.pad(g, widths) if any(w != (0, 0) for w in widths) else np.ascontiguousarray(g)


def _expand(c: np.ndarray, ndim: int, axes: tuple[int, int]) -> np.ndarray:
    shape = [1] * ndim
    shape[axes[0]], shape[axes[1]] = c.shape
    return c.reshape(shape)


@functools.lru_cache(maxsize=64)
def cached_resize_plan(*args) -> Plan:
    """resize_plan, built once per size (its matrices are read-only after)."""
    return resize_plan(*args)
