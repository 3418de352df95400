"""Keras' functional API in Python: seqc.Input, layer configs called on symbolic tensors
(a layer called twice is shared), merges on lists, seqc.Model(inputs, outputs); the model
compiles, fits, predicts and exports as a Sequential does, and matches Keras."""

from __future__ import annotations

import os

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError, UsageError

L = seqc.layers


def residual(units=6):
    x = seqc.Input(shape=(units,), name="x")
    d = L.Dense(units, activation="tanh", name="shared")
    h = d(d(x))  # called twice: one layer, one set of weights
    y = L.Add()([h, x])
    out = L.Dense(1, name="out")(y)
    return x, out


def test_functional_model_traces_calls_and_shares_a_layer():
    x, out = residual()
    m = seqc.Model(inputs=x, outputs=out)
    assert m.graph.inputs == ("x",)
    assert [(n.name, n.inputs, n.shares) for n in m.graph.nodes if n.op != "Activation"] == [
        ("shared", ("x",), ""), ("shared_1", ("shared/activation",), "shared"),
        ("add", ("shared_1/activation", "x"), ""), ("out", ("add",), "")]
    assert m.count_params() == 6 * 6 + 6 + 6 + 1
    assert m.input_shape == (None, 6) and m.output_shape == (None, 1)
    assert seqc.Model(x, out).count_params() == m.count_params()  # positional, as Keras


def test_functional_model_fits_predicts_and_exports(tmp_path):
    x, out = residual()
    m = seqc.Model(inputs=x, outputs=out)
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(64, 6)).astype(np.float32)
    ys = xs.sum(1, keepdims=True)
    m.compile(optimizer="adam", loss="mse")
    hist = m.fit(xs, ys, epochs=3, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    path = m.export(str(tmp_path / "m.onnx"))
    import onnxruntime as ort

    got = ort.InferenceSession(path).run(None, {"input": xs})[0]
    np.testing.assert_allclose(got, m.predict(xs), atol=1e-5)


def test_two_inputs_two_outputs_match_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    a, b = seqc.Input((3,), name="a"), seqc.Input((3,), name="b")
    enc = L.Dense(4, activation="relu")
    s = L.Concatenate()([enc(a), enc(b)])
    m = seqc.Model(inputs=[a, b], outputs=[L.Dense(2)(s), L.Multiply()([a, b])])
    ka, kb = keras.Input((3,)), keras.Input((3,))
    kenc = keras.layers.Dense(4, activation="relu")
    ks = keras.layers.Concatenate()([kenc(ka), kenc(kb)])
    km = keras.Model([ka, kb], [keras.layers.Dense(2)(ks), keras.layers.Multiply()([ka, kb])])
    km.set_weights(m.get_weights())
    rng = np.random.default_rng(1)
    xa, xb = (rng.normal(size=(5, 3)).astype(np.float32) for _ in range(2))
    for got, want in zip(m.predict([xa, xb]), km.predict([xa, xb], verbose=0)):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_tensor_arithmetic_is_a_merge():
    x = seqc.Input((3,))
    h = L.Dense(3)(x)
    m = seqc.Model(x, (h + x) * x - h)
    assert [n.op for n in m.graph.nodes] == ["Dense", "Add", "Multiply", "Subtract"]
    xs = np.arange(6, dtype=np.float32).reshape(2, 3)
    hs = xs @ m.params["dense/kernel"] + m.params["dense/bias"]
    np.testing.assert_allclose(m.predict(xs), (hs + xs) * xs - hs, rtol=1e-5, atol=1e-5)
    with pytest.raises(UsageError, match="'\\+' between a symbolic tensor and a constant"):
        x + 1


def test_functional_errors():
    x = seqc.Input((4,))
    with pytest.raises(UsageError, match="symbolic tensors"):
        L.Dense(2)(np.zeros((1, 4)))
    other = seqc.Input((4,))
    y = L.Add()([x, other])
    with pytest.raises(UsageError, match="not among the model's inputs"):
        seqc.Model(inputs=x, outputs=y)
    with pytest.raises(DefinitionError, match="shapes do not broadcast"):
        seqc.Model([x, other], L.Add()([L.Dense(3)(x), other]))
    with pytest.raises(UsageError, match="symbolic tensor"):
        seqc.Model(inputs=x, outputs="dense")


def test_layers_still_build_a_sequential():
    m = seqc.Sequential([seqc.Input((3,)), L.Dense(2)])
    assert m.graph.is_chain and m.count_params() == 8


def _cells(text: str) -> list[list[str]]:
    """A summary table's body rows, each cell's wrapped lines joined by a space."""
    rows, cur = [], None
    for line in text.splitlines():
        if line.startswith("│"):
            parts = [p.strip() for p in line.strip("│").split("│")]
            cur = parts if cur is None else [f"{a} {b}".strip() for a, b in zip(cur, parts)]
        elif cur is not None:
            rows.append(cur)
            cur = None
    return rows


def test_summary_of_a_graph_matches_keras_functional_layout(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich crops Keras' table to the terminal
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")

    def net(lib, inp):
        x, b = inp((4,), name="x"), inp((4,), name="b")
        d = lib.Dense(4, activation="relu", name="shared")
        y = lib.Add()([d(d(x)), x, b])
        return [x, b], lib.Dense(2, name="head")(y)

    lines: list[str] = []
    keras.Model(*net(keras.layers, keras.Input)).summary(print_fn=lines.append)
    want = "\n".join(lines)
    got = seqc.Model(*net(L, seqc.Input)).summary(print_fn=None)
    assert _cells(got) == _cells(want), (got, want)
    assert "Connected to" in got and "x (InputLayer)" in got
    chain = seqc.Model(x := seqc.Input((4,)), L.Dense(3)(x)).summary(print_fn=None)
    assert "Connected to" not in chain and "InputLayer" not in chain  # chains as before
