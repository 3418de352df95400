"""The `seqc` command end to end: exit codes, messages, atomic outputs, report contents."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqc.cli import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def write_spec(tmp_path: Path, layers, **extra) -> Path:
    spec = {"name": "t", "input_shape": [4], "layers": layers, **extra}
    p = tmp_path / "m.json"
    p.write_text(json.dumps(spec))
    return p


def small_data(tmp_path: Path, n=200):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32").reshape(-1, 1)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return x, y


COMPILE = {"optimizer": "adam", "loss": "binary_crossentropy", "metrics": ["accuracy"]}
GOOD_LAYERS = [{"type": "Dense", "units": 8, "activation": "relu"},
               {"type": "Dense", "units": 1, "activation": "sigmoid"}]


def test_help_lists_commands():
    r = run("--help")
    assert r.exit_code == 0
    for c in ("build", "summary", "ops", "predict", "validate"):
        assert c in r.output


def test_build_trains_exports_validates(tmp_path):
    small_data(tmp_path)
    spec = write_spec(tmp_path, GOOD_LAYERS, compile=COMPILE,
                      fit={"epochs": 3, "batch_size": 32, "validation_split": 0.25, "seed": 0},
                      data={"x": "x.npy", "y": "y.npy"})
    out = tmp_path / "out"
    r = run("build", str(spec), "-o", str(out), "--quiet")
    assert r.exit_code == 0, r.output
    page = ["report.html"] if importlib.util.find_spec("matplotlib") else []  # report extra
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["model.onnx", "weights.npz", "model.ir.json", "report.json", *page])
    rep = json.loads((out / "report.json").read_text())
    assert rep["trained"] and rep["validation"]["ok"]
    assert len(rep["history"]["loss"]) == 3 and "val_accuracy" in rep["history"]
    assert rep["parameters"] == {"total": 49, "trainable": 49, "non_trainable": 0}
    assert rep["validation"]["n_inputs"] == 50


def test_artifacts_get_the_mode_open_would_give(tmp_path):
    """Atomic writes go through mkstemp (0600); every artifact ends up 0666 less the umask,
    model.onnx included, and so does `convert -o`."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    small_data(tmp_path)
    spec = write_spec(tmp_path, GOOD_LAYERS, compile=COMPILE, fit={"epochs": 1},
                      data={"x": "x.npy", "y": "y.npy"})
    out = tmp_path / "out"
    assert run("build", str(spec), "-o", str(out), "--quiet").exit_code == 0
    assert run("convert", str(out), "-o", str(tmp_path / "c.onnx"), "-q").exit_code == 0
    for p in [*out.iterdir(), tmp_path / "c.onnx"]:
        assert p.stat().st_mode & 0o777 == 0o666 & ~mask, p.name


def test_build_flags_override(tmp_path):
    small_data(tmp_path)
    spec = write_spec(tmp_path, GOOD_LAYERS, compile=COMPILE, fit={"epochs": 5})
    out = tmp_path / "o"
    r = run("build", str(spec), "-o", str(out), "--x", str(tmp_path / "x.npy"), "--y",
            str(tmp_path / "y.npy"), "--epochs", "2", "-q")
    assert r.exit_code == 0, r.output
    assert len(json.loads((out / "report.json").read_text())["history"]["loss"]) == 2


def _bad(tmp_path, layers=None, text=None, **extra):
    if text is not None:
        p = tmp_path / "m.json"
        p.write_text(text)
    else:
        p = write_spec(tmp_path, layers, **extra)
    r = run("build", str(p), "-o", str(tmp_path / "out"), "-q")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "out" / "model.onnx").exists()
    return r.output


def test_invalid_json_gives_line_and_column(tmp_path):
    out = _bad(tmp_path, text='{"name": "x",\n  "layers": [,]}')
    assert "line 2" in out and "column" in out


def test_unknown_layer_suggests(tmp_path):
    out = _bad(tmp_path, [{"type": "Dens", "units": 3}])
    assert "did you mean 'Dense'" in out and "layers[0]" in out


def test_unknown_activation_suggests(tmp_path):
    out = _bad(tmp_path, [{"type": "Dense", "units": 3, "activation": "rellu"}])
    assert "did you mean 'relu'" in out


@pytest.mark.parametrize("units", [0, -3, 2.5, "8"])
def test_bad_units(tmp_path, units):
    out = _bad(tmp_path, [{"type": "Dense", "units": units}])
    assert "units" in out and "Received:" in out


def test_missing_input_shape(tmp_path):
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"name": "t", "layers": GOOD_LAYERS}))
    r = run("build", str(p), "-q")
    assert r.exit_code == 2 and "input" in r.output and "hint" in r.output


def test_empty_layer_list(tmp_path):
    out = _bad(tmp_path, [])
    assert "layers" in out


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_dropout_rate_out_of_range(tmp_path, rate):
    out = _bad(tmp_path, [{"type": "Dropout", "rate": rate}])
    assert "rate" in out and "Received:" in out


def test_impossible_reshape(tmp_path):
    out = _bad(tmp_path, [{"type": "Reshape", "target_shape": [3, 3]}])
    assert "Reshape" in out and "Received:" in out


@pytest.mark.parametrize("input_shape,layer,field,words", [
    ([4], {"type": "Conv2D", "filters": 2, "kernel_size": 3}, "input", "rank 4"),
    ([4, 4, 1], {"type": "Conv2D", "filters": 2, "kernel_size": 5}, "kernel_size",
     "larger than the input"),
    ([3, 3, 1], {"type": "MaxPooling2D", "pool_size": 4}, "pool_size", "larger than the input"),
    ([8, 8, 1], {"type": "Conv2D", "filters": 2, "kernel_size": 3, "padding": "full"},
     "padding", "must be one of 'valid', 'same'"),
    ([8, 8, 1], {"type": "Conv2D", "filters": 2, "kernel_size": 3, "strides": 0}, "strides",
     "positive"),
    ([8, 8, 1], {"type": "MaxPooling2D", "pool_size": 2, "strides": [0, 1]}, "strides",
     "positive"),
])
def test_impossible_conv_shapes_fail_before_training(tmp_path, input_shape, layer, field, words):
    """Conv/pooling definitions that cannot work are refused when the spec is read, naming
    the layer and the field, before any data is loaded or any epoch runs."""
    small_data(tmp_path)
    layers = [layer, {"type": "Flatten"}, {"type": "Dense", "units": 1}]
    out = _bad(tmp_path, layers, input_shape=input_shape, compile=COMPILE,
               data={"x": "x.npy", "y": "y.npy"})
    assert f"layers[0] '{layer['type'].lower().replace('pooling2d', '_pooling2d')}'" in out
    assert field in out and words in out and "Received:" in out
    assert "Epoch" not in out


@pytest.mark.parametrize("input_shape,layers,label,words", [
    ([6, 2], [{"type": "Flatten"}, {"type": "LSTM", "units": 4}], "layers[1] 'lstm'",
     "(batch, timesteps, features)"),
    ([4], [{"type": "GRU", "units": 4}], "layers[0] 'gru'", "(batch, timesteps, features)"),
    ([6, 2], [{"type": "LSTM", "units": 4}, {"type": "LSTM", "units": 2}], "layers[1] 'lstm_1'",
     "return_sequences"),
    ([6, 2], [{"type": "Bidirectional", "layer": {"type": "Dense", "units": 2}}],
     "layers[0] 'bidirectional'", "LSTM"),
    ([6, 2], [{"type": "Masking"}, {"type": "LSTM", "units": 4, "return_sequences": True},
              {"type": "BatchNormalization"}], "layers[2] 'batch_normalization'", "mask"),
])
def test_impossible_recurrent_models_fail_before_training(tmp_path, input_shape, layers, label,
                                                          words):
    """A recurrent layer on a wrong-rank input (Flatten then LSTM, stacked LSTMs without
    return_sequences) is refused with the layer named and the expected shape spelled out."""
    small_data(tmp_path)
    out = _bad(tmp_path, [*layers, {"type": "Flatten"}, {"type": "Dense", "units": 1}],
               input_shape=input_shape, compile=COMPILE, data={"x": "x.npy", "y": "y.npy"})
    assert label in out and words in out and "Received:" in out, out
    assert "Epoch" not in out


def test_huge_layer_refused_before_allocating(tmp_path):
    out = _bad(tmp_path, [{"type": "Dense", "units": 10**9}])
    assert "--max-memory" in out


def test_labels_that_do_not_fit_the_loss(tmp_path):
    x, _ = small_data(tmp_path)
    np.save(tmp_path / "y.npy", np.arange(len(x)) % 3)  # sparse ids for a categorical loss
    spec = write_spec(tmp_path, [{"type": "Dense", "units": 3, "activation": "softmax"}],
                      compile={"optimizer": "adam", "loss": "categorical_crossentropy"},
                      fit={"epochs": 1}, data={"x": "x.npy", "y": "y.npy"})
    r = run("build", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert r.exit_code == 2, r.output
    assert "sparse_categorical_crossentropy" in r.output


def test_nan_in_data_names_array_and_row(tmp_path):
    x, y = small_data(tmp_path)
    x[7, 2] = np.nan
    np.save(tmp_path / "x.npy", x)
    spec = write_spec(tmp_path, GOOD_LAYERS, compile=COMPILE, fit={"epochs": 1},
                      data={"x": "x.npy", "y": "y.npy"})
    r = run("build", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert r.exit_code == 2, r.output
    assert "nan" in r.output.lower() and "row 7" in r.output and "x.npy" in r.output


def test_feature_count_mismatch(tmp_path):
    small_data(tmp_path)
    spec = write_spec(tmp_path, GOOD_LAYERS, compile=COMPILE, fit={"epochs": 1},
                      data={"x": "x.npy", "y": "y.npy"}, input_shape=[5])
    spec_d = json.loads(spec.read_text())
    spec_d["input_shape"] = [5]
    spec.write_text(json.dumps(spec_d))
    r = run("build", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert r.exit_code == 2, r.output
    assert "5" in r.output and "4" in r.output


def test_failed_build_keeps_previous_good_output(tmp_path):
    small_data(tmp_path)
    spec = write_spec(tmp_path, GOOD_LAYERS, compile=COMPILE, fit={"epochs": 1},
                      data={"x": "x.npy", "y": "y.npy"})
    out = tmp_path / "out"
    assert run("build", str(spec), "-o", str(out), "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    np.save(tmp_path / "y.npy", np.full((200, 1), 7.0, dtype="float32"))  # bad labels
    r = run("build", str(spec), "-o", str(out), "-q")
    assert r.exit_code == 2
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before


def test_debug_shows_traceback(tmp_path):
    p = write_spec(tmp_path, [{"type": "Dens", "units": 3}])
    r = CliRunner().invoke(cli, ["--debug", "build", str(p), "-q"])
    assert r.exit_code == 2


def test_summary_and_ops():
    r = run("summary", str(EXAMPLES / "digits_mlp.json"))
    assert r.exit_code == 0, r.output
    assert "Total params" in r.output
    r = run("ops")
    assert r.exit_code == 0 and "Dense" in r.output


def test_docs_layers_table_is_generated():
    from seqc.docs import layers_markdown

    committed = (Path(__file__).resolve().parents[1] / "docs" / "layers.md").read_text()
    assert committed.strip() == layers_markdown().strip(), (
        "docs/layers.md is stale: run `seqc ops --markdown > docs/layers.md`")


def test_predict_and_validate_build_folder(tmp_path):
    x, _ = small_data(tmp_path)
    spec = write_spec(tmp_path, GOOD_LAYERS, compile=COMPILE, fit={"epochs": 1},
                      data={"x": "x.npy", "y": "y.npy"})
    out = tmp_path / "out"
    assert run("build", str(spec), "-o", str(out), "-q").exit_code == 0
    r = run("predict", str(out), str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.npy"))
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "p.npy").shape == (200, 1)
    r = run("validate", str(out), "--json")
    assert r.exit_code == 0, r.output
    r = run("predict", str(out), str(tmp_path / "missing.npy"), "-o", str(tmp_path / "p.npy"))
    assert r.exit_code == 2 and "missing.npy" in r.output
    shutil.rmtree(out)


def test_compile_section_checked_without_training(tmp_path):
    spec = write_spec(tmp_path, GOOD_LAYERS, compile={**COMPILE, "optimizer": "adamm"})
    r = run("build", str(spec), "-o", str(tmp_path / "out"), "--no-train", "-q")
    assert r.exit_code == 2, r.output
    assert "m.json" in r.output and "did you mean 'adam'" in r.output


def test_fit_setting_errors_name_the_spec(tmp_path):
    small_data(tmp_path)
    spec = write_spec(tmp_path, GOOD_LAYERS, compile=COMPILE,
                      fit={"epochs": 1, "callbacks": [{"type": "EarlyStoping"}]},
                      data={"x": "x.npy", "y": "y.npy"})
    r = run("build", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert r.exit_code == 2, r.output
    assert "m.json" in r.output and "EarlyStopping" in r.output


def test_class_weight_by_class_name(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{u:.3f},{v:.3f},{'yes' if u + v > 0 else 'no'}"
                            for u, v in rng.normal(size=(120, 2))]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    spec = {"name": "cw", "input_shape": [2], "layers": GOOD_LAYERS, "compile": COMPILE,
            "fit": {"epochs": 1, "class_weight": {"yes": 2.0, "no": 1.0}},
            "data": {"path": "d.csv", "target": "label"}}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    r = run("build", str(tmp_path / "m.json"), "-o", str(tmp_path / "out"), "-q")
    assert r.exit_code == 0, r.output
    spec["fit"]["class_weight"] = {"maybe": 2.0}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    r = run("build", str(tmp_path / "m.json"), "-o", str(tmp_path / "out2"), "-q")
    assert r.exit_code == 2 and "maybe" in r.output and "'no'" in r.output, r.output


def test_max_memory_flag_moves_the_limit(tmp_path):
    spec = write_spec(tmp_path, [{"type": "Dense", "units": 4000}])
    r = run("build", str(spec), "-o", str(tmp_path / "out"), "--no-train", "-q",
            "--max-memory", "100KB")
    assert r.exit_code == 2 and "limit of 100.0 KiB" in r.output and "--max-memory" in r.output
    r = run("build", str(spec), "-o", str(tmp_path / "out"), "--no-train", "-q",
            "--max-memory", "1GB")
    assert r.exit_code == 0, r.output


def test_data_flag_keeps_the_specs_timeseries_windows(tmp_path):
    """`--data other.csv` swaps the file but still cuts it into the spec's windows."""
    shutil.copy(EXAMPLES / "data" / "sunspots.csv", tmp_path / "other.csv")
    r = run("build", str(EXAMPLES / "sunspots_lstm.json"), "-o", str(tmp_path / "out"), "-q",
            "--data", str(tmp_path / "other.csv"), "--epochs", "1")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["trained"]


def test_build_variants_report_accuracy_deltas(tmp_path):
    """Issue 6: the digits MLP quantized to int8 loses <= 1 point of held-out accuracy, as
    report.json says; the float16 export agrees within its dtype tolerance; the variant files
    sit beside model.onnx, and a rebuild without variants removes them."""
    pytest.importorskip("onnxruntime.quantization")
    out = tmp_path / "digits"
    r = run("build", str(EXAMPLES / "digits_mlp.json"), "-o", str(out), "--epochs", "3",
            "--int8", "static", "--float16", "--cleanup", "-q")
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    v = report["variants"]
    assert v["ok"] and v["int8"]["ok"] and v["float16"]["ok"]
    assert v["int8"]["delta"]["accuracy"] >= -0.01
    assert v["float16"]["validation"]["max_abs_error"] <= v["float16"]["validation"]["atol"]
    assert [p["pass"] for p in report["onnx"]["cleanup"]] == [
        "identity", "transpose", "constant_folding", "dead_nodes"]
    assert (out / "model.int8.onnx").exists() and (out / "model.fp16.onnx").exists()
    r = run("build", str(EXAMPLES / "digits_mlp.json"), "-o", str(out), "--no-train", "-q")
    assert r.exit_code == 0, r.output
    assert not (out / "model.int8.onnx").exists() and not (out / "model.fp16.onnx").exists()
