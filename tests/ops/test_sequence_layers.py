"""Semantics of the sequence layers beyond the contract tests: masks flowing through a model
(Embedding(mask_zero) -> Dense -> LSTM), Masking's values, TimeDistributed and Bidirectional
against real Keras on identical weights, RepeatVector, and the errors users hit."""

from __future__ import annotations

import os

import numpy as np
import pytest

import seqc
from seqc.errors import DataError, DefinitionError
from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.types import batched
from seqc.training.executor import forward

L = seqc.layers


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _pair(seqc_layers, keras_layers, x, rng, *, in_dtype="float32"):
    """Build both models, copy random weights from seqc to Keras, return both predictions."""
    keras = _keras()
    model = seqc.Sequential([L.Input(x.shape[1:], dtype=in_dtype), *seqc_layers])
    weights = [rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in model.get_weights()]
    model.set_weights(weights)
    km = keras.Sequential([keras.Input(x.shape[1:], dtype=in_dtype), *keras_layers])
    km.set_weights(weights)
    return model.predict(x), keras.ops.convert_to_numpy(km(x))


def test_mask_zero_flows_through_dense_into_lstm():
    keras = _keras()
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 7, size=(5, 6)).astype(np.int32)
    for i, n in enumerate((6, 3, 1, 4, 2)):
        ids[i, n:] = 0  # right padding
    for return_sequences in (False, True):
        got, want = _pair(
            [L.Embedding(7, 3, mask_zero=True), L.Dense(4, activation="tanh"),
             L.LSTM(3, return_sequences=return_sequences)],
            [keras.layers.Embedding(7, 3, mask_zero=True),
             keras.layers.Dense(4, activation="tanh"),
             keras.layers.LSTM(3, return_sequences=return_sequences)], ids, rng,
            in_dtype="int32")
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    # Without the mask the padded steps would change the result.
    plain, _ = _pair([L.Embedding(7, 3), L.LSTM(3)],
                     [keras.layers.Embedding(7, 3), keras.layers.LSTM(3)], ids, rng,
                     in_dtype="int32")
    assert plain.shape == (5, 3)


def test_masking_zeroes_masked_steps_and_makes_the_mask():
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]], np.float32)
    graph = build_graph("m", batched((3, 2)), [LayerConfig("Masking", {})])
    y, tape = forward(graph, {}, x)
    np.testing.assert_array_equal(y, x)  # masked steps are already 0
    np.testing.assert_array_equal(tape.masks[graph.outputs[0]], [[True, False, True]])
    x2 = np.array([[[-1.0, -1.0], [0.0, -1.0]]], np.float32)
    graph = build_graph("m", batched((2, 2)), [LayerConfig("Masking", {"mask_value": -1.0})])
    y, tape = forward(graph, {}, x2)
    np.testing.assert_array_equal(y, [[[0.0, 0.0], [0.0, -1.0]]])
    np.testing.assert_array_equal(tape.masks[graph.outputs[0]], [[False, True]])


def test_masked_global_average_pooling_vs_keras():
    keras = _keras()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 2)).astype(np.float32)
    x[0, 2:] = 0.0
    x[2, 1:] = 0.0
    got, want = _pair([L.Masking(), L.GlobalAveragePooling1D()],
                      [keras.layers.Masking(), keras.layers.GlobalAveragePooling1D()], x, rng)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got[0], x[0, :2].mean(axis=0), atol=1e-6)


def test_time_distributed_dense_and_conv2d_vs_keras():
    keras = _keras()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    got, want = _pair([L.TimeDistributed(L.Dense(5, activation="relu"))],
                      [keras.layers.TimeDistributed(keras.layers.Dense(5, activation="relu"))],
                      x, rng)
    np.testing.assert_allclose(got, want, atol=1e-5)
    x = rng.normal(size=(2, 3, 5, 5, 2)).astype(np.float32)
    got, want = _pair(
        [L.TimeDistributed(L.Conv2D(3, 3, strides=2, padding="same", activation="tanh")),
         L.TimeDistributed(L.Flatten()), L.GRU(2)],
        [keras.layers.TimeDistributed(keras.layers.Conv2D(3, 3, strides=2, padding="same",
                                                          activation="tanh")),
         keras.layers.TimeDistributed(keras.layers.Flatten()), keras.layers.GRU(2)], x, rng)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_bidirectional_vs_keras(merge_mode, return_sequences, masked):
    keras = _keras()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 5, 3)).astype(np.float32)
    if masked:
        for i, n in enumerate((5, 2, 4, 1)):
            x[i, n:] = 0.0
    front = [L.Masking()] if masked else []
    kfront = [keras.layers.Masking()] if masked else []
    got, want = _pair(
        [*front, L.Bidirectional(L.GRU(2, return_sequences=return_sequences),
                                 merge_mode=merge_mode)],
        [*kfront, keras.layers.Bidirectional(
            keras.layers.GRU(2, return_sequences=return_sequences), merge_mode=merge_mode)],
        x, rng)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_repeat_vector_values():
    graph = build_graph("r", batched((2,)), [LayerConfig("RepeatVector", {"n": 3})])
    y, _ = forward(graph, {}, np.array([[1.0, 2.0]], np.float32))
    np.testing.assert_array_equal(y, [[[1.0, 2.0]] * 3])


def _build(layers, shape=(4, 3), dtype="float32"):
    return seqc.Sequential([L.Input(shape, dtype=dtype), *layers])


def test_bidirectional_around_dense_is_refused():
    with pytest.raises(DefinitionError, match="recurrent layer"):
        _build([L.Bidirectional(L.Dense(3))])


def test_bidirectional_merge_mode_none_is_refused():
    with pytest.raises(DefinitionError, match="two tensors"):
        _build([L.Bidirectional(L.LSTM(3), merge_mode=None)])


def test_time_distributed_refuses_a_mask_for_a_layer_reading_one():
    # Keras would hand the wrapped Softmax one step's (N,) slice of the mask.
    with pytest.raises(DefinitionError, match="mask"):
        _build([L.Masking(), L.TimeDistributed(L.Softmax())], shape=(4, 3))
    # A layer that reads no mask passes it on.
    model = _build([L.Masking(), L.TimeDistributed(L.Dense(2)), L.LSTM(2)], shape=(4, 3))
    assert model.graph.masked


def test_embedding_ids_out_of_range_are_a_data_error():
    model = _build([L.Embedding(5, 2)], shape=(3,), dtype="int32")
    for bad in (5, -1):
        ids = np.array([[1, 2, 3], [0, bad, 1]], np.int32)
        with pytest.raises(DataError) as info:
            model.predict(ids)
        text = str(info.value)
        assert f"{bad}" in text and "input_dim" in text and "[0, 5)" in text
        assert text.startswith("'embedding' (Embedding): ")  # the layer is named
    # Training meets the bad id in a batch and names the layer too.
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(DataError, match="'embedding' \\(Embedding\\)"):
        model.fit(np.array([[1, 9, 0]] * 4, np.int32), np.zeros((4, 3, 2), np.float32),
                  epochs=1, verbose=0)
    # Float-held ids (from a CSV) truncate as Keras' cast does; out of range still fails.
    model = _build([L.Embedding(5, 2)], shape=(2,))
    assert model.predict(np.array([[0.0, 4.0]], np.float32)).shape == (1, 2, 2)
    with pytest.raises(DataError):
        model.predict(np.array([[0.0, 7.0]], np.float32))
