"""Shared code for the resize family: ZeroPadding, Cropping and UpSampling in 1-3 spatial dims.

Padding adds (before, after) zeros per spatial axis (ONNX Pad), cropping removes them (ONNX
Slice), upsampling repeats each pixel `size` times (ONNX Resize nearest, asymmetric + floor) or,
for 2-D, interpolates bilinearly with half-pixel centres (ONNX Resize linear, half_pixel).
Every kind works channels-last or channels-first (`data_format`); in ONNX the data is always
(N, C, *spatial): channels_last attrs ask the exporter for channels-first inputs, and
channels_first attrs already have that layout in the IR.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import DataError, DefinitionError
from ..ir.types import TensorType
from ._spatial import AXIS_NAMES, spatial_input
from .base import OpDef

INT64_MAX = np.iinfo(np.int64).max


# ---- attributes ----

def finish_format(attrs: Any) -> None:
    """Keras' data_format=None means the global image_data_format, which seqc fixes to
    channels_last."""
    if getattr(attrs, "data_format", "channels_last") is None:
        object.__setattr__(attrs, "data_format", "channels_last")


def canonical_pairs(attrs: Any, name: str, nd: int) -> None:
    """Keras' padding/cropping forms -> its get_config form, in a frozen Attrs' __post_init__.

    nd == 1: an int or (before, after) -> (before, after).
    nd >= 2: an int, nd ints (symmetric per axis), or nd entries each an int or a pair
    -> ((before, after),) * nd.
    """
    v = getattr(attrs, name)
    if nd == 1:
        pairs = _pair(v, name, v)
        object.__setattr__(attrs, name, pairs)
        return
    if isinstance(v, int):
        v = (v,) * nd
    if len(v) != nd:
        raise DefinitionError(
            f"'{name}' must be an integer, a list of {nd} integers (symmetric per axis) or a "
            f"list of {nd} [before, after] pairs", field=name, received=f"{name}={_js(v)}")
    object.__setattr__(attrs, name, tuple(_pair(e, name, v) for e in v))


def _pair(e: Any, name: str, whole: Any) -> tuple[int, int]:
    p = (e, e) if isinstance(e, int) else tuple(e)
    if len(p) != 2 or not all(isinstance(d, int) for d in p):
        raise DefinitionError(
            f"each entry of '{name}' must be an integer or a [before, after] pair",
            field=name, received=f"{name}={_js(whole)}")
    if any(d < 0 for d in p):
        raise DefinitionError(f"'{name}' entries must be >= 0", field=name,
                              received=f"{name}={_js(whole)}")
    return p  # type: ignore[return-value]


def _js(v: Any) -> Any:
    """Tuples printed as the JSON lists the user wrote."""
    if isinstance(v, tuple):
        return [_js(x) for x in v]
    return v


def as_pairs(v: Any, nd: int) -> tuple[tuple[int, int], ...]:
    """The canonical attr as one (before, after) pair per spatial axis (nd == 1 stores one pair)."""
    return (v,) if nd == 1 else v


# ---- shapes and axes ----

def channels_first(attrs: Any) -> bool:
    return getattr(attrs, "data_format", "channels_last") == "channels_first"


def spatial_sizes(x: TensorType, nd: int, kind: str, attrs: Any) -> tuple[int | None, ...]:
    """Spatial sizes of the input in its data_format, with a clear rank error."""
    if not channels_first(attrs):
        return spatial_input(x, nd, kind)
    if x.rank != nd + 2:
        names = ", ".join(AXIS_NAMES[nd])
        raise DefinitionError(
            f"{kind} with data_format='channels_first' needs an input of rank {nd + 2} "
            f"(batch, channels, {names})", field="input", received=f"input {x} (rank {x.rank})")
    return tuple(x.shape[2:])


def spatial_axes(nd: int, attrs: Any) -> tuple[int, ...]:
    """Array axes of the spatial dims in the IR tensor."""
    first = 2 if channels_first(attrs) else 1
    return tuple(range(first, first + nd))


def with_sizes(x: TensorType, attrs: Any, sizes: tuple[int | None, ...]) -> TensorType:
    s = list(x.shape)
    for ax, n in zip(spatial_axes(len(sizes), attrs), sizes):
        s[ax] = n
    return x.with_shape(tuple(s))


def layout_for(attrs: Any) -> str:
    """ONNX wants (N, C, *spatial): ask for it unless the IR tensor is already in it."""
    return "canonical" if channels_first(attrs) else "channels_first"


# ---- the three families ----

class ZeroPaddingBase(OpDef):
    """y = x with (before, after) zeros on each spatial axis; dx = the interior of dy."""

    nd: ClassVar[int]
    category = "reshaping"

    def infer(self, a, in_types):
        (x,) = in_types
        sizes = spatial_sizes(x, self.nd, self.kind, a)
        pads = as_pairs(a.padding, self.nd)
        return [with_sizes(x, a, tuple(None if n is None else n + b + e
                                       for n, (b, e) in zip(sizes, pads)))]

    def _widths(self, a, rank):
        w = [(0, 0)] * rank
        for ax, p in zip(spatial_axes(self.nd, a), as_pairs(a.padding, self.nd)):
            w[ax] = p
        return w

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        w = self._widths(a, x.ndim)
        return [np.pad(x, w)], w

    def backward(self, a, params, w, dys):
        (dy,) = dys
        return [dy[tuple(slice(b, dy.shape[i] - e) for i, (b, e) in enumerate(w))]], {}

    def export_layout(self, a):
        return layout_for(a)

    def lower(self, a, params, xs, em):
        pads = as_pairs(a.padding, self.nd)
        # ONNX Pad (opset >= 11) takes pads as an input: all befores, then all afters, over
        # (N, C, *spatial).
        onnx_pads = [0, 0, *(b for b, _ in pads), 0, 0, *(e for _, e in pads)]
        return [em.op("Pad", [xs[0], em.const(np.array(onnx_pads, np.int64), "pads")],
                      mode="constant")]


class CroppingBase(OpDef):
    """y = x without (before, after) entries on each spatial axis; dx = dy padded with zeros."""

    nd: ClassVar[int]
    category = "reshaping"

    def infer(self, a, in_types):
        (x,) = in_types
        sizes = spatial_sizes(x, self.nd, self.kind, a)
        crops = as_pairs(a.cropping, self.nd)
        out = []
        for i, (n, (b, e)) in enumerate(zip(sizes, crops)):
            if n is not None and b + e >= n:
                axis = AXIS_NAMES[self.nd][i]
                raise DefinitionError(
                    f"cropping {b} + {e} {axis} removes all {n} {axis} of the input; at least "
                    "one must remain", field="cropping",
                    received=f"cropping={_js(a.cropping)}, input {x}",
                    hint=f"crop fewer than {n} {axis} in total along spatial axis {i + 1}")
            out.append(None if n is None else n - b - e)
        return [with_sizes(x, a, tuple(out))]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        w = [(0, 0)] * x.ndim
        for ax, (b, e) in zip(spatial_axes(self.nd, a), as_pairs(a.cropping, self.nd)):
            if b + e >= x.shape[ax]:
                # Only reachable for a variable-size axis: the build-time check covers the rest.
                raise DataError(
                    f"{self.kind} crops {b} + {e} from an axis of size {x.shape[ax]}, leaving "
                    "nothing", field="cropping",
                    received=f"cropping={_js(a.cropping)}, input array shape {x.shape}")
            w[ax] = (b, e)
        return [x[tuple(slice(b, x.shape[i] - e) for i, (b, e) in enumerate(w))]], w

    def backward(self, a, params, w, dys):
        return [np.pad(dys[0], w)], {}

    def export_layout(self, a):
        return layout_for(a)

    def lower(self, a, params, xs, em):
        crops = as_pairs(a.cropping, self.nd)
        starts = [b for b, _ in crops]
        # An end crop of 0 must mean "to the end": -0 would be 0, an empty slice.
        ends = [-e if e else INT64_MAX for _, e in crops]
        axes = list(range(2, 2 + self.nd))  # (N, C, *spatial) in ONNX either way
        c = [em.const(np.array(v, np.int64), h)
             for v, h in ((starts, "starts"), (ends, "ends"), (axes, "axes"))]
        return [em.op("Slice", [xs[0], *c])]


class UpSamplingBase(OpDef):
    """Nearest: each pixel repeated size times per axis (dx = block sums of dy). Bilinear (2-D):
    y = A_rows x A_cols^T per channel with half-pixel interpolation matrices (dx uses A^T)."""

    nd: ClassVar[int]
    category = "reshaping"

    def factors(self, a) -> tuple[int, ...]:
        return a.size if isinstance(a.size, tuple) else (a.size,)

    def infer(self, a, in_types):
        (x,) = in_types
        sizes = spatial_sizes(x, self.nd, self.kind, a)
        return [with_sizes(x, a, tuple(None if n is None else n * s
                                       for n, s in zip(sizes, self.factors(a))))]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        axes = spatial_axes(self.nd, a)
        if getattr(a, "interpolation", "nearest") == "bilinear":
            mats = [bilinear_matrix(x.shape[ax], s).astype(x.dtype)
                    for ax, s in zip(axes, self.factors(a))]
            return [apply_matrices(x, mats, axes)], mats
        y = x
        for ax, s in zip(axes, self.factors(a)):
            if s != 1:
                y = np.repeat(y, s, axis=ax)
        return [y], None

    def backward(self, a, params, mats, dys):
        (dy,) = dys
        axes = spatial_axes(self.nd, a)
        if mats is not None:
            return [apply_matrices(dy, [m.T for m in mats], axes)], {}
        # Split each upsampled axis n*s into (n, s) and sum the s copies of every pixel.
        shape, summed = [], []
        for i, d in enumerate(dy.shape):
            if i in axes:
                s = self.factors(a)[axes.index(i)]
                shape += [d // s, s]
                summed.append(len(shape) - 1)
            else:
                shape.append(d)
        return [dy.reshape(shape).sum(axis=tuple(summed))], {}

    def export_layout(self, a):
        return layout_for(a)

    def lower(self, a, params, xs, em):
        scales = em.const(np.array([1, 1, *self.factors(a)], np.float32), "scales")
        if getattr(a, "interpolation", "nearest") == "bilinear":
            # half_pixel: x_in = (x_out + 0.5) / scale - 0.5, clamped to the edge pixels, which
            # is torch's align_corners=False and TF's half_pixel_centers=True.
            attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
        else:
            # asymmetric + floor: x_in = floor(x_out / scale), exactly an integer repeat.
            attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                     "nearest_mode": "floor"}
        return [em.op("Resize", [xs[0], "", scales], **attrs)]


def bilinear_matrix(n: int, s: int) -> np.ndarray:
    """(n * s, n) float64 matrix of Keras' bilinear upsampling weights along one axis.

    Keras' UpSampling2D(interpolation="bilinear") calls ops.image.resize with antialias=False,
    which is torch's F.interpolate(mode="bilinear", align_corners=False) (TF's
    half_pixel_centers=True, JAX's triangle kernel agree for upsampling): `linear_matrix`.
    Antialiasing would only change downsampling, which upsampling never does.
    """
    return linear_matrix(n, n * s)


def linear_matrix(n: int, out: int) -> np.ndarray:
    """(out, n) float64 weights of a half-pixel linear resize without antialiasing (torch's
    interpolate(mode="bilinear", align_corners=False) along one axis): output j reads the input
    at src = max((j + 0.5) * n / out - 0.5, 0), blending floor(src) and the next pixel
    (both clamped to n - 1) with weights 1 - frac, frac."""
    src = np.maximum((np.arange(out) + 0.5) * (n / out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    frac = src - i0
    m = np.zeros((out, n))
    rows = np.arange(out)
    np.add.at(m, (rows, i0), 1.0 - frac)
    np.add.at(m, (rows, i1), frac)
    return m


def apply_matrices(x: np.ndarray, mats: list[np.ndarray], axes: tuple[int, ...]) -> np.ndarray:
    """Multiply axis `axes[k]` of x by mats[k] (out, in), one separable axis at a time.

    Temporaries: one array of the partially upsampled size per axis (at most the output).
    """
    for ax, m in zip(axes, mats):
        x = np.moveaxis(np.tensordot(m, x, axes=([1], [ax])), 0, ax)
    return np.ascontiguousarray(x)


# ---- interpolation names ----

SUPPORTED_INTERPOLATIONS = ("nearest", "bilinear")
# Accepted by Keras 3's ops.image.resize but not (yet) by seqc.
KERAS_ONLY_INTERPOLATIONS = ("bicubic", "area", "lanczos3", "lanczos5")


def check_interpolation(attrs: Any) -> None:
    """Keras lowercases `interpolation`; seqc supports nearest and bilinear."""
    v = attrs.interpolation.lower()
    object.__setattr__(attrs, "interpolation", v)
    if v in SUPPORTED_INTERPOLATIONS:
        return
    supported = ", ".join(repr(s) for s in SUPPORTED_INTERPOLATIONS)
    if v in KERAS_ONLY_INTERPOLATIONS:
        raise DefinitionError(
            f"interpolation '{v}' is not supported by seqc; supported: {supported}",
            field="interpolation", received=f"interpolation={v!r}",
            hint="use 'bilinear' for a smooth upsampling")
    raise DefinitionError(
        f"unknown interpolation; supported: {supported}", field="interpolation",
        received=f"interpolation={v!r}")
