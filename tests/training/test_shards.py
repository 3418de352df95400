"""Training from shards (seqc.data.Shards): the in-memory permutation when the data fit in
the shuffle buffer, every row once per epoch with a small buffer, validation_split's tail
rows, streaming adapt, shard errors naming the file, and bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import seqc
from seqc.errors import DataError, UsageError
from seqc.training import shards as S

L = seqc.layers


def blobs(n=300, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, d)) * [1, 2, 3, 4][:d] + [5, -3, 0, 100][:d]).astype(np.float32)
    y = (x[:, 0] - 0.5 * x[:, 1] > 6).astype(np.float32)
    return x, y


def write_npy(folder, x, y, sizes, w=None):
    os.makedirs(folder, exist_ok=True)
    at = 0
    for i, m in enumerate(sizes):
        np.save(os.path.join(folder, f"part-{i:03d}.x.npy"), x[at:at + m])
        np.save(os.path.join(folder, f"part-{i:03d}.y.npy"), y[at:at + m])
        if w is not None:
            np.save(os.path.join(folder, f"part-{i:03d}.w.npy"), w[at:at + m])
        at += m
    return folder


def write_parquet(folder, x, y, sizes, w=None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(folder, exist_ok=True)
    at = 0
    for i, m in enumerate(sizes):
        xs = x[at:at + m]
        col = pa.FixedSizeListArray.from_arrays(pa.array(xs.reshape(-1)), xs.shape[1])
        cols = {"features": col, "label": pa.array(y[at:at + m])}
        if w is not None:
            cols["weight"] = pa.array(w[at:at + m])
        pq.write_table(pa.table(cols), os.path.join(folder, f"part-{i}.parquet"),
                       row_group_size=37)
        at += m
    return folder


def model(seed=0, norm=False, lr=0.001):
    layers = [L.Input((4,)), *([L.Normalization()] if norm else []),
              L.Dense(8, activation="relu"), L.Dense(1, activation="sigmoid")]
    m = seqc.Sequential(layers, seed=seed)
    m.compile(optimizer=seqc.optimizers.Adam(learning_rate=lr), loss="binary_crossentropy",
              metrics=["accuracy"])
    return m


SIZES = [70, 110, 40, 80]


@pytest.mark.parametrize("kind", ["npy", "parquet"])
def test_data_in_the_buffer_gives_the_in_memory_weights(tmp_path, kind):
    x, y = blobs()
    w = np.linspace(0.5, 2, len(x)).astype(np.float32)
    ref = model(norm=True)
    h_ref = ref.fit(x, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0,
                    sample_weight=w)
    if kind == "npy":
        src = seqc.data.Shards(write_npy(tmp_path / "d", x, y, SIZES, w), sample_weight="w",
                               chunk_rows=50)
    else:
        write_parquet(tmp_path / "d", x, y, SIZES, w)
        src = seqc.data.Shards(str(tmp_path / "d" / "*.parquet"), x="features", y="label",
                               sample_weight="weight", chunk_rows=50)
    assert len(src) == 300 and len(src.shards) == 4
    m = model(norm=True)
    h = m.fit(src, epochs=3, batch_size=32, validation_split=0.2, verbose=0)
    for k in ref.params:
        assert np.array_equal(ref.params[k], m.params[k]), k
    assert h.history == h_ref.history  # val_loss over the tail rows included


def test_small_buffer_sees_every_row_once_in_a_new_order(tmp_path):
    x = np.arange(300, dtype=np.float32)[:, None].repeat(4, axis=1)
    y = np.arange(300, dtype=np.float32)
    src = seqc.data.Shards(write_npy(tmp_path / "d", x, y, SIZES), shuffle_buffer=64, chunk_rows=16)

    def ident(a, b, c, path):
        return a, b, c

    orders = []
    for epoch in range(2):
        rng = np.random.default_rng([0, epoch])
        batches = list(S.epoch_batches(src, 0, 300, 32, rng, ident))
        assert [len(b[0]) for b in batches] == [32] * 9 + [12]
        seen = np.concatenate([b[1] for b in batches])
        assert np.array_equal(np.sort(seen), y)  # each row exactly once
        assert all(np.array_equal(b[0][:, 0], b[1]) for b in batches)  # x stays with y
        orders.append(seen)
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[0], y)
    # unshuffled: file order
    plain = np.concatenate([b[1] for b in S.epoch_batches(src, 0, 300, 32, None, ident)])
    assert np.array_equal(plain, y)


def test_small_buffer_trains_to_in_memory_accuracy(tmp_path):
    x, y = blobs(600)
    src = seqc.data.Shards(write_npy(tmp_path / "d", x, y, [150] * 4), shuffle_buffer=100,
                           chunk_rows=40, prefetch=2)
    ref, m = model(norm=True, lr=0.02), model(norm=True, lr=0.02)
    ref.fit(x, y, epochs=8, batch_size=32, verbose=0)
    m.fit(src, epochs=8, batch_size=32, verbose=0)
    acc_ref = ref.evaluate(x, y, verbose=0)[1]
    acc = m.evaluate(x, y, verbose=0)[1]
    assert acc > 0.9 and abs(acc - acc_ref) < 0.05


def test_validation_split_takes_the_tail_rows(tmp_path):
    x, y = blobs()
    src = seqc.data.Shards(write_npy(tmp_path / "d", x, y, SIZES), shuffle_buffer=50)
    stream = S.ShardStream(model(), src, None, None, None)
    _, _, _, val, _ = stream.split(0.25, None, None)
    assert stream.train_rows == 225
    got = np.concatenate([next(iter(b[0].values())) for b in val(40)])
    assert np.array_equal(got, x[225:])


def test_streaming_adapt_equals_in_memory_adapt(tmp_path):
    x, _ = blobs(500)
    x = x.astype(np.float64) * 1000 + 1e6  # a large offset: the merge must not cancel
    ref = model(norm=True)
    ref.fit(x.astype(np.float32), np.zeros(500, np.float32), epochs=0, verbose=0)
    src = seqc.data.Shards(write_npy(tmp_path / "d", x.astype(np.float32),
                                     np.zeros(500, np.float32), [123, 200, 177]),
                           shuffle_buffer=64, chunk_rows=30)
    m = model(norm=True)
    m.fit(src, epochs=0, verbose=0)
    keys = [k for k in ref.params if "normalization" in k and "count" not in k]
    assert keys
    for k in keys:
        np.testing.assert_allclose(m.params[k], ref.params[k], rtol=1e-6)


def test_mismatched_shards_are_clear_errors_naming_the_file(tmp_path):
    x, y = blobs()
    d = write_npy(tmp_path / "a", x, y, SIZES)
    np.save(os.path.join(d, "part-002.y.npy"), y[:10])
    with pytest.raises(DataError, match="x has 40 rows but y has 10") as e:
        seqc.data.Shards(d)
    assert "part-002.x.npy" in str(e.value)
    d = write_npy(tmp_path / "b", x, y, SIZES)
    np.save(os.path.join(d, "part-001.x.npy"), np.zeros((110, 5), np.float32))
    with pytest.raises(DataError, match=r"shape \(5,\)") as e:
        seqc.data.Shards(d)
    assert "part-001.x.npy" in str(e.value)
    os.remove(os.path.join(d, "part-001.y.npy"))
    with pytest.raises(DataError, match="no labels file"):
        seqc.data.Shards(d)
    with pytest.raises(DataError, match="no .npy or Parquet shard"):
        seqc.data.Shards(str(tmp_path / "a" / "*.csv"))
    # rows of the wrong width for the model: named at fit, with the file
    d = write_npy(tmp_path / "c", np.zeros((20, 3), np.float32), np.zeros(20, np.float32),
                  [20])
    with pytest.raises(DataError) as e:
        model().fit(seqc.data.Shards(d), verbose=0)
    assert "part-000.x.npy" in str(e.value)
    with pytest.raises(UsageError, match="come from the shards"):
        model().fit(seqc.data.Shards(tmp_path / "a" / "part-000.x.npy"), y, verbose=0)


def test_a_bad_shard_folder_exits_2_in_the_cli(tmp_path):
    x, y = blobs()
    d = write_npy(tmp_path / "a", x, y, SIZES)
    np.save(os.path.join(d, "part-002.y.npy"), y[:10])
    spec = tmp_path / "m.json"
    spec.write_text('{"name": "m", "input_shape": [4], "layers": [{"type": "Dense", '
                    '"units": 1, "activation": "sigmoid"}], "compile": {"optimizer": "adam", '
                    '"loss": "binary_crossentropy"}, "fit": {"epochs": 1}}')
    r = subprocess.run([sys.executable, "-m", "seqc", "build", str(spec), "--data", d,
                        "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "part-002.x.npy" in r.stderr and "Traceback" not in r.stderr


def test_memory_stays_bounded_whatever_the_dataset_size(tmp_path):
    d = 64
    rng = np.random.default_rng(0)
    sizes = [2000] * 8  # 16,000 rows x 64 float32 = 4 MB on disk
    folder = tmp_path / "big"
    os.makedirs(folder)
    for i, m in enumerate(sizes):
        np.save(folder / f"p{i}.x.npy", rng.normal(size=(m, d)).astype(np.float32))
        np.save(folder / f"p{i}.y.npy", (rng.random(m) > 0.5).astype(np.float32))
    tracemalloc.start()
    try:  # rows are counted from the headers: nothing is loaded
        src = seqc.data.Shards(folder, shuffle_buffer=1000, chunk_rows=250, prefetch=2)
        assert tracemalloc.get_traced_memory()[1] < 64 * 1024
    finally:
        tracemalloc.stop()
    assert len(src) == 16_000
    m = seqc.Sequential([L.Input((d,)), L.Dense(1, activation="sigmoid")], seed=0)
    m.compile(optimizer="sgd", loss="binary_crossentropy")
    bound = src.memory_bound(64)
    data_bytes = sum(sizes) * (d + 1) * 4
    assert bound * 4 < data_bytes  # the dataset is several times the bound
    tracemalloc.start()
    try:
        m.fit(src, epochs=1, batch_size=64, verbose=0, validation_split=0.1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < bound, (peak, bound)  # the model and the loop included


def test_build_on_a_shard_glob_equals_the_build_on_one_file(tmp_path):
    from seqc.pipeline import BuildOptions, build

    x, y = blobs()
    write_npy(tmp_path / "d", x, y, SIZES)
    np.savez(tmp_path / "all.npz", x=x, y=y)
    spec = tmp_path / "m.json"
    spec.write_text('{"name": "m", "input_shape": [4], "layers": [{"type": "Normalization"}, '
                    '{"type": "Dense", "units": 1, "activation": "sigmoid"}], "compile": '
                    '{"optimizer": "adam", "loss": "binary_crossentropy"}, '
                    '"fit": {"epochs": 2, "validation_split": 0.2}}')
    reports = [build(str(spec), BuildOptions(out_dir=str(tmp_path / name), data=data))
               for name, data in (("a", str(tmp_path / "d" / "*.npy")),
                                  ("b", str(tmp_path / "all.npz")))]
    assert reports[0]["validation"]["ok"]
    a, b = (np.load(tmp_path / n / "weights.npz") for n in "ab")
    assert all(np.array_equal(a[k], b[k]) for k in b)


def test_class_weight_callbacks_validation_data_and_evaluate_as_in_memory(tmp_path):
    from seqc.training.callbacks import Callback

    class Stop(Callback):
        def __init__(self):
            self.batches = []

        def on_train_batch_end(self, batch, logs=None):
            self.batches.append(batch)
            if batch == 4:
                self.model.stop_training = True

    x, y = blobs()
    vx, vy = blobs(90, seed=3)
    src = seqc.data.Shards(write_npy(tmp_path / "d", x, y, SIZES), chunk_rows=64)
    val = seqc.data.Shards(write_npy(tmp_path / "v", vx, vy, [50, 40]))
    runs = []
    for data, vdata in (((x, y), (vx, vy)), ((src,), val)):
        m, cb = model(), Stop()
        h = m.fit(*data, epochs=2, batch_size=16, class_weight={0: 1.0, 1: 2.5},
                  validation_data=vdata, callbacks=[cb], verbose=0)
        runs.append((m, h.history, cb.batches, m.evaluate(*data, verbose=0, batch_size=64)))
    (a, ha, ba, ea), (b, hb, bb, eb) = runs
    assert ba == bb == [0, 1, 2, 3, 4]  # stopped mid-epoch: the prefetch thread ends too
    assert ha == hb and ea == eb
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    with pytest.raises(UsageError, match="predict_dataset"):
        b.predict(src)


def test_discretization_adapts_exactly_in_the_buffer_and_as_keras_on_batches_past_it(
        tmp_path):
    x, y = blobs()
    d = write_npy(tmp_path / "d", x, y, [100, 100, 100])

    def disc():
        m = seqc.Sequential([L.Input((4,)), L.Discretization(num_bins=4, epsilon=0.05),
                             L.Dense(1, activation="sigmoid")], seed=0)
        m.compile(optimizer="adam", loss="binary_crossentropy")
        return m

    key = "discretization/bin_boundaries"
    ref, m = disc(), disc()
    ref.fit(x, y, epochs=0, verbose=0)
    m.fit(seqc.data.Shards(d, chunk_rows=64), epochs=0, verbose=0)
    assert np.array_equal(ref.params[key], m.params[key])
    # Past the buffer: Keras' adapt on an iterable of batches, the same 50-row chunks.
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    layer = keras.layers.Discretization(num_bins=4, epsilon=0.05)
    for i in range(0, 300, 50):  # what layer.adapt(batches) does, without tf.data
        layer.update_state(x[i:i + 50])
    layer.finalize_state()
    m = disc()
    m.fit(seqc.data.Shards(d, chunk_rows=50, shuffle_buffer=100), epochs=0, verbose=0)
    np.testing.assert_allclose(m.params[key], np.asarray(layer.bin_boundaries, np.float32),
                               rtol=1e-6)
    assert not np.array_equal(m.params[key], ref.params[key])  # a summary, not exact


def test_a_truncated_shard_fails_the_fit_naming_the_file(tmp_path):
    x, y = blobs()
    d = write_npy(tmp_path / "d", x, y, SIZES)
    p = os.path.join(d, "part-003.x.npy")
    with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) - 100)
    with pytest.raises(DataError, match="truncated|ends at row") as e:
        model().fit(seqc.data.Shards(d, shuffle_buffer=64), epochs=1, verbose=0)
    assert "part-003.x.npy" in str(e.value)
