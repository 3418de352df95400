"""Keras model JSON of every version -> seqc: real Keras 3 `to_json()` for every layer kind's
examples (same IR, same predictions on Keras' weights), hand-written Keras 2.0 / tf.keras 2.4 /
2.15 fixtures with their per-version semantics, compile settings, and bad inputs."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from seqc.errors import DefinitionError, UsageError
from seqc.frontend.keras_json import (
    TRUNC_STD,
    canonical_initializer,
    detect_version,
    is_keras_json,
    keras_definition,
    keras_doc_to_spec,
    load_keras_json,
)
from seqc.frontend.spec import definition_from_doc
from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.types import batched
from seqc.ops import REGISTRY
from seqc.ops._activations import HARD_SIGMOID_KERAS2

os.environ.setdefault("KERAS_BACKEND", "torch")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras2"
KERAS20 = FIXTURES / "keras_2_0_8_list.json"
TF24 = FIXTURES / "tf_keras_2_4.json"
TF215 = FIXTURES / "tf_keras_2_15.json"


def _doc(path: Path) -> dict:
    return json.loads(path.read_text())


def _load_doc(doc: dict, file: str = "model.json"):
    spec, info = keras_doc_to_spec(doc, file)
    return definition_from_doc(spec, file, b""), info


def _keras():
    return pytest.importorskip("keras")


def hard_sigmoid2(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


# ---------------------------------------------------------------- (1) real Keras 3

EXAMPLES = [pytest.param(kind, ex, id=f"{kind}-{i}")
            for kind, op in sorted(REGISTRY.items()) if kind != "InputLayer"
            for i, ex in enumerate(op.examples)
            if ex.keras and ex.input_shapes is None]  # Sequential models: one-input kinds


def _keras_model(keras, kind, ex):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))
    from test_ops_keras_parity import keras_layer

    try:
        layer = keras_layer(kind, ex.config)
        return keras.Sequential([keras.Input(ex.input_shape, dtype=ex.input_dtype), layer])
    except Exception as e:  # noqa: BLE001 - an example Keras itself refuses (e.g. a mode)
        pytest.skip(f"Keras cannot build this example: {type(e).__name__}")


def _canonical(op, config: dict) -> dict:
    """A node's config with initializers in one spelling and wrapped layers likewise."""
    out = {}
    for k, v in config.items():
        if k.endswith("_initializer"):
            v = canonical_initializer(v)
        elif k in ("layer", "backward_layer") and isinstance(v, dict):
            inner = REGISTRY[v["class_name"]]
            v = {"class_name": v["class_name"], "config": _canonical(inner, v["config"])}
        out[k] = v
    return out


def _node_configs(graph):
    return [(n.op, _canonical(REGISTRY[n.op], REGISTRY[n.op].attrs_to_config(n.attrs)))
            for n in graph.nodes]


def _random_weights(keras_model, rng):
    out = []
    for v, w in zip(keras_model.weights, keras_model.get_weights()):
        w = np.asarray(w)
        if w.dtype.kind != "f":
            out.append(w)
            continue
        w = rng.normal(size=w.shape).astype(w.dtype)
        if "variance" in v.path:  # BatchNormalization / Normalization variances stay positive
            w = np.abs(w) + 0.5
        out.append(w)
    return out


def example_input(ex, rng, n: int) -> np.ndarray:
    """`n` rows for a registry example (unknown sizes as 4) in its input range and dtype."""
    shape = tuple(4 if d is None else d for d in ex.input_shape)
    lo, hi = ex.input_range
    if np.issubdtype(np.dtype(ex.input_dtype), np.floating):
        return rng.uniform(lo, hi, size=(n, *shape)).astype(ex.input_dtype)
    return rng.integers(int(lo), int(hi), size=(n, *shape)).astype(ex.input_dtype)


@pytest.mark.parametrize("kind,ex", EXAMPLES)
def test_keras3_to_json_same_ir_and_predictions(kind, ex):
    keras = _keras()
    km = _keras_model(keras, kind, ex)
    doc = json.loads(km.to_json())
    if kind == "Activation" and isinstance(ex.config["activation"], dict):
        # Keras serializes the bound lambda the parity harness builds: code, refused.
        with pytest.raises(DefinitionError, match="never runs code"):
            keras_doc_to_spec(doc, "m.json")
        return
    if not ex.input_shape:
        with pytest.raises(DefinitionError, match="input shape"):
            keras_doc_to_spec(doc, "m.json")
        return
    defn, info = _load_doc(doc, "m.json")
    assert info.version == "keras3"
    assert [r.class_name for r in info.layers] == [type(km.layers[0]).__name__]
    assert info.layers[0].name == km.layers[0].name
    config = copy.deepcopy(ex.config)
    if kind == "GroupNormalization" and config.get("groups") == -1:
        config["groups"] = km.layers[0].groups  # Keras' build resolves -1 to the channel count
    want = build_graph("want", batched(tuple(ex.input_shape), ex.input_dtype),
                       [LayerConfig(kind, config)])
    assert _node_configs(defn.model.graph) == _node_configs(want)

    rng = np.random.default_rng(7)
    weights = _random_weights(km, rng)
    km.set_weights(weights)
    defn.model.set_weights(weights)
    x = example_input(ex, rng, 3)
    want_y = np.asarray(km.predict(x, verbose=0))
    got_y = defn.model.predict(x)
    np.testing.assert_allclose(got_y, want_y, atol=1e-5, rtol=1e-5)


def test_keras3_functional_chain_loads_like_sequential():
    keras = _keras()
    inp = keras.Input((6,))
    x = keras.layers.Dense(4, activation="relu", name="d1")(inp)
    x = keras.layers.Reshape((2, 2))(x)
    out = keras.layers.GRU(3, name="g")(x)
    km = keras.Model(inp, out)
    defn, info = _load_doc(json.loads(km.to_json()))
    assert [r.name for r in info.layers] == ["d1", "reshape", "g"] or \
        [r.class_name for r in info.layers] == ["Dense", "Reshape", "GRU"]
    rng = np.random.default_rng(1)
    weights = _random_weights(km, rng)
    km.set_weights(weights)
    defn.model.set_weights(weights)
    x = rng.normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_allclose(defn.model.predict(x), km.predict(x, verbose=0), atol=1e-5)


def test_keras3_compile_config_and_build_config():
    keras = _keras()
    km = keras.Sequential([keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)])
    km.build((None, 5))
    km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse",
               metrics=["mae", keras.metrics.RootMeanSquaredError()])
    doc = json.loads(km.to_json())
    spec, info = keras_doc_to_spec(doc, "m.json")
    opt = info.compile["optimizer"]
    assert opt["type"] == "Adam" and opt["learning_rate"] == pytest.approx(0.01)
    assert info.compile["loss"] == "mse"
    assert info.compile["metrics"][0] == "mae"
    assert info.compile["metrics"][1]["type"] == "RootMeanSquaredError"
    assert spec["compile"] == info.compile
    defn = definition_from_doc(spec, "m.json", b"")
    assert defn.model.graph.input_type.shape == (None, 5)
    defn.model.compile(**info.compile)  # seqc accepts the mapped kwargs
    assert defn.model.compiled.optimizer.learning_rate == pytest.approx(0.01)

    # A model never built has no input shape anywhere: a clear error.
    km2 = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(DefinitionError, match="no input shape") as e:
        keras_doc_to_spec(json.loads(km2.to_json()), "m.json")
    assert "Received:" in str(e.value) and "hint:" in str(e.value)


def test_keras3_hard_sigmoid_matches_keras3():
    keras = _keras()
    km = keras.Sequential([keras.Input((9,)), keras.layers.Activation("hard_sigmoid")])
    defn, info = _load_doc(json.loads(km.to_json()))
    x = np.linspace(-4, 4, 9, dtype=np.float32)[None]
    np.testing.assert_allclose(defn.model.predict(x), km.predict(x, verbose=0), atol=1e-6)
    assert not np.allclose(defn.model.predict(x), hard_sigmoid2(x), atol=1e-3)


# ---------------------------------------------------------------- (2) Keras 2 fixtures

def _np_lstm(x, k, r, b, act_rec):
    n, t, _ = x.shape
    u = r.shape[0]
    h = np.zeros((n, u))
    c = np.zeros((n, u))
    ys = []
    for s in range(t):
        z = x[:, s] @ k + h @ r + b
        i, f, g, o = (z[:, j * u:(j + 1) * u] for j in range(4))
        c = act_rec(f) * c + act_rec(i) * np.tanh(g)
        h = act_rec(o) * np.tanh(c)
        ys.append(h)
    return np.stack(ys, 1)


def _np_gru_reset_before(x, k, r, b, act_rec):
    """Keras 2's GRU (reset_after=False): r multiplies h before the recurrent product."""
    n, t, _ = x.shape
    u = r.shape[0]
    h = np.zeros((n, u))
    for s in range(t):
        xz, xr, xh = (x[:, s] @ k[:, j * u:(j + 1) * u] + b[j * u:(j + 1) * u] for j in range(3))
        z = act_rec(xz + h @ r[:, :u])
        rr = act_rec(xr + h @ r[:, u:2 * u])
        hh = np.tanh(xh + (rr * h) @ r[:, 2 * u:])
        h = z * h + (1 - z) * hh
    return h


def test_keras_2_0_list_fixture_semantics():
    defn = load_keras_json(KERAS20)
    info = defn.extra["keras"]
    assert defn.format == "keras-json" and info.version == "keras2.0"
    assert [(r.name, r.class_name) for r in info.layers] == [
        ("lstm_1", "LSTM"), ("gru_1", "GRU"), ("dense_1", "Dense"),
        ("leaky_re_lu_1", "LeakyReLU"), ("dropout_1", "Dropout"), ("dense_2", "Dense")]
    assert info.compile is None
    g = defn.model.graph
    assert g.input_type.shape == (None, 5, 3)
    nodes = {n.name: n for n in g.nodes}
    assert dict(nodes["lstm_1"].attrs.recurrent_activation) == HARD_SIGMOID_KERAS2
    assert dict(nodes["gru_1"].attrs.recurrent_activation) == HARD_SIGMOID_KERAS2
    assert nodes["gru_1"].attrs.reset_after is False  # no key in 2.0.8: the classic GRU
    assert nodes["lstm_1"].attrs.kernel_initializer == "glorot_uniform"  # VarianceScaling form
    assert nodes["leaky_re_lu_1"].attrs.negative_slope == pytest.approx(0.1)
    # Keras 2.0's VarianceScaling "normal": truncated normal with stddev sqrt(scale / n),
    # no truncation correction = seqc's corrected one at scale * 0.8796^2.
    ki = dict(nodes["dense_1"].attrs.kernel_initializer)
    assert ki["type"] == "variance_scaling"
    assert ki["scale"] == pytest.approx(2.0 * TRUNC_STD ** 2)
    assert dict(nodes["dense_2/activation"].attrs.activation) == HARD_SIGMOID_KERAS2

    # Numerically: the model is Keras 2's maths, hard_sigmoid = clip(0.2x + 0.5, 0, 1).
    rng = np.random.default_rng(0)
    ws = [rng.normal(0, 0.8, size=w.shape).astype(np.float32) for w in defn.model.get_weights()]
    defn.model.set_weights(ws)
    x = rng.normal(0, 2, size=(4, 5, 3)).astype(np.float32)
    h = _np_lstm(x.astype(np.float64), *ws[0:3], hard_sigmoid2)
    h = _np_gru_reset_before(h, *ws[3:6], hard_sigmoid2)
    h = h @ ws[6] + ws[7]
    h = np.where(h > 0, h, 0.1 * h)
    want = hard_sigmoid2(h @ ws[8] + ws[9])
    np.testing.assert_allclose(defn.model.predict(x), want, atol=1e-5)


def test_missing_recurrent_keys_take_the_versions_defaults():
    doc = _doc(KERAS20)
    for layer in doc["config"][:2]:
        del layer["config"]["recurrent_activation"]
    defn, _ = _load_doc(doc)
    lstm, gru = defn.model.graph.nodes[:2]
    assert dict(lstm.attrs.recurrent_activation) == HARD_SIGMOID_KERAS2
    assert dict(gru.attrs.recurrent_activation) == HARD_SIGMOID_KERAS2
    assert gru.attrs.reset_after is False

    doc = _doc(TF24)  # tf.keras 2.x: TF 2's defaults (sigmoid, reset_after=True)
    for layer in doc["config"]["layers"][1:4]:
        layer["config"].pop("recurrent_activation")
        layer["config"].pop("reset_after", None)
    defn, _ = _load_doc(doc)
    lstm, gru, gru1 = defn.model.graph.nodes[:3]
    assert lstm.attrs.recurrent_activation == "sigmoid"
    assert gru.attrs.reset_after is True and gru1.attrs.reset_after is True


def test_tf_keras_2_4_fixture_semantics():
    defn = load_keras_json(TF24)
    info = defn.extra["keras"]
    assert info.version == "tf.keras2"
    assert [r.class_name for r in info.layers] == ["LSTM", "GRU", "GRU", "Dense", "LeakyReLU",
                                                   "Activation", "Dense"]
    g = defn.model.graph
    assert g.input_type.shape == (None, 6, 4)
    nodes = {n.name: n for n in g.nodes}
    assert dict(nodes["lstm"].attrs.recurrent_activation) == HARD_SIGMOID_KERAS2
    assert nodes["gru"].attrs.reset_after is True
    assert nodes["gru_1"].attrs.reset_after is False
    assert nodes["dense/activation"].attrs.activation == "silu"  # Keras 2's "swish"
    assert nodes["leaky_re_lu"].attrs.negative_slope == pytest.approx(0.2)  # `alpha`
    assert dict(nodes["activation"].attrs.activation) == HARD_SIGMOID_KERAS2
    # GRU reset_after=True keeps separate input and recurrent biases, as in tf.keras.
    shapes = [w.shape for w in defn.model.get_weights()]
    assert shapes[5] == (2, 12) and shapes[8] == (9,)
    x = np.random.default_rng(2).normal(size=(3, 6, 4)).astype(np.float32)
    y = defn.model.predict(x)
    assert y.shape == (3, 2) and np.allclose(y.sum(1), 1, atol=1e-5)


def test_keras2_hard_sigmoid_activation_is_0_2x_plus_0_5():
    def doc(version_keys: dict, act_layer: dict) -> dict:
        return {"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 9],
                                                    "dtype": "float32", "name": "in"}},
            act_layer]}, **version_keys}

    x = np.linspace(-4, 4, 9, dtype=np.float32)[None]
    layer = {"class_name": "Activation", "config": {"name": "a", "trainable": True,
                                                    "dtype": "float32",
                                                    "activation": "hard_sigmoid"}}
    k2, _ = _load_doc(doc({"keras_version": "2.4.0", "backend": "tensorflow"}, layer))
    np.testing.assert_allclose(k2.model.predict(x), hard_sigmoid2(x), atol=1e-7)
    # The same layer in Keras 3's file format means Keras 3's function.
    k3_layer = {"module": "keras.layers", "class_name": "Activation", "registered_name": None,
                "config": {"name": "a", "trainable": True, "activation": "hard_sigmoid",
                           "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                     "config": {"name": "float32"}, "registered_name": None}}}
    k3_doc = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "s", "layers": [
                  {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                   "config": {"batch_shape": [None, 9], "dtype": "float32", "name": "in"}},
                  k3_layer]}}
    k3, info = _load_doc(k3_doc)
    assert info.version == "keras3"
    np.testing.assert_allclose(k3.model.predict(x), np.clip(x + 3, 0, 6) / 6, atol=1e-7)


def test_tf_keras_2_15_fixture_with_module_keys():
    defn = load_keras_json(TF215)
    info = defn.extra["keras"]
    assert info.version == "tf.keras2"  # module keys, but keras_version 2.15.0
    bidi = info.layers[2]
    assert bidi.class_name == "Bidirectional"
    assert [(r.name, r.class_name) for r in bidi.inner] == [("forward_lstm_1", "LSTM"),
                                                            ("backward_lstm_1", "LSTM")]
    assert [(r.name, r.class_name) for r in info.layers[3].inner] == [("dense_3", "Dense")]
    nodes = {n.name: n for n in defn.model.graph.nodes}
    assert nodes["batch_normalization"].attrs.axis == 2  # tf.keras' built axis list [2]
    assert nodes["conv1d/activation"].attrs.activation == "silu"
    inner = nodes["bidirectional"].attrs.layer["config"]
    assert dict(inner["recurrent_activation"]) == HARD_SIGMOID_KERAS2
    td = nodes["time_distributed"].attrs.layer["config"]
    assert dict(td["activation"]) == HARD_SIGMOID_KERAS2
    assert nodes["leaky_re_lu_1"].attrs.negative_slope == pytest.approx(0.3)
    x = np.random.default_rng(3).normal(size=(2, 8, 3)).astype(np.float32)
    y = defn.model.predict(x)
    assert y.shape == (2, 2) and np.isfinite(y).all()


def test_keras2_hard_sigmoid_lstm_exports_as_native_node():
    ort = pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    defn = load_keras_json(KERAS20)
    model = defn.model
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 0.7, size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    onnx_model = to_onnx(model.graph, model.params)
    lstm = [n for n in onnx_model.graph.node if n.op_type in ("LSTM", "GRU")]
    assert [n.op_type for n in lstm] == ["LSTM", "GRU"]
    for n in lstm:
        attrs = {a.name: a for a in n.attribute}
        assert list(attrs["activations"].strings)[0] == b"HardSigmoid"
        assert attrs["activation_alpha"].floats[0] == pytest.approx(0.2)
        assert attrs["activation_beta"].floats[0] == pytest.approx(0.5)
    sess = ort.InferenceSession(onnx_model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    x = rng.normal(0, 2, size=(3, 5, 3)).astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x), atol=1e-5)


@pytest.mark.parametrize("doc,want", [
    ({"class_name": "Sequential", "config": [], "keras_version": "2.0.8"}, "keras2.0"),
    ({"class_name": "Sequential", "config": {"layers": []}, "keras_version": "2.2.4",
      "backend": "theano"}, "keras2.0"),
    ({"class_name": "Sequential", "config": {"layers": []}, "keras_version": "2.2.4-tf",
      "backend": "tensorflow"}, "tf.keras2"),
    ({"class_name": "Sequential", "config": {"layers": []}, "keras_version": "2.15.0",
      "backend": "tensorflow"}, "tf.keras2"),
    ({"class_name": "Sequential", "config": {"layers": [{"module": "keras.layers",
      "class_name": "Dense", "config": {}}]}, "keras_version": "3.4.1"}, "keras3"),
    ({"module": "keras", "class_name": "Sequential", "config": {"layers": []},
      "registered_name": None}, "keras3"),
    ({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {
        "batch_input_shape": [None, 3]}}]}}, "tf.keras2"),
])
def test_version_detection(doc, want):
    assert detect_version(doc)[0] == want


def test_tf_keras_training_config_maps_to_seqc_compile():
    doc = _doc(TF24)
    doc["training_config"] = {  # a legacy .h5's training_config attribute (TF 2.4)
        "loss": {"class_name": "CategoricalCrossentropy", "config": {
            "reduction": "auto", "name": "categorical_crossentropy", "from_logits": False,
            "label_smoothing": 0}},
        "metrics": [[{"class_name": "MeanMetricWrapper", "config": {
            "name": "accuracy", "dtype": "float32", "fn": "categorical_accuracy"}}]],
        "weighted_metrics": None, "loss_weights": None,
        "optimizer_config": {"class_name": "Adam", "config": {
            "name": "Adam", "learning_rate": 0.002, "decay": 0.0, "beta_1": 0.9,
            "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}}
    defn, info = _load_doc(doc)
    assert info.compile == {
        "optimizer": {"type": "Adam", "learning_rate": 0.002, "beta_1": 0.9, "beta_2": 0.999,
                      "epsilon": 1e-07, "amsgrad": False},
        "loss": {"type": "CategoricalCrossentropy", "name": "categorical_crossentropy",
                 "from_logits": False, "label_smoothing": 0},
        "metrics": ["categorical_accuracy"]}
    assert defn.compile == info.compile
    defn.model.compile(**info.compile)

    doc = _doc(KERAS20)  # Keras 2.0: `lr`, and decay is refused unless 0
    doc["training_config"] = {"optimizer_config": {"class_name": "SGD", "config": {
        "lr": 0.05, "momentum": 0.9, "decay": 0.0, "nesterov": False}},
        "loss": "mean_squared_error", "metrics": ["mae"], "sample_weight_mode": None,
        "loss_weights": None}
    _, info = _load_doc(doc)
    assert info.compile["optimizer"] == {"type": "SGD", "learning_rate": 0.05,
                                         "momentum": 0.9, "nesterov": False}
    doc["training_config"]["optimizer_config"]["config"]["decay"] = 1e-4
    with pytest.raises(DefinitionError, match="decay") as e:
        _load_doc(doc)
    assert "InverseTimeDecay" in str(e.value) and e.value.field == "compile.optimizer.decay"


def test_trainable_and_names_kept():
    doc = _doc(TF24)
    doc["config"]["layers"][4]["config"]["trainable"] = False
    spec, _ = keras_doc_to_spec(doc, "m.json")
    assert spec["layers"][0] == {"type": "InputLayer", "name": "lstm_input", "shape": [6, 4],
                                 "dtype": "float32"}
    assert spec["layers"][4]["name"] == "dense" and spec["layers"][4]["trainable"] is False
    defn = definition_from_doc(spec, "m.json", b"")
    assert {n.name: n.trainable for n in defn.model.graph.nodes}["dense"] is False


def test_dtype_policies():
    doc = _doc(TF24)
    doc["config"]["layers"][4]["config"]["dtype"] = {"class_name": "Policy",
                                                     "config": {"name": "mixed_float16"}}
    defn, _ = _load_doc(doc)  # computed in float32 (documented)
    assert defn.model.graph.output_type.dtype == "float32"
    doc["config"]["layers"][4]["config"]["dtype"] = "float64"
    with pytest.raises(DefinitionError, match="float64") as e:
        _load_doc(doc, "m.json")
    assert "m.json: layers[4] 'dense' (Dense)" in str(e.value)


# ---------------------------------------------------------------- (3) bad inputs

def _with_layer(layer: dict, index: int = 2) -> dict:
    doc = _doc(TF24)
    doc["config"]["layers"].insert(index, layer)
    return doc


def test_regularizers_and_constraints_are_kept_and_custom_ones_block_fit():
    layer = {"class_name": "Dense", "config": {
        "name": "reg", "units": 3,
        "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.01}},
        "kernel_constraint": {"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}},
        "bias_regularizer": {"module": None, "class_name": "MyReg", "config": {},
                             "registered_name": "Custom>MyReg"}}}
    spec, info = keras_doc_to_spec(_with_layer(layer), "model.json")
    dense = next(d for d in spec["layers"] if d.get("name") == "reg")
    assert dense["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert dense["kernel_constraint"]["class_name"] == "MaxNorm"
    assert "bias_regularizer" not in dense
    assert len(info.training_only) == 1 and "reg" in info.training_only[0]
    assert "bias_regularizer" in info.training_only[0]
    defn, _ = keras_definition(_with_layer(layer), "model.json", b"", max_memory=None,
                               format_="keras-json")
    node = defn.model.graph.node("reg")
    assert set(node.training_args) == {"kernel_regularizer", "kernel_constraint"}
    defn.model.compile("sgd", "mse")
    x = np.zeros((2, *defn.model.input_shape[1:]), np.float32)
    with pytest.raises(UsageError, match="custom regularizers") as e:
        defn.model.fit(x, np.zeros((2, *defn.model.output_shape[1:]), np.float32), verbose=0)
    assert "bias_regularizer" in str(e.value) and "'reg'" in str(e.value)


@pytest.mark.parametrize("layer,match,fld", [
    ({"class_name": "Lambda", "config": {
        "name": "lambda", "trainable": True, "dtype": "float32",
        "function": ["4wEAAAAAAAAAAQAAAAIAAABDAAAAcwgAAAB8AGQBFABTACkCTukCAAAAqQApAdoBeHIC",
                     None, None], "function_type": "lambda", "module": "__main__",
        "output_shape": None, "arguments": {}}},
     "replace the Lambda with a built-in layer", "class_name"),
    ({"class_name": "MultiHeadAttention", "config": {"name": "mha", "num_heads": 2}},
     "unknown layer class 'MultiHeadAttention'", "class_name"),
    ({"class_name": "LSTM", "config": {"name": "st", "units": 3, "return_sequences": True,
                                       "stateful": True}}, "stateful", "stateful"),
    ({"class_name": "LSTM", "config": {"name": "tm", "units": 3, "return_sequences": True,
                                       "time_major": True}}, "time_major", "time_major"),
    ({"class_name": "Dense", "config": {"name": "act", "units": 3, "activation": "relux"}},
     "did you mean 'relu'", "activation"),
    ({"class_name": "Dense", "config": {"name": "ini", "units": 3, "kernel_initializer": {
        "class_name": "Fibonacci", "config": {"gain": 1.0}}}}, "unknown initializer",
     "kernel_initializer"),
    ({"class_name": "Sequential", "config": {"name": "inner", "layers": []}}, "nested",
     "class_name"),
    ({"module": "my_package", "class_name": "MyDense", "registered_name": "my_package>MyDense",
      "config": {"name": "custom", "units": 3}}, "custom", "registered_name"),
])
def test_bad_layers_are_clear_errors(layer, match, fld):
    with pytest.raises(DefinitionError, match=match) as e:
        _load_doc(_with_layer(layer), "model.json")
    text = str(e.value)
    name = layer["config"]["name"]
    assert text.startswith(f"model.json: layers[2] '{name}' ({layer['class_name']})"), text
    assert e.value.field.endswith(fld) and "Received:" in text


def test_functional_with_branches_is_a_graph_not_a_spec():
    doc = {"class_name": "Functional", "config": {
        "name": "model", "layers": [
            {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "input_1"}},
            {"class_name": "Dense", "name": "a", "config": {"name": "a", "units": 4},
             "inbound_nodes": [[["input_1", 0, 0, {}]]]},
            {"class_name": "Dense", "name": "b", "config": {"name": "b", "units": 4},
             "inbound_nodes": [[["input_1", 0, 0, {}]]]},
            {"class_name": "Add", "name": "add", "config": {"name": "add"},
             "inbound_nodes": [[["a", 0, 0, {}], ["b", 0, 0, {}]]]}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["add", 0, 0]]},
        "keras_version": "2.4.0", "backend": "tensorflow"}
    with pytest.raises(DefinitionError, match="branches") as e:
        _load_doc(doc, "f.json")  # a spec document holds a chain ...
    assert "hint:" in str(e.value) and "keras_definition" in str(e.value)
    graph = keras_definition(doc, "f.json", b"", max_memory=None, format_="keras-json")[0]
    assert [n.op for n in graph.model.graph.nodes] == ["Dense", "Dense", "Add"]  # ... a graph
    # The same file as a chain input -> a -> b loads (tf.keras 2.x inbound node format).
    doc["config"]["layers"][2]["inbound_nodes"] = [[["a", 0, 0, {}]]]
    doc["config"]["layers"].pop()
    doc["config"]["output_layers"] = [["b", 0, 0]]
    defn, info = _load_doc(doc, "f.json")
    assert [r.name for r in info.layers] == ["a", "b"]
    assert defn.model.output_shape == (None, 4)


def test_missing_input_shape_and_not_keras(tmp_path):
    doc = _doc(KERAS20)
    del doc["config"][0]["config"]["batch_input_shape"]
    with pytest.raises(DefinitionError, match="no input shape") as e:
        _load_doc(doc, "k.json")
    assert "layers[0] 'lstm_1' (LSTM)" in str(e.value)
    spec = {"input_shape": [3], "layers": [{"type": "Dense", "units": 1}]}
    assert not is_keras_json(spec)
    assert is_keras_json(_doc(KERAS20)) and is_keras_json(_doc(TF215))
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(DefinitionError, match="not a Keras model JSON"):
        load_keras_json(path)
