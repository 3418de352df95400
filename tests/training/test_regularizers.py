"""Regularizers and constraints: values, gradients and configs against Keras 3's classes, their
errors, and every frontend's spelling (seqc spec, Keras JSON and .keras, Python scripts) down
to the Node's training_args, the IR JSON and the .keras export read back by real Keras."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError, SeqcError, UsageError
from seqc.ir.serialize import graph_from_json, graph_to_json
from seqc.training import constraints as C
from seqc.training import regularizers as R

os.environ.setdefault("KERAS_BACKEND", "torch")

RNG = np.random.default_rng(11)
W = RNG.normal(size=(5, 4)).astype(np.float32)


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("needs KERAS_BACKEND=torch")
    return keras


REG_CASES = ["l1", "l2", "l1l2", "L1", "L2", "orthogonal_regularizer",
             {"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.03}},
             {"class_name": "L2", "config": {"l2": 0.2}},
             {"class_name": "OrthogonalRegularizer", "config": {"factor": 0.4, "mode": "columns"}}]


@pytest.mark.parametrize("spec", REG_CASES, ids=str)
def test_regularizer_value_and_config_match_keras(spec):
    keras = _keras()
    ours, theirs = R.get(spec), keras.regularizers.get(spec)
    ours_cfg, theirs_cfg = ours.get_config(), theirs.get_config()
    assert ours_cfg.keys() == theirs_cfg.keys()
    for k, v in theirs_cfg.items():
        assert ours_cfg[k] == (v if isinstance(v, str) else pytest.approx(v, rel=1e-6))
    assert ours(W) == pytest.approx(float(theirs(keras.ops.convert_to_tensor(W))), rel=1e-6)
    assert R.get(ours.keras_config()) == ours  # Keras' serialized form round-trips


@pytest.mark.parametrize("spec", REG_CASES, ids=str)
def test_regularizer_gradient_matches_finite_differences(spec):
    reg = R.get(spec)
    w = RNG.normal(size=(4, 3))
    g = reg.grad(w)
    eps = 1e-6
    num = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        d = np.zeros_like(w)
        d[i] = eps
        num[i] = (reg(w + d) - reg(w - d)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)


def test_l1_l2_string_is_tf_keras_default_and_the_class_keras3s():
    assert R.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert R.get({"type": "l1_l2", "l1": 0.1}).get_config() == {"l1": 0.1, "l2": 0.0}
    assert R.l1_l2(l2=0.2) == R.L1L2(0.0, 0.2)


CON_CASES = [("MaxNorm", {"max_value": 0.7, "axis": 0}), ("MaxNorm", {"axis": [0, 1]}),
             ("UnitNorm", {"axis": 1}), ("NonNeg", {}),
             ("MinMaxNorm", {"min_value": 1.2, "max_value": 1.5, "rate": 0.5, "axis": 0})]


@pytest.mark.parametrize("cls,config", CON_CASES)
def test_constraint_matches_keras(cls, config):
    keras = _keras()
    w = RNG.normal(size=(3, 4, 2)).astype(np.float32)
    ours = C.get({"class_name": cls, "config": config})
    theirs = getattr(keras.constraints, cls)(**config)
    np.testing.assert_allclose(ours(w), keras.ops.convert_to_numpy(theirs(w)), rtol=1e-6,
                               atol=1e-7)
    assert ours.get_config() == theirs.get_config()
    assert ours(w).dtype == np.float32


@pytest.mark.parametrize("arg,spec,match", [
    ("kernel_regularizer", "l3", "unknown regularizer 'l3'"),
    ("kernel_regularizer", {"type": "l2", "l2": -1}, "l2"),
    ("kernel_regularizer", {"type": "l2", "factor": 1}, "no argument 'factor'"),
    ("kernel_regularizer", {"type": "OrthogonalRegularizer", "mode": "diag"}, "mode"),
    ("kernel_constraint", "maxnorm", "did you mean 'MaxNorm'"),
    ("kernel_constraint", {"type": "MaxNorm", "axis": 2}, "axis is out of range"),
    ("kernel_regularizer", 3, "must be a name"),
])
def test_bad_specs_name_the_layer_and_argument(arg, spec, match):
    with pytest.raises(DefinitionError, match=match) as e:
        seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(3, **{arg: spec})])
    assert e.value.field.startswith(arg)
    assert "'dense' (Dense)" in str(e.value)


def test_orthogonal_regularizer_needs_a_rank_2_weight():
    with pytest.raises(DefinitionError, match="rank-2") as e:
        seqc.Sequential([seqc.layers.Input((6, 2)), seqc.layers.Conv1D(
            2, 3, kernel_regularizer="orthogonal_regularizer")])
    assert e.value.field == "kernel_regularizer"


def test_arguments_a_kind_does_not_take_are_unknown():
    with pytest.raises(DefinitionError, match="unknown argument 'gamma_regularizer'"):
        seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(3, gamma_regularizer="l2")])
    with pytest.raises(DefinitionError, match="activity_regularizer"):
        seqc.Sequential([seqc.layers.Input((4,)),
                         seqc.layers.ActivityRegularization(activity_regularizer="l2")])
    with pytest.raises(DefinitionError, match="wrapped layer's activity_regularizer"):
        seqc.Sequential([seqc.layers.Input((3, 4)), seqc.layers.TimeDistributed(
            {"type": "Dense", "units": 2, "activity_regularizer": "l2"})])


def test_bias_regularizer_without_a_bias_acts_on_nothing():
    m = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(
        3, use_bias=False, bias_regularizer="l2", bias_constraint="non_neg")])
    from seqc.training.penalties import collect

    assert not collect(m.graph)


def test_python_objects_in_layer_arguments():
    m = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(
        3, kernel_regularizer=R.l2(0.02), kernel_constraint=C.max_norm(2.0))])
    args = m.graph.nodes[0].training_args
    assert R.get(args["kernel_regularizer"]) == R.L2(0.02)
    assert C.get(args["kernel_constraint"]) == C.MaxNorm(2.0)


# ---------------------------------------------------------------- frontends

SPEC = {"name": "reg", "input_shape": [4],
        "layers": [{"type": "Dense", "units": 3, "activation": "relu",
                    "kernel_regularizer": {"type": "l2", "l2": 0.01},
                    "bias_constraint": "non_neg", "activity_regularizer": "l1"},
                   {"type": "RepeatVector", "n": 3},
                   {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2,
                                                       "recurrent_regularizer": "l2"}},
                   {"type": "Dense", "units": 1, "kernel_constraint": {
                       "type": "MaxNorm", "max_value": 3}}],
        "compile": {"optimizer": "sgd", "loss": "mse"}}


def _spec_model(tmp_path):
    path = tmp_path / "reg.json"
    path.write_text(json.dumps(SPEC))
    return seqc.load(path)


def test_seqc_spec_keeps_them_through_the_ir_json(tmp_path):
    m = _spec_model(tmp_path)
    nodes = {n.name: n for n in m.graph.nodes}
    assert nodes["dense"].training_args == {
        "kernel_regularizer": {"type": "l2", "l2": 0.01}, "bias_constraint": "non_neg",
        "activity_regularizer": "l1"}
    # Keras builds the backward layer from the forward one's config: both are regularized.
    assert set(nodes["bidirectional"].training_args) == {
        "layer.recurrent_regularizer", "backward_layer.recurrent_regularizer"}
    back = graph_from_json(json.loads(json.dumps(graph_to_json(m.graph))))
    assert [n.training_args for n in back.nodes] == [n.training_args for n in m.graph.nodes]
    from seqc.training.penalties import collect

    pen = collect(m.graph)
    assert sorted(k for k, _ in pen.regularizers) == [
        "bidirectional/backward/recurrent_kernel", "bidirectional/forward/recurrent_kernel",
        "dense/kernel"]
    assert pen.activity_values == ("dense/activation",)  # the layer's output, after relu


def test_bad_spec_is_located_in_the_file(tmp_path):
    spec = json.loads(json.dumps(SPEC))
    spec["layers"][3]["kernel_constraint"] = {"type": "MaxNorm", "max_valu": 3}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(DefinitionError, match="max_valu") as e:
        seqc.load(path)
    assert "bad.json: 'dense_1' (Dense)" in str(e.value)
    assert e.value.field == "kernel_constraint.max_valu"


def test_keras_export_round_trips_through_real_keras(tmp_path):
    keras = _keras()
    m = _spec_model(tmp_path)
    m.compile("sgd", "mse")
    path = str(tmp_path / "reg.keras")
    m.save(path)
    k = keras.saving.load_model(path)
    dense = k.get_layer("dense").get_config()
    assert dense["kernel_regularizer"]["class_name"] == "L2"
    assert dense["kernel_regularizer"]["config"] == {"l2": 0.01}
    assert dense["bias_constraint"]["class_name"] == "NonNeg"
    assert dense["activity_regularizer"]["class_name"] == "L1"
    bi = k.get_layer("bidirectional")
    assert bi.forward_layer.get_config()["recurrent_regularizer"]["config"] == {"l2": 0.01}
    assert bi.backward_layer.get_config()["recurrent_regularizer"]["config"] == {"l2": 0.01}
    assert k.get_layer("dense_1").get_config()["kernel_constraint"]["config"] == {
        "max_value": 3, "axis": 0}
    # ... and seqc reads Keras' file back to the same penalties.
    again = seqc.load(path)
    from seqc.training.penalties import collect

    a, b = collect(m.graph), collect(again.graph)
    assert a.regularizers == b.regularizers and a.constraints == b.constraints
    assert [r for _, r in a.activity] == [r for _, r in b.activity]


def test_keras2_json_forms(tmp_path):
    # tf.keras 2 writes L1L2 for regularizers.l2(...) in old versions, with float32 factors.
    doc = {"class_name": "Sequential", "keras_version": "2.4.0", "backend": "tensorflow",
           "config": {"name": "s", "layers": [
               {"class_name": "Dense", "config": {
                   "name": "d", "units": 3, "batch_input_shape": [None, 4],
                   "activation": "relu", "use_bias": True,
                   "kernel_regularizer": {"class_name": "L1L2",
                                          "config": {"l1": 0.0, "l2": 0.0010000000474974513}},
                   "bias_regularizer": None, "activity_regularizer": {
                       "class_name": "L2", "config": {"l2": 0.009999999776482582}},
                   "kernel_constraint": {"class_name": "MaxNorm",
                                         "config": {"max_value": 2, "axis": 0}},
                   "bias_constraint": None}},
               {"class_name": "ActivityRegularization",
                "config": {"name": "ar", "l1": 0.01, "l2": 0.0}}]}}
    path = tmp_path / "k2.json"
    path.write_text(json.dumps(doc))
    m = seqc.load(path)
    assert set(m.graph.node("d").training_args) == {
        "kernel_regularizer", "activity_regularizer", "kernel_constraint"}
    assert m.graph.node("ar").op == "ActivityRegularization"
    m.compile("sgd", "mse")
    m.fit(np.ones((4, 4), np.float32), np.ones((4, 3), np.float32), verbose=0)


SCRIPT = """
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers, regularizers
from tensorflow.keras.constraints import MaxNorm

x = np.random.rand(32, 4).astype("float32")
y = np.random.rand(32, 1).astype("float32")
model = tf.keras.Sequential([
    layers.Dense(8, activation="relu", input_shape=(4,),
                 kernel_regularizer=regularizers.l2(0.001),
                 bias_regularizer=tf.keras.regularizers.L1L2(l1=0.01, l2=0.02),
                 kernel_constraint=MaxNorm(3)),
    layers.ActivityRegularization(l1=0.001),
    layers.Dense(1, kernel_constraint=tf.keras.constraints.max_norm(2.),
                 activity_regularizer=regularizers.l1(1e-3)),
])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=1, batch_size=16)
"""


def test_python_script(tmp_path):
    path = tmp_path / "reg.py"
    path.write_text(SCRIPT)
    m = seqc.load(path)
    from seqc.training.penalties import collect

    pen = collect(m.graph)
    assert [(k, r) for k, r in pen.regularizers] == [
        ("dense/kernel", R.L2(0.001)), ("dense/bias", R.L1L2(0.01, 0.02))]
    assert [(k, c) for k, c in pen.constraints] == [
        ("dense/kernel", C.MaxNorm(3)), ("dense_1/kernel", C.MaxNorm(2.0))]
    assert [r for _, r in pen.activity] == [R.L1L2(0.001, 0.0), R.L1(0.001)]


def test_python_script_custom_regularizer_is_refused(tmp_path):
    path = tmp_path / "custom.py"
    path.write_text(SCRIPT.replace("regularizers.l2(0.001)", "regularizers.Entropy(0.1)"))
    with pytest.raises(SeqcError, match="Entropy"):
        seqc.load(path)


def test_python_script_regularizer_class_defined_in_the_script_is_refused(tmp_path):
    path = tmp_path / "custom.py"
    path.write_text(SCRIPT.replace("import numpy as np", "import numpy as np\n\n"
                                   "class MyReg(tf.keras.regularizers.Regularizer):\n"
                                   "    def __call__(self, x):\n"
                                   "        return 0.0\n").replace(
        "regularizers.l2(0.001)", "MyReg()"))
    with pytest.raises(SeqcError, match="an instance of MyReg") as e:
        seqc.load(path)
    assert "kernel_regularizer" in str(e.value) and "keras.regularizers.L2" in str(e.value)


def test_frozen_weights_are_neither_penalized_nor_constrained():
    m = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(
        3, kernel_regularizer="l2", kernel_constraint="non_neg", trainable=False)])
    from seqc.training.penalties import collect

    assert not collect(m.graph).regularizers and not collect(m.graph).constraints
    m.compile("sgd", "mse")
    before = m.get_weights()
    m.fit(np.ones((2, 4), np.float32), np.ones((2, 3), np.float32), verbose=0)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_custom_keras_class_blocks_fit_only(tmp_path):
    m = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(2)])
    m.compile("sgd", "mse")
    m.training_blockers = ["the Keras file trains with custom regularizers or constraints seqc "
                           "has no code for (layers[0] 'dense' (Dense): kernel_regularizer=X)"]
    with pytest.raises(UsageError, match="kernel_regularizer"):
        m.fit(np.ones((2, 4), np.float32), np.ones((2, 2), np.float32), verbose=0)
    assert m.predict(np.ones((1, 4), np.float32)).shape == (1, 2)
