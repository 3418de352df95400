"""The step machinery the recurrent kernels share (ops/_recurrent.py's engine, the cells in
simple_rnn.py, lstm.py, gru.py, and ConvLSTM's gates): a gate group's activation (`Act`), the
recurrent or input matmul with Keras' dropout masks (`MaskedMatmul`), the per-run step masks
(`Steps`) and the masked-step state copy (`keep_masked`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DefinitionError
from ._activations import ACTIVATIONS
from .activation import resolve

Array = np.ndarray

# ---- activations of a gate group ----

class Act:
    """One gate group's activation: `apply(z, out)` writes f(z); `deriv(z, a)` is f'(z) for
    all steps at once. sigmoid runs as 0.5 tanh(z') + 0.5 on z' = z / 2 (`scale`, folded into
    the weights), tanh directly; others through the ACTIVATIONS table (elementwise only)."""

    def __init__(self, spec: Any, prescaled: bool = False):
        fn, kw = resolve(spec)
        self.name = spec if isinstance(spec, str) else ""
        self.fn, self.kw = fn, kw
        # Only gate pre-activations can carry the 1/2 (it is folded into their weights).
        self.scale = 0.5 if self.name == "sigmoid" and prescaled else 1.0
        self.fast = self.name in ("sigmoid", "tanh")

    def apply(self, z: Array, out: Array) -> None:
        if self.fast:
            if self.name == "sigmoid" and self.scale == 1.0:
                np.multiply(z, 0.5, out=out)
                z = out
            np.tanh(z, out=out)
            if self.name == "sigmoid":
                out *= 0.5
                out += 0.5
        else:
            out[...] = self.fn.forward(z, **self.kw)

    def deriv(self, z: Array | None, a: Array, out: Array | None = None) -> Array:
        if self.name == "sigmoid":
            out = np.subtract(1, a, out=out)
            out *= a
            return out
        if self.name == "tanh":
            out = np.multiply(a, a, out=out)
            return np.subtract(1, out, out=out)
        d = self.fn.backward(z, a, np.ones_like(a), **self.kw).astype(a.dtype, copy=False)
        if out is None:
            return d
        out[...] = d
        return out


def check_activation(attrs: Any, name: str) -> None:
    spec = getattr(attrs, name)
    fn = resolve(spec)[0]
    if fn.name in ("softmax", "log_softmax"):
        raise DefinitionError(
            f"'{name}' must be an elementwise activation in a recurrent layer", field=name,
            received=f"{name}={spec!r}", hint="use tanh, sigmoid, relu, hard_sigmoid, ...")
    assert fn.name in ACTIVATIONS


# ---- the recurrent (or input) matmul with Keras' dropout masks ----

def matmul(a: Array, b: Array, out: Array | None = None) -> Array:
    """a @ b for 2-D operands. With an inner dimension of 1 (a univariate series) it is an outer
    product: NumPy's matmul runs that shape through a slow generic loop (100 us for
    (768, 1) @ (1, 128), against 20 us as a broadcast multiply)."""
    if a.shape[-1] == 1:
        return np.multiply(a, b, out=out)
    return np.matmul(a, b, out=out)


class MaskedMatmul:
    """y = (h * mask) @ W. `mask` is None, one mask (N, D) for every gate, or one per gate
    (g, N, D) applied to that gate's columns (Keras' implementation 1, used when
    recurrent_dropout > 0). Works on (N, D) steps and on stacked (T, N, D) sequences."""

    def __init__(self, w: Array, mask: Array | None):
        self.w, self.mask = w, mask
        self._wt: Array | None = None
        self.per_gate = mask is not None and mask.ndim == 3
        self.cols = w.shape[1] // mask.shape[0] if self.per_gate else w.shape[1]

    @property
    def wt(self) -> Array:
        """W transposed, contiguous: made on first use (backward only), once per call."""
        if self._wt is None:
            self._wt = np.ascontiguousarray(self.w.T)
        return self._wt

    def gates(self, g0: int, g1: int, units: int) -> MaskedMatmul:
        """The same product restricted to gates g0..g1-1 (their columns and masks)."""
        m = self.mask[g0:g1] if self.per_gate else self.mask
        return MaskedMatmul(np.ascontiguousarray(self.w[:, g0 * units:g1 * units]), m)

    def _in(self, h: Array, g: int | None = None) -> Array:
        if self.mask is None:
            return h
        return h * (self.mask[g] if g is not None else self.mask)

    def fwd(self, h: Array, out: Array | None = None) -> Array:
        if self.mask is None and h.ndim == 2:
            return np.matmul(h, self.w, out=out)  # the per-step case: no wrapper overhead
        lead, d = h.shape[:-1], h.shape[-1]
        if not self.per_gate:
            y = matmul(self._in(h).reshape(-1, d), self.w,
                       out=None if out is None else out.reshape(-1, self.w.shape[1]))
            return y.reshape(*lead, -1)
        out = np.empty((*lead, self.w.shape[1]), h.dtype) if out is None else out
        c = self.cols
        for g in range(self.mask.shape[0]):
            out[..., g * c:(g + 1) * c] = self._in(h, g) @ self.w[:, g * c:(g + 1) * c]
        return out

    def bwd(self, dy: Array, out: Array | None = None) -> Array:
        """Gradient with respect to h (before the mask)."""
        if self.mask is None:
            return np.matmul(dy, self.wt, out=out)
        if not self.per_gate:
            r = np.matmul(dy, self.wt, out=out)
            r *= self.mask
            return r
        c = self.cols
        r = sum((dy[..., g * c:(g + 1) * c] @ self.wt[g * c:(g + 1) * c]) * self.mask[g]
                for g in range(self.mask.shape[0]))
        if out is not None:
            out[...] = r
            return out
        return r

    def wgrad(self, h: Array, dy: Array) -> Array:
        """Gradient of W from stacked inputs h (..., D) and output gradients dy (..., cols)."""
        d, k = h.shape[-1], self.w.shape[1]
        if not self.per_gate:
            return self._in(h).reshape(-1, d).T @ dy.reshape(-1, k)
        c = self.cols
        return np.concatenate(
            [self._in(h, g).reshape(-1, d).T @ dy[..., g * c:(g + 1) * c].reshape(-1, c)
             for g in range(self.mask.shape[0])], axis=1)


@dataclass
class Steps:
    """Per-run context a cell's scan needs: step masks and the run's dtype."""

    valid: Array | None  # bool (T, N, 1): True = a valid step; None = no mask
    partial: list[bool]  # per step: does any row skip it
    need_grad: bool
    # Derived once per run so the step loops do no mask arithmetic of their own: ~valid
    # (T, N, units) bool, full width because np.copyto runs about twice as fast with a `where`
    # of the destination's shape as with an (N, 1) one, and valid / ~valid (T, N, 1) in the
    # run's float dtype (multiplying by a bool array casts it each time).
    invalid: Array | None = None
    valid_f: Array | None = None
    invalid_f: Array | None = None
    # The state the first step starts from, each (N, units) in Keras' order ((h, c) for an
    # LSTM), or None for zeros: a stateful layer's carried state (no gradient flows into it:
    # Keras keeps it in a non-trainable variable between batches), or the layer's
    # initial_state inputs (their gradient is asked for with `init_grad`).
    init: tuple[Array, ...] | None = None
    # Backward only: whether scan_back computes the gradient of `init` (it then sets
    # `d_init`, Keras' order), and the gradient arriving at the final cell state (an LSTM's
    # c output with return_state), or None.
    init_grad: bool = False
    # With a mask and an initial state: float (T, N, 1), 1 from a row's first valid step on.
    # Keras' output before it is zeros (its previous output starts at zero), not the state.
    seen: Array | None = None
    dc_last: Array | None = None
    d_init: tuple[Array, ...] | None = None

    @staticmethod
    def of(valid: Array | None, dtype: Any, need_grad: bool, units: int = 1,
           init: tuple[Array, ...] | None = None) -> Steps:
        if valid is None:
            return Steps(None, [], need_grad, init=init)
        inv = ~valid
        return Steps(valid, list(inv.any(axis=(1, 2))), need_grad,
                     np.repeat(inv, units, axis=2), valid.astype(dtype), inv.astype(dtype),
                     init)


def keep_masked(new: Array, old: Array, s: Steps, t: int) -> None:
    """Masked rows keep the previous state (Keras): in place, exact. `new` and `old` are
    (N, units) or (..., N, units) blocks."""
    if s.valid is not None and s.partial[t]:
        np.copyto(new, old, where=s.invalid[t])
