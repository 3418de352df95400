"""Shared maths and base kinds for the convolutions (Conv, DepthwiseConv, SeparableConv and
ConvTranspose in 1-3 spatial dims), channels-last (N, *spatial, C) as in Keras.

Forward: pad -> im2col (one copy) -> ONE matmul with the kernel as (prod(k) * Cin, F), the bias
riding along as a row against a column of ones; groups are one batched matmul
(G, M, K*Cg) @ (G, K*Cg, Fg); depthwise is groups=C. Backward: dW (and the bias gradient) =
cols^T @ dy, dcols = dy @ W^T -> col2im -> unpad. A transposed conv is the adjoint of a conv:
forward = matmul + col2im + Keras' crop, backward = im2col + matmul.
ONNX: Conv (weights (F, Cin/groups, *k)) / ConvTranspose (weights (Cin, F, *k)).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np

from ..errors import DefinitionError, did_you_mean
from ..ir.types import TensorType
from ._spatial import (
    col2im,
    effective,
    expand,
    lower_padding,
    onnx_pads,
    pad,
    plan,
    spatial_input,
    unpad,
    windows,
)
from .base import Initializer, OpDef, ParamSpec, positive_int

# im2col buffers at most this big stay on the tape for the kernel gradient; bigger ones are
# rebuilt from the padded input in backward (one more copy, cheap beside the matmuls), so a deep
# stack of large convs does not hold 9x its activations (3x3 kernels) between the passes.
KEEP_COLS_BYTES = 64 << 20


# ---- attributes ----

class SpatialArgs:
    """`__post_init__` shared by the conv Attrs dataclasses: Keras' "int or tuple" arguments
    made canonical (nd entries), padding lowercased and checked, data_format None -> last."""

    nd: ClassVar[int]
    paddings: ClassVar[tuple[str, ...]] = ("valid", "same")

    def __post_init__(self) -> None:
        for name in ("strides", "dilation_rate"):
            if isinstance(getattr(self, name), int):  # the defaults, spelled as Keras' docs
                object.__setattr__(self, name, (getattr(self, name),))
        expand(self, ("kernel_size", "strides", "dilation_rate"), self.nd)
        lower_padding(self)
        p = self.padding
        if p not in self.paddings:
            raise DefinitionError(
                f"'padding' must be one of {', '.join(repr(v) for v in self.paddings)}",
                field="padding", received=f"padding={p!r}",
                hint="padding='causal' exists for Conv1D only" if p == "causal"
                else did_you_mean(p, self.paddings))
        if self.data_format is None:  # Keras' global image_data_format, fixed to channels_last
            object.__setattr__(self, "data_format", "channels_last")
        op = getattr(self, "output_padding", None)
        if op is not None:
            op = tuple(op) * self.nd if len(op) == 1 else tuple(op)
            object.__setattr__(self, "output_padding", op)
            if len(op) != self.nd or any(v < 0 or v >= s for v, s in zip(op, self.strides)):
                raise DefinitionError(
                    f"'output_padding' must be {self.nd} integers, each >= 0 and strictly less "
                    "than the matching stride", field="output_padding",
                    received=f"output_padding={list(op)}, strides={list(self.strides)}")


DataFormat = Literal["channels_last", "channels_first"]


@dataclass(frozen=True)
class ConvAttrs(SpatialArgs):
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = 1  # type: ignore[assignment]  (made (1,) * nd)
    padding: str = "valid"
    data_format: DataFormat | None = "channels_last"
    dilation_rate: tuple[int, ...] = 1  # type: ignore[assignment]
    groups: int = 1
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


@dataclass(frozen=True)
class DepthwiseAttrs(SpatialArgs):
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = 1  # type: ignore[assignment]  (made (1,) * nd)
    padding: str = "valid"
    depth_multiplier: int = 1
    data_format: DataFormat | None = "channels_last"
    dilation_rate: tuple[int, ...] = 1  # type: ignore[assignment]
    use_bias: bool = True
    depthwise_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


@dataclass(frozen=True)
class SeparableAttrs(SpatialArgs):
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = 1  # type: ignore[assignment]  (made (1,) * nd)
    padding: str = "valid"
    data_format: DataFormat | None = "channels_last"
    dilation_rate: tuple[int, ...] = 1  # type: ignore[assignment]
    depth_multiplier: int = 1
    use_bias: bool = True
    depthwise_initializer: Initializer = "glorot_uniform"
    pointwise_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


@dataclass(frozen=True)
class TransposeAttrs(SpatialArgs):
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = 1  # type: ignore[assignment]  (made (1,) * nd)
    padding: str = "valid"
    output_padding: tuple[int, ...] | None = None
    data_format: DataFormat | None = "channels_last"
    dilation_rate: tuple[int, ...] = 1  # type: ignore[assignment]
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


# ---- the conv maths, channels-last, any number of spatial dims ----

class ConvCache(NamedTuple):
    saved: np.ndarray  # the im2col matrix, or the padded input when that was too big to keep
    is_cols: bool
    padded_shape: tuple[int, ...]
    pads: list[tuple[int, int]]
    out: tuple[int, ...]


def _cols(xp: np.ndarray, k, s, d, groups: int, ones: bool) -> tuple[np.ndarray, tuple]:
    """im2col as (G, M, K*Cg [+ 1]), M = N * prod(out): one copy of M * prod(k) * C elements
    (9x the input for a 3x3 stride-1 conv). With `ones` a trailing column of ones lets the bias
    ride in the same matmul (and its gradient come out of the kernel-gradient matmul)."""
    w = windows(xp, k, s, d)  # (N, *out, *k, C), a view
    nd, n, c = len(k), xp.shape[0], xp.shape[-1]
    cg, out = c // groups, w.shape[1:1 + nd]
    m, kc, b = n * math.prod(out), math.prod(k) * cg, int(ones)
    if cg == 1:
        # One channel per group (a 1-channel input, depthwise): channels moved to the front
        # once, then copied tap by tap into a (G, K, M) buffer, every read and write a
        # contiguous row; numpy's copy of the window view would move one element per inner
        # loop (2-10x slower). Seen through a transposed view, so BLAS reads it with its
        # transpose flag, no further copy.
        xt = np.ascontiguousarray(np.moveaxis(xp, -1, 0))  # (C, N, *padded); free when C = 1
        buf = np.empty((groups, kc + b, n, *out), xp.dtype)
        for i, region in enumerate(_tap_regions(k, s, d, out)):
            buf[:, i] = xt[(slice(None), slice(None), *region)]
        if ones:
            buf[:, kc] = 1
        return buf.reshape(groups, kc + b, m).transpose(0, 2, 1), out
    if groups == 1 and not ones:
        return w.reshape(1, m, kc), out  # a view when the layout allows (1x1, stride 1)
    buf = np.empty((groups, m, kc + b), xp.dtype)
    # Splitting axes of a strided array never copies, so this reshape is a view into buf.
    dst = buf[..., :kc].reshape(groups, n, *out, *k, cg)
    np.copyto(dst, np.moveaxis(w.reshape(*w.shape[:-1], groups, cg), -2, 0))
    if ones:
        buf[..., kc] = 1
    return buf, out


def _kernel_matrix(kernel: np.ndarray, bias: np.ndarray | None, groups: int) -> np.ndarray:
    """(*k, Cg, F) -> (G, K*Cg [+ 1 bias row], Fg); output channel f is in group f // Fg."""
    f = kernel.shape[-1]
    w = kernel.reshape(-1, groups, f // groups).transpose(1, 0, 2)
    if bias is None:
        return w
    return np.concatenate([w, bias.reshape(groups, 1, f // groups)], axis=1)


def conv_forward(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, k, s, d,
                 padding: str, groups: int, keep: bool) -> tuple[np.ndarray, ConvCache | None]:
    """y = conv(x, kernel) + bias, (N, *out, F): one (batched over groups) matmul; and the
    cache backward needs (None when `keep` is False)."""
    pads, _ = plan(x.shape[1:-1], k, s, d, padding)
    xp = pad(x, pads)
    cols, out = _cols(xp, k, s, d, groups, bias is not None)
    y = cols @ _kernel_matrix(kernel, bias, groups)  # (G, M, Fg)
    # -> (M, G*Fg): channel g*Fg + j, Keras' grouped order (a free reshape when G = 1).
    y = y.transpose(1, 0, 2).reshape(x.shape[0], *out, kernel.shape[-1])
    if not keep:
        return y, None
    # A cols that is a view (1x1 kernels, stride 1) costs nothing to keep.
    is_cols = cols.nbytes <= KEEP_COLS_BYTES or np.may_share_memory(cols, xp)
    return y, ConvCache(cols if is_cols else xp, is_cols, xp.shape, pads, out)


def conv_backward(cache: ConvCache, kernel: np.ndarray, bias: np.ndarray | None,
                  dy: np.ndarray, k, s, d, groups: int, input_grad: bool
                  ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """(dx or None, dkernel, dbias or None) for `conv_forward`."""
    ones = bias is not None
    cols = cache.saved if cache.is_cols else _cols(cache.saved, k, s, d, groups, ones)[0]
    f = kernel.shape[-1]
    m, kc = math.prod(dy.shape[:-1]), cols.shape[-1] - ones
    dyg = dy.reshape(m, groups, f // groups).transpose(1, 0, 2)  # (G, M, Fg), a view
    dw = cols.transpose(0, 2, 1) @ dyg  # (G, K*Cg [+ 1], Fg): kernel and bias gradients
    dkernel = dw[:, :kc].transpose(1, 0, 2).reshape(kernel.shape)
    dbias = dw[:, kc].reshape(f) if ones else None
    if not input_grad:
        return None, dkernel, dbias
    n, c, out, nd = cache.padded_shape[0], cache.padded_shape[-1], cache.out, len(k)
    wk = _kernel_matrix(kernel, None, groups)  # (G, K*Cg, Fg)
    if c == groups:
        # One channel per group: the (G, K, M) product adds back tap by tap into a
        # channels-first buffer with contiguous rows, the mirror of `_cols`.
        dyt = dyg.transpose(0, 2, 1)  # (G, Fg, M)
        # With one output per group (depth_multiplier 1) the product is an outer product,
        # which a broadcast multiply does ~5x faster than BLAS.
        dcols = (wk * dyt if wk.shape[-1] == 1 else wk @ dyt).reshape(groups, -1, n, *out)
        dxt = np.zeros((c, *cache.padded_shape[:-1]), dcols.dtype)
        for i, region in enumerate(_tap_regions(k, s, d, out)):
            dxt[(slice(None), slice(None), *region)] += dcols[:, i]
        dxp = np.moveaxis(dxt, 0, -1)
    else:
        dcols = dyg @ wk.transpose(0, 2, 1)  # (G, M, K*Cg)
        dwin = dcols.reshape(groups, n, *out, *k, c // groups)
        dwin = dwin.transpose(*range(1, 2 + 2 * nd), 0, 2 + 2 * nd).reshape(n, *out, *k, c)
        dxp = col2im(dwin, cache.padded_shape, k, s, d)
    return unpad(dxp, cache.pads), dkernel, dbias


def _tap_regions(k, s, d, out):
    """For each kernel tap (row-major, as the kernel's own order), the spatial slices of the
    padded input that the tap reads for every output position."""
    for tap in itertools.product(*map(range, k)):
        yield tuple(slice(t * di, t * di + (o - 1) * st + 1, st)
                    for t, di, o, st in zip(tap, d, out, s))


def sum_rows(dy: np.ndarray) -> np.ndarray:
    """The bias gradient: dy summed over every axis but the last. A BLAS matrix-vector product
    is ~10x faster than numpy's strided `sum(axis=0)` on (M, F)."""
    dy2 = dy.reshape(-1, dy.shape[-1])
    return np.ones(dy2.shape[0], dy.dtype) @ dy2


def transpose_crops(k, s, d, padding: str, output_padding) -> list[tuple[int, int]]:
    """Per axis (crop at the start, crop at the end) of the full transposed-conv output of
    length (in - 1) * s + k_eff; a negative end crop appends zeros. This is Keras' own rule
    (backend_utils._convert_conv_transpose_padding_args_from_keras_to_jax, and the torch
    backend's crops): crop = k_eff - 1 - pad."""
    crops = []
    for i, (ke, st) in enumerate(zip(effective(k, d), s)):
        op = None if output_padding is None else output_padding[i]
        if padding == "valid":
            op = max(ke, st) - ke if op is None else op
            left, right = ke - 1, ke - 1 + op
        else:
            total = st + ke - 2 if op is None else ke + ke % 2 - 2 + op
            left = min(total // 2 + total % 2, ke - 1)
            right = total - left
        crops.append((ke - 1 - left, ke - 1 - right))
    return crops


def transpose_sizes(sizes, k, s, d, crops) -> tuple[int | None, ...]:
    return tuple(None if n is None else (n - 1) * st + ke - a - b
                 for n, st, ke, (a, b) in zip(sizes, s, effective(k, d), crops))


def _crop(y: np.ndarray, crops: list[tuple[int, int]]) -> np.ndarray:
    """Cut positive crops off the spatial axes, append zeros for negative end crops."""
    y = unpad(y, [(max(a, 0), max(b, 0)) for a, b in crops])
    return pad(y, [(max(-a, 0), max(-b, 0)) for a, b in crops])


def _uncrop(dy: np.ndarray, crops: list[tuple[int, int]]) -> np.ndarray:
    """The adjoint of `_crop`: zeros where it cut, drop what it appended."""
    dy = unpad(dy, [(max(-a, 0), max(-b, 0)) for a, b in crops])
    return pad(dy, [(max(a, 0), max(b, 0)) for a, b in crops])


def transpose_forward(x: np.ndarray, kernel: np.ndarray, k, s, d, crops) -> np.ndarray:
    """The input-gradient of a conv whose kernel is (*k, F, Cin): one matmul then col2im.
    The (N * prod(in), prod(k) * F) product is the big temporary, like im2col's."""
    n, sizes, cin = x.shape[0], x.shape[1:-1], x.shape[-1]
    f = kernel.shape[-2]
    wm = kernel.reshape(-1, cin)  # (K*F, Cin)
    dwin = (x.reshape(-1, cin) @ wm.T).reshape(n, *sizes, *k, f)
    full = tuple((m - 1) * st + ke for m, st, ke in zip(sizes, s, effective(k, d)))
    return _crop(col2im(dwin, (n, *full, f), k, s, d), crops)


def transpose_backward(x: np.ndarray, kernel: np.ndarray, dy: np.ndarray, k, s, d, crops,
                       input_grad: bool) -> tuple[np.ndarray | None, np.ndarray]:
    """A conv of dy: im2col of the uncropped gradient, then dx = cols @ W, dW = cols^T @ x."""
    cin = x.shape[-1]
    w = windows(_uncrop(dy, crops), k, s, d)  # (N, *in, *k, F)
    cols = w.reshape(math.prod(w.shape[:1 + len(k)]), -1)
    x2 = x.reshape(-1, cin)
    dkernel = (cols.T @ x2).reshape(kernel.shape)
    dx = (cols @ kernel.reshape(-1, cin)).reshape(x.shape) if input_grad else None
    return dx, dkernel


# ---- base kinds ----

def onnx_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras (*k, I, O) -> ONNX (O, I, *k); for ConvTranspose Keras' (*k, F, Cin) becomes
    ONNX's (Cin, F, *k) by the same permutation."""
    nd = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (nd + 1, nd, *range(nd))))


class ConvFamily(OpDef):
    """What every conv kind shares: layouts, the input check, channels_first handling."""

    category = "convolution"
    splits_activation = True
    activation_index = 7

    def export_layout(self, a: Any) -> str:
        # The IR tensor of a channels_first layer is already (N, C, *spatial): ONNX's own.
        return "canonical" if a.data_format == "channels_first" else "channels_first"

    def split_input(self, a: Any, x: TensorType) -> tuple[tuple[int | None, ...], int]:
        """(spatial sizes, channels) of the input, with the rank and channel checks."""
        spatial_input(x, a.nd, self.kind)
        first = a.data_format == "channels_first"
        sizes = tuple(x.shape[2:]) if first else tuple(x.shape[1:-1])
        c = x.shape[1] if first else x.shape[-1]
        if c is None:
            raise DefinitionError(
                f"{self.kind} needs a known number of input channels", field="input",
                received=f"input {x} (data_format={a.data_format})",
                hint="give the channel axis a size in input_shape")
        return sizes, c

    @staticmethod
    def out_type(a: Any, x: TensorType, sizes: tuple, channels: int) -> TensorType:
        if a.data_format == "channels_first":
            return x.with_shape((x.shape[0], channels, *sizes))
        return x.with_shape((x.shape[0], *sizes, channels))

    @staticmethod
    def to_last(a: Any, x: np.ndarray) -> np.ndarray:
        return np.moveaxis(x, 1, -1) if a.data_format == "channels_first" else x

    @staticmethod
    def from_last(a: Any, y: np.ndarray) -> np.ndarray:
        return np.moveaxis(y, -1, 1) if a.data_format == "channels_first" else y

    def sizes_of(self, a: Any, em: Any, x: str) -> tuple[int | None, ...]:
        t = em.type_of(x)  # the IR's logical type, whatever the physical layout
        return tuple(t.shape[2:]) if a.data_format == "channels_first" else tuple(t.shape[1:-1])


def no_stride_with_dilation(a: Any) -> None:
    if max(a.strides) > 1 and max(a.dilation_rate) > 1:
        raise DefinitionError(
            "strides > 1 cannot be combined with dilation_rate > 1 (Keras rejects it)",
            field="dilation_rate",
            received=f"strides={list(a.strides)}, dilation_rate={list(a.dilation_rate)}",
            hint="use strides=1 with dilation, or dilation_rate=1 with strides")


def conv_node(em: Any, x: str, kernel: np.ndarray, name: str, b: str | None, a: Any, sizes,
              group: int) -> str:
    """An ONNX Conv (kernel in ONNX layout, added as weight `name`) reproducing Keras' padding:
    explicit pads where they are known (any size at stride 1, since 'same' then pads k_eff - 1
    in total), SAME_UPPER (extra pixel at the end, as TF/Keras) where a strided size is not."""
    k, s, d = a.kernel_size, a.strides, a.dilation_rate
    known = tuple(8 if n is None and st == 1 else n for n, st in zip(sizes, s))
    pads, _ = plan(known, k, s, d, a.padding)
    if a.padding == "valid":
        pads = [(0, 0)] * len(k)  # whatever the sizes
    auto = any(p is None for p in pads)
    if auto and max(d) > 1:
        # onnxruntime refuses SAME_* with dilations: spell the dilated kernel out with zeros.
        full = np.zeros((*kernel.shape[:2], *effective(k, d)), kernel.dtype)
        full[(slice(None), slice(None), *(slice(None, None, di) for di in d))] = kernel
        kernel, k, d = full, full.shape[2:], (1,) * len(k)
    attrs: dict[str, Any] = {"kernel_shape": list(k), "strides": list(s), "dilations": list(d),
                             "group": group}
    if auto:
        attrs["auto_pad"] = "SAME_UPPER"
    else:
        attrs["pads"] = onnx_pads(pads)
    return em.op("Conv", [x, em.weight(name, kernel)] + ([b] if b else []), **attrs)


class ConvBase(ConvFamily):
    """Conv1D/2D/3D: kernel (*k, Cin/groups, filters), bias (filters,)."""

    Attrs: ClassVar[type] = ConvAttrs

    def check(self, a: ConvAttrs) -> None:
        positive_int(a, "filters")
        positive_int(a, "groups")
        if a.filters % a.groups:
            raise DefinitionError(
                "'filters' must be divisible by 'groups'", field="groups",
                received=f"filters={a.filters}, groups={a.groups}")
        no_stride_with_dilation(a)

    def infer(self, a: ConvAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        sizes, c = self.split_input(a, x)
        if c % a.groups:
            raise DefinitionError(
                "the input channels must be divisible by 'groups'", field="groups",
                received=f"groups={a.groups}, input {x} with {c} channels")
        _, out = plan(sizes, a.kernel_size, a.strides, a.dilation_rate, a.padding)
        return [self.out_type(a, x, out, a.filters)]

    def params(self, a: ConvAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        _, c = self.split_input(a, in_types[0])
        specs = [ParamSpec("kernel", (*a.kernel_size, c // a.groups, a.filters),
                           a.kernel_initializer)]
        if a.use_bias:
            specs.append(ParamSpec("bias", (a.filters,), a.bias_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        x = self.to_last(a, xs[0])
        y, cache = conv_forward(x, params["kernel"], params.get("bias"), a.kernel_size,
                                a.strides, a.dilation_rate, a.padding, a.groups, ctx.need_grad)
        return [self.from_last(a, y)], (cache, ctx.input_grad)

    def backward(self, a, params, cache, dys):
        cache, input_grad = cache
        dy = self.to_last(a, dys[0])
        dx, dk, db = conv_backward(cache, params["kernel"], params.get("bias"), dy,
                                   a.kernel_size, a.strides, a.dilation_rate, a.groups,
                                   input_grad)
        grads = {"kernel": dk} if db is None else {"kernel": dk, "bias": db}
        return [None if dx is None else self.from_last(a, dx)], grads

    def fold_affine(self, a, params, scale, shift):
        if a.data_format == "channels_first":
            return None  # BN's last axis is not the channel axis there
        k = params["kernel"]
        return fold_bias(a, params, k.dtype, k.shape[-1], scale, shift,
                         {"kernel": k * scale})

    def lower(self, a, params, xs, em):
        b = em.weight("bias", params["bias"]) if a.use_bias else None
        return [conv_node(em, xs[0], onnx_kernel(params["kernel"]), "kernel", b, a,
                          self.sizes_of(a, em, xs[0]), a.groups)]


def fold_bias(a: Any, params: dict, dtype, n: int, scale, shift, scaled: dict) -> tuple:
    """Attrs with use_bias on, and parameters with bias * scale + shift added to `scaled`."""
    bias = params["bias"] if a.use_bias else np.zeros(n, dtype)
    out = {name: v.astype(dtype) for name, v in scaled.items()}
    out["bias"] = (bias * scale + shift).astype(dtype)
    keep = {k: v for k, v in params.items() if k not in out}
    return dataclasses.replace(a, use_bias=True), {**keep, **out}


def depthwise_forward(x, kernel, bias, a, keep):
    """Grouped conv with groups=C: the (*k, C, dm) kernel is (*k, 1, C*dm), output c*dm + m."""
    k4 = kernel.reshape(*kernel.shape[:-2], 1, -1)
    return conv_forward(x, k4, bias, a.kernel_size, a.strides, a.dilation_rate, a.padding,
                        kernel.shape[-2], keep)


def depthwise_backward(cache, kernel, bias, dy, a, input_grad):
    k4 = kernel.reshape(*kernel.shape[:-2], 1, -1)
    dx, dk, db = conv_backward(cache, k4, bias, dy, a.kernel_size, a.strides, a.dilation_rate,
                               kernel.shape[-2], input_grad)
    return dx, dk.reshape(kernel.shape), db


def depthwise_onnx(kernel: np.ndarray) -> np.ndarray:
    """(*k, C, dm) -> ONNX (C*dm, 1, *k) for Conv(group=C)."""
    return onnx_kernel(kernel.reshape(*kernel.shape[:-2], 1, -1))


class DepthwiseBase(ConvFamily):
    """DepthwiseConv1D/2D: kernel (*k, C, depth_multiplier), bias (C * depth_multiplier,)."""

    Attrs: ClassVar[type] = DepthwiseAttrs
    activation_index = 6

    def check(self, a: DepthwiseAttrs) -> None:
        positive_int(a, "depth_multiplier")

    def infer(self, a, in_types):
        (x,) = in_types
        sizes, c = self.split_input(a, x)
        _, out = plan(sizes, a.kernel_size, a.strides, a.dilation_rate, a.padding)
        return [self.out_type(a, x, out, c * a.depth_multiplier)]

    def params(self, a, in_types):
        _, c = self.split_input(a, in_types[0])
        specs = [ParamSpec("kernel", (*a.kernel_size, c, a.depth_multiplier),
                           a.depthwise_initializer)]
        if a.use_bias:
            specs.append(ParamSpec("bias", (c * a.depth_multiplier,), a.bias_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        y, cache = depthwise_forward(self.to_last(a, xs[0]), params["kernel"],
                                     params.get("bias"), a, ctx.need_grad)
        return [self.from_last(a, y)], (cache, ctx.input_grad)

    def backward(self, a, params, cache, dys):
        cache, input_grad = cache
        dy = self.to_last(a, dys[0])
        dx, dk, db = depthwise_backward(cache, params["kernel"], params.get("bias"), dy, a,
                                        input_grad)
        grads = {"kernel": dk} if db is None else {"kernel": dk, "bias": db}
        return [None if dx is None else self.from_last(a, dx)], grads

    def fold_affine(self, a, params, scale, shift):
        if a.data_format == "channels_first":
            return None
        k = params["kernel"]
        return fold_bias(a, params, k.dtype, k.shape[-2] * k.shape[-1], scale, shift,
                         {"kernel": k * np.reshape(scale, k.shape[-2:])})

    def lower(self, a, params, xs, em):
        k = params["kernel"]
        b = em.weight("bias", params["bias"]) if a.use_bias else None
        return [conv_node(em, xs[0], depthwise_onnx(k), "kernel", b, a,
                          self.sizes_of(a, em, xs[0]), k.shape[-2])]


class SeparableBase(ConvFamily):
    """SeparableConv1D/2D: a depthwise conv (depthwise_kernel (*k, C, dm)), then a 1x1 conv
    (pointwise_kernel (1.., C*dm, filters)) and the bias (filters,)."""

    Attrs: ClassVar[type] = SeparableAttrs

    def check(self, a: SeparableAttrs) -> None:
        positive_int(a, "filters")
        positive_int(a, "depth_multiplier")

    def infer(self, a, in_types):
        (x,) = in_types
        sizes, _ = self.split_input(a, x)
        _, out = plan(sizes, a.kernel_size, a.strides, a.dilation_rate, a.padding)
        return [self.out_type(a, x, out, a.filters)]

    def params(self, a, in_types):
        _, c = self.split_input(a, in_types[0])
        dm = a.depth_multiplier
        specs = [ParamSpec("depthwise_kernel", (*a.kernel_size, c, dm), a.depthwise_initializer),
                 ParamSpec("pointwise_kernel", (*(1,) * a.nd, c * dm, a.filters),
                           a.pointwise_initializer)]
        if a.use_bias:
            specs.append(ParamSpec("bias", (a.filters,), a.bias_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        z, dcache = depthwise_forward(self.to_last(a, xs[0]), params["depthwise_kernel"], None,
                                      a, ctx.need_grad)
        pw = params["pointwise_kernel"]
        y = z @ pw.reshape(pw.shape[-2:])
        if a.use_bias:
            y += params["bias"]
        return [self.from_last(a, y)], (dcache, z, ctx.input_grad)

    def backward(self, a, params, cache, dys):
        dcache, z, input_grad = cache
        dy = self.to_last(a, dys[0])
        pw = params["pointwise_kernel"]
        dy2 = dy.reshape(-1, dy.shape[-1])
        grads = {"pointwise_kernel": (z.reshape(-1, z.shape[-1]).T @ dy2).reshape(pw.shape)}
        dz = dy @ pw.reshape(pw.shape[-2:]).T
        dx, grads["depthwise_kernel"], _ = depthwise_backward(
            dcache, params["depthwise_kernel"], None, dz, a, input_grad)
        if a.use_bias:
            grads["bias"] = sum_rows(dy2)
        return [None if dx is None else self.from_last(a, dx)], grads

    def fold_affine(self, a, params, scale, shift):
        if a.data_format == "channels_first":
            return None
        pw = params["pointwise_kernel"]
        return fold_bias(a, params, pw.dtype, pw.shape[-1], scale, shift,
                         {"pointwise_kernel": pw * scale})

    def lower(self, a, params, xs, em):
        dk = params["depthwise_kernel"]
        z = conv_node(em, xs[0], depthwise_onnx(dk), "depthwise_kernel", None, a,
                      self.sizes_of(a, em, xs[0]), dk.shape[-2])
        pw = em.weight("pointwise_kernel", onnx_kernel(params["pointwise_kernel"]))
        b = em.weight("bias", params["bias"]) if a.use_bias else None
        ones = (1,) * a.nd
        return [em.op("Conv", [z, pw] + ([b] if b else []), kernel_shape=list(ones),
                      strides=list(ones), pads=[0] * (2 * a.nd))]


class TransposeBase(ConvFamily):
    """Conv1D/2D/3DTranspose: kernel (*k, filters, Cin), bias (filters,); output sizes by
    Keras' compute_conv_transpose_output_shape."""

    Attrs: ClassVar[type] = TransposeAttrs

    def check(self, a) -> None:
        positive_int(a, "filters")
        no_stride_with_dilation(a)

    def crops(self, a) -> list[tuple[int, int]]:
        return transpose_crops(a.kernel_size, a.strides, a.dilation_rate, a.padding,
                               a.output_padding)

    def infer(self, a, in_types):
        (x,) = in_types
        sizes, _ = self.split_input(a, x)
        out = transpose_sizes(sizes, a.kernel_size, a.strides, a.dilation_rate, self.crops(a))
        if any(o is not None and o <= 0 for o in out):
            raise DefinitionError(
                "the output would be empty: with padding='same' and this output_padding, "
                "(size - 1) * strides + kernel_size % 2 + output_padding is 0",
                field="output_padding",
                received=f"output_padding={list(a.output_padding or ())}, input {x}",
                hint="use a larger output_padding, an odd kernel_size or output_padding=None")
        return [self.out_type(a, x, out, a.filters)]

    def params(self, a, in_types):
        _, c = self.split_input(a, in_types[0])
        specs = [ParamSpec("kernel", (*a.kernel_size, a.filters, c), a.kernel_initializer)]
        if a.use_bias:
            specs.append(ParamSpec("bias", (a.filters,), a.bias_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        x = self.to_last(a, xs[0])
        y = transpose_forward(x, params["kernel"], a.kernel_size, a.strides, a.dilation_rate,
                              self.crops(a))
        if a.use_bias:
            y += params["bias"]  # in place: y is (a view of) the fresh col2im buffer
        return [self.from_last(a, y)], (x, ctx.input_grad)

    def backward(self, a, params, cache, dys):
        x, input_grad = cache
        dy = self.to_last(a, dys[0])
        dx, dk = transpose_backward(x, params["kernel"], dy, a.kernel_size, a.strides,
                                    a.dilation_rate, self.crops(a), input_grad)
        grads = {"kernel": dk}
        if a.use_bias:
            grads["bias"] = sum_rows(dy)
        return [None if dx is None else self.from_last(a, dx)], grads

    def fold_affine(self, a, params, scale, shift):
        if a.data_format == "channels_first":
            return None
        k = params["kernel"]  # (*k, F, Cin): the output channel is axis -2
        return fold_bias(a, params, k.dtype, k.shape[-2], scale, shift,
                         {"kernel": k * np.reshape(scale, (-1, 1))})

    def lower(self, a, params, xs, em):
        w = em.weight("kernel", onnx_kernel(params["kernel"]))
        b = em.weight("bias", params["bias"]) if a.use_bias else None
        crops = self.crops(a)
        # ONNX crops with pads and appends with output_padding (its values there are zeros
        # plus bias, like Keras'); neither depends on the input size, so unknown sizes work.
        pads = onnx_pads([(max(c0, 0), max(c1, 0)) for c0, c1 in crops])
        return [em.op("ConvTranspose", [xs[0], w] + ([b] if b else []),
                      kernel_shape=list(a.kernel_size), strides=list(a.strides),
                      dilations=list(a.dilation_rate), pads=pads,
                      output_padding=[max(-c1, 0) for _, c1 in crops])]
