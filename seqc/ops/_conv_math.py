"""The convolutions' NumPy kernels, channels-last (N, *spatial, C), any number of spatial dims.

Forward: pad -> im2col (one copy) -> ONE matmul with the kernel as (prod(k) * Cin, F), the bias
riding along as a row against a column of ones; groups are one batched matmul
(G, M, K*Cg) @ (G, K*Cg, Fg); depthwise is groups=C. Backward: dW (and the bias gradient) =
cols^T @ dy, dcols = dy @ W^T -> col2im -> unpad. A transposed conv is the adjoint of a conv:
forward = matmul + col2im + Keras' crop, backward = im2col + matmul.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from . import _conv_fused
from ._spatial import (
    col2im,
    effective,
    pad,
    plan,
    unpad,
    windows,
)

# im2col buffers at most this big stay on the tape for the kernel gradient; bigger ones are
# rebuilt from the padded input in backward (one more copy, cheap beside the matmuls), so a deep
# stack of large convs does not hold 9x its activations (3x3 kernels) between the passes.
KEEP_COLS_BYTES = 64 << 20


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
        if not _conv_fused.fill(xt, k, s, d, buf):  # 2-D compiled (numba, optional)
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
