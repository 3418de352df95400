"""predict on a timeseries model: the raw series (CSV or array) is cut into the windows training
cut (Keras' timeseries_dataset_from_array(data, None, ...)), streamed batch by batch, one
prediction per window in order; the windowing travels in the ONNX metadata."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import seqc
from seqc.cli import cli
from seqc.errors import DataError, UsageError
from seqc.export import export_model
from seqc.runtime import make_session
from seqc.runtime.predict import predict_file
from seqc.runtime.windows import TIMESERIES_KEY, model_timeseries, timeseries_metadata
from seqc.training.data import load_timeseries_csv
from seqc.training.timeseries import window_count, window_starts

L = seqc.layers
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUNSPOTS = os.path.join(ROOT, "examples", "sunspots_lstm.json")
SUNSPOTS_CSV = os.path.join(ROOT, "examples", "data", "sunspots.csv")


def keras_windows(data, length, stride=1, rate=1):
    """Keras' timeseries_dataset_from_array(data, None, ...) without TensorFlow, copied from
    keras/src/utils/timeseries_dataset_utils.py (_timeseries_dataset_grain): num_seqs, then
    start_positions = arange(0, num_seqs, stride), then data[pos:pos + length*rate:rate]."""
    num_seqs = len(data) - (length - 1) * rate
    starts = np.arange(0, num_seqs, stride)
    return np.array([data[p:p + length * rate:rate] for p in starts]).reshape(
        len(starts), length, *data.shape[1:]), starts


def ts_model(length, features, tmp, *, stride=1, rate=1, columns=None, layout="channels_last",
             conv=False):
    layers = ([L.Conv1D(3, 2), L.GlobalAveragePooling1D()] if conv else [L.LSTM(4)])
    m = seqc.Sequential([L.Input((length, features)), *layers, L.Dense(2)], seed=3)
    columns = columns or [f"c{j}" for j in range(features)]
    meta = timeseries_metadata({"sequence_length": length, "sequence_stride": stride,
                                "sampling_rate": rate}, columns)
    path = os.path.join(tmp, f"ts_{length}_{features}_{stride}_{rate}_{layout}.onnx")
    return export_model(m, path, metadata=meta, input_layout=layout), columns


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(repr(float(v)) for v in r) + "\n")
    return str(path)


def series(n, features, seed=0):
    return np.random.default_rng(seed).standard_normal((n, features)).astype(np.float32)


def run_session(onnx_path, x):
    return make_session(onnx_path).run(None, {"input": np.asarray(x, np.float32)})[0]


def read_csv_out(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        body = np.loadtxt(f, delimiter=",", ndmin=2)
    return header, body


# ---- the one window count, against Keras' own arithmetic ----

@pytest.mark.parametrize("length", [1, 2, 5])
@pytest.mark.parametrize("stride", [1, 2, 3, 7])
@pytest.mark.parametrize("rate", [1, 2, 3])
def test_window_count_is_keras(length, stride, rate):
    ts = {"sequence_length": length, "sequence_stride": stride, "sampling_rate": rate,
          "horizon": 2}
    for n in range(0, 30):
        data = np.arange(n, dtype=np.float32)[:, None]
        want, starts = keras_windows(data, length, stride, rate)
        assert window_count(n, ts) == len(starts)
        np.testing.assert_array_equal(window_starts(n, ts), starts)
        # With targets (data[delay:], delay = span - 1 + horizon), Keras caps num_seqs by
        # len(targets).
        delay = (length - 1) * rate + 2
        num = min(n - (length - 1) * rate, max(n - delay, 0))
        assert window_count(n, ts, targets=True) == len(np.arange(0, max(num, 0), stride))


# ---- metadata ----

def test_metadata_round_trip(tmp_path):
    meta = timeseries_metadata({"sequence_length": 24, "columns": ["ignored"]}, ["a", "b"])
    entry = json.loads(meta[TIMESERIES_KEY])
    assert entry == {"sequence_length": 24, "sequence_stride": 1, "sampling_rate": 1,
                     "horizon": 1, "columns": ["a", "b"]}
    path, _ = ts_model(6, 2, str(tmp_path), stride=2, rate=3, columns=["a", "b"])
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert model_timeseries(props)["columns"] == ["a", "b"]
    assert model_timeseries(props)["sampling_rate"] == 3
    assert model_timeseries({}) is None
    with pytest.raises(DataError, match="malformed"):
        model_timeseries({TIMESERIES_KEY: "{not json"}, "m.onnx")
    with pytest.raises(DataError, match="malformed.*sequence_length"):
        model_timeseries({TIMESERIES_KEY: json.dumps({"sequence_length": 0, "columns": ["a"]})})
    with pytest.raises(DataError, match="sequence_stride"):
        timeseries_metadata({"sequence_length": 4, "sequence_stride": 0}, ["a"])


# ---- windowed predict equals predicting the training windows ----

CASES = [  # (sequence_length, features, sequence_stride, sampling_rate, rows)
    (5, 1, 1, 1, 40),
    (4, 2, 3, 2, 41),
    (3, 2, 7, 1, 50),  # stride > window: rows between windows belong to none
    (6, 3, 2, 3, 33),
    (1, 2, 1, 1, 9),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "L{}F{}s{}r{}n{}".format(*c))
def test_csv_and_npy_match_training_windows(tmp_path, case):
    length, features, stride, rate, n = case
    onnx_path, cols = ts_model(length, features, str(tmp_path), stride=stride, rate=rate)
    x = series(n, features)
    # Extra columns (a year, the target) in between are ignored; the model's columns are
    # picked by name, in the model's order.
    header = ["year", *cols[::-1], "target"]
    rows = np.column_stack([np.arange(n), x[:, ::-1], np.arange(n) % 5])
    csv_path = write_csv(tmp_path / "s.csv", header, rows)
    ts = {"sequence_length": length, "sequence_stride": stride, "sampling_rate": rate,
          "columns": cols}
    ds = load_timeseries_csv(csv_path, None, ts)
    kx, starts = keras_windows(x, length, stride, rate)
    np.testing.assert_allclose(ds.x, kx, rtol=1e-6)
    ref = run_session(onnx_path, ds.x)
    np.save(tmp_path / "s.npy", x)
    batch_sizes = sorted({1, 2, 3, length - 1 or 1, 7, len(ref) - 1 or 1, 1024})
    for b in batch_sizes:
        assert predict_file(onnx_path, csv_path, str(tmp_path / "y.npy"), batch_size=b) \
            == len(ref)
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ref, rtol=1e-5, atol=1e-6)
        assert predict_file(onnx_path, str(tmp_path / "s.npy"), str(tmp_path / "z.npy"),
                            batch_size=b, windows=True) == len(ref)
        np.testing.assert_allclose(np.load(tmp_path / "z.npy"), ref, rtol=1e-5, atol=1e-6)
    predict_file(onnx_path, csv_path, str(tmp_path / "y.csv"), batch_size=4)
    head, body = read_csv_out(tmp_path / "y.csv")
    assert head == ["first_row", "last_row", "output_0", "output_1"]
    np.testing.assert_array_equal(body[:, 0], starts)
    np.testing.assert_array_equal(body[:, 1], starts + (length - 1) * rate)
    np.testing.assert_allclose(body[:, 2:], ref, rtol=1e-5, atol=1e-5)


def test_npz_and_one_column_vector(tmp_path):
    onnx_path, _ = ts_model(4, 1, str(tmp_path), stride=2)
    x = series(21, 1)
    ref = run_session(onnx_path, keras_windows(x, 4, 2)[0])
    np.savez_compressed(tmp_path / "s.npz", x=x)
    np.save(tmp_path / "v.npy", x[:, 0])  # (rows,) for a one-column series
    for name in ("s.npz", "v.npy"):
        n = predict_file(onnx_path, str(tmp_path / name), str(tmp_path / "y.npy"), batch_size=3)
        assert n == len(ref)
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ref, rtol=1e-5, atol=1e-6)


def test_channels_first_model_gets_channels_first_windows(tmp_path):
    onnx_path, _ = ts_model(5, 2, str(tmp_path), rate=2, layout="channels_first", conv=True)
    x = series(30, 2)
    kx = keras_windows(x, 5, 1, 2)[0]
    ref = run_session(onnx_path, np.moveaxis(kx, -1, 1))
    np.save(tmp_path / "s.npy", x)
    assert predict_file(onnx_path, str(tmp_path / "s.npy"), str(tmp_path / "y.npy"),
                        batch_size=4) == len(ref)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ref, rtol=1e-5, atol=1e-6)


def test_exactly_one_window_and_too_short(tmp_path):
    length, rate = 4, 3
    onnx_path, cols = ts_model(length, 1, str(tmp_path), rate=rate, stride=2)
    need = (length - 1) * rate + 1
    x = series(need, 1)
    csv_path = write_csv(tmp_path / "one.csv", cols, x)
    assert predict_file(onnx_path, csv_path, str(tmp_path / "y.npy"), batch_size=2) == 1
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"),
                               run_session(onnx_path, x[::rate][None]), rtol=1e-5, atol=1e-6)
    short = write_csv(tmp_path / "short.csv", cols, x[:-1])
    with pytest.raises(DataError, match=f"{need - 1} rows, too few.*at least {need} rows") as e:
        predict_file(onnx_path, short, str(tmp_path / "y2.npy"))
    assert "short.csv" in str(e.value)
    assert not os.path.exists(tmp_path / "y2.npy")
    np.save(tmp_path / "short.npy", x[:-1])
    with pytest.raises(DataError, match=f"at least {need} rows"):
        predict_file(onnx_path, str(tmp_path / "short.npy"), str(tmp_path / "y2.npy"))
    r = CliRunner().invoke(cli, ["predict", onnx_path, short, "-o", str(tmp_path / "y3.csv")])
    assert r.exit_code == 2, r.output
    assert "short.csv" in r.output and f"at least {need} rows" in r.output


# ---- auto mode, --no-windows, --windows, and bad input ----

def test_premade_windows_unchanged_and_windows_false(tmp_path):
    onnx_path, cols = ts_model(5, 2, str(tmp_path))
    x = series(20, 2)
    kx = keras_windows(x, 5)[0]
    np.save(tmp_path / "w.npy", kx)
    for windows in (None, False):
        assert predict_file(onnx_path, str(tmp_path / "w.npy"), str(tmp_path / "y.csv"),
                            windows=windows) == len(kx)
        head, body = read_csv_out(tmp_path / "y.csv")
        assert head == ["output_0", "output_1"]  # no row columns: no windows were cut
        np.testing.assert_allclose(body, run_session(onnx_path, kx), rtol=1e-5, atol=1e-5)
    np.save(tmp_path / "s.npy", x)
    with pytest.raises(DataError, match="expects input of shape") as e:
        predict_file(onnx_path, str(tmp_path / "s.npy"), str(tmp_path / "y.npy"),
                     windows=False)
    assert "s.npy" in str(e.value)
    with pytest.raises(DataError, match="--windows: the input must be the raw series"):
        predict_file(onnx_path, str(tmp_path / "w.npy"), str(tmp_path / "y.npy"), windows=True)
    # Neither the raw series nor windows: the error says both shapes the model takes.
    np.save(tmp_path / "bad.npy", series(20, 3))
    with pytest.raises(DataError, match="expects input") as e:
        predict_file(onnx_path, str(tmp_path / "bad.npy"), str(tmp_path / "y.npy"))
    assert "raw series" in e.value.hint and "(rows, 2)" in e.value.hint


def test_windows_true_needs_a_timeseries_model(tmp_path):
    m = seqc.Sequential([L.Input((5, 2)), L.LSTM(3), L.Dense(1)], seed=0)
    path = export_model(m, tmp_path / "plain.onnx")
    np.save(tmp_path / "s.npy", series(20, 2))
    with pytest.raises(UsageError, match="carries no timeseries windowing"):
        predict_file(path, str(tmp_path / "s.npy"), str(tmp_path / "y.npy"), windows=True)
    with pytest.raises(UsageError, match="windows must be True, False or None"):
        predict_file(path, str(tmp_path / "s.npy"), str(tmp_path / "y.npy"), windows="yes")


def test_csv_columns_and_target(tmp_path):
    onnx_path, cols = ts_model(3, 2, str(tmp_path), columns=["temp", "wind"])
    x = series(12, 2)
    ref = run_session(onnx_path, keras_windows(x, 3)[0])
    path = write_csv(tmp_path / "s.csv", ["wind", "load", "temp"],
                     np.column_stack([x[:, 1], np.arange(12), x[:, 0]]))
    # --target naming another column drops it; the windows are unchanged.
    assert predict_file(onnx_path, path, str(tmp_path / "y.npy"), target="load") == len(ref)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(UsageError, match="--target drops column 'temp'.*reads it as an input"):
        predict_file(onnx_path, path, str(tmp_path / "y.npy"), target="temp")
    missing = write_csv(tmp_path / "m.csv", ["Temp", "wind"], x)
    with pytest.raises(DataError, match="column 'temp' is not in the CSV header") as e:
        predict_file(onnx_path, missing, str(tmp_path / "y.npy"))
    assert "m.csv" in str(e.value) and "Temp" in e.value.hint
    # A non-numeric cell in an ignored column is fine; in a model column it is named.
    with open(tmp_path / "t.csv", "w") as f:
        f.write("temp,wind,note\n" + "".join(f"{a},{b},n{i}\n" for i, (a, b) in enumerate(x)))
    assert predict_file(onnx_path, str(tmp_path / "t.csv"), str(tmp_path / "y.npy")) == len(ref)
    with open(tmp_path / "u.csv", "w") as f:
        f.write("temp,wind\n1,2\n3,x\n5,6\n")
    with pytest.raises(DataError, match="row 2, column 'wind' is not a number"):
        predict_file(onnx_path, str(tmp_path / "u.csv"), str(tmp_path / "y.npy"))


def test_metadata_disagreeing_with_the_model_input(tmp_path):
    m = seqc.Sequential([L.Input((5, 2)), L.LSTM(3), L.Dense(1)], seed=0)
    path = export_model(m, tmp_path / "m.onnx",
                        metadata=timeseries_metadata({"sequence_length": 6}, ["a", "b"]))
    np.save(tmp_path / "s.npy", series(20, 2))
    with pytest.raises(DataError, match="windows of .*= \\(6, 2\\), but the model input"):
        predict_file(path, str(tmp_path / "s.npy"), str(tmp_path / "y.npy"))


# ---- the sunspots example: the definition's own windowing ----

def test_sunspots_definition_windows(tmp_path):
    from seqc.frontend import load_definition

    defn = load_definition(SUNSPOTS)
    ts = defn.data["timeseries"]
    # What build_export.source_metadata adds for a definition with data.timeseries.
    path = export_model(defn.model, tmp_path / "model.onnx",
                        metadata=timeseries_metadata(ts, ts["columns"]))
    ds = load_timeseries_csv(SUNSPOTS_CSV, None, ts)
    ref = run_session(path, ds.x)
    assert len(ref) == 309 - 24 + 1
    for b in (5, 32, 1024):
        n = predict_file(path, SUNSPOTS_CSV, str(tmp_path / "y.npy"), batch_size=b)
        assert n == len(ref)
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ref, rtol=1e-5, atol=1e-4)
    r = CliRunner().invoke(cli, ["predict", str(path), SUNSPOTS_CSV, "-o",
                                 str(tmp_path / "y.csv")])
    assert r.exit_code == 0, r.output
    head, body = read_csv_out(tmp_path / "y.csv")
    assert head == ["first_row", "last_row", "output_0"] and len(body) == len(ref)


def test_sunspots_build_carries_windows(tmp_path):
    """`seqc build` puts the windowing in model.onnx (build_export.source_metadata), so predict
    on the build folder takes the raw CSV."""
    from seqc.pipeline import BuildOptions, build

    out = str(tmp_path / "build")
    build(SUNSPOTS, BuildOptions(out_dir=out, epochs=1, verbose=0, log=None, test_vectors=0))
    props = {p.key: p.value for p in onnx.load(os.path.join(out, "model.onnx")).metadata_props}
    assert TIMESERIES_KEY in props, "build_export.source_metadata must add timeseries_metadata"
    assert model_timeseries(props)["columns"] == ["sunspots"]
    n = predict_file(out, SUNSPOTS_CSV, str(tmp_path / "y.npy"), batch_size=50)
    ds = load_timeseries_csv(SUNSPOTS_CSV, None, model_timeseries(props))
    assert n == len(ds.x)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"),
                               run_session(os.path.join(out, "model.onnx"), ds.x),
                               rtol=1e-5, atol=1e-4)
