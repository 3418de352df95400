"""Dense + relu fused (ops/_dense_fused.py, executor._fused_pairs): the kernels give the NumPy
path's numbers bit for bit (their Python bodies always, the compiled ones where numba is), and
a graph trains to the same weights with the pairs fused as with every node alone."""

from __future__ import annotations

import numpy as np
import pytest

import seqc
from seqc.ops import _dense_fused
from seqc.training import executor

L = seqc.layers
SPECIAL = np.array([-0.0, 0.0, np.nan, -np.inf, np.inf, -1.0, 2.0, 1e-45], np.float32)


def _numpy(monkeypatch):
    monkeypatch.setattr(_dense_fused, "kernel", lambda name: None)


def _blocks(shape, seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=shape).astype(np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    y.reshape(-1)[: SPECIAL.size] = SPECIAL[: y.size]
    dy.reshape(-1)[-min(SPECIAL.size, dy.size):] = SPECIAL[: dy.size][::-1]
    b = rng.normal(size=shape[-1]).astype(np.float32)
    return y, dy, b


def _both(monkeypatch, kernels, y, dy, b):
    """forward and backward through `kernels` (a name -> function map) and through NumPy."""
    out = []
    for k in (kernels, None):
        with monkeypatch.context() as mp, np.errstate(invalid="ignore"):
            mp.setattr(_dense_fused, "kernel", k.get if k else (lambda n: None))
            r = _dense_fused.forward(y.copy(), b)
            out.append((r, *_dense_fused.backward(dy, r, b is not None)))
    return out


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("shape", [(1, 2), (3, 8), (128, 64), (4, 5, 7)])
@pytest.mark.parametrize("bias", [True, False])
def test_kernels_equal_the_numpy_path_bit_for_bit(monkeypatch, compiled, shape, bias):
    if compiled:
        pytest.importorskip("numba")
        kernels = {n: _dense_fused.kernel(n) for n in _dense_fused.PY_KERNELS}
        if None in kernels.values():
            pytest.skip("SEQC_NUMBA=0 or the compile failed")
    else:
        kernels = _dense_fused.PY_KERNELS
    y, dy, b = _blocks(shape, sum(shape))
    (r1, g1, db1), (r2, g2, db2) = _both(monkeypatch, kernels, y, dy, b if bias else None)
    for ours, ref in [(r1, r2), (g1, g2)] + ([(db1, db2)] if bias else []):
        assert ours.dtype == ref.dtype and ours.shape == ref.shape
        np.testing.assert_array_equal(ours.view(np.int32), ref.view(np.int32))
    assert db1 is None if not bias else db1.shape == (shape[-1],)


def test_what_the_kernels_do_not_take_runs_numpy(monkeypatch):
    calls = []
    monkeypatch.setattr(_dense_fused, "kernel", lambda n: calls.append(n))
    for y in (np.ones((3, 4)), np.ones((3, 1), np.float32), np.ones((4, 3), np.float32).T):
        r = _dense_fused.forward(y, None)  # written in place
        assert r.dtype == y.dtype
        _dense_fused.backward(np.ones_like(r), r, True)
    assert calls == []


def _mlp(bias=True, rank3=False, freeze=False):
    shape = (3, 6) if rank3 else (6,)
    m = seqc.Sequential([L.Input(shape), L.Dense(8, activation="relu", use_bias=bias),
                         L.Dense(5, activation="relu", trainable=not freeze),
                         L.Dense(5), L.ReLU(), L.Dense(3, activation="softmax")], seed=1)
    m.compile(seqc.optimizers.Adam(0.01), "categorical_crossentropy")
    return m


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"rank3": True}, {"freeze": True}])
def test_fused_pairs_train_as_the_nodes_alone(monkeypatch, kw):
    rng = np.random.default_rng(0)
    m = _mlp(**kw)
    x = rng.normal(size=(40, *m.graph.types[m.graph.inputs[0]].shape[1:])).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, x.shape[:-1])]
    fused = _mlp(**kw)
    fused.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert len(executor._plan(fused.graph).pairs) == 3  # Dense + relu three times (ReLU too)
    monkeypatch.setattr(executor, "_fused_pairs", lambda graph, last_use: {})
    m.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert not executor._plan(m.graph).pairs
    for a, b in zip(fused.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_value_read_twice_or_kept_is_not_fused():
    inp = L.Input((4,))
    h = L.Dense(6)(inp)
    out = L.Dense(2)(L.Concatenate()([L.Activation("relu")(h), h]))
    graph = seqc.Model(inp, out).graph
    assert executor._plan(graph).pairs == {}
    m = _mlp()
    plan = executor._plan(m.graph)
    params = m.params
    x = np.ones((2, 6), np.float32)
    first = m.graph.nodes[min(plan.pairs)].outputs[0]
    _, tape = executor.forward(m.graph, params, x, keep=(first,))
    assert tape.values[first].min() < 0  # kept: the Dense output itself, before the relu


def _shared_and_relu_out():
    """A Dense + relu called twice (shared weights), and a relu as the graph's output."""
    inp = L.Input((5,))
    shared = L.Dense(6, activation="relu")
    h = L.Add()([shared(inp), shared(L.Dense(5)(inp))])
    out = L.Dense(2, activation="relu")(h)
    m = seqc.Model(inp, out, seed=2)
    m.compile(seqc.optimizers.SGD(0.05, momentum=0.5), "mse")
    return m


def test_shared_pairs_and_a_relu_output_train_as_the_nodes_alone(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(24, 5)).astype(np.float32)
    y = rng.normal(size=(24, 2)).astype(np.float32)
    fused = _shared_and_relu_out()
    fused.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(executor._plan(fused.graph).pairs) == 3
    monkeypatch.setattr(executor, "_fused_pairs", lambda graph, last_use: {})
    m = _shared_and_relu_out()
    m.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(fused.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
