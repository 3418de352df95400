"""Keras 1/2's legacy Highway layer read into seqc's Highway: a Keras 2.2.4 model JSON written
by hand from keras/legacy/layers.py's get_config (Keras 2 is not installed), its .h5 weights in
Keras 2's order (W, W_carry, b, b_carry) checked against a NumPy reference of Keras 2's call(),
the gate bias each Keras started at, and Keras 1 / keras.legacy scripts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqc.errors import SeqcError
from seqc.frontend.keras_json import load_keras_json

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "keras2" / "keras_2_2_4_highway.json"


def _weights(defn):
    return dict(zip(defn.model.graph.param_specs, defn.model.get_weights()))


def test_keras2_json_maps_to_highway():
    defn = load_keras_json(FIXTURE)
    g = defn.model.graph
    assert [n.op for n in g.nodes] == ["Dense", "Highway", "Highway", "Dense", "Activation"]
    hw1, hw2 = g.nodes[1], g.nodes[2]
    assert hw1.attrs.activation == "relu" and hw2.attrs.activation == "linear"
    assert hw1.attrs.use_bias is True
    # W_regularizer acts on W, seqc's kernel (Keras 2 never regularized W_carry).
    assert dict(hw2.training_args) == {"kernel_regularizer": {
        "class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}}}
    w = _weights(defn)
    # Keras 2 started b_carry (the transform gate's bias) at 1 and b at 0.
    np.testing.assert_array_equal(w["highway_1/transform_bias"], np.ones(6, np.float32))
    np.testing.assert_array_equal(w["highway_1/bias"], np.zeros(6, np.float32))


def _keras2_highway(x, W, W_carry, b, b_carry, act):
    """keras/legacy/layers.py Highway.call (Keras 2.2.4), line by line."""
    transform_weight = 1.0 / (1.0 + np.exp(-(x @ W_carry + b_carry)))
    out = act(x @ W + b) * transform_weight
    return out + (1 - transform_weight) * x


def test_keras2_h5_weights_load_in_keras2_order(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    shapes = {"dense_1": [("kernel", (4, 6)), ("bias", (6,))],
              "highway_1": [("W", (6, 6)), ("W_carry", (6, 6)), ("b", (6,)), ("b_carry", (6,))],
              "highway_2": [("W", (6, 6)), ("W_carry", (6, 6)), ("b", (6,)), ("b_carry", (6,))],
              "dense_2": [("kernel", (6, 1)), ("bias", (1,))]}
    values = {ln: {n: rng.normal(size=s).astype(np.float32) for n, s in ws}
              for ln, ws in shapes.items()}
    (tmp_path / "m.json").write_text(FIXTURE.read_text())
    with h5py.File(tmp_path / "m.h5", "w") as f:  # Keras 2's save_weights layout
        f.attrs["layer_names"] = np.array([n.encode() for n in shapes])
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.2.4"
        for ln, ws in shapes.items():
            g = f.create_group(ln)
            names = [f"{ln}/{n}:0" for n, _ in ws]
            g.attrs["weight_names"] = np.array([n.encode() for n in names])
            for (n, _), full in zip(ws, names):
                g.create_dataset(full, data=values[ln][n])
    from seqc.frontend.keras_files import load_keras_file

    defn = load_keras_file(tmp_path / "m.json")
    x = rng.normal(size=(5, 4)).astype(np.float32)
    v = {ln: {n: a.astype(np.float64) for n, a in ws.items()} for ln, ws in values.items()}
    h = x @ v["dense_1"]["kernel"] + v["dense_1"]["bias"]
    h = _keras2_highway(h, *v["highway_1"].values(), lambda z: np.maximum(z, 0))
    h = _keras2_highway(h, *v["highway_2"].values(), lambda z: z)
    want = 1 / (1 + np.exp(-(h @ v["dense_2"]["kernel"] + v["dense_2"]["bias"])))
    np.testing.assert_allclose(defn.model.predict(x), want, atol=1e-5)
    w = _weights(defn)
    np.testing.assert_array_equal(w["highway_1/transform_kernel"], values["highway_1"]["W_carry"])
    np.testing.assert_array_equal(w["highway_1/transform_bias"], values["highway_1"]["b_carry"])


def _with_highway(tmp_path, extra):
    doc = json.loads(FIXTURE.read_text())
    doc["config"]["layers"][1]["config"].update(extra)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    return path


def test_keras1_transform_bias_sets_the_gate_bias(tmp_path):
    defn = load_keras_json(_with_highway(tmp_path, {"transform_bias": -2, "bias": True}))
    np.testing.assert_array_equal(_weights(defn)["highway_1/transform_bias"],
                                  np.full(6, -2.0, np.float32))


@pytest.mark.parametrize("extra,match", [({"transform_bias": "x"}, "transform_bias"),
                                         ({"kernel_initializer": "zeros"}, "kernel_initializer"),
                                         ({"W_constraint": {"class_name": "Nope"}},
                                          "kernel_constraint")])
def test_bad_legacy_highway_configs(tmp_path, extra, match):
    """A Keras 1 value seqc cannot read, both spellings of one argument, and a custom
    constraint on W (loading goes on, training refuses naming kernel_constraint)."""
    with pytest.raises(SeqcError, match=match) as e:
        defn = load_keras_json(_with_highway(tmp_path, extra))
        defn.model.compile("adam", "mse")
        defn.model.fit(np.zeros((2, 4), np.float32), np.zeros((2, 1), np.float32), verbose=0)
    assert "highway_1" in str(e.value) and "Received" in str(e.value)


def test_seqc_named_config_keeps_seqc_default(tmp_path):
    doc = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 3], "name": "in"}},
        {"class_name": "Highway", "config": {"name": "hw", "activation": "tanh"}}]},
        "keras_version": "3.5.0"}
    path = tmp_path / "k3.json"
    path.write_text(json.dumps(doc))
    w = _weights(load_keras_json(path))
    np.testing.assert_array_equal(w["hw/transform_bias"], np.full(3, -1.0, np.float32))


SCRIPT = """
from keras.models import Sequential
from keras.layers import Dense{imp}
model = Sequential()
model.add(Dense(6, input_dim=4))
model.add(Highway({args}))
model.compile(loss='mse', optimizer='sgd')
"""


@pytest.mark.parametrize("imp,args,gate", [
    (", Highway", "init='glorot_uniform', transform_bias=-2, activation='relu'", -2.0),
    ("\nfrom keras.legacy.layers import Highway", "activation='relu'", -1.0),
    (", Highway", "init='glorot_uniform', activation='relu'", -2.0),  # Keras 1's default
])
def test_scripts(tmp_path, imp, args, gate):
    from seqc.frontend.pyscript import load_script

    path = tmp_path / "s.py"
    path.write_text(SCRIPT.format(imp=imp, args=args))
    defn = load_script(path)
    node = defn.model.graph.nodes[1]
    assert node.op == "Highway" and node.attrs.activation == "relu"
    np.testing.assert_array_equal(_weights(defn)["highway/transform_bias"],
                                  np.full(6, gate, np.float32))
    noted = any("transform_bias_initializer to choose" in n for n in defn.notes)
    assert noted == (gate == -1.0), defn.notes
