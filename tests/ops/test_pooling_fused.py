"""MaxPooling2D's compiled kernels (seqc/ops/_pooling_fused.py, numba optional) against
_pooling's NumPy path: the same output, first-maximum index and input gradient, element for
element, with ties, NaNs, an uncovered tail, a non-square window and float64; and the
kernels' Python bodies (run without numba) the same."""

from __future__ import annotations

import numpy as np
import pytest

from seqc.ops import _pooling, _pooling_fused

CASES = [((4, 6, 6, 8), (2, 2), np.float32), ((3, 7, 5, 4), (2, 2), np.float32),
         ((2, 9, 8, 3), (3, 2), np.float64)]


def _run(x, pool, mode, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(_pooling_fused, "_STATE", {"on": mode != "numpy"})
        m.setattr(_pooling_fused, "_KERNELS", {})
        if mode == "python":
            m.setattr(_pooling_fused, "kernel", lambda name, dtype: getattr(_pooling_fused, name))
        y, cache = _pooling.pool_forward(x, "max", pool, pool, "valid")
        dy = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
        return y, cache[7], _pooling.pool_backward(cache, dy)


@pytest.mark.parametrize("mode", ["python", "numba"])
@pytest.mark.parametrize("shape,pool,dtype", CASES)
def test_kernels_match_numpy_path(shape, pool, dtype, mode, monkeypatch):
    if mode == "numba" and not _pooling_fused._numba.enabled({}):
        pytest.skip("numba not installed (the python bodies are checked)")
    x = np.random.default_rng(0).integers(-3, 3, shape).astype(dtype)  # many ties
    x.flat[::17] = np.nan
    want = _run(x, pool, "numpy", monkeypatch)
    got = _run(x, pool, mode, monkeypatch)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
