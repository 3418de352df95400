"""Max pooling over 2-D windows that tile the input (strides == pool_size, no padding:
MaxPooling2D's default), compiled with numba (optional, seqc/ops/_numba.py): forward and
backward each one pass.

Why: _pooling.pool_forward's NumPy path is one elementwise op per window tap plus three per
tap for the first-maximum index, each a strided read of the whole input; at the sizes a small
CNN trains at ((128, 6, 6, 32) -> (128, 3, 3, 32), the digits CNN) that is a dozen calls of
~3 us each, and the backward's per-tap masked products another eight. One compiled loop reads
each input cell once.

Same numbers: the maximum is np.maximum's (a NaN in a window wins), and the
cached index is the NumPy path's, the number of leading taps (row-major) that differ from the
maximum, so a NaN maximum points at the last tap as it does there. Backward writes dy at that
tap and 0 at the window's other cells and at an uncovered tail (valid pooling of 5 rows by 2).
`SEQC_NUMBA=0`, numba missing or a failed compile leave the NumPy path in place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _numba

_KERNELS: dict[str, Any] = {}
_STATE: dict[str, bool] = {}


def max_forward(x, ph, pw, y, idx):
    """y[n, a, b, c] = max over the (ph, pw) window at (a ph, b pw); idx its first-maximum
    tap (uint8, row-major in the window). Loops over channels innermost (contiguous: LLVM
    vectorizes them)."""
    n, oh, ow, ch = y.shape
    last = ph * pw - 1
    for i in range(n):
        for a in range(oh):
            for b in range(ow):
                for c in range(ch):
                    y[i, a, b, c] = x[i, a * ph, b * pw, c]
                for t in range(1, last + 1):
                    r, s = a * ph + t // pw, b * pw + t % pw
                    for c in range(ch):
                        m, v = y[i, a, b, c], x[i, r, s, c]
                        # np.maximum's: a NaN wins from either side
                        y[i, a, b, c] = m if (m >= v or m != m) else v
                for c in range(ch):
                    idx[i, a, b, c] = last
                for t in range(last - 1, -1, -1):  # ends at the first tap equal to the max
                    r, s = a * ph + t // pw, b * pw + t % pw
                    for c in range(ch):
                        if x[i, r, s, c] == y[i, a, b, c]:
                            idx[i, a, b, c] = t


def max_backward(dy, idx, ph, pw, covered, dx):
    """dx (N, H, W, C): dy at each window's cached tap, 0 at its other cells (and on an
    uncovered tail: covered = 0)."""
    n, oh, ow, ch = dy.shape
    if covered == 0:
        dx[:] = 0
    zero = dy.dtype.type(0)
    for i in range(n):
        for a in range(oh):
            for b in range(ow):
                for t in range(ph * pw):
                    r, s = a * ph + t // pw, b * pw + t % pw
                    for c in range(ch):
                        dx[i, r, s, c] = dy[i, a, b, c] if idx[i, a, b, c] == t else zero


def kernel(name: str, dtype: Any) -> Any:
    """The compiled `max_forward` / `max_backward` for float32 or float64, or None (numba
    missing, SEQC_NUMBA=0, another dtype, or a failed compile)."""
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64) or not _numba.enabled(_STATE):
        return None
    key = f"{name}:{dt.name}"
    if key not in _KERNELS:
        from numba import from_dtype, types  # noqa: PLC0415 - optional

        f4 = types.Array(from_dtype(dt), 4, "C")
        u4 = types.Array(types.uint8, 4, "C")
        if name == "max_forward":
            fn, sig = max_forward, types.void(f4, types.int64, types.int64, f4, u4)
        else:
            fn, sig = max_backward, types.void(f4, u4, types.int64, types.int64, types.int64, f4)
        _KERNELS[key] = _numba.compile_kernel(fn, sig, _STATE)
    return _KERNELS[key]


def forward(x: np.ndarray, pool: tuple, out: tuple, need_grad: bool) -> tuple | None:
    """(y, idx or None) of max pooling x (N, H, W, C) by tiling 2-D windows `pool` into `out`
    cells, or None when the kernel does not run."""
    k = kernel("max_forward", x.dtype) if pool[0] * pool[1] <= 256 else None
    if k is None:
        return None
    y = np.empty((x.shape[0], *out, x.shape[-1]), x.dtype)
    idx = np.empty(y.shape, np.uint8)
    k(np.ascontiguousarray(x), pool[0], pool[1], y, idx)
    return y, (idx if need_grad else None)


def backward(idx: np.ndarray, dy: np.ndarray, pool: tuple, x_shape: tuple) -> np.ndarray | None:
    """dx of `forward` (idx: its first-maximum taps, uint8), or None when the kernel does not
    run."""
    k = kernel("max_backward", dy.dtype) if idx.dtype == np.uint8 else None
    if k is None:
        return None
    dx = np.empty(x_shape, dy.dtype)
    covered = x_shape[1] == dy.shape[1] * pool[0] and x_shape[2] == dy.shape[2] * pool[1]
    k(np.ascontiguousarray(dy), np.ascontiguousarray(idx), pool[0], pool[1], int(covered), dx)
    return dx
