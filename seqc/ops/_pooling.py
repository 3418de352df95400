"""Shared N-d pooling maths and the base kinds of the twelve pooling layers (channels-last).

Pool: y[n, o, c] = max or mean of x over o's window (Keras/TF 'same' rule: max pads with -inf,
the mean divides by the number of real cells). ONNX: MaxPool / AveragePool(count_include_pad=0).
Global: mean/max over every spatial axis; ONNX GlobalAveragePool / GlobalMaxPool (+ Flatten).
Shape: (N, *spatial, C) -> (N, *out, C) by `_spatial.plan`; global -> (N, C) or (N, 1.., C).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import DefinitionError, did_you_mean
from ..ir.types import TensorType
from . import _pooling_fused
from ._spatial import col2im, expand, lower_padding, onnx_pads, pad, plan, spatial_input, unpad
from ._spatial import windows as _windows
from .base import BadExample, Example, OpDef

PADDINGS = ("valid", "same")
DATA_FORMATS = ("channels_last", "channels_first")


# ---- attributes ----

def normalize_data_format(a: Any) -> None:
    """Keras lowercases data_format and reads None as the global default (seqc: channels_last)."""
    df = a.data_format
    df = "channels_last" if df is None else df.lower()
    if df not in DATA_FORMATS:
        raise DefinitionError(
            "'data_format' must be 'channels_last' or 'channels_first'", field="data_format",
            received=f"data_format={a.data_format!r}",
            hint=did_you_mean(a.data_format, DATA_FORMATS))
    object.__setattr__(a, "data_format", df)


def normalize_pool_attrs(a: Any, nd: int) -> None:
    """In a pooling Attrs' __post_init__: canonical pool_size/strides (strides=None means
    pool_size, as in Keras, so both spellings compare equal), padding and data_format."""
    lower_padding(a)
    if a.padding not in PADDINGS:
        raise DefinitionError(
            "'padding' must be 'valid' or 'same' (case-insensitive)", field="padding",
            received=f"padding={a.padding!r}",
            hint="'causal' padding exists for Conv1D, not for pooling"
            if a.padding == "causal" else did_you_mean(a.padding, PADDINGS))
    normalize_data_format(a)
    expand(a, ("pool_size", "strides"), nd)
    if a.strides is None:
        object.__setattr__(a, "strides", a.pool_size)


# ---- layout helpers: the kernels below are written for channels-last only ----

def _to_last(x: np.ndarray, data_format: str) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def _from_last(y: np.ndarray, data_format: str) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(y, -1, 1)) if data_format == "channels_first" else y


def _last_type(x: TensorType, data_format: str) -> TensorType:
    """The channels-last view of an IR type (identity for channels_last data)."""
    if data_format == "channels_first" and x.rank >= 3:
        s = x.shape
        return x.with_shape((s[0], *s[2:], s[1]))
    return x


def _float_input(x: TensorType, kind: str) -> None:
    if x.dtype not in ("float32", "float64"):
        raise DefinitionError(f"{kind} needs a floating-point input", field="input",
                              received=f"input {x}",
                              hint="token ids need an Embedding before pooling")


# ---- N-d windowed pooling kernels ----

def _index_dtype(taps: int) -> np.dtype:
    return np.dtype(np.uint8 if taps <= 256 else np.uint16 if taps <= 65536 else np.int32)


def _region(tap: tuple[int, ...], out: tuple[int, ...], strides: tuple[int, ...]) -> tuple:
    """The cells of the padded input that tap `tap` of every window reads."""
    return (slice(None), *(slice(t, t + (o - 1) * s + 1, s)
                           for t, o, s in zip(tap, out, strides)), slice(None))


def _counts(sizes, pool, strides, pads, out, dtype) -> np.ndarray:
    """Real (unpadded) cells per window, shape (1, *out, 1): 'same' averages divide by it."""
    total = np.ones((1,) * (len(out) + 2), dtype)
    for i, (n, k, s, (b, _), o) in enumerate(zip(sizes, pool, strides, pads, out)):
        start = np.arange(o) * s - b
        c = np.minimum(start + k, n) - np.maximum(start, 0)
        shape = [1] * (len(out) + 2)
        shape[i + 1] = o
        total = total * c.reshape(shape).astype(dtype)
    return total


def pool_forward(x: np.ndarray, mode: str, pool: tuple[int, ...], strides: tuple[int, ...],
                 padding: str, *, need_grad: bool = True, generic: bool = False):
    """(y, cache) for channels-last x. One vectorized op per window tap (the Python loop runs
    over prod(pool) taps only). Max caches the first-maximum tap per output as uint8 (1/4 of
    y in float32); average caches the small per-window count array. `generic=True` forces the
    scatter path in backward (tests compare it with the tiling path)."""
    nd = len(pool)
    pads, out = plan(x.shape[1:-1], pool, strides, (1,) * nd, padding,
                     field="pool_size", what="pool window")
    # Non-overlapping windows with no padding tile the input: backward can write each cell
    # once instead of accumulating into a zeroed buffer; 2-D max runs compiled (numba) there.
    tiled = not generic and strides == pool and not any(b or a for b, a in pads)
    fast = _pooling_fused.forward(x, pool, out, need_grad) if (
        tiled and mode == "max" and nd == 2) else None
    if fast is not None:
        cache = (mode, x.shape, x.shape, pads, pool, strides, tuple(out), fast[1], tiled)
        return fast[0], (cache if need_grad else None)
    # Windows never lie wholly in the padding (TF's rule pads less than a window), so a -inf
    # fill never wins a max and a zero fill adds nothing to a sum.
    xp = pad(x, pads, -np.inf if mode == "max" else 0.0)
    w = _windows(xp, pool, strides, (1,) * nd)
    lead = (slice(None),) * (1 + nd)
    taps = list(np.ndindex(*pool))
    # Reading the strided view tap by tap is ~4x faster than w.max(axis=kernel axes) or a
    # reshape-and-reduce: each step is one contiguous-output elementwise op.
    y = w[(*lead, *taps[0])].copy()  # a copy: with pool_size 1 the result must not alias x
    reduce = np.maximum if mode == "max" else np.add
    for t in taps[1:]:
        reduce(y, w[(*lead, *t)], out=y)
    if mode == "max":
        extra = _first_argmax(w, lead, taps, y) if need_grad else None
    else:
        extra = (math.prod(pool) if not any(b or a for b, a in pads)
                 else _counts(x.shape[1:-1], pool, strides, pads, out, x.dtype))
        np.divide(y, extra, out=y)
    cache = (mode, x.shape, xp.shape, pads, pool, strides, tuple(out), extra, tiled)
    return y, (cache if need_grad else None)


def _first_argmax(w, lead, taps, y) -> np.ndarray:
    """Per output, the index of the first tap equal to the max (PyTorch's and TF's choice on
    ties): it is the number of leading taps that are all below the max. Arithmetic on bool
    masks, because masked assignment (np.where / putmask) is ~10x slower here."""
    idx = np.zeros(y.shape, _index_dtype(len(taps)))
    before = np.ones(y.shape, bool)  # still before the first maximum
    differs = np.empty(y.shape, bool)
    for t in taps[:-1]:
        np.not_equal(w[(*lead, *t)], y, out=differs)
        np.logical_and(before, differs, out=before)
        np.add(idx, before, out=idx, casting="unsafe")
    return idx


def pool_backward(cache, dy: np.ndarray) -> np.ndarray:
    mode, x_shape, xp_shape, pads, pool, strides, out, extra, tiled = cache
    taps = list(np.ndindex(*pool))
    if mode == "average":
        g = dy / extra  # d mean / d cell = 1 / (real cells in the window)
    if tiled and mode == "max" and len(pool) == 2:
        dx = _pooling_fused.backward(extra, dy, pool, x_shape)
        if dx is not None:
            return dx
    if tiled:
        # Valid pooling may leave an uncovered tail (5 rows, pool 2): only then zero-fill.
        covered = all(o * k == n for o, k, n in zip(out, pool, x_shape[1:-1]))
        dx = (np.empty if covered else np.zeros)(x_shape, dy.dtype)
        for i, t in enumerate(taps):
            if mode == "max":
                np.multiply(extra == i, dy, out=dx[_region(t, out, strides)])
            else:
                dx[_region(t, out, strides)] = g
        return dx
    if mode == "average":
        # col2im adds every window's gradient back; overlapping windows sum. The broadcast
        # view costs no memory (one (N, *out, C) array however large the pool).
        n, c = dy.shape[0], dy.shape[-1]
        nd = len(pool)
        dwin = np.broadcast_to(g.reshape(n, *out, *(1,) * nd, c), (n, *out, *pool, c))
        return unpad(col2im(dwin, xp_shape, pool, strides, (1,) * nd), pads)
    # Max: each gradient goes to its window's first maximum; one masked add per tap, so
    # overlapping windows (strides < pool) accumulate into shared cells.
    dxp = np.zeros(xp_shape, dy.dtype)
    for i, t in enumerate(taps):
        dxp[_region(t, out, strides)] += (extra == i) * dy
    return np.ascontiguousarray(unpad(dxp, pads))


class Pooling(OpDef):
    """MaxPooling{1,2,3}D / AveragePooling{1,2,3}D; a kind sets `nd`, `mode`, Attrs, examples.
    Attrs fields: pool_size, strides, padding, data_format (Keras' order)."""

    nd: ClassVar[int]
    mode: ClassVar[str]  # "max" or "average"
    category = "pooling"

    def export_layout(self, a: Any) -> str:
        # channels_first data is already (N, C, *spatial) in the IR: ONNX's own layout.
        return "canonical" if a.data_format == "channels_first" else "channels_first"

    def infer(self, a: Any, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        xl = _last_type(x, a.data_format)
        sizes = spatial_input(xl, self.nd, self.kind)
        _float_input(x, self.kind)
        _, out = plan(sizes, a.pool_size, a.strides, (1,) * self.nd, a.padding,
                      field="pool_size", what="pool window")
        if a.data_format == "channels_first":
            return [x.with_shape((x.shape[0], x.shape[1], *out))]
        return [x.with_shape((x.shape[0], *out, x.shape[-1]))]

    def forward(self, a, params, xs, ctx):
        x = _to_last(xs[0], a.data_format)
        y, cache = pool_forward(x, self.mode, a.pool_size, a.strides, a.padding,
                                need_grad=ctx.need_grad and ctx.input_grad)
        return [_from_last(y, a.data_format)], cache

    def backward(self, a, params, cache, dys):
        if cache is None:  # the input's gradient was not asked for (see RunContext)
            return [None], {}
        dx = pool_backward(cache, _to_last(dys[0], a.data_format))
        return [_from_last(dx, a.data_format)], {}

    def lower(self, a, params, xs, em):
        (x,) = xs
        nd = self.nd
        sizes = _last_type(em.type_of(x), a.data_format).shape[1:-1]
        # With stride 1 the pads do not depend on the size (same: pool - 1 in all), so an
        # unknown size along such an axis still gets explicit pads.
        sizes = tuple(k if n is None and s == 1 else n
                      for n, k, s in zip(sizes, a.pool_size, a.strides))
        pads, _ = plan(sizes, a.pool_size, a.strides, (1,) * nd, a.padding,
                       field="pool_size", what="pool window")
        geometry: dict[str, Any] = {"kernel_shape": list(a.pool_size),
                                    "strides": list(a.strides)}
        if any(p is None for p in pads):
            # 'same' pads depend on a size unknown until run time; SAME_UPPER is TF's rule
            # (extra cell at the end). 'valid' never pads.
            if a.padding == "same":
                geometry["auto_pad"] = "SAME_UPPER"
            else:
                geometry["pads"] = [0] * (2 * nd)
        elif self.mode == "max" and nd != 2 and any(b or e for b, e in pads):
            # onnx.reference's MaxPool mis-pads 1-D and 3-D inputs when every stride is 1
            # (its generic path reads `pads` as 2-D); an explicit -inf Pad is exact anywhere.
            fill = em.const(np.array(-np.inf, np.float32), "neg_inf")
            width = em.const(np.array([0, 0, *(b for b, _ in pads), 0, 0,
                                       *(e for _, e in pads)], np.int64), "pads")
            x = em.op("Pad", [x, width, fill], mode="constant")
            geometry["pads"] = [0] * (2 * nd)
        else:
            geometry["pads"] = onnx_pads(pads)
        if self.mode == "max":
            return [em.op("MaxPool", [x], **geometry)]
        # count_include_pad=0: border averages divide by their real cells, as Keras does.
        return [em.op("AveragePool", [x], count_include_pad=0, **geometry)]


# Examples MaxPooling and AveragePooling share, per nd: (config, per-sample input shape). They
# cover every padding mode (and its case-insensitive spelling), strides 1 and 2, overlapping
# windows, an odd size with 'same' at stride 2, channels_first and an unknown size. A kind's
# file adds its own (the default pool for Max, which Average lacks, and a few variants).
_POOL_EXAMPLES: dict[int, list[tuple[dict, tuple]]] = {
    1: [({"pool_size": 2}, (5, 2)),  # valid drops the last step
        ({"pool_size": 3, "strides": 2, "padding": "same"}, (7, 2)),
        ({"pool_size": 2, "strides": 1, "padding": "same"}, (5, 2)),
        ({"pool_size": 2, "padding": "SAME"}, (5, 3)),  # odd size, stride 2 -> 3
        ({"pool_size": 3, "strides": 1}, (5, 2)),  # overlapping windows
        ({"pool_size": 2, "data_format": "channels_first"}, (2, 6)),
        ({"pool_size": 2, "padding": "same"}, (None, 2))],
    2: [({"pool_size": 2, "strides": 2, "padding": "same"}, (5, 5, 2)),  # 3x3
        ({"pool_size": (3, 3), "strides": (1, 1), "padding": "same"}, (4, 4, 2)),
        ({"pool_size": 3, "strides": 2}, (5, 5, 2)),  # overlapping windows
        ({"pool_size": 2, "data_format": "channels_first"}, (2, 4, 4)),
        ({"pool_size": 2, "padding": "same"}, (None, 5, 2))],
    3: [({"pool_size": 2, "strides": 2, "padding": "same"}, (3, 3, 3, 1)),
        ({"pool_size": (1, 2, 2), "strides": 1}, (2, 3, 3, 1)),  # overlapping
        ({"pool_size": 2, "data_format": "channels_first"}, (1, 4, 4, 4)),
        ({"pool_size": 2, "padding": "same"}, (None, 3, 3, 1))],
}


def pool_examples(nd: int) -> list[Example]:
    """The examples every windowed pooling kind with nd spatial dims runs (fresh objects)."""
    return [Example(dict(config), shape) for config, shape in _POOL_EXAMPLES[nd]]


def pool_bad_examples(nd: int, base: dict) -> list[BadExample]:
    """The shape and argument errors every pooling kind must report before training."""
    shape = (4,) * nd + (2,)
    return [
        BadExample(base, (4,), "rank"),
        BadExample({**base, "pool_size": 3}, (2,) * nd + (1,), "empty"),
        BadExample({**base, "padding": "full"}, shape, "padding"),
        BadExample({**base, "padding": "causal"}, shape, "Conv1D"),
        BadExample({**base, "strides": 0}, shape, "strides"),
        BadExample({**base, "data_format": "nhwc"}, shape, "data_format"),
        BadExample({**base, "pool_sise": 2}, shape, "did you mean"),
    ]


# ---- global pooling ----

def global_forward(x: np.ndarray, mode: str, data_format: str, keepdims: bool,
                   need_grad: bool = True):
    """(y, cache): mean or max over every spatial axis. Max caches the first-maximum position
    per (sample, channel) as int32 (N*C entries)."""
    nd = x.ndim - 2
    axes = tuple(range(1, 1 + nd)) if data_format == "channels_last" else tuple(range(2, x.ndim))
    out_shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    if mode == "average":
        y = x.mean(axis=axes, keepdims=True)
        cache = (mode, x.shape, out_shape, data_format, None)
    else:
        # Flatten the spatial axes to one (N, S, C) or (N, C, S) axis: argmax then picks the
        # first maximum in row-major order, like the windowed max.
        n, s = x.shape[0], math.prod(x.shape[a] for a in axes)
        axis = 1 if data_format == "channels_last" else 2
        flat = x.reshape((n, s, -1) if axis == 1 else (n, -1, s))
        idx = np.expand_dims(flat.argmax(axis=axis), axis)
        y = np.take_along_axis(flat, idx, axis=axis).reshape(out_shape)
        cache = (mode, x.shape, out_shape, data_format, idx.astype(np.int32))
    if not keepdims:
        y = y.reshape(x.shape[0], -1)
    return y, (cache if need_grad else None)


def global_backward(cache, dy: np.ndarray) -> np.ndarray:
    mode, x_shape, out_shape, data_format, idx = cache
    dy = dy.reshape(out_shape)
    if mode == "average":
        dx = np.empty(x_shape, dy.dtype)
        dx[...] = dy / (math.prod(x_shape) // math.prod(out_shape))
        return dx
    n = x_shape[0]
    axis = 1 if data_format == "channels_last" else 2
    flat_shape = (n, -1, x_shape[-1]) if axis == 1 else (n, x_shape[1], -1)
    dx = np.zeros(x_shape, dy.dtype)
    flat = dx.reshape(flat_shape)  # a view: dx is contiguous
    np.put_along_axis(flat, idx.astype(np.intp), dy.reshape(idx.shape), axis=axis)
    return dx


@dataclass(frozen=True)
class GlobalPoolingAttrs:
    """Keras' arguments of every GlobalAverage/MaxPooling{1,2,3}D."""

    data_format: str | None = "channels_last"
    keepdims: bool = False

    def __post_init__(self) -> None:
        normalize_data_format(self)


class GlobalPooling(OpDef):
    """GlobalAveragePooling{1,2,3}D / GlobalMaxPooling{1,2,3}D; Attrs: data_format, keepdims."""

    nd: ClassVar[int]
    mode: ClassVar[str]
    category = "pooling"

    def export_layout(self, a: Any) -> str:
        return "canonical" if a.data_format == "channels_first" else "channels_first"

    def infer(self, a: Any, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        spatial_input(_last_type(x, a.data_format), self.nd, self.kind)
        _float_input(x, self.kind)
        c = x.shape[1] if a.data_format == "channels_first" else x.shape[-1]
        if not a.keepdims:
            return [x.with_shape((x.shape[0], c))]
        ones = (1,) * self.nd
        shape = (x.shape[0], c, *ones) if a.data_format == "channels_first" else (
            x.shape[0], *ones, c)
        return [x.with_shape(shape)]

    def forward(self, a, params, xs, ctx):
        y, cache = global_forward(xs[0], self.mode, a.data_format, a.keepdims,
                                  need_grad=ctx.need_grad and ctx.input_grad)
        return [y], cache

    def backward(self, a, params, cache, dys):
        if cache is None:
            return [None], {}
        return [global_backward(cache, dys[0])], {}

    def lower(self, a, params, xs, em):
        # The input arrives (N, C, *spatial) either way (see export_layout); the pooled
        # (N, C, 1, ...) is Keras' keepdims result in channels-first form.
        if self.mode == "max" and self.nd != 2:
            # onnx.reference's GlobalMaxPool reduces the wrong axes unless the input is 2-D;
            # ReduceMax over the spatial axes is the same operator everywhere.
            axes = list(range(2, self.nd + 2))
            keep = int(a.keepdims)
            if em.opset >= 18:  # axes moved from an attribute to an input in opset 18
                return [em.op("ReduceMax", [xs[0], em.const(np.array(axes, np.int64), "axes")],
                              keepdims=keep)]
            return [em.op("ReduceMax", xs, axes=axes, keepdims=keep)]
        y = em.op("GlobalMaxPool" if self.mode == "max" else "GlobalAveragePool", xs)
        return [y if a.keepdims else em.op("Flatten", [y], axis=1)]


# Per nd, the input shapes of the global-pooling examples, in the order of their configs:
# default, keepdims, channels_first, channels_first + keepdims, an unknown first size.
_GLOBAL_CONFIGS = ({}, {"keepdims": True}, {"data_format": "channels_first"},
                   {"data_format": "channels_first", "keepdims": True}, {})
_GLOBAL_SHAPES = {
    1: [(5, 3), (4, 2), (3, 5), (2, 4), (None, 3)],
    2: [(4, 4, 2), (3, 5, 2), (2, 3, 3), (2, 3, 4), (None, 3, 2)],
    3: [(2, 3, 3, 2), (2, 2, 3, 2), (2, 2, 3, 3), (2, 3, 2, 2), (None, 2, 2, 1)],
}


def global_examples(nd: int) -> list[Example]:
    """The examples of GlobalAverage/MaxPooling{nd}D (fresh objects per kind)."""
    return [Example(dict(c), s) for c, s in zip(_GLOBAL_CONFIGS, _GLOBAL_SHAPES[nd])]


def global_bad_examples(nd: int) -> list[BadExample]:
    shape = (3,) * nd + (2,)
    return [
        BadExample({}, (4,), "rank"),
        BadExample({}, (3,) * (nd + 2), "rank"),
        BadExample({"data_format": "channels_middle"}, shape, "data_format"),
        BadExample({"keepdims": "yes"}, shape, "keepdims"),
        BadExample({"keep_dims": True}, shape, "did you mean"),
    ]
