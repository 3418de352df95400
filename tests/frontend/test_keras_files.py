"""Keras files with weights: real Keras 3 `.keras` / `.weights.h5` / legacy `.h5` files load into
seqc and predict as Keras does; `.keras` files seqc writes load in Keras 3 and predict the same;
Keras 2 weight files (written here with h5py in the documented layout) load; hostile or broken
files fail with clear errors and leave nothing behind."""

from __future__ import annotations

import json
import os
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from seqc.errors import DefinitionError, UsageError
from seqc.export.keras_file import keras_config, save_keras
from seqc.frontend import _keras_h5 as kh5
from seqc.frontend.keras_files import load_keras_file, load_keras_weights_file

h5py = pytest.importorskip("h5py")
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "ops"))
TOL = {"atol": 1e-5, "rtol": 1e-5}


# ---------------------------------------------------------------- corpus (real Keras 3)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    warnings.filterwarnings("ignore", module="keras")
    return keras


def _corpus(keras) -> dict:
    """name -> (model, input dtype, per-sample shape). Every weighted seqc kind appears."""
    L = keras.layers
    return {
        # 13 Dense layers: class keys dense .. dense_12, where dense_10 sorts before dense_2.
        "mlp": (keras.Sequential([
            keras.Input((4,)), L.Normalization(),
            *[L.Dense(3, activation="relu") for _ in range(12)],
            L.BatchNormalization(), L.LayerNormalization(), L.PReLU(), L.Dropout(0.2),
            L.Dense(2, activation="softmax")]), "float32", (4,)),
        "recurrent": (keras.Sequential([
            keras.Input((5,), dtype="int32"), L.Embedding(10, 4, mask_zero=True),
            L.SimpleRNN(3, return_sequences=True),
            L.GRU(3, return_sequences=True, reset_after=False),
            L.GRU(3, return_sequences=True), L.Bidirectional(L.LSTM(2, return_sequences=True)),
            L.TimeDistributed(L.Dense(2)), L.LSTM(2)]), "int32", (5,)),
        "conv2d": (keras.Sequential([
            keras.Input((6, 6, 2)), L.Conv2D(3, 3, activation="relu"),
            L.BatchNormalization(center=False, scale=False), L.SeparableConv2D(2, 2),
            L.DepthwiseConv2D(2), L.Conv2DTranspose(2, 2, strides=2), L.BatchNormalization(),
            L.MaxPooling2D(), L.Flatten(), L.Dense(2)]), "float32", (6, 6, 2)),
        "conv1d": (keras.Sequential([
            keras.Input((8, 3)), L.Conv1D(2, 3), L.SeparableConv1D(2, 2),
            L.DepthwiseConv1D(2), L.Conv1DTranspose(2, 2),
            L.Bidirectional(L.GRU(2), backward_layer=L.GRU(2, go_backwards=True)),
            L.Dense(1)]), "float32", (8, 3)),
        "time_distributed": (keras.Sequential([
            keras.Input((3, 5, 5, 2)), L.TimeDistributed(L.Conv2D(2, 3)),
            L.TimeDistributed(L.Flatten()), L.LSTM(2), L.Dense(1)]), "float32", (3, 5, 5, 2)),
        "conv3d": (keras.Sequential([
            keras.Input((4, 4, 4, 1)), L.Conv3D(2, 2), L.Conv3DTranspose(2, 2), L.Flatten(),
            L.Dense(1)]), "float32", (4, 4, 4, 1)),
        # The image tutorials' preprocessing, exported into the graph.
        "image_preprocessing": (keras.Sequential([
            keras.Input((12, 10, 3)), L.Resizing(9, 9), L.CenterCrop(7, 8),
            L.Resizing(6, 6, interpolation="nearest", crop_to_aspect_ratio=True),
            L.Rescaling(1 / 255), L.Conv2D(4, 3), L.GroupNormalization(2),
            L.UnitNormalization(), L.Identity(), L.Flatten(), L.Dense(2)]),
            "float32", (12, 10, 3)),
    }


def _randomize(keras, model, rng) -> None:
    """Non-zero biases, non-trivial BatchNormalization/Normalization statistics."""
    ws = []
    for w in model.weights:
        a = keras.ops.convert_to_numpy(w)
        if a.dtype.kind != "f":
            ws.append(a)
            continue
        v = rng.normal(size=a.shape) * 0.5
        if "variance" in w.path:
            v = np.abs(v) + 0.5
        ws.append(v.astype(a.dtype))
    model.set_weights(ws)


def _input(dtype, shape, rng, n=4):
    if dtype == "int32":
        x = rng.integers(1, 10, (n, *shape)).astype("int32")
        x[0, -2:] = 0  # padding: Embedding(mask_zero=True) masks these steps
        return x
    return rng.normal(size=(n, *shape)).astype("float32")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each corpus model saved by Keras as .keras, as JSON + .weights.h5 and as legacy .h5,
    with its input and Keras' own predictions."""
    keras = _keras()
    folder = tmp_path_factory.mktemp("keras_corpus")
    rng = np.random.default_rng(0)
    out = {}
    for name, (model, dtype, shape) in _corpus(keras).items():
        _randomize(keras, model, rng)
        x = _input(dtype, shape, rng)
        y = keras.ops.convert_to_numpy(model(x))
        model.save(folder / f"{name}.keras")
        (folder / f"{name}.json").write_text(model.to_json())
        model.save_weights(folder / f"{name}.weights.h5")
        out[name] = {"x": x, "y": y, "dir": folder, "model": model}
    return out


CORPUS = ["mlp", "recurrent", "conv2d", "conv1d", "time_distributed", "conv3d",
          "image_preprocessing"]


@pytest.mark.parametrize("name", CORPUS)
@pytest.mark.parametrize("form", ["keras", "json+weights"])
def test_keras_saved_files_predict_like_keras(saved, name, form):
    case = saved[name]
    path = case["dir"] / (f"{name}.keras" if form == "keras" else f"{name}.json")
    defn = load_keras_file(path)
    assert defn.format == "keras" and defn.has_weights and defn.model.adapted
    assert defn.extra["keras"].version == "keras3"
    np.testing.assert_allclose(defn.model.predict(case["x"]), case["y"], **TOL)
    # Every Keras weight, in order (dense_10 must not be swapped with dense_2).
    keras = _keras()
    want = [keras.ops.convert_to_numpy(w) for w in case["model"].weights]
    got = defn.model.get_weights()
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b.astype(a.dtype))


@pytest.mark.parametrize("name", CORPUS)
def test_seqc_saved_keras_loads_in_keras(saved, name, tmp_path):
    keras = _keras()
    case = saved[name]
    model = load_keras_file(case["dir"] / f"{name}.keras").model
    out = save_keras(model, tmp_path / "out.keras")
    assert out == str(tmp_path / "out.keras")
    back = keras.saving.load_model(out)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back(case["x"])), case["y"], **TOL)
    # ... and seqc reads its own file back.
    again = load_keras_file(out).model
    np.testing.assert_allclose(again.predict(case["x"]), case["y"], **TOL)
    assert [p.name for p in os.scandir(tmp_path)] == ["out.keras"]  # no temp file left


def test_keras_legacy_h5_from_keras3(tmp_path):
    """Keras 3's own legacy writer (model.save('x.h5')): model_config + model_weights with
    `layer_names`/`weight_names`, plus its training_config."""
    keras = _keras()
    L = keras.layers
    model = keras.Sequential([keras.Input((5, 3)), L.LSTM(3, return_sequences=True),
                              L.Bidirectional(L.GRU(2)), L.BatchNormalization(),
                              L.Dense(2, activation="relu")])
    model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    rng = np.random.default_rng(1)
    _randomize(keras, model, rng)
    x = _input("float32", (5, 3), rng)
    model.save(tmp_path / "m.h5")
    defn = load_keras_file(tmp_path / "m.h5")
    np.testing.assert_allclose(defn.model.predict(x), keras.ops.convert_to_numpy(model(x)),
                               **TOL)
    assert defn.compile["loss"] == "mse" and defn.compile["metrics"] == ["mae"]
    assert defn.compile["optimizer"]["learning_rate"] == pytest.approx(0.01)


# ---------------------------------------------------------------- every kind, both directions


def _kind_cases():
    from ops_harness import cases

    return [c for c in cases() if c.values[0] != "InputLayer" and not c.values[1].mask_lengths
            and c.values[1].keras and c.values[1].input_shapes is None]  # chains: one input


# Keras 3.15 (torch backend) fails on these at inference: Equalization's functional graph is
# "part of a cycle" when loaded, RandomPosterization draws with torch.randint from float bounds
# even with training=False.
KERAS_INFERENCE_BUGS = {"Equalization": "part of a cycle", "RandomPosterization": "randint"}


@pytest.mark.parametrize("kind,ex", _kind_cases())
def test_every_kind_example_round_trips_through_keras(kind, ex, tmp_path):
    """seqc -> .keras -> Keras load_model predicts the same; Keras' save_weights of that model
    (weights changed) -> seqc reads exactly those weights."""
    keras = _keras()
    from ops_harness import build, keras_can_run, make_input, make_params

    from seqc.model import Model

    keras_can_run(kind)
    graph = build(kind, ex)
    rng = np.random.default_rng(0)
    model = Model(graph, make_params(graph, rng))
    x = make_input(ex, rng)
    if kind == "Activation" and ex.config["activation"] == {"type": "gelu",
                                                            "approximate": True}:
        with pytest.raises(UsageError, match="gelu"):
            save_keras(model, tmp_path / "m.keras")
        return
    save_keras(model, tmp_path / "m.keras")
    if kind in KERAS_INFERENCE_BUGS:
        # Keras 3.15 cannot run these at inference; the file still reads back into seqc.
        with pytest.raises(Exception, match=KERAS_INFERENCE_BUGS[kind]):
            keras.saving.load_model(tmp_path / "m.keras")(x, training=False)
        again = load_keras_file(tmp_path / "m.keras").model
        np.testing.assert_array_equal(again.predict(x), model.predict(x))
        return
    back = keras.saving.load_model(tmp_path / "m.keras")
    # Inference: Keras' augmentation layers called outside fit default to training=True.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back(x, training=False)),
                               model.predict(x), **TOL)
    changed = [w + 0.25 if w.dtype.kind == "f" else w for w in back.get_weights()]
    back.set_weights(changed)
    back.save_weights(tmp_path / "m.weights.h5")
    fresh = Model(graph)
    load_keras_weights_file(tmp_path / "m.weights.h5", fresh)
    for a, b in zip(fresh.get_weights(), changed):
        np.testing.assert_array_equal(a, b.astype(a.dtype))


# ---------------------------------------------------------------- compile settings


def test_compile_config_round_trip(tmp_path):
    keras = _keras()
    import seqc

    L = keras.layers
    model = keras.Sequential([keras.Input((3,)), L.Dense(2, activation="sigmoid")])
    model.compile(keras.optimizers.RMSprop(0.02, rho=0.8), "binary_crossentropy",
                  metrics=["accuracy"])
    model.save(tmp_path / "k.keras")
    loaded = seqc.load(tmp_path / "k.keras")
    assert loaded.compiled.optimizer.learning_rate == pytest.approx(0.02)
    save_keras(loaded, tmp_path / "s.keras")
    back = keras.saving.load_model(tmp_path / "s.keras")
    opt = back.optimizer
    assert type(opt).__name__ == "RMSprop"
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.02)
    assert opt.rho == pytest.approx(0.8)
    cc = back.get_compile_config()
    assert cc["loss"]["class_name"] == "BinaryCrossentropy" and cc["metrics"] == ["accuracy"]


def test_seqc_compile_with_schedule_and_loss_object_loads_in_keras(tmp_path):
    keras = _keras()
    import seqc

    model = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    model.compile(
        optimizer={"type": "SGD", "momentum": 0.5, "learning_rate": {
            "type": "ExponentialDecay", "initial_learning_rate": 0.1, "decay_steps": 10,
            "decay_rate": 0.9}},
        loss={"type": "Huber", "delta": 2.0}, metrics=["mae"])
    config = keras_config(model)
    assert config["compile_config"]["optimizer"]["class_name"] == "SGD"
    save_keras(model, tmp_path / "s.keras")
    back = keras.saving.load_model(tmp_path / "s.keras")
    assert back.optimizer.momentum == pytest.approx(0.5)
    schedule = back.optimizer._learning_rate
    assert type(schedule).__name__ == "ExponentialDecay" and schedule.decay_steps == 10
    # Huber's delta (Keras' own get_config drops it; the loss value shows it): at an error of
    # 1.5, delta=2 gives 0.5 * 1.5**2 = 1.125 where the default delta=1 gives 1.0.
    value = back.loss(np.zeros((1, 1), "float32"), np.full((1, 1), 1.5, "float32"))
    assert float(keras.ops.convert_to_numpy(value)) == pytest.approx(1.125)


def test_keras_config_shape():
    import seqc

    model = seqc.Sequential([seqc.layers.Input((None, 3)),
                             seqc.layers.LSTM(4, name="enc"),
                             seqc.layers.Dense(2, activation="relu", name="head")],
                            name="demo")
    config = keras_config(model)
    assert config["class_name"] == "Sequential" and "compile_config" not in config
    layers = config["config"]["layers"]
    assert layers[0]["class_name"] == "InputLayer"
    assert layers[0]["config"]["batch_shape"] == [None, None, 3]
    assert [(x["class_name"], x["config"]["name"]) for x in layers[1:]] == [
        ("LSTM", "enc"), ("Dense", "head")]
    assert layers[2]["config"]["activation"] == "relu"
    assert layers[2]["config"]["kernel_initializer"]["class_name"] == "GlorotUniform"
    json.dumps(config)  # JSON-able


def test_activation_with_arguments_becomes_a_keras_layer(tmp_path):
    keras = _keras()
    import seqc

    model = seqc.Sequential([
        seqc.layers.Input((4,)),
        seqc.layers.Dense(3, activation={"type": "relu", "max_value": 0.5}, name="d")])
    names = [x["class_name"] for x in keras_config(model)["config"]["layers"]]
    assert names == ["InputLayer", "Dense", "ReLU"]
    save_keras(model, tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    back = keras.saving.load_model(tmp_path / "m.keras")
    # Inference: Keras' augmentation layers called outside fit default to training=True.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back(x, training=False)),
                               model.predict(x), **TOL)


def test_save_keras_is_atomic(tmp_path, monkeypatch):
    import seqc

    model = seqc.Sequential([seqc.layers.Input((2,)), seqc.layers.Dense(1)])
    path = tmp_path / "m.keras"
    save_keras(model, path)
    good = path.read_bytes()

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with pytest.raises(OSError, match="disk full"):
        save_keras(model, path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


# ---------------------------------------------------------------- Keras 2 files (h5py-written)

DENSE_ARGS = {"use_bias": True, "kernel_regularizer": None, "bias_regularizer": None,
              "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
              "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}}}
RNN_ARGS = {"return_state": False, "go_backwards": False, "stateful": False, "unroll": False,
            "time_major": False, "activation": "tanh", "recurrent_activation": "sigmoid",
            "use_bias": True, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 2,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "recurrent_initializer": {"class_name": "Orthogonal",
                                      "config": {"gain": 1.0, "seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}}}


def _keras2_model(version: str, *, modules: bool) -> dict:
    """A tf.keras 2 model_config / to_json(): LSTM, GRU (reset_after False and True),
    Bidirectional(LSTM), BatchNormalization, Dense(relu)."""
    def layer(cls, config):
        entry = {"class_name": cls, "config": config}
        if modules:
            entry = {"module": "keras.layers", **entry, "registered_name": None}
        return entry

    layers = [
        layer("InputLayer", {"batch_input_shape": [None, 6, 3], "dtype": "float32",
                             "sparse": False, "ragged": False, "name": "input_1"}),
        layer("LSTM", {"name": "lstm", "trainable": True, "dtype": "float32", "units": 4,
                       "return_sequences": True, "unit_forget_bias": True, **RNN_ARGS}),
        layer("GRU", {"name": "gru", "trainable": True, "dtype": "float32", "units": 3,
                      "return_sequences": True, "reset_after": False, **RNN_ARGS}),
        layer("GRU", {"name": "gru_1", "trainable": True, "dtype": "float32", "units": 3,
                      "return_sequences": True, "reset_after": True, **RNN_ARGS}),
        layer("Bidirectional", {"name": "bidirectional", "trainable": True,
                                "dtype": "float32", "merge_mode": "concat",
                                "layer": layer("LSTM", {
                                    "name": "lstm_1", "trainable": True, "dtype": "float32",
                                    "units": 2, "return_sequences": False,
                                    "unit_forget_bias": True, **RNN_ARGS})}),
        layer("BatchNormalization", {
            "name": "batch_normalization", "trainable": True, "dtype": "float32", "axis": [1],
            "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True,
            "beta_initializer": {"class_name": "Zeros", "config": {}},
            "gamma_initializer": {"class_name": "Ones", "config": {}},
            "moving_mean_initializer": {"class_name": "Zeros", "config": {}},
            "moving_variance_initializer": {"class_name": "Ones", "config": {}},
            "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
            "gamma_constraint": None}),
        layer("Dense", {"name": "dense", "trainable": True, "dtype": "float32", "units": 2,
                        "activation": "relu", **DENSE_ARGS}),
    ]
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers},
            "keras_version": version, "backend": "tensorflow"}


# Keras 2's weight names (layer.weights order) for the model above.
KERAS2_WEIGHT_NAMES = {
    "lstm": ["lstm/lstm_cell/kernel:0", "lstm/lstm_cell/recurrent_kernel:0",
             "lstm/lstm_cell/bias:0"],
    "gru": ["gru/gru_cell/kernel:0", "gru/gru_cell/recurrent_kernel:0", "gru/gru_cell/bias:0"],
    "gru_1": ["gru_1/gru_cell_1/kernel:0", "gru_1/gru_cell_1/recurrent_kernel:0",
              "gru_1/gru_cell_1/bias:0"],
    "bidirectional": [f"bidirectional/{d}_lstm_1/lstm_cell_{i}/{w}:0"
                      for d, i in (("forward", 2), ("backward", 3))
                      for w in ("kernel", "recurrent_kernel", "bias")],
    "batch_normalization": [f"batch_normalization/{w}:0" for w in
                            ("gamma", "beta", "moving_mean", "moving_variance")],
    "dense": ["dense/kernel:0", "dense/bias:0"],
}


def _keras3_twin(keras, rng):
    """The same network in Keras 3, with random weights: the reference predictions."""
    L = keras.layers
    model = keras.Sequential([
        keras.Input((6, 3)), L.LSTM(4, return_sequences=True),
        L.GRU(3, return_sequences=True, reset_after=False), L.GRU(3, return_sequences=True),
        L.Bidirectional(L.LSTM(2)), L.BatchNormalization(), L.Dense(2, activation="relu")])
    _randomize(keras, model, rng)
    per_layer = {}
    for name, layer in zip(KERAS2_WEIGHT_NAMES, model.layers):
        per_layer[name] = [keras.ops.convert_to_numpy(w) for w in layer.weights]
    return model, per_layer


def _write_keras2_weights(group, per_layer, *, extra_layers=("input_1",)):
    """Keras 2's save_weights layout: attribute layer_names (bytes), one group per layer
    with attribute weight_names, datasets at group[weight_name]."""
    names = [*extra_layers, *per_layer]
    group.attrs["layer_names"] = np.array([n.encode() for n in names])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.15.0"
    for n in names:
        g = group.create_group(n)
        wn = KERAS2_WEIGHT_NAMES.get(n, [])
        g.attrs["weight_names"] = np.array([w.encode() for w in wn]) if wn else np.array([])
        for w, v in zip(wn, per_layer.get(n, [])):
            g.create_dataset(w, data=v)


def test_keras2_legacy_full_model_h5(tmp_path):
    keras = _keras()
    rng = np.random.default_rng(2)
    twin, per_layer = _keras3_twin(keras, rng)
    path = tmp_path / "legacy.h5"
    training = {"loss": "mse", "metrics": [["mae"]], "weighted_metrics": None,
                "loss_weights": None,
                "optimizer_config": {"class_name": "Adam", "config": {
                    "name": "Adam", "learning_rate": 0.005, "decay": 0.0, "beta_1": 0.9,
                    "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(_keras2_model("2.15.0", modules=True)).encode()
        f.attrs["training_config"] = json.dumps(training).encode()
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        _write_keras2_weights(f.create_group("model_weights"), per_layer)
        opt = f.create_group("optimizer_weights")  # ignored: seqc starts a fresh optimizer
        opt.attrs["weight_names"] = np.array([b"Adam/iter:0"])
        opt.create_dataset("Adam/iter:0", data=np.int64(7))
    defn = load_keras_file(path)
    assert defn.extra["keras"].version == "tf.keras2"
    x = _input("float32", (6, 3), rng)
    np.testing.assert_allclose(defn.model.predict(x), keras.ops.convert_to_numpy(twin(x)), **TOL)
    assert defn.compile["loss"] == "mse" and defn.compile["metrics"] == ["mae"]
    assert defn.compile["optimizer"]["learning_rate"] == pytest.approx(0.005)


def test_keras2_save_weights_beside_json(tmp_path):
    keras = _keras()
    rng = np.random.default_rng(3)
    twin, per_layer = _keras3_twin(keras, rng)
    (tmp_path / "m.json").write_text(json.dumps(_keras2_model("2.4.0", modules=False)))
    with h5py.File(tmp_path / "m.h5", "w") as f:
        _write_keras2_weights(f, per_layer)
    x = _input("float32", (6, 3), rng)
    want = keras.ops.convert_to_numpy(twin(x))
    defn = load_keras_file(tmp_path / "m.json")
    np.testing.assert_allclose(defn.model.predict(x), want, **TOL)
    # The same file into an existing model (Keras' load_weights).
    from seqc.frontend.keras_json import load_keras_json

    other = load_keras_json(tmp_path / "m.json")
    load_keras_weights_file(tmp_path / "m.h5", other.model, other.extra["keras"])
    np.testing.assert_allclose(other.model.predict(x), want, **TOL)


def test_keras2_weights_matched_by_position_when_names_differ(tmp_path):
    """Weights saved from another instance (other auto names): Keras 2 matches weighted
    layers by position, and so does seqc when no name matches."""
    keras = _keras()
    rng = np.random.default_rng(4)
    twin, per_layer = _keras3_twin(keras, rng)
    renamed = {f"{k}_9": v for k, v in per_layer.items()}
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in renamed])
        for (n, ws), wn in zip(renamed.items(), KERAS2_WEIGHT_NAMES.values()):
            g = f.create_group(n)
            g.attrs["weight_names"] = np.array([w.encode() for w in wn])
            for w, v in zip(wn, ws):
                g.create_dataset(w, data=v.astype(np.float64))  # float64 is accepted
    (tmp_path / "m.json").write_text(json.dumps(_keras2_model("2.15.0", modules=True)))
    from seqc.frontend.keras_json import load_keras_json

    defn = load_keras_json(tmp_path / "m.json")
    load_keras_weights_file(tmp_path / "w.h5", defn.model, defn.extra["keras"])
    x = _input("float32", (6, 3), rng)
    np.testing.assert_allclose(defn.model.predict(x), keras.ops.convert_to_numpy(twin(x)),
                               **TOL)


# ---------------------------------------------------------------- hostile and broken files


def _small_model(*, trained: bool = True):
    """Two Dense layers; `trained`: weights other than the initializers' (so a test sees
    whether weights were loaded at all)."""
    import seqc

    model = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(3, name="a"),
                             seqc.layers.Dense(2, name="b")], name="small")
    if trained:
        rng = np.random.default_rng(5)
        model.set_weights([rng.normal(size=w.shape).astype(w.dtype)
                           for w in model.get_weights()])
    return model


def _zip(path, members: dict, *, infos: list | None = None):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for info, data in infos or []:
            zf.writestr(info, data)


def _members(tmp_path) -> dict:
    src = tmp_path / "src.keras"
    save_keras(_small_model(), src)
    with zipfile.ZipFile(src) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_loading_leaves_no_temporary_files(tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    save_keras(_small_model(), tmp_path / "m.keras")
    load_keras_file(tmp_path / "m.keras")
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("bad_name", ["../evil", "/abs/evil", "assets/../../evil", "C:/evil",
                                      "a\\..\\evil"])
def test_zip_member_with_unsafe_path_is_refused(tmp_path, bad_name):
    work = tmp_path / "work"
    work.mkdir()
    members = _members(tmp_path)
    members[bad_name] = b"pwned"
    _zip(work / "m.keras", members)
    before = {p for p in tmp_path.rglob("*")}
    with pytest.raises(DefinitionError, match="unsafe path") as e:
        load_keras_file(work / "m.keras")
    assert "m.keras" in str(e.value) and repr(bad_name) in str(e.value)
    assert {p for p in tmp_path.rglob("*")} == before
    assert not (tmp_path / "evil").exists()


def test_zip_symlink_and_unexpected_members_are_refused(tmp_path):
    members = _members(tmp_path)
    link = zipfile.ZipInfo("model.weights.h5")
    link.external_attr = (0o120777 << 16)
    _zip(tmp_path / "link.keras", {k: v for k, v in members.items()
                                   if k != "model.weights.h5"}, infos=[(link, b"/etc/passwd")])
    with pytest.raises(DefinitionError, match="link"):
        load_keras_file(tmp_path / "link.keras")
    _zip(tmp_path / "extra.keras", {**members, "assets/vocab.txt": b"a\nb"})
    with pytest.raises(DefinitionError, match="unexpected member"):
        load_keras_file(tmp_path / "extra.keras")
    _zip(tmp_path / "none.keras", {"config.json": members["config.json"]})
    with pytest.raises(DefinitionError, match="no model.weights.h5"):
        load_keras_file(tmp_path / "none.keras")


def test_oversized_members_are_refused_before_reading(tmp_path):
    save_keras(_small_model(), tmp_path / "m.keras")
    with pytest.raises(DefinitionError, match="larger than the limit") as e:
        load_keras_file(tmp_path / "m.keras", max_memory=1000)
    assert "model.weights.h5" in str(e.value)
    # A zip bomb: a member declaring far more than it stores.
    members = _members(tmp_path)
    members["config.json"] = b" " * (65 * 1024**2)  # compresses to ~65 KB
    with zipfile.ZipFile(tmp_path / "bomb.keras", "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    with pytest.raises(DefinitionError, match="config.json is larger than the limit"):
        load_keras_file(tmp_path / "bomb.keras")


def test_non_zip_keras_file(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"\x89HDF\r\n\x1a\n not a zip")
    with pytest.raises(DefinitionError, match="not a zip archive") as e:
        load_keras_file(tmp_path / "m.keras")
    assert "m.keras" in str(e.value)


def test_damaged_archive(tmp_path):
    save_keras(_small_model(), tmp_path / "m.keras")
    data = (tmp_path / "m.keras").read_bytes()
    assert data.count(b'"Sequential"') == 1  # stored uncompressed: flip it, break its CRC
    (tmp_path / "m.keras").write_bytes(data.replace(b'"Sequential"', b'"Sequentiak"'))
    with pytest.raises(DefinitionError, match="damaged"):
        load_keras_file(tmp_path / "m.keras")


def _rewrite_weights(tmp_path, edit) -> Path:
    """m.keras with its weights file edited by `edit(h5)`."""
    members = _members(tmp_path)
    h5_path = tmp_path / "w.h5"
    h5_path.write_bytes(members["model.weights.h5"])
    with h5py.File(h5_path, "a") as f:
        edit(f)
    members["model.weights.h5"] = h5_path.read_bytes()
    _zip(tmp_path / "m.keras", members)
    return tmp_path / "m.keras"


def test_wrong_weight_shape_names_layer_and_weight(tmp_path):
    def edit(f):
        del f["layers/dense_1/vars/0"]
        f["layers/dense_1/vars"].create_dataset("0", data=np.zeros((5, 2), np.float32))

    with pytest.raises(DefinitionError) as e:
        load_keras_file(_rewrite_weights(tmp_path, edit))
    msg = str(e.value)
    assert "m.keras:model.weights.h5" in msg and "'b' (Dense)" in msg and "kernel" in msg
    assert "(5, 2)" in msg and "expected (3, 2)" in msg


def test_missing_layer_group(tmp_path):
    with pytest.raises(DefinitionError, match="no group 'layers/dense_1/vars'") as e:
        load_keras_file(_rewrite_weights(tmp_path, lambda f: f.__delitem__("layers/dense_1")))
    assert "'b' (Dense)" in str(e.value)


def test_recorded_layer_name_finds_a_group_under_another_key(tmp_path):
    """The class-derived key is primary; the `vars` group's `name` attribute is the fallback
    when that key is absent."""
    model = _small_model()
    path = _rewrite_weights(tmp_path, lambda f: f.move("layers/dense_1", "layers/moved"))
    loaded = load_keras_file(path).model
    for a, b, init in zip(loaded.get_weights(), model.get_weights(),
                          _small_model(trained=False).get_weights()):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, init)


def test_keras_2_13_top_group_name(tmp_path):
    """tf.keras 2.13 wrote the Keras 3 layout under _layer_checkpoint_dependencies."""
    path = _rewrite_weights(tmp_path, lambda f: f.move("layers",
                                                       "_layer_checkpoint_dependencies"))
    for a, b in zip(load_keras_file(path).model.get_weights(), _small_model().get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_dtype_and_external_storage_are_refused(tmp_path):
    def int_kernel(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", data=np.zeros((4, 3), np.int32))

    with pytest.raises(DefinitionError, match="dtype int32"):
        load_keras_file(_rewrite_weights(tmp_path, int_kernel))
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones((4, 3), np.float32).tobytes())

    def external(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", shape=(4, 3), dtype=np.float32,
                                              external=[(str(secret), 0, 48)])

    with pytest.raises(DefinitionError, match="outside the file"):
        load_keras_file(_rewrite_weights(tmp_path, external))

    def soft_link(f):
        del f["layers/dense_1"]
        f["layers/dense_1"] = h5py.SoftLink("/layers/dense")

    with pytest.raises(DefinitionError, match="SoftLink"):
        load_keras_file(_rewrite_weights(tmp_path, soft_link))


def test_extra_weights_in_file_are_an_error(tmp_path):
    def add_layer(f):
        f.create_group("layers/dense_2/vars").create_dataset("0", data=np.zeros(2, np.float32))

    with pytest.raises(DefinitionError, match="layers the model does not have"):
        load_keras_file(_rewrite_weights(tmp_path, add_layer))


def test_lambda_layer_is_refused_without_touching_its_code(tmp_path):
    canary = tmp_path / "canary"
    # Marshalled bytecode that would create the canary if anything ever ran it.
    code = compile(f"open({str(canary)!r}, 'w').write('ran')", "<lambda>", "exec")
    import base64
    import marshal

    members = _members(tmp_path)
    config = json.loads(members["config.json"])
    config["config"]["layers"].insert(2, {
        "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
        "config": {"name": "lam", "function": {
            "class_name": "__lambda__", "config": {
                "code": base64.b64encode(marshal.dumps(code)).decode(),
                "defaults": None, "closure": None}}}})
    members["config.json"] = json.dumps(config).encode()
    _zip(tmp_path / "m.keras", members)
    with pytest.raises(DefinitionError, match="Lambda"):
        load_keras_file(tmp_path / "m.keras")
    assert not canary.exists()


def test_weights_only_h5_needs_its_model(tmp_path):
    model = _small_model()
    save_keras(model, tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        (tmp_path / "w.h5").write_bytes(zf.read("model.weights.h5"))
    with pytest.raises(DefinitionError, match="weights only") as e:
        load_keras_file(tmp_path / "w.h5")
    assert "w.h5" in str(e.value)
    # ... and into a model with the same architecture it loads.
    fresh = _small_model(trained=False)
    load_keras_weights_file(tmp_path / "w.h5", fresh)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_missing_json_weights_and_non_hdf5(tmp_path):
    (tmp_path / "w.weights.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DefinitionError, match="not an HDF5 file"):
        load_keras_weights_file(tmp_path / "w.weights.h5", _small_model())
    with pytest.raises(DefinitionError, match="does not exist"):
        load_keras_file(tmp_path / "nope.keras")


def test_missing_h5py_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(UsageError, match="h5py") as e:
        save_keras(_small_model(), tmp_path / "m.keras")
    assert "pip install 'seqc[keras]'" in str(e.value)
    assert not (tmp_path / "m.keras").exists()


def test_class_keys_follow_keras_naming():
    assert kh5.keras_snake_case("PReLU") == "p_re_lu"
    assert kh5.keras_snake_case("Conv2DTranspose") == "conv2d_transpose"
    used: dict[str, int] = {}
    keys = [kh5.unique_key("dense", used) for _ in range(12)]
    assert keys[:3] == ["dense", "dense_1", "dense_2"] and keys[11] == "dense_11"
    assert sorted(keys).index("dense_10") < sorted(keys).index("dense_2")
