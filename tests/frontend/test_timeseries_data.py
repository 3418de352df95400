"""The data section's `timeseries` windows (Keras' timeseries_dataset_from_array semantics):
window values and counts against a reference written from Keras' rule, the shipped sunspots
series, the validation split (the last windows), and the errors for bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqc.build_data import load_build_data
from seqc.cli import cli
from seqc.errors import DataError, DefinitionError
from seqc.frontend import load_definition
from seqc.pipeline import BuildOptions
from seqc.training.checks import split_validation
from seqc.training.data import load_data, load_timeseries_csv

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SUNSPOTS = EXAMPLES / "data" / "sunspots.csv"


def keras_windows(data, targets, sequence_length, sequence_stride=1, sampling_rate=1):
    """keras.utils.timeseries_dataset_from_array without shuffling, written out with loops
    from keras/src/utils/timeseries_dataset_utils.py (num_seqs, start_positions)."""
    num_seqs = len(data) - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    xs, ys = [], []
    for s in range(0, num_seqs, sequence_stride):
        xs.append([data[s + k * sampling_rate] for k in range(sequence_length)])
        if targets is not None:
            ys.append(targets[s])
    return np.array(xs, np.float32), (None if targets is None else np.array(ys, np.float32))


def write_csv(tmp_path: Path, n: int = 30) -> tuple[Path, np.ndarray]:
    """A date column (not numeric: must be ignored), two series and a whole-number column."""
    t = np.arange(n)
    a = np.round(np.sin(t / 3.0) * 10, 3)
    b = t * 100.0 + 7
    p = tmp_path / "series.csv"
    with open(p, "w") as f:
        f.write("date,a,b,count\n")
        for i in range(n):
            f.write(f"2020-01-{i + 1:02d},{a[i]:g},{b[i]:g},{i % 4}\n")
    return p, np.stack([a, b, t % 4], 1).astype(np.float32)


@pytest.mark.parametrize("length,stride,rate,horizon", [
    (1, 1, 1, 1), (5, 1, 1, 1), (5, 3, 1, 1), (4, 1, 2, 1), (3, 2, 3, 4), (29, 1, 1, 1)])
def test_windows_match_keras_rule(tmp_path, length, stride, rate, horizon):
    p, table = write_csv(tmp_path)
    ts = {"sequence_length": length, "sequence_stride": stride, "sampling_rate": rate,
          "horizon": horizon, "columns": ["a", "b"]}
    ds = load_timeseries_csv(str(p), "b", ts)
    delay = (length - 1) * rate + horizon
    xk, yk = keras_windows(table[:, :2], table[delay:, 1], length, stride, rate)
    assert ds.x.shape == (len(xk), length, 2) and ds.x.dtype == np.float32
    np.testing.assert_array_equal(ds.x, xk)
    np.testing.assert_array_equal(ds.y, yk)
    assert ds.y.dtype == np.float32 and ds.feature_names == ["a", "b"]
    # Counted by hand: start positions 0, stride, ... below n - delay.
    assert len(ds.x) == len(range(0, 30 - delay, stride))


def test_univariate_default_columns_and_next_value(tmp_path):
    p, table = write_csv(tmp_path, n=10)
    ds = load_data({"path": str(p), "target": "a", "timeseries": {"sequence_length": 3}})
    assert ds.x.shape == (7, 3, 1) and ds.y.shape == (7,)
    # Window i is rows i..i+2 of `a`, its label row i+3.
    for i in range(7):
        np.testing.assert_array_equal(ds.x[i, :, 0], table[i:i + 3, 0])
        assert ds.y[i] == table[i + 3, 0]


def test_no_target_gives_every_full_window(tmp_path):
    p, table = write_csv(tmp_path, n=10)
    ds = load_data({"path": str(p), "timeseries": {"sequence_length": 4, "columns": "a"}})
    xk, _ = keras_windows(table[:, :1], None, 4)
    assert ds.y is None and len(ds.x) == 7
    np.testing.assert_array_equal(ds.x, xk)


def test_label_dtype_category_for_window_classes(tmp_path):
    p, table = write_csv(tmp_path, n=12)
    ds = load_data({"path": str(p), "target": "count", "label_dtype": "int64",
                    "timeseries": {"sequence_length": 2, "columns": ["a"]}})
    assert ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.y, table[2:, 2].astype(np.int64))


def test_sunspots_series_windows():
    rows = SUNSPOTS.read_text().split()
    assert rows[0] == "year,sunspots" and len(rows) == 310
    assert rows[1] == "1700,5" and rows[-1] == "2008,2.9"
    years = [int(r.split(",")[0]) for r in rows[1:]]
    assert years == list(range(1700, 2009))
    ds = load_data({"path": str(SUNSPOTS), "target": "sunspots",
                    "timeseries": {"sequence_length": 24}})
    values = np.array([float(r.split(",")[1]) for r in rows[1:]], np.float32)
    assert ds.x.shape == (309 - 24, 24, 1)
    np.testing.assert_array_equal(ds.x[0, :, 0], values[:24])   # 1700..1723
    assert ds.y[0] == values[24] and ds.y[-1] == values[-1]       # 1724, 2008


def test_validation_split_is_the_last_windows():
    """Keras' validation_split holds out the last windows: every held-out label comes from a
    later year than every training label. Their input windows reach back into the training
    years (the last 23 years before the first held-out label): that overlap is what windows
    imply, the held-out labels themselves are never trained on."""
    ds = load_data({"path": str(SUNSPOTS), "target": "sunspots",
                    "timeseries": {"sequence_length": 24}})
    label_year = 1724 + np.arange(len(ds.x))
    (xt, yt, _), (xv, yv, _) = split_validation(ds.x, label_year, None, 0.2)
    assert len(yv) == 57 and len(yt) == 228
    assert yt.max() < yv.min() and yv.max() == 2008


def naive_rmse(x: np.ndarray, y: np.ndarray) -> float:
    """The last-value forecast: next year's number = this year's."""
    return float(np.sqrt(np.mean((x[:, -1, 0].astype(np.float64) - y) ** 2)))


def test_sunspots_naive_baseline_on_held_out_windows():
    """The number examples/sunspots_lstm.json must beat (its held-out val RMSE)."""
    defn = load_definition(str(EXAMPLES / "sunspots_lstm.json"))
    ds = load_build_data(defn, BuildOptions())
    split = defn.fit["validation_split"]
    _, (xv, yv, _) = split_validation(ds.x, ds.y, None, split)
    assert len(xv) == 57
    assert naive_rmse(xv, yv) == pytest.approx(33.0187, abs=1e-3)


# ----------------------------------------------------------------------------- errors

def spec(tmp_path: Path, data: dict, input_shape=(24, 1)) -> Path:
    # GlobalAveragePooling1D takes a window of any length; Flatten needs a known one.
    first = "Flatten" if None not in input_shape else "GlobalAveragePooling1D"
    doc = {"input_shape": list(input_shape),
           "layers": [{"type": first}, {"type": "Dense", "units": 1}],
           "compile": {"optimizer": "adam", "loss": "mse"},
           "fit": {"epochs": 1, "validation_split": 0.2},
           "data": data}
    p = tmp_path / "ts.json"
    p.write_text(json.dumps(doc))
    return p


def ts_data(**ts) -> dict:
    return {"path": str(SUNSPOTS), "target": "sunspots",
            "timeseries": {"sequence_length": 24, **ts}}


@pytest.mark.parametrize("data,field,match", [
    (ts_data(sequence_lenght=3), "sequence_lenght", "unknown key 'sequence_lenght'"),
    (ts_data(sequence_length=0), "sequence_length", "must be >= 1"),
    (ts_data(sampling_rate=1.5), "sampling_rate", "integer"),
    ({"path": str(SUNSPOTS), "target": "sunspots", "timeseries": {"columns": "sunspots"}},
     None, "sequence_length"),
    (ts_data(columns=[]), "columns", None),
    ({"x": "x.npy", "y": "y.npy", "timeseries": {"sequence_length": 24}}, "data.timeseries",
     "rows of a CSV"),
    ({"path": "d.npz", "timeseries": {"sequence_length": 24}}, "data.timeseries",
     "rows of a CSV"),
    ({"path": str(SUNSPOTS), "timeseries": {"sequence_length": 24}},
     "data.timeseries.columns", "target column"),
])
def test_bad_timeseries_section_is_a_definition_error(tmp_path, data, field, match):
    with pytest.raises(DefinitionError) as e:
        load_definition(str(spec(tmp_path, data)))
    text = str(e.value)
    assert "ts.json" in text and "Received:" in text
    if field is not None:
        assert e.value.field == field, text
    if match is not None:
        assert match in text


@pytest.mark.parametrize("input_shape,ok", [((24, 1), True), ((None, 1), True),
                                            ((12, 1), False), ((24, 2), False), ((24,), False)])
def test_window_shape_must_fit_the_model_input(tmp_path, input_shape, ok):
    p = spec(tmp_path, ts_data(), input_shape)
    if ok:
        load_definition(str(p))
        return
    with pytest.raises(DefinitionError, match="each timeseries window is") as e:
        load_definition(str(p))
    assert e.value.field == "input_shape" and "[24, 1]" in e.value.hint


def test_data_errors_name_file_and_column(tmp_path):
    p, _ = write_csv(tmp_path, n=10)
    with pytest.raises(DataError, match="column 'sunspot' .* not in the CSV header") as e:
        load_data({"path": str(p), "target": "a",
                   "timeseries": {"sequence_length": 3, "columns": ["sunspot"]}})
    assert e.value.file == str(p) and e.value.field == "data.timeseries.columns"
    with pytest.raises(DataError, match="column 'date' holds a non-numeric value"):
        load_data({"path": str(p), "target": "a",
                   "timeseries": {"sequence_length": 3, "columns": ["a", "date"]}})
    with pytest.raises(DataError, match="the series has 10 rows, too few") as e:
        load_data({"path": str(p), "target": "a", "timeseries": {"sequence_length": 10}})
    assert "at least 11 rows" in str(e.value) and e.value.hint
    # Exactly enough rows: one window.
    ds = load_data({"path": str(p), "target": "a", "timeseries": {"sequence_length": 9}})
    assert len(ds.x) == 1
    with pytest.raises(DataError, match="sequence_length must be an integer >= 1"):
        load_data({"path": str(p), "target": "a", "timeseries": {"sequence_length": True}})
    with pytest.raises(DataError, match="unknown timeseries argument 'stride'") as e:
        load_data({"path": str(p), "target": "a",
                   "timeseries": {"sequence_length": 2, "stride": 2}})
    assert "Valid arguments: columns, sequence_length, sequence_stride" in str(e.value)


def test_seqc_build_exits_2_with_a_clear_message(tmp_path):
    p = spec(tmp_path, ts_data(), (12, 1))
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 2, r.output
    assert "each timeseries window is (sequence_length, columns) = [24, 1]" in r.output
    assert "Received:" in r.output and "hint:" in r.output
    p = spec(tmp_path, {**ts_data(), "target": "sunspot"})
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 2 and "sunspots.csv" in r.output and "sunspots" in r.output


def test_seqc_build_trains_on_windows(tmp_path):
    """A linear autoregressive model (Flatten -> Dense) through the whole pipeline: windows are
    the samples, the held-out rows validated against ONNX are the last windows."""
    p = spec(tmp_path, ts_data())
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["trained"] and report["validation"]["ok"]


# ----------------------------------------------------------------------------- the examples

def test_sequences_csv_is_what_make_sequences_writes():
    import runpy

    gen = runpy.run_path(str(EXAMPLES / "data" / "make_sequences.py"))
    x, y = gen["make"]()
    table = np.loadtxt(EXAMPLES / "data" / "sequences.csv", delimiter=",", skiprows=1,
                       dtype=np.int64)
    np.testing.assert_array_equal(table[:, :-1], x)
    np.testing.assert_array_equal(table[:, -1], y)
    lengths = (x > 0).sum(1)
    # Post-padded: tokens then zeros only; every string opens with '(' and closes with ')'
    # with as many of each, and is labelled by whether it nests.
    assert np.all((x > 0) == (np.arange(20) < lengths[:, None]))
    assert np.all(x[:, 0] == 1) and np.all(x[np.arange(len(x)), lengths - 1] == 2)
    assert np.all((x == 1).sum(1) == (x == 2).sum(1))
    depth = np.cumsum(np.where(x == 1, 1, np.where(x == 2, -1, 0)), axis=1)
    np.testing.assert_array_equal(y, depth.min(1) >= 0)
    assert y.sum() == 1000 and set(lengths) == set(range(6, 21, 2))
