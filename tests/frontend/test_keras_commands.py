"""The Keras commands end to end: `seqc convert` to ONNX and to .keras, `seqc build` of a Keras
file (training continues from its weights with its compile settings, flags override them),
`model.save`, and the keras runtime in `seqc validate`."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from seqc.cli import cli

os.environ.setdefault("KERAS_BACKEND", "torch")


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    """A trained Keras MLP saved as .keras, with data and Keras' predictions."""
    pytest.importorskip("h5py")
    keras = pytest.importorskip("keras")
    folder = tmp_path_factory.mktemp("kc")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype("float32")
    y = (x[:, :2].sum(1) > 0).astype("float32")
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.BatchNormalization(),
                          keras.layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy",
              metrics=["accuracy"])
    m.fit(x, y, epochs=2, verbose=0)
    m.save(folder / "m.keras")
    np.savez(folder / "d.npz", x=x, y=y)
    return {"dir": folder, "x": x, "y": y, "want": np.asarray(m.predict(x, verbose=0)),
            "weights": m.get_weights(), "keras": keras, "first": m.layers[0].name}


def test_convert_keras_to_onnx_predicts_like_keras(keras_model, tmp_path):
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    r = run("convert", keras_model["dir"] / "m.keras", "-o", out)
    assert r.exit_code == 0, r.output
    assert "OK: all runtimes agree" in r.output and "no weights" not in r.output
    s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = s.run(None, {s.get_inputs()[0].name: keras_model["x"]})[0]
    np.testing.assert_allclose(got, keras_model["want"], atol=1e-5, rtol=1e-5)


def test_convert_failure_leaves_the_previous_output(keras_model, tmp_path, monkeypatch):
    import seqc.runtime as rt

    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous good model")
    real = rt.validate

    def disagree(*a, **kw):
        result = real(*a, **kw)
        result.results[-1].ok = False
        return result

    monkeypatch.setattr(rt, "validate", disagree)
    r = run("convert", keras_model["dir"] / "m.keras", "-o", out, "-q")
    assert r.exit_code == 1, r.output
    assert "disagrees" in r.output
    assert out.read_bytes() == b"previous good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temp file left


def test_convert_to_keras_loads_in_keras(keras_model, tmp_path):
    keras = keras_model["keras"]
    out = tmp_path / "copy.keras"
    r = run("convert", keras_model["dir"] / "m.keras", "-o", out)
    assert r.exit_code == 0, r.output
    back = keras.saving.load_model(out)
    np.testing.assert_allclose(np.asarray(back.predict(keras_model["x"], verbose=0)),
                               keras_model["want"], atol=1e-5, rtol=1e-5)
    assert back.optimizer.__class__.__name__ == "Adam"


def test_build_continues_from_the_files_weights_and_compile(keras_model, tmp_path):
    """With learning rate 0 and a different --seed, training must leave Keras' weights as
    they were: proof that the build started from them, not from a fresh initialisation."""
    d = keras_model["dir"]
    out = tmp_path / "b"
    r = run("build", d / "m.keras", "--data", d / "d.npz", "--epochs", "1", "--seed", "7",
            "--learning-rate", "0", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["trained"] and report["compile"]["loss"] == "binary_crossentropy"
    assert report["compile"]["optimizer"]["type"] == "Adam"
    assert report["compile"]["optimizer"]["learning_rate"] == 0
    w = np.load(out / "weights.npz")
    kernel, bias = keras_model["weights"][:2]  # the first Dense
    np.testing.assert_array_equal(w[keras_model["first"] + "/kernel"], kernel)
    np.testing.assert_array_equal(w[keras_model["first"] + "/bias"], bias)


def test_build_flags_override_the_files_compile(keras_model, tmp_path):
    d = keras_model["dir"]
    out = tmp_path / "b"
    r = run("build", d / "m.keras", "--data", d / "d.npz", "--epochs", "1", "--optimizer",
            "sgd", "--loss", "mse", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    compile_cfg = json.loads((out / "report.json").read_text())["compile"]
    assert compile_cfg["optimizer"] == "sgd" and compile_cfg["loss"] == "mse"
    assert compile_cfg["metrics"] == ["accuracy"]


def test_validate_with_the_keras_runtime(keras_model, tmp_path):
    d = keras_model["dir"]
    out = tmp_path / "b"
    assert run("build", d / "m.keras", "--no-train", "-o", out, "-q").exit_code == 0
    r = run("validate", out, "--runtimes", "numpy,onnxruntime,keras")
    assert r.exit_code == 0, r.output
    assert "keras" in r.output and "OK: all runtimes agree" in r.output


def test_model_save_needs_the_keras_extension(tmp_path):
    import seqc
    from seqc.errors import UsageError

    m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    with pytest.raises(UsageError, match=r"\.keras"):
        m.save(tmp_path / "m.h5")


def test_a_lambda_model_exits_2_without_running_it(tmp_path):
    spec = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3]}},
        {"class_name": "Lambda", "config": {"name": "evil", "function": [
            "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMEAAAAfABTACkBTqkAKQHaAXhyAQAAAHIBAAAA", None,
            None], "function_type": "lambda"}}]}, "keras_version": "2.4.0"}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    r = run("convert", tmp_path / "m.json", "-o", tmp_path / "m.onnx")
    assert r.exit_code == 2, r.output
    assert "Lambda" in r.output and "never runs code" in r.output
    assert not (tmp_path / "m.onnx").exists()


def _regularized_spec(kernel_regularizer: dict) -> dict:
    return {"class_name": "Sequential", "keras_version": "2.15.0", "config": {
        "name": "reg", "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3]}},
            {"class_name": "Dense", "config": {
                "name": "d", "units": 2, "kernel_regularizer": kernel_regularizer,
                "bias_constraint": {"class_name": "NonNeg", "config": {}}}}]}}


def test_regularizers_train_and_a_custom_one_converts_but_does_not_train(tmp_path):
    """Keras' regularizers and constraints train (tests/training/test_regularizers*); a custom
    class changes training in a way seqc cannot know: the model loads, predicts and converts,
    and `seqc build` refuses to train it rather than train a different model."""
    np.save(tmp_path / "x.npy", np.ones((8, 3), np.float32))
    np.save(tmp_path / "y.npy", np.ones((8, 2), np.float32))
    train = ("--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--optimizer", "sgd",
             "--loss", "mse", "-q")
    path = tmp_path / "m.json"
    path.write_text(json.dumps(_regularized_spec({"class_name": "L2", "config": {"l2": 0.01}})))
    r = run("build", path, *train, "-o", tmp_path / "ok")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "ok" / "model.onnx").exists()
    path.write_text(json.dumps(_regularized_spec({"class_name": "Custom>MyL2",
                                                  "config": {"l2": 0.01}})))
    r = run("convert", path, "-o", tmp_path / "m.onnx", "-q")
    assert r.exit_code == 0, r.output
    r = run("build", path, *train, "-o", tmp_path / "b")
    assert r.exit_code == 2, r.output
    assert "MyL2" in r.output and "kernel_regularizer" in r.output, r.output
    assert not (tmp_path / "b" / "model.onnx").exists()
