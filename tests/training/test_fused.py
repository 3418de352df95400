"""The fused optimizer kernels (seqc/training/_fused.py) give the NumPy path's numbers, bit for
bit: their Python bodies always (numba need not be installed), the compiled kernels where
numba is."""

from __future__ import annotations

import numpy as np
import pytest

from seqc.training import _fused
from seqc.training import optimizers as O

CASES = [("adam", {}), ("adam", {"beta_1": 0.8, "epsilon": 1e-3}), ("adamw", {}),
         ("rmsprop", {}), ("rmsprop", {"rho": 0.5, "learning_rate": 0.01}),
         ("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.5, "nesterov": True})]


def _steps(opt, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    params = {"a/kernel": rng.normal(size=(7, 9)).astype(np.float32),
              "a/bias": rng.normal(size=9).astype(np.float32)}
    for _ in range(steps):
        opt.apply(params, {k: rng.normal(size=v.shape).astype(np.float32)
                           for k, v in params.items()})
    return params, opt.slots


def _numpy_path(monkeypatch):
    monkeypatch.setattr(_fused, "kernel", lambda name: None)


@pytest.mark.parametrize("name,kw", CASES)
def test_kernel_bodies_equal_the_numpy_path(name, kw, monkeypatch):
    used = []

    def python_body(k):
        used.append(k)
        return _fused.PY_KERNELS[k]

    monkeypatch.setattr(_fused, "kernel", python_body)
    fused_p, fused_s = _steps(O.get({"type": name, **kw}))
    assert used, "the fused path was not taken"
    _assert_numpy_path_equal(fused_p, fused_s, name, kw, monkeypatch)


def _assert_numpy_path_equal(fused_p, fused_s, name, kw, monkeypatch):
    """The same steps on the NumPy path give the same parameters and slots, bit for bit."""
    _numpy_path(monkeypatch)
    ref_p, ref_s = _steps(O.get({"type": name, **kw}))
    for k in ref_p:
        np.testing.assert_array_equal(fused_p[k], ref_p[k])
        for slot, v in ref_s[k].items():
            np.testing.assert_array_equal(fused_s[k][slot], v)


@pytest.mark.parametrize("spec", [{"type": "adam", "amsgrad": True},
                                  {"type": "rmsprop", "centered": True},
                                  {"type": "rmsprop", "momentum": 0.9},
                                  {"type": "sgd"}])
def test_variants_without_a_kernel_take_the_numpy_path(spec, monkeypatch):
    def refuse(name):
        raise AssertionError(f"{spec} must not use the fused {name} kernel")

    monkeypatch.setattr(_fused, "kernel", refuse)
    _steps(O.get(spec))


def test_non_float32_or_strided_arrays_are_left_to_numpy():
    a = np.zeros(8, np.float32)
    assert not _fused.run("adam", (a.astype(np.float64), a, a, a), (0.9,) * 6)
    assert not _fused.run("adam", (a[::2], a[:4], a[:4], a[:4]), (0.9,) * 6)


@pytest.mark.parametrize("name,kw", CASES)
def test_compiled_kernels_equal_the_numpy_path(name, kw, monkeypatch):
    """With numba installed, the compiled kernels; without it, kernel() is None and the
    optimizers take the NumPy path (SEQC_NUMBA=0 forces that)."""
    if not _fused.enabled():
        assert _fused.kernel("adam") is None
        return
    fused_p, fused_s = _steps(O.get({"type": name, **kw}))
    _assert_numpy_path_equal(fused_p, fused_s, name, kw, monkeypatch)


def test_seqc_numba_0_turns_the_kernels_off(monkeypatch):
    monkeypatch.setenv("SEQC_NUMBA", "0")
    monkeypatch.setattr(_fused, "_STATE", {})
    monkeypatch.setattr(_fused, "_KERNELS", {})
    assert not _fused.enabled()
    assert _fused.kernel("rmsprop") is None


def test_a_failed_compile_leaves_the_numpy_path(monkeypatch):
    """numba importable but its compile failing (an unsupported NumPy, say): no kernel, the
    optimizers keep working on their NumPy path."""
    import sys
    import types as pytypes

    class AnyType:
        def __getitem__(self, item):
            return self

        def __call__(self, *args):
            return self

    def njit(*args, **kwargs):
        raise RuntimeError("cannot compile")

    fake = pytypes.ModuleType("numba")
    fake.njit = njit
    fake.types = pytypes.SimpleNamespace(void=AnyType(), float32=AnyType())
    monkeypatch.setitem(sys.modules, "numba", fake)
    monkeypatch.delenv("SEQC_NUMBA", raising=False)
    monkeypatch.setattr(_fused, "_STATE", {})
    monkeypatch.setattr(_fused, "_KERNELS", {})
    assert _fused.enabled()
    assert _fused.kernel("adam") is None
    assert not _fused.enabled()
    params, _ = _steps(O.get("adam"))
    assert all(np.isfinite(v).all() for v in params.values())
