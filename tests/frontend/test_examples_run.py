"""The shipped examples work end to end: each spec builds (train, export, validate) and
reaches >= 95% accuracy on the held-out validation split; quickstart.py runs offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqc.pipeline import BuildOptions, build

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("spec,target,folded", [
    ("breast_cancer_mlp.json", 0.95, ["normalization folded into dense"]),
    ("digits_mlp.json", 0.95, ["rescaling folded into dense"]),
    ("digits_cnn.json", 0.97, ["rescaling folded into conv2d"]),
    ("signals_conv1d.json", 0.95, [])])
def test_example_spec_builds_and_generalises(tmp_path, spec, target, folded):
    """...and the served graph reads raw features: the preprocessing is in the first layer's
    weights, with no elementwise node left for it."""
    out = tmp_path / "out"
    report = build(str(EXAMPLES / spec), BuildOptions(out_dir=str(out), verbose=0, log=None))
    assert report["trained"] and report["validation"]["ok"]
    assert report["onnx"]["passes"]["fold_preprocessing"] == folded
    assert not {"Mul", "Add", "Sub", "Div"} & set(report["onnx"]["nodes"]), report["onnx"]
    assert report["final_metrics"]["val_accuracy"] >= target, report["history"]["val_accuracy"]
    assert all(r["max_abs_error"] <= 1e-5 for r in report["validation"]["runtimes"])
    assert (out / "model.onnx").is_file()
    saved = json.loads((out / "report.json").read_text())
    assert saved["source_hash"] == report["source_hash"]


def test_quickstart_runs(tmp_path):
    r = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "SEQC-W" not in r.stderr, r.stderr  # no warning before training (docs/errors.md)
    assert (tmp_path / "quickstart.onnx").is_file()
    assert "OK: all runtimes agree" in r.stdout
    accuracy = float(r.stdout.split("held-out loss")[1].split("accuracy")[1].split()[0])
    assert accuracy >= 0.85


def test_conv_examples_export_transpose_free_graphs(tmp_path):
    """The digits CNN has one layout change (at the input; a Reshape, since it has one
    channel) and no Transpose, the Conv1D example's BatchNormalization
    is folded into its conv, and both agree with NumPy within 1e-5 on the held-out rows."""
    for spec, folded in (("digits_cnn.json", []),
                         ("signals_conv1d.json", ["batch_normalization folded into conv1d"])):
        report = build(str(EXAMPLES / spec), BuildOptions(out_dir=str(tmp_path / spec),
                                                          verbose=0, log=None, epochs=1))
        nodes = report["onnx"]["nodes"]
        assert nodes.get("Transpose", 0) == 0 and nodes.get("Reshape") == 1, nodes
        assert "BatchNormalization" not in nodes, nodes
        assert "Gather" not in nodes, nodes
        assert report["onnx"]["passes"]["fold_batchnorm"] == folded
        v = report["validation"]
        assert v["ok"] and all(r["max_abs_error"] <= 1e-5 for r in v["runtimes"]), v


def test_sequence_classifier_generalises_and_exports_native_lstm(tmp_path):
    """Embedding(mask_zero) -> LSTM -> Dense on bracket strings: >= 95% held out, and the ONNX
    graph runs one native LSTM node (no Loop or Scan) that agrees with NumPy."""
    report = build(str(EXAMPLES / "sequence_classifier.json"),
                   BuildOptions(out_dir=str(tmp_path / "out"), verbose=0, log=None))
    assert report["final_metrics"]["val_accuracy"] >= 0.95, report["history"]
    nodes = report["onnx"]["nodes"]
    assert nodes.get("LSTM") == 1 and "Loop" not in nodes and "Scan" not in nodes, nodes
    v = report["validation"]
    assert v["ok"] and all(r["max_abs_error"] <= 1e-5 for r in v["runtimes"]), v


def test_sunspots_lstm_beats_the_naive_forecast(tmp_path):
    """The held-out RMSE beats "next year = this year" (33.0 on the same 57 windows) with a
    margin; ONNX agrees with NumPy to float32 rounding on outputs of about 100."""
    report = build(str(EXAMPLES / "sunspots_lstm.json"),
                   BuildOptions(out_dir=str(tmp_path / "out"), verbose=0, log=None))
    rmse = report["final_metrics"]["val_RootMeanSquaredError"]
    assert rmse <= 24.0, report["history"]["val_RootMeanSquaredError"]
    assert report["onnx"]["nodes"] == {"Gemm": 1, "LSTM": 1, "Reshape": 1, "Transpose": 1}
    assert report["onnx"]["passes"]["fold_preprocessing"] == [
        "normalization folded into lstm", "rescaling folded into dense"]
    v = report["validation"]
    assert v["ok"] and all(r["max_abs_error"] <= 1e-4 for r in v["runtimes"]), v


def _variant(tmp_path, spec: str, edit) -> str:
    """A copy of an example spec, changed by `edit(doc)` (smaller sizes for a fast test),
    its data path made absolute."""
    doc = json.loads((EXAMPLES / spec).read_text())
    edit(doc)
    doc["data"]["path"] = str(EXAMPLES / doc["data"]["path"])
    path = tmp_path / spec
    path.write_text(json.dumps(doc))
    return str(path)


def test_cbhg_tagger_learns_both_sided_context_and_exports_native_gru(tmp_path):
    """The CBHG graph spec (conv bank, residual Add, repeated Highway, BiGRU), at K=4 and 8
    channels for speed: the tags need the left and the right neighbour, and it beats the
    majority class (48% on the held-out rows) by far. ONNX runs one native GRU node, no loop,
    any sequence length, agreeing with NumPy at a length it was not trained on."""
    def small(doc):
        keep = {f"bank_{k}" for k in range(5, 9)} | {f"bank_bn_{k}" for k in range(5, 9)}
        doc["layers"] = [e for e in doc["layers"] if e.get("name") not in keep]
        for e in doc["layers"]:
            if "filters" in e:
                e["filters"] = 8
            if e.get("name") == "emb":
                e["output_dim"] = 8
            if e.get("name") == "bank":
                e["from"] = [f"bank_bn_{k}" for k in range(1, 5)]
            if e["type"] == "Bidirectional":
                e["layer"]["units"] = 8
        doc["fit"]["epochs"] = 3

    out = tmp_path / "out"
    report = build(_variant(tmp_path, "cbhg_tagger.json", small),
                   BuildOptions(out_dir=str(out), verbose=0, log=None))
    assert report["final_metrics"]["val_accuracy"] >= 0.9, report["history"]["val_accuracy"]
    nodes = report["onnx"]["nodes"]
    assert nodes.get("GRU") == 1 and "Loop" not in nodes and "Scan" not in nodes, nodes
    assert report["validation"]["ok"], report["validation"]
    import onnxruntime as ort

    import seqc

    model = seqc.load(str(out))
    x = np.random.default_rng(0).integers(1, 10, size=(3, 37)).astype(np.int32)
    sess = ort.InferenceSession(str(out / "model.onnx"))
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x), atol=1e-5)


def test_resnet_digits_generalises(tmp_path):
    """The residual CNN (a repeated block whose Add reads "$input"), trained 4 epochs
    for speed: >= 90% held-out accuracy on the digits."""
    def small(doc):
        doc["fit"]["epochs"] = 4

    report = build(_variant(tmp_path, "resnet_digits.json", small),
                   BuildOptions(out_dir=str(tmp_path / "out"), verbose=0, log=None))
    assert report["final_metrics"]["val_accuracy"] >= 0.9, report["history"]["val_accuracy"]
    v = report["validation"]
    assert v["ok"] and all(r["max_abs_error"] <= 1e-5 for r in v["runtimes"]), v
