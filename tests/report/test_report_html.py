"""report.html as `seqc build` writes it: one self-contained page, every section, the
held-out evaluation in report.json; without matplotlib the build still works and says once
which extra would add the page."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from seqc.report.html import SECTIONS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_page_is_self_contained_with_every_section(report_builds):
    for name, folder in report_builds.items():
        page = (folder / "report.html").read_text()
        for sid in SECTIONS:
            assert f'<section id="{sid}">' in page, (name, sid)
        # Nothing loaded from anywhere: no script, stylesheet, image or font reference.
        assert not re.search(r"<script|<link|<img|<iframe|@import|url\((?!#)|src=|https?://(?!www\.w3"
                             r"\.org/)", page), name
        assert page.count("<svg") >= 2  # the model drawing and the training curves
        assert 10_000 < len(page) < 600_000


def test_classifier_holdout_matches_validation_rows(report_builds):
    r = json.loads((report_builds["breast_cancer_mlp"] / "report.json").read_text())
    h = r["holdout"]
    assert h["kind"] == "classifier" and h["class_names"] == ["benign", "malignant"]
    assert sum(map(sum, h["confusion_matrix"])) == r["validation"]["n_inputs"] == h["rows"]
    # The matrix's diagonal gives Keras' val_accuracy of the last epoch (same rows, weights).
    assert h["accuracy"] == pytest.approx(r["history"]["val_accuracy"][-1], abs=1e-6)
    assert 0.5 < h["roc_auc"] <= 1
    page = (report_builds["breast_cancer_mlp"] / "report.html").read_text()
    assert "ROC on the held-out rows" in page and "model.fp16.onnx" in page
    d = json.loads((report_builds["digits_mlp"] / "report.json").read_text())["holdout"]
    assert len(d["confusion_matrix"]) == 10 and len(d["per_class"]) == 10
    assert "roc_auc" not in d


def test_regressor_holdout(report_builds):
    r = json.loads((report_builds["sunspots_lstm"] / "report.json").read_text())
    h = r["holdout"]
    assert h["kind"] == "regressor" and h["rows"] == r["validation"]["n_inputs"]
    key = next(k for k in r["history"] if k.startswith("val_") and "oot" in k)  # the RMSE
    assert h["rmse"] == pytest.approx(r["history"][key][-1], rel=1e-4)
    page = (report_builds["sunspots_lstm"] / "report.html").read_text()
    assert "predicted against true" in page and "residuals" in page


def test_build_without_matplotlib_says_once_which_extra(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from seqc.cli import main\n"
            f"sys.argv = ['seqc', 'build', {str(ROOT / 'examples/digits_mlp.json')!r}, '-o', "
            f"{str(tmp_path / 'b')!r}, '--epochs', '1']\n"
            "main()\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert out.count("report.html skipped: pip install 'seqc[report]'") == 1
    assert (tmp_path / "b" / "model.onnx").exists()
    assert not (tmp_path / "b" / "report.html").exists()


def test_plot_a_build_folder_and_its_history(report_builds, tmp_path):
    from click.testing import CliRunner

    from seqc.cli import cli

    folder = report_builds["breast_cancer_mlp"]
    r = CliRunner().invoke(cli, ["plot", str(folder), "-o", str(tmp_path / "m.svg")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.svg").read_text().count('id="seqc-node-') == 4
    r = CliRunner().invoke(cli, ["plot", str(folder), "--history", "-o",
                                 str(tmp_path / "c.svg")])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "c.svg").read_text()
    # One panel per quantity, each with its training and validation line.
    assert text.count(">loss<") == 1 and text.count(">accuracy<") == 1
    assert text.count(">training<") == 2 and text.count(">validation<") == 2
    r = CliRunner().invoke(cli, ["plot", str(folder), "--history", "-o",
                                 str(tmp_path / "c.png"), "--dpi", "50"])
    assert r.exit_code == 0 and (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_callback_events_reach_report_json_and_the_page(tmp_path):
    from seqc.pipeline import BuildOptions, build

    spec = json.loads((ROOT / "examples" / "breast_cancer_mlp.json").read_text())
    spec["data"]["path"] = str(ROOT / "examples" / spec["data"]["path"])
    spec["fit"].update(epochs=4, callbacks=[
        {"type": "EarlyStopping", "patience": 1, "min_delta": 10,
         "restore_best_weights": True},
        {"type": "ReduceLROnPlateau", "patience": 1, "factor": 0.5, "min_delta": 10}])
    (tmp_path / "s.json").write_text(json.dumps(spec))
    build(str(tmp_path / "s.json"), BuildOptions(out_dir=str(tmp_path / "b"), verbose=0,
                                                 log=None))
    r = json.loads((tmp_path / "b" / "report.json").read_text())
    events = {e["event"]: e for e in r["training_events"]}
    # min_delta 10 means no epoch improves: the first is best, training stops at epoch 2.
    assert events["early_stopping"]["epoch"] == 1 and len(r["history"]["loss"]) == 2
    assert events["restored_best"]["epoch"] == 0
    assert events["reduce_lr"]["to"] == pytest.approx(events["reduce_lr"]["from"] * 0.5)
    page = (tmp_path / "b" / "report.html").read_text()
    for text in ("early stop", "restored best", "LR reduced",
                 "EarlyStopping restored the best weights"):
        assert text in page
