"""Recurrent return_state / initial_state through the readers and the .keras writer: Keras 3
JSON (`initial_state` call kwargs, tensor indices), Keras 2's inbound lists, seqc's JSON spec
(`"from": "enc:1"`), the Python script reader (`out, h, c = LSTM(..., return_state=True)(x)`,
`layer(x, initial_state=[h, c])`), and a .keras file Keras loads back."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError

os.environ.setdefault("KERAS_BACKEND", "torch")


def _seq2seq(keras):
    """Keras' seq2seq shape: an LSTM encoder's [h, c] start the decoder; a GRU decoder's own
    state is an output too."""
    ei = keras.Input((5, 3), name="enc_in")
    di = keras.Input((4, 3), name="dec_in")
    _, h, c = keras.layers.LSTM(6, return_state=True, name="enc")(ei)
    o = keras.layers.LSTM(6, return_sequences=True, name="dec")(di, initial_state=[h, c])
    o2, h2 = keras.layers.GRU(6, return_sequences=True, return_state=True, name="gru")(
        o, initial_state=h)
    y = keras.layers.Dense(3, activation="softmax", name="out")(o2)
    return keras.Model([ei, di], [y, h2, c])


def _inputs(n=5):
    r = np.random.default_rng(0)
    return [r.normal(size=(n, 5, 3)).astype("f4"), r.normal(size=(n, 4, 3)).astype("f4")]


def test_keras_file_and_json_match_keras(tmp_path):
    keras = pytest.importorskip("keras")
    km = _seq2seq(keras)
    km.save(tmp_path / "m.keras")
    x = _inputs()
    want = km.predict(x, verbose=0)
    model = seqc.load(str(tmp_path / "m.keras"))
    enc = model.graph.node("enc")
    assert enc.outputs == ("enc", "enc:1", "enc:2")
    assert model.graph.node("dec").inputs == ("dec_in", "enc:1", "enc:2")
    got = model.predict(x)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # The JSON alone reads to the same graph.
    (tmp_path / "m.json").write_text(km.to_json())
    again = seqc.load(str(tmp_path / "m.json"))
    assert [n.inputs for n in again.graph.nodes] == [n.inputs for n in model.graph.nodes]
    assert again.graph.outputs == ("out/activation", "gru:1", "enc:2") == model.graph.outputs
    # seqc's .keras writer gives Keras the same model back.
    from seqc.export.keras_file import save_keras

    save_keras(model, tmp_path / "back.keras")
    back = keras.saving.load_model(tmp_path / "back.keras", compile=False)
    for a, b in zip(back.predict(x, verbose=0), want):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_keras2_inbound_lists_carry_the_states(tmp_path):
    """tf.keras 2 writes `layer(x, initial_state=[h, c])` as one call on [x, h, c]."""
    def t(name, node=0, index=0):
        return [name, node, index, {}]

    layers = [
        {"class_name": "InputLayer", "name": "a",
         "config": {"batch_input_shape": [None, 5, 3], "dtype": "float32", "name": "a"},
         "inbound_nodes": []},
        {"class_name": "LSTM", "name": "enc",
         "config": {"name": "enc", "units": 4, "return_state": True},
         "inbound_nodes": [[t("a")]]},
        {"class_name": "LSTM", "name": "dec",
         "config": {"name": "dec", "units": 4},
         "inbound_nodes": [[t("a"), t("enc", 0, 1), t("enc", 0, 2)]]},
    ]
    doc = {"class_name": "Functional", "keras_version": "2.15.0", "backend": "tensorflow",
           "config": {"name": "m", "layers": layers, "input_layers": [["a", 0, 0]],
                      "output_layers": [["dec", 0, 0], ["enc", 0, 2]]}}
    p = tmp_path / "m.json"
    p.write_text(json.dumps(doc))
    g = seqc.load(str(p)).graph
    assert g.node("dec").inputs == ("a", "enc:1", "enc:2")
    assert g.outputs == ("dec", "enc:2")


def _kdoc(keras):
    return json.loads(_seq2seq(keras).to_json())


@pytest.mark.parametrize("change,match", [
    # initial_state on a layer that has none
    (lambda d: d["config"]["layers"][-1]["inbound_nodes"][0]["kwargs"].update(
        initial_state=d["config"]["layers"][-2]["inbound_nodes"][0]["args"]),
     "initial_state, which seqc reads for SimpleRNN, GRU and LSTM"),
    # an initial_state that is not tensors
    (lambda d: next(x for x in d["config"]["layers"] if x["name"] == "dec")["inbound_nodes"][0]
     ["kwargs"].update(initial_state=["__import__('os')", 3]), "not a list of keras tensors"),
    # a tensor index the layer does not have
    (lambda d: d["config"]["output_layers"].__setitem__(2, ["enc", 0, 3]),
     "names a value no layer produces"),
    # the states of a layer without return_state
    (lambda d: next(x for x in d["config"]["layers"] if x["name"] == "enc")["config"].update(
        return_state=False), "reads values that no layer produces"),
])
def test_hostile_keras_json_is_refused(tmp_path, change, match):
    keras = pytest.importorskip("keras")
    doc = _kdoc(keras)
    change(doc)
    p = tmp_path / "m.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(DefinitionError, match=match):
        seqc.load(str(p))


def test_spec_reads_output_k_of_a_layer(tmp_path):
    spec = {
        "name": "s2s", "inputs": {"enc_in": [5, 3], "dec_in": [4, 3]},
        "layers": [
            {"type": "LSTM", "units": 6, "return_state": True, "name": "enc", "from": "enc_in"},
            {"type": "LSTM", "units": 6, "return_sequences": True, "name": "dec",
             "from": ["dec_in", "enc:1", "enc:2"]},
            {"type": "Dense", "units": 3, "activation": "softmax", "name": "out"}],
        "outputs": ["out", "enc:2"]}
    p = tmp_path / "s.json"
    p.write_text(json.dumps(spec))
    model = seqc.load(str(p))
    assert model.graph.outputs == ("out/activation", "enc:2")
    assert model.graph.output_names == ["out", "enc"]
    y, c = model.predict(_inputs())
    assert y.shape == (5, 4, 3) and c.shape == (5, 6)
    spec["layers"][0]["return_state"] = False
    p.write_text(json.dumps(spec))
    with pytest.raises(DefinitionError, match="'enc:1' names no graph input"):
        seqc.load(str(p))


def test_python_api_states_match_keras():
    """seqc.layers: `out, h, c = seqc.layers.LSTM(..., return_state=True)(x)` and
    `layer(y, initial_state=[h, c])`, on Keras' weights."""
    keras = pytest.importorskip("keras")
    from seqc.errors import UsageError

    a, b = seqc.Input((5, 3)), seqc.Input((4, 3))
    _, h, c = seqc.layers.LSTM(6, return_state=True, name="enc")(a)
    assert h.shape == c.shape == (None, 6)
    o = seqc.layers.LSTM(6, return_sequences=True, name="dec")(b, initial_state=[h, c])
    o2, h2 = seqc.layers.GRU(6, return_sequences=True, return_state=True, name="gru")(
        o, initial_state=h)
    model = seqc.Model([a, b], [seqc.layers.Dense(3, activation="softmax", name="out")(o2),
                                h2, c])
    km = _seq2seq(keras)
    model.set_weights(km.get_weights())
    x = _inputs()
    for got, want in zip(model.predict(x), km.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, atol=1e-5)
    with pytest.raises(UsageError, match="takes no initial_state"):
        seqc.layers.Dense(2)(a, initial_state=h)


def test_seq2seq_trains_like_keras():
    """Two epochs of SGD on the seq2seq model: the encoder is trained only through the
    states it hands the decoder; the weights after training match Keras'."""
    keras = pytest.importorskip("keras")
    ei, di = keras.Input((5, 3)), keras.Input((4, 3))
    _, h, c = keras.layers.LSTM(6, return_state=True)(ei)
    o = keras.layers.LSTM(6, return_sequences=True)(di, initial_state=[h, c])
    km = keras.Model([ei, di], keras.layers.Dense(3, activation="softmax")(o))
    a, b = seqc.Input((5, 3)), seqc.Input((4, 3))
    _, sh, sc = seqc.layers.LSTM(6, return_state=True)(a)
    so = seqc.layers.LSTM(6, return_sequences=True)(b, initial_state=[sh, sc])
    model = seqc.Model([a, b], seqc.layers.Dense(3, activation="softmax")(so))
    model.set_weights(km.get_weights())
    start = model.get_weights()[0].copy()  # the encoder's kernel
    x = _inputs(10)
    y = np.eye(3, dtype="f4")[np.random.default_rng(1).integers(0, 3, (10, 4))]
    km.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5),
               loss="categorical_crossentropy")
    model.compile(optimizer=seqc.optimizers.SGD(learning_rate=0.5),
                  loss="categorical_crossentropy")
    km.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), km.get_weights()):
        np.testing.assert_allclose(got, want, atol=2e-6)
    assert np.abs(model.get_weights()[0] - start).max() > 1e-3  # the encoder learnt
