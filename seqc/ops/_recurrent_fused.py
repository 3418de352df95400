"""The LSTM's and the GRU's whole time loops compiled (numba, optional): forward and backward
over all steps, the recurrent matmul per step inside the compiled loop, the gates fused into
one pass.

Why: the NumPy step loop (lstm.py) is a dozen ufunc calls per step on (N, units) blocks, each
~0.5-1 us of call overhead at the sizes recurrent layers train at (batch 64, 32 units), and
its backward computes the gate coefficients for all steps in separate passes. Compiling one
cell alone did not help (the per-step dispatch stays); compiling the loop with its products
does. np.dot inside numba calls BLAS sgemm (through scipy's BLAS; without scipy the compile
fails and NumPy runs) and was as fast as np.matmul for a (64, 32) @ (32, 128) step, 3x faster
than an explicit loop, so the recurrent products stay BLAS calls. The forward kernel reads the
input projection in its row layout (T, N, 4u), so the gate-major copy the NumPy loop makes is
skipped. Measured A/B in one process (the token-LSTM layer, batch 64, 50 steps, 32 units, one
BLAS thread, on a loaded 2-core machine): forward 0.6x, backward 0.35-0.8x the NumPy path;
the GRU of the same size forward 0.86x, backward 0.34x.

Scope: the LSTM, and the GRU with reset_after=True (Keras' default), with sigmoid / tanh gates
(the defaults), float32 or float64, no recurrent dropout, which is what `usable` checks (the
GRU with reset_after=False and SimpleRNN run NumPy); masks, go_backwards, return_sequences,
zero_output_for_mask, a carried (stateful) state, both bias layouts and input dropout are all
handled (the masks as 0/1 per row and step; the others happen outside the loop). Anything
else runs the NumPy loop. The kernels read and write the NumPy path's tape (lstm.py: `big`,
`tc`; gru.py: `gs`, `hs`, `side`), so either backward runs after either forward.

Same numbers: each kernel does the NumPy path's operations in the same order (no fastmath, no
fused multiply-add). tanh differs: the C library's tanhf is a scalar call LLVM cannot
vectorize (30 ns a value; ten times the forward's cost), so float32 uses `tanh32`, written out
in float32 to 1.13 ulp (NumPy's own float32 tanh is within 1.4 ulp); results agree
with the NumPy loop within 1e-6, not bit for bit (tests/ops/test_recurrent_fused.py runs the
kernels' Python bodies and the compiled ones against the NumPy loop; the contract harness's
float64 gradient checks run the compiled kernels, with np.tanh). `SEQC_NUMBA=0` turns them off
(seqc/ops/_numba.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _numba

F32 = np.float32
_KERNELS: dict[str, Any] = {}
_STATE: dict[str, bool] = {}
_helper_cache: dict[tuple[str, str], Any] = {}


def tanh32(x):
    """tanh of a float32 in float32 arithmetic, within 1.13 ulp of float64's tanh (measured
    over 45 million values; NumPy's own float32 tanh is within 1.4 ulp, the C library's tanhf
    2.2). Written out because the C library's tanhf is a call per value LLVM cannot vectorize;
    this vectorizes 16 lanes wide without a gather (0.44 ns a value, against 0.88 for the
    float64 series this replaced and 30 for tanhf). |x| < 0.75: x + x^3 P(x^2), P of degree 5
    fitted to (tanh(x) - x) / x^3 (relative error 2e-9); above: 1 - 2 / (e^(2|x|) + 1), e^a as
    2^k e^r (r = a - k ln2 in two parts, e^r a degree-6 fit, relative error 2e-9, 2^k from
    k's bits by selects). 2|x| is capped at 18.5, where tanh is 1 in float32; NaN and ±0
    stay as they are."""
    ax = abs(x)
    s = x * x
    p = F32(0.0017425376599060766)
    p = p * s + F32(-0.007667089476399415)
    p = p * s + F32(0.021458545393147715)
    p = p * s + F32(-0.05389472037515103)
    p = p * s + F32(0.1333272161798833)
    p = p * s + F32(-0.33333316424277576)
    small = x + x * (s * p)
    a = ax + ax
    a = a if a < F32(18.5) else F32(18.5)  # NaN too (it is given back below)
    k = np.int32(a * F32(1.4426950408889634) + F32(0.5))
    kf = np.float32(k)
    r = (a - kf * F32(0.693145751953125)) - kf * F32(1.428606765330187e-06)
    e = F32(0.0013829420595871025)
    e = e * r + F32(0.008374771520121985)
    e = e * r + F32(0.041668358033024336)
    e = e * r + F32(0.16666420832119083)
    e = e * r + F32(0.49999991493036744)
    e = e * r + F32(1.0000000361258994)
    e = e * r + F32(1.0000000005920207)
    q = F32(2) if k & 1 else F32(1)
    q = q * (F32(4) if k & 2 else F32(1))
    q = q * (F32(16) if k & 4 else F32(1))
    q = q * (F32(256) if k & 8 else F32(1))
    q = q * (F32(65536) if k & 16 else F32(1))
    big = F32(1) - F32(2) / (e * q + F32(1))
    big = big if x >= 0 else -big
    t = small if ax < F32(0.75) else big
    return t if x == x and x != 0 else x  # NaN, and ±0 with its sign


def _forward(tanh):
    """The forward kernel calling `tanh` (tanh32, compiled or not)."""

    def lstm_forward(xp, w, big, tc, tmp, start, valid):
        """The forward loop. xp (T, N, 4u): input pre-activations in row layout, gates o, i,
        f, g, the sigmoid gates' columns pre-scaled by 1/2; w (u, 4u) the recurrent kernel in
        the same column order and scale; big (T + 1, 6, N, u) the tape, gate-major
        (activations o, i, f, g, then c and h each step starts from; big[0, 4:] the initial
        state); tc (T, N, u) tanh(c); tmp (N, 4u) scratch; start: 1 when the initial state is
        not zero; valid (T, N): 1.0 valid, 0.0 masked (a masked row keeps its state), or
        shape (0, 0) without a mask."""
        t_steps, n, u4 = xp.shape
        u = u4 // 4
        masked = valid.shape[0] > 0
        for t in range(t_steps):
            rec = t > 0 or start != 0
            if rec:
                np.dot(big[t, 5], w, tmp)
            # gates, each written to its (N, u) block: one tanh each (sigmoid as
            # 0.5 tanh(z / 2) + 0.5); loops over contiguous j so LLVM vectorizes them
            for r in range(n):
                for gi in range(4):
                    zr = xp[t, r, gi * u:(gi + 1) * u]
                    ar = big[t, gi, r]
                    if rec:
                        tr = tmp[r, gi * u:(gi + 1) * u]
                        for j in range(u):
                            ar[j] = tanh(zr[j] + tr[j])
                    else:
                        for j in range(u):
                            ar[j] = tanh(zr[j])
                    if gi < 3:
                        for j in range(u):
                            ar[j] = ar[j] * F32(0.5) + F32(0.5)
            for r in range(n):
                o, i, f, g = big[t, 0, r], big[t, 1, r], big[t, 2, r], big[t, 3, r]
                c_prev, c_new, h_new = big[t, 4, r], big[t + 1, 4, r], big[t + 1, 5, r]
                tcr = tc[t, r]
                for j in range(u):
                    c = i[j] * g[j] + f[j] * c_prev[j]
                    c_new[j] = c
                    tcv = tanh(c)
                    tcr[j] = tcv
                    h_new[j] = o[j] * tcv
                if masked and valid[t, r] == 0:
                    for j in range(u):
                        big[t + 1, 4, r, j] = big[t, 4, r, j]
                        big[t + 1, 5, r, j] = big[t, 5, r, j]

    return lstm_forward


def incoming(dh, dhs, dh_last, dh_rec, t, last):
    """Writes into dh step t's incoming gradient: its output's (dhs[t]; with only the last
    output's, dh_last at the last step and nothing before) plus the recurrent one (dh_rec,
    from step t + 1; none at the last step)."""
    n, u = dh.shape
    seq = dhs.shape[0] > 0
    for r in range(n):
        for j in range(u):
            if seq:
                dh[r, j] = dhs[t, r, j] if last else dhs[t, r, j] + dh_rec[r, j]
            else:
                dh[r, j] = dh_last[r, j] if last else dh_rec[r, j]


def _lstm_backward(incoming):
    """The LSTM backward kernel calling `incoming` (compiled or not)."""

    def lstm_backward(big, tc, wt, dhs, dh_last, valid, dz, dh, dh_rec, dc):
        """The backward loop, the NumPy scan_back's maths for sigmoid / tanh gates. big, tc: the
        forward's tape; wt (4u, u) the unscaled recurrent kernel transposed (internal column
        order); dhs (T, N, u) the output gradient per step, or shape (0, 0, 0) when only the last
        step's (dh_last (N, u)) is given; valid as in lstm_forward. Writes dz (T, N, 4u), the
        gradient of the unscaled pre-activations in row layout (gates o, i, f, g); dh, dh_rec, dc
        (N, u) scratch."""
        t_steps, n, u = tc.shape
        masked = valid.shape[0] > 0
        one = F32(1)
        for t in range(t_steps - 1, -1, -1):
            last = t == t_steps - 1
            incoming(dh, dhs, dh_last, dh_rec, t, last)
            for r in range(n):
                v = valid[t, r] if masked else one
                for j in range(u):
                    d = dh[r, j]
                    o = big[t, 0, r, j]
                    i = big[t, 1, r, j]
                    f = big[t, 2, r, j]
                    g = big[t, 3, r, j]
                    tcv = tc[t, r, j]
                    e = (one - tcv * tcv) * o
                    dct = d * (e * v)
                    if not last:
                        dct = dct + dc[r, j]
                    dz[t, r, j] = d * ((((one - o) * o) * tcv) * v)
                    dz[t, r, u + j] = (((one - i) * i) * g * v) * dct
                    dz[t, r, 2 * u + j] = (((one - f) * f) * big[t, 4, r, j] * v) * dct
                    dz[t, r, 3 * u + j] = (((one - g * g) * i) * v) * dct
                    dc[r, j] = dct * (f * v + (one - v))
            if t == 0:
                break
            np.dot(dz[t], wt, dh_rec)
            if masked:
                for r in range(n):
                    if valid[t, r] == 0:
                        for j in range(u):
                            dh_rec[r, j] = dh[r, j]

    return lstm_backward


def _gru_forward(tanh):
    """The GRU (reset_after=True) forward kernel calling `tanh`."""

    def gru_forward(xp, w, bh, gs, hs, side, tmp, start, valid):
        """xp (T, N, 3u): input pre-activations in row layout, internal gates h, z, r (z and
        r pre-scaled by 1/2, their recurrent biases added); w (u, 3u) the recurrent kernel,
        same order and scale; bh (u,) the candidate's recurrent bias (zeros without one);
        writes gs (T, 3, N, u) activations hh, z, r, hs (T + 1, N, u) the states (hs[0]
        given), side (T, N, u) h Uh + bh; tmp (N, 3u) scratch; start, valid as lstm_forward."""
        t_steps, n, u3 = xp.shape
        u = u3 // 3
        masked = valid.shape[0] > 0
        for t in range(t_steps):
            rec = t > 0 or start != 0
            if rec:
                np.dot(hs[t], w, tmp)
            for r in range(n):
                xr, h, h_new = xp[t, r], hs[t], hs[t + 1, r]
                sd, hh, zg, rg = side[t, r], gs[t, 0, r], gs[t, 1, r], gs[t, 2, r]
                if rec:
                    tr = tmp[r]
                    for j in range(u):
                        sd[j] = bh[j] + tr[j]
                        zg[j] = tanh(xr[u + j] + tr[u + j]) * F32(0.5) + F32(0.5)
                        rg[j] = tanh(xr[2 * u + j] + tr[2 * u + j]) * F32(0.5) + F32(0.5)
                else:
                    for j in range(u):
                        sd[j] = bh[j]
                        zg[j] = tanh(xr[u + j]) * F32(0.5) + F32(0.5)
                        rg[j] = tanh(xr[2 * u + j]) * F32(0.5) + F32(0.5)
                for j in range(u):
                    a = tanh(xr[j] + rg[j] * sd[j])
                    hh[j] = a
                    h_new[j] = a + (h[r, j] - a) * zg[j]
                if masked and valid[t, r] == 0:
                    for j in range(u):
                        h_new[j] = h[r, j]

    return gru_forward


def _gru_backward(incoming):
    """The GRU backward kernel calling `incoming` (compiled or not)."""

    def gru_backward(gs, hs, side, ut, dhs, dh_last, valid, rows, rr, dh, dh_rec):
        """The GRU (reset_after=True) backward loop, gru.py's scan_back maths for sigmoid / tanh
        gates. ut (3u, u): [Uz; Ur; Uh]^T (unscaled); writes rows (T, N, 4u) = [dhh_pre, dz,
        dr, d(h Uh + bh)] per step; rr (N, 3u), dh, dh_rec (N, u) scratch; dhs, dh_last, valid as
        lstm_backward."""
        t_steps, _, n, u = gs.shape
        masked = valid.shape[0] > 0
        one = F32(1)
        for t in range(t_steps - 1, -1, -1):
            last = t == t_steps - 1
            incoming(dh, dhs, dh_last, dh_rec, t, last)
            for r in range(n):
                v = valid[t, r] if masked else one
                for j in range(u):
                    d = dh[r, j]
                    hh = gs[t, 0, r, j]
                    z = gs[t, 1, r, j]
                    g = gs[t, 2, r, j]
                    q = (one - hh * hh) * (one - z)
                    p = ((one - z) * z) * (hs[t, r, j] - hh)
                    cr = (((one - g) * g) * side[t, r, j]) * q
                    c3 = q * g
                    d0 = d * (q * v)
                    d1 = d * (p * v)
                    d2 = d * (cr * v)
                    d3 = d * (c3 * v)
                    rows[t, r, j] = d0
                    rows[t, r, u + j] = d1
                    rows[t, r, 2 * u + j] = d2
                    rows[t, r, 3 * u + j] = d3
                    rr[r, j] = d1
                    rr[r, u + j] = d2
                    rr[r, 2 * u + j] = d3
                    dh[r, j] = d * (z * v + (one - v))  # dh z: passes dh on where masked
            if t == 0:
                break
            np.dot(rr, ut, dh_rec)
            for r in range(n):
                for j in range(u):
                    dh_rec[r, j] += dh[r, j]

    return gru_backward


def py_kernel(name: str, dtype: Any) -> Any:
    """The kernel's Python body for `dtype` (float32: tanh32; float64: np.tanh): what is
    compiled, and what the tests run without numba."""
    if name.endswith("_forward"):
        return _FACTORIES[name](tanh32 if np.dtype(dtype) == F32 else np.tanh)
    return _FACTORIES[name](incoming)


def _signature(name: str, dtype: Any) -> Any:
    from numba import from_dtype, types  # noqa: PLC0415 - optional

    a = {d: types.Array(from_dtype(np.dtype(dtype)), d, "C") for d in (2, 3, 4)}
    a[1] = types.Array(from_dtype(np.dtype(dtype)), 1, "C")
    if name == "lstm_forward":
        return types.void(a[3], a[2], a[4], a[3], a[2], types.int64, a[2])
    if name == "gru_forward":
        return types.void(a[3], a[2], a[1], a[4], a[3], a[3], a[2], types.int64, a[2])
    if name == "gru_backward":
        return types.void(a[4], a[3], a[3], a[2], a[3], a[2], a[2], a[3], a[2], a[2], a[2])
    return types.void(a[4], a[3], a[2], a[3], a[2], a[2], a[3], a[2], a[2], a[2])


_FACTORIES = {"lstm_forward": _forward, "gru_forward": _gru_forward,
              "lstm_backward": _lstm_backward, "gru_backward": _gru_backward}


def _helper(name: str, dtype: Any) -> Any:
    """The compiled helper kernel `name` calls (tanh32 or incoming), None when it calls
    np.tanh (numba's own), "none" when the helper failed to compile."""
    from numba import float32, from_dtype, int64, types  # noqa: PLC0415 - optional

    if name.endswith("_forward"):
        if np.dtype(dtype) != F32:
            return None
        fn, sig = tanh32, float32(float32)
    else:
        a2, a3 = (types.Array(from_dtype(np.dtype(dtype)), d, "C") for d in (2, 3))
        fn, sig = incoming, types.void(a2, a3, a2, a2, int64, types.boolean)
    k = _helper_cache.get((fn.__name__, np.dtype(dtype).name))
    if k is None:
        k = _numba.compile_kernel(fn, sig, _STATE)
        if k is None:
            return "none"
        _helper_cache[(fn.__name__, np.dtype(dtype).name)] = k
    return k


def kernel(name: str, dtype: Any = F32) -> Any:
    """The compiled kernel `name` for float32 or float64 arrays, or None (numba missing,
    SEQC_NUMBA=0, or it failed to compile: the NumPy loop runs)."""
    key = f"{name}:{np.dtype(dtype).name}"
    k = _KERNELS.get(key)
    if k is None:
        if not enabled():
            return None
        fn = py_kernel(name, dtype)
        helper = _helper(name, dtype)
        if helper is not None:
            if isinstance(helper, str):  # it failed to compile
                return None
            fn = _FACTORIES[name](helper)
        k = _numba.compile_kernel(fn, _signature(name, dtype), _STATE)
        if k is None:
            return None
        _KERNELS[key] = k
    return k


def enabled() -> bool:
    """numba importable and SEQC_NUMBA not 0 (ops/_numba.py)."""
    return _numba.enabled(_STATE)


def usable(acts: list, rec: Any, dtype: Any) -> bool:
    """The kernels apply: float32 or float64, sigmoid / tanh gates, no recurrent dropout,
    numba on."""
    rec_act, act = acts
    return (np.dtype(dtype) in (np.float32, np.float64) and rec.mask is None
            and rec_act.name == "sigmoid" and act.name == "tanh" and enabled())


def valid_rows(s: Any, dtype: Any) -> np.ndarray:
    """The step mask as (T, N) 0/1 in `dtype`, or an empty (0, 0) array without a mask."""
    if s.valid is None:
        return np.empty((0, 0), dtype)
    return np.ascontiguousarray(s.valid_f[:, :, 0], dtype=dtype)


def run_forward(xp, w, big, tc, start: bool, s: Any) -> bool:
    """Runs the forward kernel on the scan's buffers (big, tc: written); False when it did
    not run (numba off or missing)."""
    dtype = big.dtype
    k = kernel("lstm_forward", dtype)
    if k is None:
        return False
    n, u4 = xp.shape[1], w.shape[1]
    k(np.ascontiguousarray(xp, dtype=dtype), np.ascontiguousarray(w, dtype=dtype), big, tc,
      np.empty((n, u4), dtype), int(start), valid_rows(s, dtype))
    return True


def _outputs_grad(dhs, dh_last, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The output gradients as the backward kernels take them: None becomes an empty array."""
    return (np.empty((0, 0, 0), dtype) if dhs is None else np.ascontiguousarray(dhs, dtype),
            np.empty((0, 0), dtype) if dh_last is None else np.ascontiguousarray(dh_last, dtype))


def run_backward(big, tc, wt, dhs, dh_last, s: Any) -> np.ndarray | None:
    """Runs the backward kernel; returns dz (T, N, 4u), or None when it did not run."""
    dtype = big.dtype
    k = kernel("lstm_backward", dtype)
    if k is None:
        return None
    t_steps, n, u = tc.shape
    dz = np.empty((t_steps, n, 4 * u), dtype)
    dhs, dh_last = _outputs_grad(dhs, dh_last, dtype)
    k(big, tc, np.ascontiguousarray(wt, dtype=dtype), dhs, dh_last, valid_rows(s, dtype), dz,
      np.empty((n, u), dtype), np.empty((n, u), dtype), np.empty((n, u), dtype))
    return dz


def run_gru_forward(xp, w, b_rec, h0, s: Any) -> tuple | None:
    """The GRU (reset_after) forward kernel: (gs, hs, side) as gru.py's scan keeps them, or
    None when it did not run. b_rec: the recurrent bias (internal order h, z, r, z and r
    scaled) or None; h0 (N, u) the initial state."""
    dtype = xp.dtype
    k = kernel("gru_forward", dtype)
    if k is None:
        return None
    t_steps, n, u3 = xp.shape
    u = u3 // 3
    xp = np.array(xp, dtype=dtype)  # the z, r recurrent biases added first, as gru.py does
    bh = np.zeros(u, dtype)
    if b_rec is not None:
        xp[..., u:] += b_rec[u:]
        bh[...] = b_rec[:u]
    gs = np.empty((t_steps, 3, n, u), dtype)
    hs = np.empty((t_steps + 1, n, u), dtype)
    hs[0] = h0
    side = np.empty((t_steps, n, u), dtype)
    k(xp, np.ascontiguousarray(w, dtype=dtype), bh, gs, hs, side, np.empty((n, u3), dtype),
      int(s.init is not None), valid_rows(s, dtype))
    return gs, hs, side


def run_gru_backward(gs, hs, side, ut, dhs, dh_last, s: Any) -> np.ndarray | None:
    """The GRU (reset_after) backward kernel: rows (T, N, 4u) as gru.py's scan_back makes
    them, or None when it did not run."""
    dtype = gs.dtype
    k = kernel("gru_backward", dtype)
    if k is None:
        return None
    t_steps, _, n, u = gs.shape
    rows = np.empty((t_steps, n, 4 * u), dtype)
    dhs, dh_last = _outputs_grad(dhs, dh_last, dtype)
    k(gs, hs, np.ascontiguousarray(side, dtype=dtype), np.ascontiguousarray(ut, dtype=dtype),
      dhs, dh_last, valid_rows(s, dtype), rows, np.empty((n, 3 * u), dtype),
      np.empty((n, u), dtype), np.empty((n, u), dtype))
    return rows
