"""Stateful recurrent layers (Keras' stateful=True): a layer's carried state continues the
sequence exactly, gradients with a carried initial state match finite differences, and training
(the state carried from batch to batch, reset per epoch or not) gives Keras 3's weights step by
step, from identical weights."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import seqc
from seqc.errors import DataError, DefinitionError, UsageError
from seqc.ops import REGISTRY
from seqc.ops.base import RunContext

KINDS = [("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False}), ("SimpleRNN", {})]


def _layer(kind: str, cfg: dict, f: int, rng, dtype="float32"):
    op = REGISTRY[kind]
    a = op.parse_attrs({"units": 3, "stateful": True, "return_sequences": True, **cfg})
    from seqc.ir.types import batched

    specs = op.params(a, [batched((None, f))])
    params = {p.name: rng.normal(scale=0.5, size=p.shape).astype(dtype) for p in specs}
    return op, a, params


@pytest.mark.parametrize("kind, cfg", KINDS, ids=[f"{k}{c}" for k, c in KINDS])
def test_carried_state_continues_the_sequence(kind, cfg):
    rng = np.random.default_rng(0)
    op, a, params = _layer(kind, cfg, 2, rng)
    x = rng.normal(size=(4, 6, 2)).astype(np.float32)
    whole, _ = op.forward(a, params, [x], RunContext(need_grad=False))
    ctx = RunContext(need_grad=False, states={}, scope="rnn")
    first, _ = op.forward(a, params, [x[:, :3]], ctx)
    second, _ = op.forward(a, params, [x[:, 3:]], ctx)
    np.testing.assert_allclose(np.concatenate([first[0], second[0]], 1), whole[0], atol=1e-6)
    assert len(ctx.states["rnn"]) == (2 if kind == "LSTM" else 1)
    # without a states table (validation, export checks) every call starts from zeros
    again, _ = op.forward(a, params, [x[:, 3:]], RunContext(need_grad=False))
    assert np.abs(again[0] - second[0]).max() > 1e-3


@pytest.mark.parametrize("kind, cfg", KINDS, ids=[f"{k}{c}" for k, c in KINDS])
def test_gradients_with_a_carried_state_match_finite_differences(kind, cfg):
    rng = np.random.default_rng(1)
    op, a, params = _layer(kind, cfg, 2, rng, "float64")
    x = rng.normal(size=(3, 4, 2))
    init = tuple(rng.normal(size=(3, 3)) for _ in range(2 if kind == "LSTM" else 1))
    dy = rng.normal(size=(3, 4, 3))

    def loss(p):
        ys, _ = op.forward(a, p, [x], RunContext(need_grad=False, states={"r": init}, scope="r"))
        return float((ys[0] * dy).sum())

    _, cache = op.forward(a, params, [x], RunContext(states={"r": init}, scope="r"))
    _, grads = op.backward(a, params, cache, [dy])
    eps = 1e-6
    for name, g in grads.items():
        for idx in list(np.ndindex(g.shape))[:: max(1, g.size // 7)]:
            hi = {k: v.copy() for k, v in params.items()}
            lo = {k: v.copy() for k, v in params.items()}
            hi[name][idx] += eps
            lo[name][idx] -= eps
            fd = (loss(hi) - loss(lo)) / (2 * eps)
            assert abs(fd - g[idx]) < 1e-6 * max(1.0, abs(fd)), (name, idx, fd, g[idx])


def _spec(tmp_path, batch=4, stateful=True, second="SimpleRNN"):
    spec = {"name": "stateful", "layers": [
        {"type": "InputLayer", "batch_shape": [batch, 3, 2]},
        {"type": "LSTM", "units": 5, "stateful": stateful, "return_sequences": True},
        {"type": second, "units": 3, "stateful": stateful},
        {"type": "Dense", "units": 1}]}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(spec))
    return seqc.load(str(path))


def test_a_stateful_model_keeps_its_batch_and_refuses_other_batches(tmp_path):
    m = _spec(tmp_path, second="GRU")
    assert m.graph.types[m.graph.inputs[0]].shape == (4, 3, 2)
    assert _spec(tmp_path, stateful=False).graph.types["input"].shape[0] is None
    m.compile("sgd", "mse")
    x = np.zeros((10, 3, 2), np.float32)
    with pytest.raises(DataError, match="whole batches"):
        m.fit(x, np.zeros((10, 1), np.float32), verbose=0)
    with pytest.raises(DataError, match="batch_size=4"):
        m.fit(x[:8], np.zeros((8, 1), np.float32), batch_size=8, verbose=0)
    with pytest.raises(UsageError, match="reset_states"):
        m.fit(x[:8], np.zeros((8, 1), np.float32), reset_states="batch", verbose=0)
    assert m.predict(x[:8]).shape == (8, 1)  # predict's batch: the model's own (4)
    with pytest.raises(DataError, match="carries a state of 4 rows"):
        m.predict(x[:6])
    m.reset_states()
    assert m.rnn_states == {}
    with pytest.raises(DefinitionError, match="fixed batch size"):
        seqc.Sequential([seqc.layers.Input((3, 2)), seqc.layers.LSTM(2, stateful=True)])


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras side runs on the torch backend")
    return keras


@pytest.fixture
def keras_stateful(keras, monkeypatch):
    """Keras 3.15's torch backend fails in backward with a stateful LSTM or GRU: the state
    variable is updated in place (`assign`) while autograd still holds it as step 0's input.
    The layer is given a copy of the same state as its initial_state, which is what Keras
    reads anyway; nothing else changes. (Its JAX backend drops the state in predict.)"""
    from keras.src.layers.rnn.rnn import RNN

    call = RNN.call

    def copied(self, sequences, initial_state=None, mask=None, training=False):
        if self.stateful and initial_state is None and self.states is not None:
            initial_state = [keras.ops.copy(v.value) for v in self.states]
        return call(self, sequences, initial_state, mask, training)

    monkeypatch.setattr(RNN, "call", copied)
    return keras


def _keras_model(keras, m):
    k = keras.layers
    km = keras.Sequential([keras.Input(batch_shape=(4, 3, 2)),
                           k.LSTM(5, stateful=True, return_sequences=True),
                           k.GRU(3, stateful=True), k.Dense(1)])
    km.set_weights(m.get_weights())
    km.compile(optimizer=keras.optimizers.RMSprop(), loss="mse")
    return km


def _keras_reset(km):
    for layer in km.layers:
        if hasattr(layer, "reset_states"):
            layer.reset_states()


def test_predict_carries_the_states_as_keras(keras_stateful, tmp_path):
    m = _spec(tmp_path, second="GRU")
    km = _keras_model(keras_stateful, m)
    x = np.random.default_rng(3).normal(size=(12, 3, 2)).astype(np.float32)
    want = [km.predict_on_batch(x[i:i + 4]) for i in range(0, 12, 4)]
    got = [m.predict(x[i:i + 4]) for i in range(0, 12, 4)]
    np.testing.assert_allclose(np.concatenate(got), np.concatenate(want), atol=1e-6)
    _keras_reset(km)
    m.reset_states()
    np.testing.assert_allclose(m.predict(x), km.predict(x, batch_size=4, verbose=0), atol=1e-6)


@pytest.mark.parametrize("mode", ["reset", "carried"])
def test_training_matches_keras_step_by_step(keras_stateful, tmp_path, mode):
    """The Keras examples' loop (fit one epoch, then reset_states) against fit(epochs=2,
    reset_states="epoch"); and one fit of 2 epochs, whose states Keras carries across the
    epoch boundary: the weights after every step within 1e-6."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 3, 2)).astype(np.float32)
    y = rng.normal(size=(12, 1)).astype(np.float32)
    m = _spec(tmp_path, second="GRU")
    km = _keras_model(keras_stateful, m)
    want: list = []
    cb = keras_stateful.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: want.append(km.get_weights()))
    if mode == "reset":
        for _ in range(2):
            km.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
            _keras_reset(km)
    else:
        km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[cb])
    m.compile(optimizer="rmsprop", loss="mse")
    got: list = []
    m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0,
          reset_states="epoch" if mode == "reset" else None,
          callbacks=[seqc.callbacks.LambdaCallback(
              on_train_batch_end=lambda b, logs: got.append(m.get_weights()))])
    assert len(got) == len(want) == 6
    for step, (g, w) in enumerate(zip(got, want)):
        for gi, wi in zip(g, w):
            np.testing.assert_allclose(gi, wi, atol=1e-6, err_msg=f"step {step}")
    # The carried state matters: the same training without it ends elsewhere.
    plain = _spec(tmp_path, stateful=False, second="GRU")  # same seed, same initial weights
    plain.compile(optimizer="rmsprop", loss="mse")
    plain.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert max(np.abs(a - b).max() for a, b in zip(plain.get_weights(), want[-1])) > 1e-4


def test_a_build_exports_the_stateless_step_and_its_folder_loads(tmp_path):
    """seqc build trains with the states carried, exports the stateless step (zero states at
    each call, the model's fixed batch as the input's first dimension) and validates it
    against the NumPy forward from zero states; the folder loads back with its batch."""
    from seqc.pipeline import BuildOptions, build

    rng = np.random.default_rng(4)
    np.save(tmp_path / "x.npy", rng.normal(size=(8, 3, 2)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.normal(size=(8, 1)).astype(np.float32))
    _spec(tmp_path, second="GRU")  # writes m.json
    spec = json.loads((tmp_path / "m.json").read_text())
    spec["compile"] = {"optimizer": "rmsprop", "loss": "mse"}
    spec["fit"] = {"epochs": 2, "batch_size": 4, "shuffle": False, "reset_states": "epoch"}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    report = build(str(tmp_path / "m.json"), BuildOptions(
        out_dir=str(tmp_path / "out"), x=str(tmp_path / "x.npy"), y=str(tmp_path / "y.npy"),
        verbose=0, log=None))
    assert report["validation"]["ok"]
    back = seqc.load(str(tmp_path / "out"))
    assert back.graph.types[back.graph.inputs[0]].shape == (4, 3, 2)
    x = np.load(tmp_path / "x.npy")[:4]
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "out" / "model.onnx"))
    (onnx_y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    back.reset_states()
    np.testing.assert_allclose(back.predict(x), onnx_y, atol=1e-5)  # zero states: alike
    assert np.abs(back.predict(x) - onnx_y).max() > 1e-4  # the second call carries states
