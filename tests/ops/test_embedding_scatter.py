"""Embedding's backward scatter-add: the compiled loop (numba, optional; seqc/ops/embedding.py)
and its Python body give np.add.at's sums bit for bit, and the sort-and-reduceat NumPy path
the same within rounding; repeated ids sum, unused rows stay zero."""

from __future__ import annotations

import numpy as np

from seqc.ops import REGISTRY, embedding


def _data(dtype):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, size=(8, 30)).astype(np.int64)
    ids[0, :5] = 3  # a repeated id
    dy = rng.normal(size=(8, 30, 4)).astype(dtype)
    return ids, dy


def test_loop_body_is_add_at_bit_for_bit():
    ids, dy = _data(np.float32)
    want = np.zeros((60, 4), np.float32)
    np.add.at(want, ids.reshape(-1), dy.reshape(-1, 4))
    got = np.zeros_like(want)
    embedding.scatter_add_rows(got, ids.reshape(-1), dy.reshape(-1, 4))
    np.testing.assert_array_equal(got, want)
    assert not got[50:].any()


def test_backward_with_and_without_the_kernel(monkeypatch):
    op = REGISTRY["Embedding"]
    a = op.parse_attrs({"input_dim": 60, "output_dim": 4})
    for dtype in (np.float32, np.float64):
        ids, dy = _data(dtype)
        w = {"embeddings": np.zeros((60, 4), dtype)}
        want = np.zeros((60, 4), dtype)
        np.add.at(want, ids.reshape(-1), dy.reshape(-1, 4))
        with monkeypatch.context() as m:
            m.setattr(embedding, "_STATE", {"on": False})
            (_,), g_np = op.backward(a, w, ids, [dy])
        (_,), g = op.backward(a, w, ids, [dy])  # compiled where numba is installed
        assert g["embeddings"].dtype == dtype and g_np["embeddings"].dtype == dtype
        np.testing.assert_allclose(g_np["embeddings"], want, rtol=1e-6, atol=1e-6)
        if embedding._scatter_kernel(dtype) is not None:
            np.testing.assert_array_equal(g["embeddings"], want)
