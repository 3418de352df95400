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
