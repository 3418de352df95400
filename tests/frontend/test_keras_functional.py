"""Keras functional models as graphs: real Keras 3 models (residual MLP, Inception-style branch,
shared layer, nested Sequential and Functional models, operator nodes, two inputs and two
outputs) saved by Keras (to_json + weights, .keras, legacy .h5) load into seqc and predict as
Keras does; seqc writes them back as .keras files Keras 3 loads and predicts the same; a Keras 2
functional JSON (Keras 2's inbound_nodes layout) reads into the right graph; errors name the node
and its inputs."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.export.keras_file import keras_config, save_keras
from seqc.frontend.keras_files import load_keras_file
from seqc.frontend.keras_json import keras_definition

h5py = pytest.importorskip("h5py")
TOL = {"atol": 1e-5, "rtol": 1e-5}


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    warnings.filterwarnings("ignore", module="keras")
    return keras


def _twin_encoders(keras):
    """A Siamese head whose shared encoder is a nested Sequential, and a nested Functional
    model with a merge, each called on two tensors (Keras shares their weights)."""
    L = keras.layers
    enc = keras.Sequential([keras.Input((5,)), L.Dense(6, activation="tanh", name="e1"),
                            L.Dense(4, name="e2")], name="encoder")
    fi = keras.Input((4,))
    proj = keras.Model(fi, L.Add(name="join")([L.Dense(4, name="f1")(fi), fi]), name="proj")
    head = L.Dense(1, activation="sigmoid", name="head")
    return lambda a, b: head(L.Subtract()([proj(enc(a)), proj(enc(b))]))


def _models(keras) -> dict:
    """name -> (model, per-input sample shapes)."""
    L, ops = keras.layers, keras.ops

    x = keras.Input((6,), name="x")
    h = L.Dense(8, activation="relu", name="h1")(x)
    r = L.Dense(8, name="h2")(h)
    y = L.Dense(3, activation="softmax")(L.Add()([h, r]))
    residual = keras.Model(x, y, name="residual")

    x = keras.Input((10, 4))
    b1 = L.Conv1D(3, 1, activation="relu")(x)
    b2 = L.Conv1D(3, 3, padding="same", activation="relu")(L.Conv1D(2, 1)(x))
    b3 = L.Conv1D(2, 1)(L.MaxPooling1D(3, strides=1, padding="same")(x))
    c = L.Concatenate()([b1, b2, b3])
    y = L.Dense(2)(L.GlobalAveragePooling1D()(c))
    inception = keras.Model(x, y, name="inception")

    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    enc = L.Dense(4, activation="tanh", name="enc")
    y = L.Dense(1, activation="sigmoid")(L.Subtract()([enc(a), enc(b)]))
    shared = keras.Model([a, b], y, name="siamese")

    x = keras.Input((6,))
    block = keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu", name="b1"),
                              L.Dense(4, name="b2")], name="block")
    fi = keras.Input((4,))
    fo = L.Dense(4, name="dense")(fi)  # the outer model also has a layer named "dense"
    inner_f = keras.Model(fi, L.Add(name="join")([fo, fi]), name="inner_f")
    h = block(x)
    y = L.Dense(2, name="dense")(inner_f(h))
    nested = keras.Model(x, [y, h], name="nested")

    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    s = a + b
    t = s * 2.0
    u = ops.add(t, a)
    v = 1.0 - u / 4.0
    w = ops.concatenate([v, -a, ops.multiply(a, b), ops.maximum(a, b)], axis=-1)
    y = L.Dense(3)(w - 0.5)
    operators = keras.Model([a, b], y, name="operators")

    a, b = keras.Input((3,), name="left"), keras.Input((7, 2), name="right")
    fb = L.Flatten()(b)
    m = L.Concatenate()([L.Dense(4, activation="relu")(a), fb])
    o1 = L.Dense(2, activation="softmax", name="cls")(m)
    o2 = L.Dense(1, name="reg")(L.Multiply()([L.Dense(14)(m), fb]))
    two_io = keras.Model([a, b], [o1, o2], name="two_io")
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    twin = _twin_encoders(keras)
    siamese_nested = keras.Model([a, b], twin(a, b), name="siamese_nested")
    return {"siamese_nested": (siamese_nested, [(5,), (5,)]), "residual": (residual, [(6,)]),
            "inception": (inception, [(10, 4)]),
            "shared": (shared, [(5,), (5,)]), "nested": (nested, [(6,)]),
            "operators": (operators, [(4,), (4,)]), "two_io": (two_io, [(3,), (7, 2)])}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (folder, Keras model, inputs): each model saved by Keras three ways."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    out = {}
    for name, (model, shapes) in _models(keras).items():
        folder = tmp_path_factory.mktemp(name)
        # Non-zero biases, so a bias read into the wrong layer shows.
        model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype)
                           for w in model.get_weights()])
        (folder / "m.json").write_text(model.to_json())
        model.save_weights(folder / "m.weights.h5")
        model.save(folder / "m.keras")
        model.save(folder / "m.h5")
        xs = [rng.normal(size=(5, *s)).astype("float32") for s in shapes]
        out[name] = (folder, model, xs)
    return out


def _listed(y) -> list:
    return list(y) if isinstance(y, (list, tuple)) else [y]


def _max_diff(a, b) -> float:
    return max(float(np.abs(np.asarray(p) - np.asarray(q)).max())
               for p, q in zip(_listed(a), _listed(b)))


NAMES = ["siamese_nested", "residual", "inception", "shared", "nested", "operators", "two_io"]


@pytest.mark.parametrize("fmt", ["m.json", "m.keras", "m.h5"])
@pytest.mark.parametrize("name", NAMES)
def test_keras3_functional_models_predict_as_keras(saved, name, fmt):
    folder, model, xs = saved[name]
    want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    defn = load_keras_file(folder / fmt)
    got = defn.model.predict(xs if len(xs) > 1 else xs[0])
    assert len(_listed(got)) == len(_listed(want))
    for g, w in zip(_listed(got), _listed(want)):
        np.testing.assert_allclose(g, w, **TOL)
    assert len(defn.model.graph.inputs) == len(xs)


@pytest.mark.parametrize("name", NAMES)
def test_seqc_writes_functional_keras_files_keras_loads(saved, name, tmp_path):
    keras = _keras()
    folder, model, xs = saved[name]
    defn = load_keras_file(folder / "m.keras")
    path = save_keras(defn.model, tmp_path / "rt.keras")
    back = keras.saving.load_model(path)
    # The config lists the layers in Keras' own order (which keys the weights file).
    assert [la.name for la in back.layers] == [
        e["name"] for e in keras_config(defn.model)["config"]["layers"]]
    arg = xs if len(xs) > 1 else xs[0]
    assert _max_diff(back.predict(arg, verbose=0), model.predict(arg, verbose=0)) < 1e-5
    # ... and seqc reads its own file back to the same graph.
    again = load_keras_file(path)
    assert _max_diff(again.model.predict(arg), defn.model.predict(arg)) < 1e-6
    ops = [[(n.op, bool(n.shares)) for n in d.model.graph.nodes] for d in (again, defn)]
    if name == "siamese_nested":  # the inlined calls are written as shared layers, in the
        ops = [sorted(o) for o in ops]  # order Keras lists them
    assert ops[0] == ops[1]


@pytest.mark.parametrize("name", ["inception", "operators", "two_io"])
def test_loaded_graphs_export_to_onnx_as_keras_predicts(saved, name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    folder, model, xs = saved[name]
    defn = load_keras_file(folder / "m.keras")
    sess = ort.InferenceSession(defn.model.export(str(tmp_path / "m.onnx")))
    names = [i.name for i in sess.get_inputs()]
    assert names == (["input"] if len(xs) == 1 else list(defn.model.graph.inputs))
    got = sess.run(None, dict(zip(names, xs)))
    assert _max_diff(got, model.predict(xs if len(xs) > 1 else xs[0], verbose=0)) < 1e-5


@pytest.mark.parametrize("optimizer", [("SGD", 0.1), ("Adam", 0.01)])
def test_residual_shared_training_matches_keras(tmp_path, optimizer):
    """5 training steps of a model read from a .keras file: a layer called twice (its
    gradients summed into one set of weights) and a residual Add, against Keras' own."""
    keras = _keras()
    L = keras.layers
    keras.utils.set_random_seed(1)
    x = keras.Input((6,))
    enc = L.Dense(6, activation="tanh", name="enc")
    y = L.Dense(3, activation="softmax", name="out")(L.Add()([enc(enc(x)), x]))
    km = keras.Model(x, y)
    name, lr = optimizer
    km.compile(optimizer=getattr(keras.optimizers, name)(learning_rate=lr),
               loss="sparse_categorical_crossentropy")
    km.save(tmp_path / "r.keras")
    m = load_keras_file(tmp_path / "r.keras").model
    m.compile(optimizer={"type": name, "learning_rate": lr},
              loss="sparse_categorical_crossentropy")
    assert [n.shares for n in m.graph.nodes if n.op == "Dense"] == ["", "enc", ""]
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(16, 6)).astype("float32")
    ys = rng.integers(0, 3, 16)
    for step in range(5):
        k_loss = float(km.train_on_batch(xs, ys))
        hist = m.fit(xs, ys, epochs=1, batch_size=16, shuffle=False, verbose=0)
        assert hist.history["loss"][0] == pytest.approx(k_loss, abs=1e-6), f"step {step}"
        for a, b in zip(m.get_weights(), km.get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-6, rtol=0, err_msg=f"step {step}")


@pytest.mark.parametrize("fmt", ["m.keras", "m.json", "m.h5"])
def test_nested_model_called_twice_trains_as_keras(tmp_path, fmt):
    """A nested Sequential and a nested Functional model each called twice: inlined once per
    call, the second call's layers shared with the first's (weights loaded once, their
    gradients summed); 3 SGD steps against Keras'."""
    keras = _keras()
    keras.utils.set_random_seed(2)
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    km = keras.Model([a, b], _twin_encoders(keras)(a, b))
    km.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy")
    km.save(tmp_path / "m.keras")
    km.save(tmp_path / "m.h5")
    (tmp_path / "m.json").write_text(km.to_json())
    km.save_weights(tmp_path / "m.weights.h5")
    m = load_keras_file(tmp_path / fmt).model
    m.compile(optimizer={"type": "SGD", "learning_rate": 0.1}, loss="binary_crossentropy")
    assert {n.name: n.shares for n in m.graph.nodes if n.shares} == {
        "e1_1": "e1", "e2_1": "e2", "f1_1": "f1", "join_1": "join"}
    assert m.count_params() == km.count_params()
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(16, 5)).astype("float32") for _ in "ab"]
    ys = rng.integers(0, 2, (16, 1)).astype("float32")
    for step in range(3):
        k_loss = float(km.train_on_batch(xs, ys))
        hist = m.fit(xs, ys, epochs=1, batch_size=16, shuffle=False, verbose=0)
        assert hist.history["loss"][0] == pytest.approx(k_loss, abs=1e-6), f"step {step}"
        for p, q in zip(m.get_weights(), km.get_weights()):
            np.testing.assert_allclose(p, q, atol=1e-6, rtol=0, err_msg=f"step {step}")


def test_seqc_built_graph_saves_as_keras_functional(tmp_path):
    """A graph built in seqc (build_dag): a shared layer whose activation needs its own Keras
    layer (relu with max_value), a merge reading one value twice, two outputs."""
    keras = _keras()
    from seqc.ir.build import NodeConfig, build_dag
    from seqc.ir.types import batched
    from seqc.model import Model

    relu6 = {"type": "relu", "max_value": 6.0}
    g = build_dag("g", {"p": batched((3,)), "q": batched((3,))}, [
        NodeConfig("Dense", {"units": 3, "activation": relu6}, name="enc", inputs=["p"]),
        NodeConfig("Dense", name="enc_q", inputs=["q"], shared_with="enc"),
        NodeConfig("Add", name="twice", inputs=["enc", "enc"]),
        NodeConfig("Maximum", name="mx", inputs=["twice", "enc_q"]),
        NodeConfig("Dense", {"units": 2}, name="head", inputs=["mx"])], ["head", "enc_q"])
    model = Model(g, name="g", seed=3)
    back = keras.saving.load_model(save_keras(model, tmp_path / "g.keras"))
    xs = [np.random.default_rng(0).normal(size=(4, 3)).astype("float32") * 5 for _ in "pq"]
    assert _max_diff(back.predict(xs, verbose=0), model.predict(xs)) < 1e-5
    assert len(back.get_layer("enc")._inbound_nodes) == 2 and len(back.weights) == 4


def test_graph_structure(saved):
    g = load_keras_file(saved["shared"][0] / "m.keras").model.graph
    enc = [n for n in g.nodes if n.op == "Dense" and n.name.startswith("enc")]
    assert [n.shares for n in enc] == ["", "enc"]
    assert [k for k in g.param_specs if k.startswith("enc")] == ["enc/kernel", "enc/bias"]
    g = load_keras_file(saved["operators"][0] / "m.h5").model.graph
    ops = [n.op for n in g.nodes]
    # a + b, a * 2.0, ops.add, 1.0 - u / 4.0 (two), -a, ops.concatenate, ops.multiply, - 0.5
    assert ops.count("Add") == 2 and ops.count("Rescaling") == 5 and "Concatenate" in ops
    assert ops.count("Multiply") == 1 and ops.count("Maximum") == 1
    g = load_keras_file(saved["nested"][0] / "m.keras").model.graph
    # The nested models' layers inlined; the inner "dense" keeps its name (read first), the
    # outer one takes the next free name.
    assert [(n.op, n.name) for n in g.nodes] == [
        ("Dense", "b1"), ("Activation", "b1/activation"), ("Dense", "b2"),
        ("Dense", "dense"), ("Add", "join"), ("Dense", "dense_1")]
    assert g.outputs == ("dense_1", "b2")


def test_masks_keras_records_as_call_kwargs(tmp_path):
    """Keras 3 writes the timestep masks it propagates as NotEqual/LogicalOr operator nodes
    passed as `mask=` (and `training=False`): seqc propagates the same masks itself."""
    keras = _keras()
    L = keras.layers
    x = keras.Input((6,), dtype="int32")
    e = L.Embedding(10, 4, mask_zero=True)(x)
    s = L.Add()([L.LSTM(3, return_sequences=True)(e), L.Dense(3)(e)])
    c = L.Concatenate()([L.LSTM(3)(e), L.GRU(3)(e), L.GlobalAveragePooling1D()(s)])
    model = keras.Model(x, L.Dense(2)(L.Dropout(0.1)(c)))
    model.save(tmp_path / "mask.keras")
    doc = json.loads(__import__("zipfile").ZipFile(tmp_path / "mask.keras").read("config.json"))
    kinds = {(e.get("module"), e["class_name"]) for e in doc["config"]["layers"]}
    assert ("keras.src.ops.numpy", "NotEqual") in kinds  # what this test is about
    xs = np.random.default_rng(0).integers(1, 10, (8, 6))
    xs[:, 4:] = 0
    defn = load_keras_file(tmp_path / "mask.keras")
    assert "NotEqual" not in {n.op for n in defn.model.graph.nodes}
    assert _max_diff(defn.model.predict(xs), model.predict(xs, verbose=0)) < 1e-5
    save_keras(defn.model, tmp_path / "rt.keras")
    back = keras.saving.load_model(tmp_path / "rt.keras")
    assert _max_diff(back.predict(xs, verbose=0), model.predict(xs, verbose=0)) < 1e-5
    # A mask on an input that carries none in seqc is an explicit mask: refused.
    emb = next(e for e in doc["config"]["layers"] if e["class_name"] == "Embedding")
    emb["config"]["mask_zero"] = False
    with pytest.raises(DefinitionError, match="explicit mask") as err:
        _load(doc)
    assert "(LSTM)" in str(err.value) and f"inputs ['{emb['config']['name']}']" in str(err.value)


@pytest.mark.parametrize("merge", ["Maximum", "Minimum", "Multiply"])
def test_masked_mask_reading_merges_feed_an_lstm_as_in_keras(merge, tmp_path):
    """Embedding(mask_zero) branches padded differently -> Maximum/Minimum/Multiply -> LSTM:
    the masks choose the merged values (Keras' _apply_merge_op_and_or_mask; Multiply's 1s
    outside each mask and 0s outside their OR) and their OR reaches the LSTM; with one input
    unmasked the merge passes no mask on. Checked in NumPy and ONNX."""
    ort = pytest.importorskip("onnxruntime")
    keras = _keras()
    L = keras.layers
    a, b = keras.Input((6,), dtype="int32"), keras.Input((6,), dtype="int32")
    ea = L.Embedding(10, 4, mask_zero=True)(a)
    eb = L.Embedding(10, 4, mask_zero=True)(b)
    ec = L.Embedding(10, 4)(b)  # unmasked
    both = L.LSTM(3)(getattr(L, merge)()([ea, eb]))
    one = L.LSTM(3)(getattr(L, merge)()([ec, ea]))
    model = keras.Model([a, b], L.Concatenate()([both, one]))
    rng = np.random.default_rng(0)
    xs = [rng.integers(1, 10, (8, 6)).astype("int32") for _ in range(2)]
    for i in range(8):
        xs[0][i, 6 - i % 4:] = 0
        xs[1][i, 3 + i % 3:] = 0
    xs[0][0] = 0  # a sample masked out in one input entirely
    model.save(tmp_path / "m.keras")
    want = model.predict(xs, verbose=0)
    defn = load_keras_file(tmp_path / "m.keras")
    assert _max_diff(defn.model.predict(xs), want) < 1e-5
    sess = ort.InferenceSession(defn.model.export(str(tmp_path / "m.onnx")))
    got = sess.run(None, dict(zip([i.name for i in sess.get_inputs()], xs)))
    assert _max_diff(got, want) < 1e-5


def test_frozen_nested_model_freezes_its_layers(tmp_path):
    keras = _keras()
    L = keras.layers
    block = keras.Sequential([keras.Input((3,)), L.Dense(3, name="f1")], name="frozen")
    block.trainable = False
    x = keras.Input((3,))
    keras.Model(x, L.Dense(2, name="top")(L.Add()([block(x), x]))).save(tmp_path / "f.keras")
    g = load_keras_file(tmp_path / "f.keras").model.graph
    assert {n.name: n.trainable for n in g.nodes if n.op == "Dense"} == {"f1": False,
                                                                          "top": True}
    # The nested model's own flag decides, whatever its layers say.
    import zipfile
    doc = json.loads(zipfile.ZipFile(tmp_path / "f.keras").read("config.json"))
    nested = next(e for e in doc["config"]["layers"] if e["class_name"] == "Sequential")
    for e in nested["config"]["layers"]:
        e["config"]["trainable"] = True
    g = _load(doc)[0].model.graph
    assert [n.trainable for n in g.nodes if n.name == "f1"] == [False]


@pytest.mark.parametrize("fmt", ["m.keras", "m.h5"])
def test_nested_weights_by_keras_path(saved, fmt):
    """The nested models' weights come from their own groups: the .keras file's
    layers/<model>/layers/<layer>, the .h5's group named after the nested model."""
    folder, model, _ = saved["nested"]
    p = load_keras_file(folder / fmt).model.params
    inner = model.get_layer("inner_f").get_layer("dense")
    np.testing.assert_array_equal(p["dense/kernel"], inner.kernel.numpy())
    np.testing.assert_array_equal(p["dense_1/kernel"], model.get_layer("dense").kernel.numpy())
    block = model.get_layer("block").layers
    np.testing.assert_array_equal(p["b2/bias"], block[1].bias.numpy())


def test_per_output_compile_settings_are_read(saved, tmp_path):
    folder, model, xs = saved["two_io"]
    model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy",
                                          "reg": "mse"}, loss_weights={"cls": 1.0, "reg": 0.5})
    model.save(tmp_path / "c.keras")
    defn = load_keras_file(tmp_path / "c.keras")
    assert defn.compile["loss"] == {"cls": "sparse_categorical_crossentropy", "reg": "mse"}
    assert defn.compile["loss_weights"] == {"cls": 1.0, "reg": 0.5} and not defn.notes
    assert _max_diff(defn.model.predict(xs), model.predict(xs, verbose=0)) < 1e-5


# ---------------------------------------------------------------- Keras 2 layout

def _k2_layer(cls, name, config, inbound):
    return {"class_name": cls, "config": {"name": name, "trainable": True, "dtype": "float32",
                                          **config},
            "name": name, "inbound_nodes": inbound}


def _k2_dense(name, units, inbound, activation="linear"):
    return _k2_layer("Dense", name, {
        "units": units, "activation": activation, "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None}, inbound)


def keras2_doc() -> dict:
    """A tf.keras 2.x `model.to_json()` of a two-input model with a shared Dense, a residual
    Add and a Concatenate. Its keys and layout follow a real tf.keras 2.2.4-tf `to_json()`
    output (an iris model, `"class_name": "Model"`) quoted in the public README "Greenplum
    In-Database DL Tools Based On Keras": InputLayer with `batch_input_shape`, `name` beside
    `config`, dtype strings, inbound nodes `[[[layer, node, tensor, kwargs]]]`. Shared calls
    follow Keras 2's `Network.get_config` (keras-team/keras 2.x, keras/engine/network.py): a
    shared layer has one inbound node per call, and its second call's output is
    `[layer, 1, 0]`."""
    layers = [
        _k2_layer("InputLayer", "input_1", {"batch_input_shape": [None, 4], "sparse": False},
                  []),
        _k2_layer("InputLayer", "input_2", {"batch_input_shape": [None, 4], "sparse": False},
                  []),
        _k2_dense("shared", 4, [[["input_1", 0, 0, {}]], [["input_2", 0, 0, {}]]], "relu"),
        _k2_layer("Add", "add_1", {}, [[["shared", 0, 0, {}], ["input_1", 0, 0, {}]]]),
        _k2_layer("Concatenate", "concatenate_1", {"axis": -1},
                  [[["add_1", 0, 0, {}], ["shared", 1, 0, {}]]]),
        _k2_dense("dense_1", 2, [[["concatenate_1", 0, 0, {}]]], "softmax"),
    ]
    return {"class_name": "Model", "keras_version": "2.2.4-tf", "backend": "tensorflow",
            "config": {"name": "model_1", "layers": layers,
                       "input_layers": [["input_1", 0, 0], ["input_2", 0, 0]],
                       "output_layers": [["dense_1", 0, 0]]}}


def _load(doc, file="model.json"):
    raw = json.dumps(doc).encode()
    return keras_definition(doc, file, raw, max_memory=None, format_="keras-json")


def test_keras2_functional_json_reads_into_the_graph():
    defn, info = _load(keras2_doc())
    g = defn.model.graph
    assert g.inputs == ("input_1", "input_2")
    assert [(n.op, n.name, n.inputs, n.shares) for n in g.nodes] == [
        ("Dense", "shared", ("input_1",), ""),
        ("Activation", "shared/activation", ("shared",), ""),
        ("Dense", "shared_1", ("input_2",), "shared"),
        ("Activation", "shared_1/activation", ("shared_1",), ""),
        ("Add", "add_1", ("shared/activation", "input_1"), ""),
        ("Concatenate", "concatenate_1", ("add_1", "shared_1/activation"), ""),
        ("Dense", "dense_1", ("concatenate_1",), ""),
        ("Activation", "dense_1/activation", ("dense_1",), "")]
    assert [r.name for r in info.layers] == ["shared", "add_1", "concatenate_1", "dense_1"]
    assert defn.model.output_shape == (None, 2)
    # Computed as written: relu(x1 W + b) + x1, concatenated with relu(x2 W + b).
    x1, x2 = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    p = defn.model.params
    s1 = np.maximum(x1 @ p["shared/kernel"] + p["shared/bias"], 0)
    s2 = np.maximum(x2 @ p["shared/kernel"] + p["shared/bias"], 0)
    z = np.concatenate([s1 + x1, s2], -1) @ p["dense_1/kernel"] + p["dense_1/bias"]
    want = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(defn.model.predict([x1, x2]),
                               want / want.sum(-1, keepdims=True), atol=1e-6)


def test_shared_layer_whose_later_call_is_read_first():
    """Call 1 of 'shared' reads an input, call 0 a layer listed after it: the calls are
    taken as their inputs become available, and still share one set of weights."""
    doc = keras2_doc()
    layers = doc["config"]["layers"]
    layers[2]["inbound_nodes"] = [[["pre", 0, 0, {}]], [["input_2", 0, 0, {}]]]
    layers.append(_k2_dense("pre", 4, [[["input_1", 0, 0, {}]]]))
    g = _load(doc)[0].model.graph
    dense = [(n.name, n.inputs, n.shares) for n in g.nodes if n.op == "Dense"]
    assert dense == [("shared", ("input_2",), ""), ("pre", ("input_1",), ""),
                     ("shared_0", ("pre",), "shared"), ("dense_1", ("concatenate_1",), "")]
    assert sorted(g.param_specs) == sorted(["shared/kernel", "shared/bias", "pre/kernel",
                                            "pre/bias", "dense_1/kernel", "dense_1/bias"])


def test_keras2_weights_file_fills_the_shared_layer(tmp_path):
    """A Keras 2 style `.h5` (layer_names / weight_names) beside the JSON."""
    doc = keras2_doc()
    (tmp_path / "m.json").write_text(json.dumps(doc))
    rng = np.random.default_rng(1)
    w = {"shared": [rng.normal(size=(4, 4)), rng.normal(size=4)],
         "dense_1": [rng.normal(size=(8, 2)), rng.normal(size=2)]}
    with h5py.File(tmp_path / "m.h5", "w") as f:
        names = ["input_1", "input_2", "shared", "add_1", "concatenate_1", "dense_1"]
        f.attrs["layer_names"] = [n.encode() for n in names]
        for ln in names:
            g = f.create_group(ln)
            wn = [f"{ln}/kernel:0", f"{ln}/bias:0"] if ln in w else []
            g.attrs["weight_names"] = [n.encode() for n in wn]
            for n, arr in zip(wn, w.get(ln, [])):
                g.create_dataset(n, data=arr.astype("float32"))
    defn = load_keras_file(tmp_path / "m.json")
    np.testing.assert_allclose(defn.model.params["shared/kernel"], w["shared"][0], rtol=1e-6)
    np.testing.assert_allclose(defn.model.params["dense_1/bias"], w["dense_1"][1], rtol=1e-6)


def test_keras2_nested_sequential_and_its_weights_group(tmp_path):
    """tf.keras 2.x: a nested Sequential is a layer of the Model; its weights are one group
    named after it, weight_names in its layers' order (`dense_2/kernel:0`, ...)."""
    inner = {"class_name": "Sequential", "name": "seq", "inbound_nodes": [
        [["input_1", 0, 0, {}]]], "config": {"name": "seq", "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4],
                                                    "dtype": "float32", "name": "seq_in"}},
            _k2_dense("dense_2", 3, None, "tanh"), _k2_dense("dense_3", 4, None)]}}
    for e in inner["config"]["layers"][1:]:
        del e["name"], e["inbound_nodes"]
    doc = keras2_doc()
    layers = doc["config"]["layers"]
    layers.insert(2, inner)
    layers[3]["inbound_nodes"][0] = [["seq", 0, 0, {}]]  # shared reads the nested model
    (tmp_path / "m.json").write_text(json.dumps(doc))
    rng = np.random.default_rng(2)
    groups = {"seq": [("dense_2/kernel:0", (4, 3)), ("dense_2/bias:0", (3,)),
                      ("dense_3/kernel:0", (3, 4)), ("dense_3/bias:0", (4,))],
              "shared": [("shared/kernel:0", (4, 4)), ("shared/bias:0", (4,))],
              "dense_1": [("dense_1/kernel:0", (8, 2)), ("dense_1/bias:0", (2,))]}
    arrays = {}
    with h5py.File(tmp_path / "m.h5", "w") as f:
        names = ["input_1", "input_2", "seq", "shared", "add_1", "concatenate_1", "dense_1"]
        f.attrs["layer_names"] = [n.encode() for n in names]
        for ln in names:
            g = f.create_group(ln)
            g.attrs["weight_names"] = [n.encode() for n, _ in groups.get(ln, [])]
            for n, shape in groups.get(ln, []):
                arrays[n] = rng.normal(size=shape).astype("float32")
                g.create_dataset(n, data=arrays[n])
    defn = load_keras_file(tmp_path / "m.json")
    g = defn.model.graph
    assert [n.name for n in g.nodes if n.op == "Dense"] == ["dense_2", "dense_3", "shared",
                                                              "shared_1", "dense_1"]
    p = defn.model.params
    np.testing.assert_array_equal(p["dense_3/kernel"], arrays["dense_3/kernel:0"])
    np.testing.assert_array_equal(p["shared/bias"], arrays["shared/bias:0"])
    x1, x2 = rng.normal(size=(2, 3, 4)).astype("float32")
    h = np.tanh(x1 @ p["dense_2/kernel"] + p["dense_2/bias"]) @ p["dense_3/kernel"] \
        + p["dense_3/bias"]
    s1 = np.maximum(h @ p["shared/kernel"] + p["shared/bias"], 0)
    s2 = np.maximum(x2 @ p["shared/kernel"] + p["shared/bias"], 0)
    z = np.concatenate([s1 + x1, s2], -1) @ p["dense_1/kernel"] + p["dense_1/bias"]
    want = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(defn.model.predict([x1, x2]),
                               want / want.sum(-1, keepdims=True), atol=1e-5)


# ---------------------------------------------------------------- errors

def test_missing_inbound_layer_is_named():
    doc = keras2_doc()
    doc["config"]["layers"][3]["inbound_nodes"] = [[["shared", 0, 0, {}],
                                                    ["input_9", 0, 0, {}]]]
    with pytest.raises(DefinitionError) as e:
        _load(doc)
    text = str(e.value)
    assert "layers[3] 'add_1' (Add)" in text and "'input_9'" in text
    assert "inputs ['shared', 'input_9']" in text and "did you mean" in text


def test_cycle_is_named():
    doc = keras2_doc()
    layers = doc["config"]["layers"]
    layers[3]["inbound_nodes"] = [[["shared", 0, 0, {}], ["concatenate_1", 0, 0, {}]]]
    with pytest.raises(DefinitionError, match="cycle") as e:
        _load(doc)
    assert "'add_1'" in str(e.value) and "concatenate_1[0][0]" in str(e.value)


def test_missing_call_of_a_shared_layer_is_named():
    doc = keras2_doc()
    doc["config"]["layers"][4]["inbound_nodes"] = [[["add_1", 0, 0, {}],
                                                    ["shared", 2, 0, {}]]]
    with pytest.raises(DefinitionError, match="shared\\[2\\]\\[0\\]"):
        _load(doc)


def test_unmodelled_operator_is_refused_by_name():
    doc = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "x"}},
        {"module": "keras.src.ops.numpy", "class_name": "Power", "name": "power",
         "config": {"name": "power"}, "inbound_nodes": [{"args": [
             {"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}},
             2.0], "kwargs": {}}]}],
        "input_layers": [["x", 0, 0]], "output_layers": [["power", 0, 0]]}}
    with pytest.raises(DefinitionError, match="keras.src.ops.numpy.Power") as e:
        _load(doc)
    assert "'power'" in str(e.value)


def test_call_with_tensor_kwargs_is_refused():
    doc = keras2_doc()
    doc["config"]["layers"][5]["inbound_nodes"] = [[["concatenate_1", 0, 0,
                                                     {"mask": ["add_1", 0, 0]}]]]
    with pytest.raises(DefinitionError, match="keyword arguments") as e:
        _load(doc)
    assert "'dense_1'" in str(e.value)


def test_per_output_compile_settings_train_as_keras(tmp_path):
    """A two-output file compiled with {output: loss}, loss_weights and {output: metrics}
    trains in seqc with those settings: the same history keys and values as Keras' fit."""
    keras = _keras()
    import seqc

    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Concatenate()([keras.layers.Dense(5, activation="relu")(a), b])
    reg = keras.layers.Dense(1, name="reg")(h)
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    model = keras.Model([a, b], [reg, cls])
    model.compile(keras.optimizers.SGD(0.1),
                  loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                  loss_weights={"reg": 1.0, "cls": 0.5}, metrics={"cls": ["accuracy"]})
    model.save(tmp_path / "m.keras")
    defn = load_keras_file(tmp_path / "m.keras")
    assert defn.compile["loss"] == {"reg": "mse", "cls": "sparse_categorical_crossentropy"}
    assert defn.compile["metrics"] == {"cls": ["accuracy"]}
    rng = np.random.default_rng(3)
    x = {"a": rng.normal(size=(16, 4)).astype(np.float32),
         "b": rng.normal(size=(16, 3)).astype(np.float32)}
    y = {"reg": rng.normal(size=(16, 1)).astype(np.float32), "cls": rng.integers(0, 3, 16)}
    ours = defn.model
    ours.set_weights(model.get_weights())
    ours.compile(**defn.compile)
    h1 = ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    h2 = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    assert sorted(h1) == sorted(h2)
    for k in h2:
        np.testing.assert_allclose(h1[k], h2[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert isinstance(seqc.__version__, str)


def test_convert_cli_checks_every_input_and_output(saved, tmp_path):
    """`seqc convert` of a two-input, two-output file validates the ONNX on seeded inputs for
    each input, by name, and writes it; onnxruntime then predicts what Keras does."""
    import onnxruntime as ort
    from click.testing import CliRunner

    from seqc.cli import cli

    folder, model, xs = saved["two_io"]
    r = CliRunner().invoke(cli, ["convert", str(folder / "m.keras"), "-o",
                                 str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    assert "all runtimes agree" in r.output
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    feed = dict(zip([i.name for i in sess.get_inputs()], xs))
    for got, want in zip(sess.run(None, feed), model.predict(xs, verbose=0)):
        assert _max_diff(got, want) < 1e-5
