"""Recurrent models against real Keras 3 (torch backend), from identical weights: stacked,
bidirectional and masked models predict the same, and training a masked sequence-to-sequence
model (whose loss Keras weights by the output mask) ends with the same weights and losses.
Skipped without keras."""

from __future__ import annotations

import os

import numpy as np
import pytest

import seqc

L = seqc.layers


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def to_keras(keras, layer):
    """The Keras layer for a seqc layer config (wrapped layers included)."""
    cfg = dict(layer.config)
    for key in ("layer", "backward_layer"):
        if isinstance(cfg.get(key), dict):
            inner = dict(cfg[key])
            kind = inner.pop("type")
            cfg[key] = getattr(keras.layers, kind)(**inner)
    return getattr(keras.layers, layer.type)(**cfg)


def pair(keras, input_shape, layers, *, dtype="float32", seed=0):
    """The same model in seqc and Keras, with seqc's initial weights in both."""
    m = seqc.Sequential([L.Input(input_shape, dtype=dtype), *layers], seed=seed)
    km = keras.Sequential([keras.Input(input_shape, dtype=dtype),
                           *[to_keras(keras, lc) for lc in layers]])
    km.set_weights(m.get_weights())
    return m, km


def padded(rng, n, t, f, lengths, *, left=False):
    x = rng.normal(size=(n, t, f)).astype(np.float32)
    for i, n_valid in enumerate(lengths):
        if left:
            x[i, : t - n_valid] = 0.0
        else:
            x[i, n_valid:] = 0.0
    return x


MODELS = {
    "stacked_lstm_gru": lambda: [L.LSTM(5, return_sequences=True), L.GRU(4), L.Dense(2)],
    "gru_reset_before": lambda: [L.GRU(4, reset_after=False, return_sequences=True),
                                 L.SimpleRNN(3)],
    "bidirectional": lambda: [L.Bidirectional(L.LSTM(4, return_sequences=True)),
                              L.Bidirectional(L.GRU(3), merge_mode="sum"), L.Dense(1)],
    "backwards": lambda: [L.LSTM(4, go_backwards=True, return_sequences=True),
                          L.TimeDistributed(L.Dense(2))],
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
def test_models_predict_like_keras(keras, name, masked):
    layers = MODELS[name]()
    if masked:
        layers = [L.Masking(0.0), *layers]
    m, km = pair(keras, (None, 3), layers)
    rng = np.random.default_rng(1)
    lengths = [7, 3, 1, 5, 7, 2]
    x = padded(rng, 6, 7, 3, lengths) if masked else rng.normal(size=(6, 7, 3))
    x = x.astype(np.float32)
    want = keras.ops.convert_to_numpy(km(x, training=False))
    np.testing.assert_allclose(m.predict(x, verbose=0), want, atol=1e-5)


def test_left_padded_embedding_model_predicts_like_keras(keras):
    layers = [L.Embedding(12, 4, mask_zero=True), L.LSTM(5), L.Dense(1, activation="sigmoid")]
    m, km = pair(keras, (8,), layers, dtype="int32")
    rng = np.random.default_rng(2)
    ids = rng.integers(1, 12, (5, 8)).astype(np.int32)
    for i, n_valid in enumerate([8, 5, 2, 6, 1]):
        ids[i, : 8 - n_valid] = 0  # Keras' pad_sequences pads at the start
    want = keras.ops.convert_to_numpy(km(ids, training=False))
    np.testing.assert_allclose(m.predict(ids, verbose=0), want, atol=1e-5)


def test_masked_sequence_model_trains_like_keras(keras):
    """Embedding(mask_zero) -> LSTM(return_sequences) -> Dense: the output carries the mask, so
    Keras leaves padded steps out of the loss; two epochs of SGD end with Keras' weights."""
    layers = [L.Embedding(10, 4, mask_zero=True), L.LSTM(6, return_sequences=True),
              L.Dense(3, activation="softmax")]
    m, km = pair(keras, (6,), layers, dtype="int32", seed=4)
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 10, (24, 6)).astype(np.int32)
    for i in range(24):
        ids[i, rng.integers(1, 7):] = 0
    y = rng.integers(0, 3, (24, 6))
    m.compile(seqc.optimizers.SGD(learning_rate=0.5), "sparse_categorical_crossentropy")
    km.compile(keras.optimizers.SGD(learning_rate=0.5), "sparse_categorical_crossentropy")
    kh = km.fit(ids, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    h = m.fit(ids, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for ours, theirs in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-5)


def test_stacked_bidirectional_trains_like_keras(keras):
    layers = [L.LSTM(5, return_sequences=True), L.Bidirectional(L.GRU(3)), L.Dense(1)]
    m, km = pair(keras, (None, 2), layers, seed=5)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 6, 2)).astype(np.float32)
    y = rng.normal(size=(20, 1)).astype(np.float32)
    m.compile(seqc.optimizers.Adam(learning_rate=0.01), "mse")
    km.compile(keras.optimizers.Adam(learning_rate=0.01), "mse")
    kh = km.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    h = m.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for ours, theirs in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-5)
