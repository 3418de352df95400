"""Dense followed by a plain relu, fused (the executor pairs them, training/executor.py): the
forward's bias add and relu as one pass over the product, in place; the backward's relu mask
and bias gradient as one pass over the incoming gradient. numba (the `fast` extra) compiles
both passes; without it (or with SEQC_NUMBA=0, or an array the kernels do not take) the same
NumPy operations as the unfused layers run, with `out=` where the layers allocated.

Why: NumPy's float32 `maximum` runs at ~1.5 G values/s on this CPU (NaN handling, no
SIMD), so relu over a (128, 512) batch cost 45-70 us forward and 35 us backward with its
mask and bias sum, against ~5 us for each compiled pass (measured, one core). On the 60k MLP
(784-512-512-10, batch 128) that was ~0.2 ms of a ~3 ms step.

Same numbers, bit for bit: the forward is the float32 add then max(v, 0) with NaN kept, as
`y += b; np.maximum(y, 0)`; the backward multiplies dy by the 0/1 mask (so an infinite dy
under a zero mask gives NaN, as np.multiply does) and sums the rows in order into the bias
gradient, as NumPy's axis-0 sum of a C-contiguous block does (tests/ops/test_dense_fused.py
compares both with the NumPy path, and the kernels' Python bodies too).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _numba

F32 = np.float32
_KERNELS: dict[str, Any] = {}
_STATE: dict[str, bool] = {}


def bias_relu(y, b):
    """y = max(y + b, 0) in place over a 2-D float32 block; NaN stays NaN."""
    n, m = y.shape
    for i in range(n):
        for j in range(m):
            v = y[i, j] + b[j]
            y[i, j] = v if not v <= 0 else F32(0)


def relu(y):
    """y = max(y, 0) in place over a 2-D float32 block; NaN stays NaN."""
    n, m = y.shape
    for i in range(n):
        for j in range(m):
            v = y[i, j]
            y[i, j] = v if not v <= 0 else F32(0)


def relu_grad_bias(dy, y, g, db):
    """g = dy * (y > 0); db = g summed over rows, row after row (2-D float32 blocks)."""
    n, m = y.shape
    for j in range(m):
        db[j] = 0
    for i in range(n):
        for j in range(m):
            v = dy[i, j] * F32(y[i, j] > 0)
            g[i, j] = v
            db[j] += v


PY_KERNELS = {"bias_relu": bias_relu, "relu": relu, "relu_grad_bias": relu_grad_bias}
_SIGS = {"bias_relu": "void(float32[:, ::1], float32[::1])",
         "relu": "void(float32[:, ::1])",
         "relu_grad_bias": "void(float32[:, ::1], float32[:, ::1], float32[:, ::1], "
                           "float32[::1])"}


def kernel(name: str) -> Any:
    """The compiled kernel `name`, or None without numba (or when its compile failed)."""
    k = _KERNELS.get(name)
    if k is None:
        if not _numba.enabled(_STATE):
            return None
        k = _numba.compile_kernel(PY_KERNELS[name], _SIGS[name], _STATE)
        if k is None:
            return None
        _KERNELS[name] = k
    return k


def _block(a: np.ndarray) -> np.ndarray | None:
    """`a` as a 2-D (rows, units) float32 C-contiguous view, or None when the kernels do not
    take it. One unit is left to NumPy: its axis-0 sum of an (N, 1) block is pairwise."""
    if a.dtype != F32 or not a.flags.c_contiguous or a.ndim < 2 or a.shape[-1] < 2:
        return None
    return a.reshape(-1, a.shape[-1])


def forward(y: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """relu(y + bias) written into y (a fresh product the caller owns); returns y."""
    y2 = _block(y)
    if y2 is not None and (bias is None or (bias.dtype == F32 and bias.flags.c_contiguous)):
        k = kernel("relu" if bias is None else "bias_relu")
        if k is not None:
            k(y2) if bias is None else k(y2, bias)
            return y
    if bias is not None:
        y += bias
    return np.maximum(y, 0, out=y)


def backward(dy: np.ndarray, y: np.ndarray, bias: bool) -> tuple[np.ndarray, Any]:
    """(dy * (y > 0), its sum over every axis but the last when `bias`, else None); `y` is
    the relu's output (y > 0 exactly where its input was)."""
    y2, dy2 = _block(y), _block(dy)
    if y2 is not None and dy2 is not None and y.shape == dy.shape:
        k = kernel("relu_grad_bias")
        if k is not None:
            g = np.empty_like(dy)
            db = np.empty(dy.shape[-1], F32)
            k(dy2, y2, g.reshape(dy2.shape), db)
            return g, db if bias else None
    g = np.multiply(dy, y > 0, dtype=dy.dtype).astype(y.dtype, copy=False)
    return g, g.reshape(-1, g.shape[-1]).sum(axis=0) if bias else None
