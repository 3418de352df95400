"""A single-output graph built with build_dag (a residual MLP) trains with Model.fit, matches
a real Keras 3 functional model step by step, exports, and summarises."""

from __future__ import annotations

import os

import numpy as np
import pytest

import seqc
from seqc.ir.build import NodeConfig, build_dag
from seqc.ir.types import batched

RNG = np.random.default_rng(11)
X = RNG.normal(size=(16, 4)).astype(np.float32)
Y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 16)]


def residual_graph():
    return build_dag("residual", {"x": batched((4,))}, [
        NodeConfig("Dense", {"units": 4, "activation": "tanh"}, "h", ["x"]),
        NodeConfig("Add", {}, "res", ["h", "x"]),
        NodeConfig("Dense", {"units": 4, "activation": "relu"}, "h2", ["res"]),
        NodeConfig("Add", {}, "res2", ["h2", "res", "x"]),
        NodeConfig("Dense", {"units": 3, "activation": "softmax"}, "out", ["res2"]),
    ], ["out"])


def test_residual_graph_fits_exports_and_summarises(tmp_path):
    model = seqc.Model(residual_graph(), seed=1)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(X, Y, epochs=30, batch_size=8, verbose=0)
    losses = hist.history["loss"]
    assert losses[-1] < losses[0] * 0.8
    path = model.export(str(tmp_path / "res.onnx"))
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": X})[0], model.predict(X), atol=1e-5)
    text = model.summary(print_fn=lambda *_: None)
    assert "res2" in text and "Add" in text


def test_five_steps_match_keras_functional_model():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("needs KERAS_BACKEND=torch")
    model = seqc.Model(residual_graph(), seed=2)
    inp = keras.Input((4,))
    h = keras.layers.Dense(4, activation="tanh")(inp)
    res = keras.layers.Add()([h, inp])
    h2 = keras.layers.Dense(4, activation="relu")(res)
    res2 = keras.layers.Add()([h2, res, inp])
    out = keras.layers.Dense(3, activation="softmax")(res2)
    kmodel = keras.Model(inp, out)
    kmodel.set_weights(model.get_weights())
    for m in (model, kmodel):
        m.compile(optimizer=keras.optimizers.Adam(0.01) if m is kmodel else
                  seqc.optimizers.Adam(0.01), loss="categorical_crossentropy")
    ours = model.fit(X, Y, epochs=5, batch_size=16, shuffle=False, verbose=0)
    theirs = kmodel.fit(X, Y, epochs=5, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(ours.history["loss"], theirs.history["loss"], rtol=1e-6,
                               atol=1e-6)
    for a, b in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_two_input_two_output_model_predicts_and_exports(tmp_path):
    graph = build_dag("two", {"a": batched((4,)), "b": batched((2,))}, [
        NodeConfig("Dense", {"units": 2}, "pa", ["a"]),
        NodeConfig("Concatenate", {}, "cat", ["pa", "b"]),
        NodeConfig("Dense", {"units": 3, "activation": "softmax"}, "cls", ["cat"]),
        NodeConfig("Average", {}, "avg", ["pa", "b"]),
    ], ["cls", "avg"])
    model = seqc.Model(graph, seed=3)
    assert model.input_shape == [(None, 4), (None, 2)]
    assert model.output_shape == [(None, 3), (None, 2)]
    a, b = X, X[:, :2] * 2
    by_list = model.predict([a, b], batch_size=5)
    by_dict = model.predict({"b": b, "a": a})
    assert [y.shape for y in by_list] == [(16, 3), (16, 2)]
    for p, q in zip(by_list, by_dict):
        np.testing.assert_allclose(p, q, atol=1e-6)  # batches of 5 vs 32: BLAS rounding
    import onnxruntime as ort

    sess = ort.InferenceSession(model.export(str(tmp_path / "two.onnx")),
                                providers=["CPUExecutionProvider"])
    for p, q in zip(sess.run(None, {"a": a, "b": b}), by_list):
        np.testing.assert_allclose(p, q, atol=1e-6)
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(seqc.errors.UsageError, match="one per output"):
        model.fit([a, b], by_list[0])
    with pytest.raises(seqc.errors.DataError, match="different numbers of samples"):
        model.predict([a, b[:3]])


def test_saving_a_graph_as_keras_writes_a_functional_model_not_a_chain(tmp_path):
    pytest.importorskip("h5py")
    from seqc.export.keras_file import keras_config
    from seqc.frontend.keras_files import load_keras_file

    model = seqc.Model(residual_graph())
    assert not model.graph.is_chain
    assert keras_config(model)["class_name"] == "Functional"
    back = load_keras_file(model.save(str(tmp_path / "res.keras"))).model
    np.testing.assert_allclose(back.predict(X), model.predict(X), atol=1e-6)
    chain = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2, activation="relu")])
    assert chain.graph.is_chain


def test_cli_summary_and_validate_of_a_graph_build_folder(tmp_path):
    from click.testing import CliRunner

    from seqc.cli import cli
    from seqc.ir.serialize import dumps, params_to_npz_bytes

    model = seqc.Model(residual_graph(), seed=0)
    (tmp_path / "model.ir.json").write_text(dumps(model.graph))
    (tmp_path / "weights.npz").write_bytes(params_to_npz_bytes(model.params))
    r = CliRunner().invoke(cli, ["summary", str(tmp_path)])
    assert r.exit_code == 0 and "res2 (Add)" in r.output
    import importlib.util

    runtimes = "numpy,onnxruntime" + (",torch" if importlib.util.find_spec("torch") else "")
    r = CliRunner().invoke(cli, ["validate", str(tmp_path), "--runtimes", runtimes])
    assert r.exit_code == 0 and "all runtimes agree" in r.output, r.output
