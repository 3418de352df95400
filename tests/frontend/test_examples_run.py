"""The shipped examples work end to end: each spec builds (train, export, validate) and
reaches >= 95% accuracy on the held-out validation split; quickstart.py runs offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seqc.pipeline import BuildOptions, build

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("spec", ["breast_cancer_mlp.json", "digits_mlp.json"])
def test_example_spec_builds_and_generalises(tmp_path, spec):
    out = tmp_path / "out"
    report = build(str(EXAMPLES / spec), BuildOptions(out_dir=str(out), verbose=0, log=None))
    assert report["trained"] and report["validation"]["ok"]
    assert report["final_metrics"]["val_accuracy"] >= 0.95, report["history"]["val_accuracy"]
    assert (out / "model.onnx").is_file()
    saved = json.loads((out / "report.json").read_text())
    assert saved["source_hash"] == report["source_hash"]


def test_quickstart_runs(tmp_path):
    r = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    assert (tmp_path / "quickstart.onnx").is_file()
    assert "OK: all runtimes agree" in r.stdout
    accuracy = float(r.stdout.split("held-out loss")[1].split("accuracy")[1].split()[0])
    assert accuracy >= 0.85
