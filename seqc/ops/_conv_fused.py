"""im2col of a conv with one input channel per group (a 1-channel image, depthwise) in 2-D,
compiled with numba (optional, seqc/ops/_numba.py): one pass writing every tap's rows.

Why: _conv_math._cols copies tap by tap, and each tap's copy from the padded input is a
strided view whose contiguous runs are one output row long (6 values for the digits CNN's
8x8 images): NumPy's copy loop then spends ~7 ns per run, 44-49 us for (128, 8, 8, 1) and a
3x3 kernel, more than the product that follows (34 us); the compiled loop takes 22 us (the
whole im2col 0.77x, the conv's forward 0.85-0.88x, under load) and writes the same buffer
(a pure copy: the same numbers). A flat-index loop was slower (34 us). `SEQC_NUMBA=0`, numba
missing or a failed compile leave the NumPy copy in place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _numba

_KERNELS: dict[str, Any] = {}
_STATE: dict[str, bool] = {}


def cols_2d(xt, kh, kw, sh, sw, dh, dw, buf):
    """buf[g, a kw + b, n, i, j] = xt[g, n, i sh + a dh, j sw + b dw] for every tap (a, b) of a
    (kh, kw) kernel; xt (G, N, H, W) the padded input channels-first, buf (G, K [+ 1], N, OH,
    OW) (a trailing bias row is left as it is)."""
    groups, _, n, oh, ow = buf.shape
    for g in range(groups):
        for a in range(kh):
            for b in range(kw):
                i = a * kw + b
                for m in range(n):
                    for r in range(oh):
                        row = xt[g, m, r * sh + a * dh]
                        out = buf[g, i, m, r]
                        for j in range(ow):
                            out[j] = row[j * sw + b * dw]


def kernel(dtype: Any) -> Any:
    """cols_2d compiled for `dtype` (float32 or float64), or None."""
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64) or not _numba.enabled(_STATE):
        return None
    if dt.name not in _KERNELS:
        from numba import from_dtype, types  # noqa: PLC0415 - optional

        a4 = types.Array(from_dtype(dt), 4, "C")
        a5 = types.Array(from_dtype(dt), 5, "C")
        i = types.int64
        _KERNELS[dt.name] = _numba.compile_kernel(cols_2d, types.void(a4, i, i, i, i, i, i, a5),
                                                  _STATE)
    return _KERNELS[dt.name]


def fill(xt: np.ndarray, k, s, d, buf: np.ndarray) -> bool:
    """Writes every tap's rows of a 2-D conv into buf (see cols_2d); False when the kernel
    does not run (not 2-D, numba off or missing)."""
    if len(k) != 2 or not xt.flags.c_contiguous:
        return False
    fn = kernel(xt.dtype)
    if fn is None:
        return False
    fn(xt, k[0], k[1], s[0], s[1], d[0], d[1], buf)
    return True
