"""The LSTM's and GRU's (reset_after) compiled time loops (seqc/ops/_recurrent_fused.py)
against the NumPy loops: the kernels' Python bodies (run without numba, so this holds wherever
the tests run) and the compiled kernels (where numba is installed) give the NumPy path's
outputs and gradients within 1e-6, for every option the kernels take: masks (a fully masked
row, holes, left padding), go_backwards, return_sequences, zero_output_for_mask, input
dropout, a carried state, bias layouts, float64. Options they do not take (recurrent dropout,
other activations, GRU reset_after=False) run NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from seqc.ir.types import batched
from seqc.ops import REGISTRY, _recurrent_fused
from seqc.ops.base import RunContext

N, T, F = 5, 6, 4
MASK = np.array([[1, 1, 1, 1, 1, 1],
                 [1, 1, 1, 0, 0, 0],
                 [0, 0, 0, 0, 0, 0],
                 [0, 0, 1, 1, 1, 1],
                 [1, 0, 1, 1, 0, 1]], bool)

CASES = [
    ({"units": 3}, None),
    ({"units": 3, "return_sequences": True}, None),
    ({"units": 3}, MASK),
    ({"units": 3, "return_sequences": True}, MASK),
    ({"units": 4, "go_backwards": True}, MASK),
    ({"units": 3, "go_backwards": True, "return_sequences": True,
      "zero_output_for_mask": True}, MASK),
    ({"units": 2, "use_bias": False}, None),
    ({"units": 3, "recurrent_bias": True, "unit_forget_bias": False}, MASK),
    ({"units": 3, "dropout": 0.3, "return_sequences": True}, None),
]


def _run(config, mask, mode, monkeypatch, init=None, training=False, dtype=np.float32,
         kind="LSTM"):
    """Forward and backward of an LSTM; mode: "numpy", "python" (the kernels' bodies) or
    "numba" (compiled)."""
    with monkeypatch.context() as m:
        if mode == "numpy":
            m.setattr(_recurrent_fused, "_STATE", {"on": False})
        else:
            m.setattr(_recurrent_fused, "_STATE", {"on": True})
            if mode == "python":
                m.setattr(_recurrent_fused, "kernel", _recurrent_fused.py_kernel)
        op = REGISTRY[kind]
        attrs = op.parse_attrs(dict(config))
        rng = np.random.default_rng(0)
        params = {s.name: rng.normal(scale=0.6, size=s.shape).astype(dtype)
                  for s in op.params(attrs, [batched((T, F))])}
        x = rng.normal(size=(N, T, F)).astype(dtype)
        states = None if init is None else {"l": init[:1] if kind == "GRU" else init}
        ctx = RunContext(mask=mask, need_grad=True, training=training,
                         rng=np.random.default_rng(5), states=states, scope="l")
        (y,), cache = op.forward(attrs, params, [x], ctx)
        g = rng.normal(size=y.shape).astype(dtype)
        (dx,), grads = op.backward(attrs, params, cache, [g])
        return [y, dx, *(grads[k] for k in sorted(grads))]


def _close(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)


GRU_CASES = [
    ({"units": 3}, None),
    ({"units": 3, "return_sequences": True}, MASK),
    ({"units": 4, "go_backwards": True}, MASK),
    ({"units": 3, "go_backwards": True, "return_sequences": True,
      "zero_output_for_mask": True}, MASK),
    ({"units": 2, "use_bias": False}, MASK),
    ({"units": 3, "dropout": 0.3, "return_sequences": True}, None),
]
ALL = [("LSTM", c, m) for c, m in CASES] + [("GRU", c, m) for c, m in GRU_CASES]


@pytest.mark.parametrize("kind,config,mask", ALL, ids=[f"{k}{i}" for i, (k, _, _) in
                                                       enumerate(ALL)])
def test_kernel_bodies_match_numpy_loop(kind, config, mask, monkeypatch):
    training = config.get("dropout", 0) > 0
    want = _run(config, mask, "numpy", monkeypatch, training=training, kind=kind)
    _close(_run(config, mask, "python", monkeypatch, training=training, kind=kind), want)
    if _recurrent_fused.kernel(f"{kind.lower()}_forward") is not None:  # numba installed
        _close(_run(config, mask, "numba", monkeypatch, training=training, kind=kind), want)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_float64_matches_numpy_loop(kind, monkeypatch):
    """float64 (the gradient checks' dtype) runs the kernels too, with np.tanh."""
    config = {"units": 3, "return_sequences": True}
    want = _run(config, MASK, "numpy", monkeypatch, dtype=np.float64, kind=kind)
    modes = ["python"] + (["numba"] if _recurrent_fused.kernel("lstm_backward", np.float64)
                          is not None else [])
    for mode in modes:
        got = _run(config, MASK, mode, monkeypatch, dtype=np.float64, kind=kind)
        for a, b in zip(got, want):
            assert a.dtype == np.float64
            np.testing.assert_allclose(a, b, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_carried_state_matches_numpy_loop(kind, monkeypatch):
    rng = np.random.default_rng(3)
    init = tuple(rng.normal(size=(N, 3)).astype(np.float32) for _ in range(2))
    c = {"units": 3, "stateful": True}
    want = _run(c, MASK, "numpy", monkeypatch, init=init, kind=kind)
    _close(_run(c, MASK, "python", monkeypatch, init=init, kind=kind), want)


def test_options_the_kernels_do_not_take_run_numpy(monkeypatch):
    """Recurrent dropout and other activations never reach the kernels."""
    def refuse(name):
        raise AssertionError(f"kernel {name} called")

    for kind, config, training in [
            ("LSTM", {"units": 2, "recurrent_dropout": 0.3}, True),
            ("LSTM", {"units": 2, "activation": "relu"}, False),
            ("LSTM", {"units": 2, "recurrent_activation": "hard_sigmoid"}, False),
            ("GRU", {"units": 2, "reset_after": False}, False),
            ("GRU", {"units": 2, "recurrent_dropout": 0.3}, True)]:
        with monkeypatch.context() as m:
            m.setattr(_recurrent_fused, "_STATE", {"on": True})
            m.setattr(_recurrent_fused, "kernel", refuse)
            _run(config, MASK, "numpy-unpatched", m, training=training, kind=kind)


def _ulps(got, x):
    ref = np.tanh(x.astype(np.float64))
    return np.abs(got.astype(np.float64) - ref) / np.spacing(np.abs(ref).astype(np.float32))


def test_tanh32_within_1_13_ulp():
    """tanh32 (float32 arithmetic) against float64's tanh: within 1.13 ulp on both sides of
    its 0.75 switch, near 0, past the cap at 9.25, and ±0, ±inf, NaN as tanh gives them.
    The Python body on a sample; the compiled helper, where numba is installed, on a million
    values."""
    rng = np.random.default_rng(0)
    edge = np.float32([0.75, np.nextafter(np.float32(0.75), np.float32(0)), 0.8123859, 1e-30,
                       9.25, 30.0])
    x = np.concatenate([(rng.standard_normal(3000) * 3).astype(np.float32),
                        (rng.standard_normal(500) * 1e-3).astype(np.float32), edge, -edge])
    got = np.array([_recurrent_fused.tanh32(v) for v in x], np.float32)
    assert _ulps(got, x).max() <= 1.13
    special = np.float32([0.0, -0.0, np.inf, -np.inf])
    got = np.array([_recurrent_fused.tanh32(v) for v in special], np.float32)
    np.testing.assert_array_equal(got, np.tanh(special))
    assert np.signbit(got[1]) and np.isnan(_recurrent_fused.tanh32(np.float32(np.nan)))
    if _recurrent_fused.enabled():
        helper = _recurrent_fused._helper("lstm_forward", np.float32)
        big = np.linspace(-12, 12, 1_000_001, dtype=np.float32)
        run = np.vectorize(helper, otypes=[np.float32])
        assert _ulps(run(big[::50]), big[::50]).max() <= 1.13
