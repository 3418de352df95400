"""The compiled 2-D im2col for one input channel per group (seqc/ops/_conv_fused.py, numba
optional) against _conv_math's NumPy copy: the same buffer element for element, with and
without the bias row, strides, dilations, several groups, float64; and its Python body (run
without numba) the same."""

from __future__ import annotations

import numpy as np
import pytest

from seqc.ops import _conv_fused, _conv_math

CASES = [((4, 8, 8, 1), (3, 3), (1, 1), (1, 1), 1, np.float32),
         ((3, 11, 9, 4), (3, 2), (2, 1), (1, 2), 4, np.float64),
         ((2, 9, 9, 5), (2, 3), (1, 2), (2, 1), 5, np.float32)]


def _cols(x, k, s, d, groups, ones, mode, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(_conv_fused, "_STATE", {"on": mode != "numpy"})
        m.setattr(_conv_fused, "_KERNELS", {})
        if mode == "python":
            m.setattr(_conv_fused, "kernel", lambda dtype: _conv_fused.cols_2d)
        return np.array(_conv_math._cols(x, k, s, d, groups, ones)[0])


@pytest.mark.parametrize("mode", ["python", "numba"])
@pytest.mark.parametrize("ones", [True, False])
@pytest.mark.parametrize("shape,k,s,d,groups,dtype", CASES)
def test_compiled_im2col_matches_numpy_copy(shape, k, s, d, groups, dtype, ones, mode,
                                            monkeypatch):
    if mode == "numba" and not _conv_fused._numba.enabled({}):
        pytest.skip("numba not installed (the python body is checked)")
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    want = _cols(x, k, s, d, groups, ones, "numpy", monkeypatch)
    got = _cols(x, k, s, d, groups, ones, mode, monkeypatch)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
