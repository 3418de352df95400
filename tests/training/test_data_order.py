"""fit(pipeline=[...]): a tf.data pipeline's steps over the rows, in order
(seqc.training.steps.data_order), with tf.data's windowed shuffle; checked by hand, by its
structure, by the steps each epoch takes and against Keras fed the same batches."""

from __future__ import annotations

import os

import numpy as np
import pytest

import seqc
from seqc import layers as L
from seqc.errors import SeqcError
from seqc.training.callbacks import Callback
from seqc.training.steps import data_order, windowed_shuffle


def _simulate(n: int, buffer: int, u: list[float]) -> list[int]:
    """The windowed shuffle written out: draw a slot, emit it, refill it with the next
    element, or when none is left move the last slot into it."""
    buf, out, nxt = list(range(min(buffer, n))), [], min(buffer, n)
    for k in range(n):
        j = int(u[k] * len(buf))
        out.append(buf[j])
        if nxt < n:
            buf[j], nxt = nxt, nxt + 1
        else:
            buf[j] = buf[-1]
            del buf[-1]
    return out


def test_the_windowed_shuffle_by_hand():
    draws = iter([0.5, 0.0, 0.9, 0.4, 0.7, 0.1])
    # buffer [0 1 2] -> slot 1 (1), refill 3; slot 0 (0), refill 4; slot 2 (2), refill 5;
    # drain [4 3 5]: slot 1 (3), [4 5]; slot 1 (5), [4]; slot 0 (4)
    assert list(windowed_shuffle(range(6), 3, lambda: next(draws))) == [1, 0, 2, 3, 5, 4]


def test_a_pipeline_pass_is_the_windowed_shuffle_of_its_seeded_draws():
    new_pass, count = data_order(11, [{"shuffle": 4}, {"batch": 3}], 7)
    u = np.random.default_rng([7, 0, 0]).random(11).tolist()  # seed, step, pass
    batches = list(new_pass())
    assert count == 4 and [len(b) for b in batches] == [3, 3, 3, 2]
    assert np.concatenate(batches).tolist() == _simulate(11, 4, u)


def test_structure_each_row_once_within_its_window_and_a_new_order_each_pass():
    n, buffer = 200, 10
    new_pass, _ = data_order(n, [{"shuffle": buffer}, {"batch": 16}], 3)
    passes = [np.concatenate(list(new_pass())) for _ in range(3)]
    for order in passes:
        assert sorted(order.tolist()) == list(range(n))
        assert (order - np.arange(n)).max() < buffer  # row e is emitted at position >= e-B+1
    assert len({tuple(o) for o in passes}) == 3
    fixed, _ = data_order(n, [{"shuffle": buffer, "reshuffle_each_iteration": False},
                              {"batch": 16}], 3)
    cached, _ = data_order(n, [{"shuffle": buffer}, {"cache": True}, {"batch": 16}], 3)
    for make in (fixed, cached):  # the same order each pass
        first = np.concatenate(list(make()))
        assert np.array_equal(first, np.concatenate(list(make())))
        assert not np.array_equal(first, np.arange(n))
    plain, _ = data_order(n, [{"batch": 16}], 3)  # no shuffle: the data's own order
    assert np.concatenate(list(plain())).tolist() == list(range(n))


def test_order_as_written_batches_shuffled_repeats_and_drop_remainder():
    batched, count = data_order(10, [{"batch": 4}, {"shuffle": 3}], 0)
    got = list(batched())
    assert count == 3 and sorted(map(tuple, got)) == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)]
    assert data_order(10, [{"batch": 4}, {"repeat": 2}], 0)[1] == 6  # partial batch twice
    assert data_order(10, [{"repeat": 2}, {"batch": 4}], 0)[1] == 5  # batches across
    assert data_order(10, [{"batch": 4, "drop_remainder": True}], 0)[1] == 2
    assert data_order(10, [{"repeat": -1}, {"batch": 4}], 0)[1] is None
    across, _ = data_order(5, [{"repeat": 2}, {"batch": 4}], 0)
    assert [b.tolist() for b in across()] == [[0, 1, 2, 3], [4, 0, 1, 2], [3, 4]]
    over, _ = data_order(6, [{"repeat": 2}, {"shuffle": 3}, {"batch": 12}], 0)
    assert sorted(next(over()).tolist()) == sorted(list(range(6)) * 2)


@pytest.mark.parametrize("steps, why", [
    ([{"shuffle": 0}, {"batch": 2}], "buffer size"),
    ([{"shuffle": 2}], "exactly one batch"),
    ([{"batch": 2}, {"batch": 2}], "exactly one batch"),
    ([{"batch": 2}, {"repeat": 0}], "count"),
    ([{"batch": 2, "seed": 1}], "one of"),
    ([{"map": 1}, {"batch": 2}], "one of"),
    ({"batch": 2}, "a list"),
])
def test_a_bad_pipeline_is_a_usage_error(steps, why):
    m = seqc.Sequential([L.Input((3,)), L.Dense(1)])
    m.compile("sgd", "mse")
    with pytest.raises(SeqcError, match=why):
        m.fit(np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32), pipeline=steps,
              verbose=0)


class _Count(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[int]] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.rows.append([])

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.rows[-1].append(batch)


@pytest.mark.parametrize("pipeline, per_epoch", [
    ([{"shuffle": 10}, {"batch": 7}], 8),
    ([{"shuffle": 10}, {"batch": 7, "drop_remainder": True}], 7),
    ([{"batch": 7}, {"repeat": 2}], 16),
    ([{"repeat": 2}, {"shuffle": 5}, {"batch": 7}], 15),
])
def test_the_pipeline_sets_the_steps_of_each_epoch(pipeline, per_epoch):
    m = seqc.Sequential([L.Input((3,)), L.Dense(1)])
    m.compile("sgd", "mse")
    count = _Count()
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    m.fit(x, x[:, :1], pipeline=pipeline, epochs=2, callbacks=[count], verbose=0)
    assert [len(r) for r in count.rows] == [per_epoch] * 2
    m.fit(x, x[:, :1], pipeline=pipeline, batch_size=25, epochs=1, callbacks=[count],
          verbose=0)  # a batch_size given (seqc build --batch-size) replaces the step's
    assert len(count.rows[-1]) == {8: 2, 7: 2, 16: 4, 15: 4}[per_epoch]
    with pytest.raises(SeqcError, match="steps_per_epoch"):
        m.fit(x, x[:, :1], pipeline=[{"repeat": -1}, {"batch": 4}], verbose=0)


@pytest.mark.parametrize("pipeline", [
    [{"shuffle": 6}, {"batch": 7}],
    [{"batch": 4}, {"shuffle": 3}, {"repeat": 2}],
    [{"shuffle": 4, "reshuffle_each_iteration": False}, {"batch": 8,
                                                          "drop_remainder": True}],
])
def test_the_pipeline_trains_as_keras_on_the_same_batches(pipeline):
    """Keras takes the batches of seqc's passes from a generator (steps_per_epoch = a pass):
    the same losses and weights."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    y = (x @ rng.normal(size=(4, 1))).astype(np.float32)
    epochs, seed = 3, 5
    new_pass, count = data_order(len(x), pipeline, seed)
    order = [b for _ in range(epochs) for b in new_pass()]

    m = seqc.Sequential([L.Input((4,)), L.Dense(3, activation="tanh"), L.Dense(1)])
    m.compile(seqc.optimizers.SGD(learning_rate=0.05), "mse")
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                           keras.layers.Dense(1)])
    km.set_weights(m.get_weights())
    km.compile(keras.optimizers.SGD(learning_rate=0.05), "mse")
    kh = km.fit(((x[i], y[i]) for i in order), steps_per_epoch=count, epochs=epochs,
                verbose=0)
    h = m.fit(x, y, pipeline=pipeline, epochs=epochs, seed=seed, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_a_spec_fit_pipeline_is_checked_and_trains(tmp_path):
    import json

    from seqc.pipeline import BuildOptions, build

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(40, 3)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.normal(size=(40, 1)).astype(np.float32))
    spec = {"name": "m", "input_shape": [3], "layers": [{"type": "Dense", "units": 1}],
            "compile": {"optimizer": "sgd", "loss": "mse"},
            "fit": {"epochs": 2, "pipeline": [{"shuffle": 8}, {"batch": 16}]}}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    opts = dict(x=str(tmp_path / "x.npy"), y=str(tmp_path / "y.npy"), verbose=0, log=None)
    report = build(str(tmp_path / "m.json"), BuildOptions(out_dir=str(tmp_path / "o"), **opts))
    assert len(report["history"]["loss"]) == 2
    spec["fit"]["pipeline"] = [{"shuffle": 8}]
    (tmp_path / "m.json").write_text(json.dumps(spec))
    with pytest.raises(SeqcError, match="exactly one batch"):
        build(str(tmp_path / "m.json"), BuildOptions(out_dir=str(tmp_path / "o2"), **opts))
