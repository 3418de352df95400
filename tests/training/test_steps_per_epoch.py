"""fit(steps_per_epoch=S) as Keras 3 runs it (seqc.training.steps), and validation_data's
val_* logs, checked against real Keras from identical weights."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import seqc
from seqc import layers as L
from seqc.training.steps import EpochSteps, batch_size_for


def test_an_endless_stream_continues_across_epochs():
    def stream(epoch):
        return iter(range(100))  # a repeated dataset: one pass for the whole fit

    steps = EpochSteps(stream, 3, None)
    assert [list(steps.epoch(e)) for e in range(3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


def test_a_finite_pass_cuts_the_epoch_short_and_the_next_starts_a_new_pass():
    passes = []

    def arrays(epoch):
        passes.append(epoch)
        return iter(["a", "b", "c", "d"])

    steps = EpochSteps(arrays, 3, 4)
    with pytest.warns(UserWarning, match="ran out of data"):
        got = [list(steps.epoch(e)) for e in range(4)]
    assert got == [["a", "b", "c"], ["d"], ["a", "b", "c"], ["d"]]
    assert passes == [0, 2]  # a new shuffle where a pass starts
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact = EpochSteps(arrays, 2, 4)
        assert [list(exact.epoch(e)) for e in range(3)] == [["a", "b"], ["c", "d"], ["a", "b"]]


def test_a_generator_that_ends_teaches_its_length():
    def gen(epoch):
        return iter([1, 2])

    steps = EpochSteps(gen, 3, None)
    with pytest.warns(UserWarning, match="ran out of data"):
        assert list(steps.epoch(0)) == [1, 2]
    assert steps.num_batches == 2
    with pytest.warns(UserWarning, match="ran out of data"):  # a new pass, cut at its length
        assert list(steps.epoch(1)) == [1, 2]


def test_batch_size_without_one_covers_the_data_in_the_steps():
    assert batch_size_for(10, None, 4, 32) == 3
    assert batch_size_for(10, 5, 4, 32) == 5
    assert batch_size_for(10, None, None, 32) == 32


def test_fit_rejects_a_bad_steps_per_epoch():
    from seqc.errors import SeqcError

    m = seqc.Sequential([L.Input((3,)), L.Dense(1)])
    m.compile("sgd", "mse")
    with pytest.raises(SeqcError, match="steps_per_epoch"):
        m.fit(np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32),
              steps_per_epoch=0, verbose=0)


# ---------------------------------------------------------------- against Keras

@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("steps, batch_size", [(3, 3), (6, 3), (2, 5), (4, None)])
def test_the_batch_sequence_matches_keras(keras, steps, batch_size):
    """10 rows: batches of 3 are 4 per pass (the last of 1 row). S=3 runs 3 then 1 (out of
    data) then a new pass; S=6 runs a whole pass per epoch; no batch_size: ceil(10 / 4).
    Unshuffled SGD, so every batch's rows show in the weights; validation_data gives the
    val_* logs each epoch, as Keras computes them."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 4)).astype("float32")
    y = rng.normal(size=(10, 2)).astype("float32")
    xv = rng.normal(size=(7, 4)).astype("float32")
    yv = rng.normal(size=(7, 2)).astype("float32")
    m = seqc.Sequential([L.Input((4,)), L.Dense(5, activation="tanh"), L.Dense(2)])
    m.compile(seqc.optimizers.SGD(learning_rate=0.1), "mse", metrics=["mae"])
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                           keras.layers.Dense(2)])
    km.set_weights(m.get_weights())
    km.compile(keras.optimizers.SGD(learning_rate=0.1), "mse", metrics=["mae"])
    kw = dict(epochs=5, batch_size=batch_size, steps_per_epoch=steps, shuffle=False,
              validation_data=(xv, yv), verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kh = km.fit(x, y, **kw)
        h = m.fit(x, y, **kw)
    for ours, theirs in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert list(h.history) == list(kh.history)
    for key in kh.history:
        np.testing.assert_allclose(h.history[key], kh.history[key], rtol=1e-5, atol=1e-6)


def test_a_repeated_stream_reshuffles_each_pass_and_batches_across_passes():
    from itertools import islice

    from seqc.training.steps import data_order, repeat_steps

    def repeated_rows(n, b, shuffle, seed):  # fit(repeat=True)'s batches
        return data_order(n, repeat_steps(n, b, shuffle, True), seed)[0]()

    batches = list(islice(repeated_rows(10, 4, True, 0), 10))  # 40 rows: 4 passes
    assert all(len(b) == 4 for b in batches)
    rows = np.concatenate(batches).reshape(4, 10)
    assert all(sorted(r) == list(range(10)) for r in rows)  # each pass: every row once
    assert len({tuple(r) for r in rows}) == 4  # a new order each pass
    assert list(np.concatenate(list(islice(repeated_rows(3, 2, False, 0), 3)))) == [
        0, 1, 2, 0, 1, 2]
    assert list(repeated_rows(0, 2, True, 0)) == []
    m = seqc.Sequential([L.Input((3,)), L.Dense(1)])
    m.compile("sgd", "mse")
    with pytest.raises(seqc.errors.SeqcError, match="steps_per_epoch"):
        m.fit(np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32), repeat=True,
              verbose=0)
