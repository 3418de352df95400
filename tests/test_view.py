"""`seqc view`: Netron serves model.onnx on localhost; bad models and a missing extra refused."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

import seqc
from seqc import view
from seqc.cli import cli
from seqc.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("view")
    m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2, name="fc")])
    m.export(str(d / "model.onnx"))
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_view_serves_the_model_on_localhost(build_dir):
    pytest.importorskip("netron")  # the view extra (.ci/run installs it)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "seqc", "view", str(build_dir), "--port",
                             str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "BROWSER": "false"})
    try:
        line = proc.stdout.readline()
        url = f"http://localhost:{port}"
        assert line.strip() == (f"Serving {build_dir / 'model.onnx'} in Netron at {url} "
                                "(Ctrl-C stops)"), line + proc.stderr.read()
        with urllib.request.urlopen(url + "/", timeout=10) as r:
            assert r.status == 200
            assert "Netron" in r.read().decode()
        # A second server on the same port is refused before Netron would stop the first.
        r = CliRunner().invoke(cli, ["view", str(build_dir), "--port", str(port)])
        assert r.exit_code == 2 and "not free" in r.output
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: Netron stops its servers and exits
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_serve_and_stop_in_process(build_dir):
    pytest.importorskip("netron")
    url = view.serve(build_dir / "model.onnx", port=_free_port())
    try:
        with urllib.request.urlopen(url + "/", timeout=10) as r:
            assert r.status == 200
    finally:
        view.stop(url)


@pytest.mark.parametrize("what,msg", [("missing", "no such file"), ("empty", "no model.onnx"),
                                      ("json", "shows ONNX models")])
def test_bad_models_exit_2(tmp_path, what, msg):
    target = {"missing": tmp_path / "nope.onnx", "empty": tmp_path,
              "json": ROOT / "examples" / "digits_mlp.json"}[what]
    r = CliRunner().invoke(cli, ["view", str(target)])
    assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output


def test_missing_extra_names_it(build_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "netron", None)
    with pytest.raises(UsageError, match=r"seqc\[view\]"):
        view.serve(build_dir)
