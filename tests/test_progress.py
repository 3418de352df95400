"""Progress output: Keras' per-step bar under a pseudo-terminal, one line per epoch when piped,
nothing with --quiet; predict's rows/s line on a terminal only; the bar's text is Keras'."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqc import progress

ROOT = Path(__file__).resolve().parents[1]
STEP_REDRAW = re.compile(r"\r(?!\n)")  # a carriage return that is not the tty's \r\n


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("progress")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4)).astype("float32")
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", (x[:, :1] > 0).astype("float32"))
    p = d / "m.json"
    p.write_text(json.dumps({
        "name": "p", "input_shape": [4],
        "layers": [{"type": "Dense", "units": 8, "activation": "relu"},
                   {"type": "Dense", "units": 1, "activation": "sigmoid"}],
        "compile": {"optimizer": "adam", "loss": "binary_crossentropy", "metrics": ["accuracy"]},
        "fit": {"epochs": 2, "batch_size": 8, "seed": 0},
        "data": {"x": "x.npy", "y": "y.npy"}}))
    return p


def _seqc(*args: str) -> list[str]:
    return [sys.executable, "-m", "seqc", *args]


def _under_pty(cmd: list[str]) -> tuple[int, str]:
    """Run cmd with stdout and stderr on a pseudo-terminal; returns (exit code, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_build_on_a_terminal_draws_the_per_step_bar(spec, tmp_path):
    code, out = _under_pty(_seqc("build", str(spec), "-o", str(tmp_path / "b")))
    assert code == 0, out
    epoch = out[out.index("Epoch 1/2"):out.index("Epoch 2/2")]
    assert len(STEP_REDRAW.findall(epoch)) >= 2  # the first step and the final line at least
    assert "\x1b[1m50/50\x1b[0m \x1b[32m" + "━" * 20 in epoch  # Keras' bold count, green bar
    assert re.search(r"\d+(ms|us|s)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}", epoch)


@pytest.fixture(scope="module")
def piped_build(spec) -> tuple[Path, subprocess.CompletedProcess]:
    out = spec.parent / "b"
    return out, subprocess.run(_seqc("build", str(spec), "-o", str(out)), cwd=ROOT,
                               capture_output=True, text=True, timeout=60)


def test_build_piped_prints_one_line_per_epoch(piped_build):
    _, r = piped_build
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stdout and "\x1b" not in r.stdout
    lines = r.stdout.splitlines()
    i = lines.index("Epoch 1/2")
    assert re.fullmatch(r"50/50 - \d+s - \d+(ms|us|s)/step - loss: \d\.\d{4} - "
                        r"accuracy: \d\.\d{4}", lines[i + 1]), lines[i + 1]
    assert lines[i + 2] == "Epoch 2/2"


def test_quiet_turns_progress_off_on_a_terminal(spec, tmp_path):
    code, out = _under_pty(_seqc("build", str(spec), "-o", str(tmp_path / "b"), "--quiet"))
    assert code == 0, out
    assert "Epoch" not in out and "step" not in out
    x = spec.parent / "x.npy"
    code, out = _under_pty(_seqc("predict", str(tmp_path / "b"), str(x), "-o",
                                 str(tmp_path / "p.npy"), "--quiet", "--batch-size", "64"))
    assert code == 0 and "rows/s" not in out, out


def test_predict_shows_rows_rate_and_eta_on_a_terminal_only(spec, piped_build, tmp_path):
    built, _ = piped_build
    x = spec.parent / "x.npy"
    code, out = _under_pty(_seqc("predict", str(built), str(x), "-o",
                                 str(tmp_path / "p.npy"), "--batch-size", "64"))
    assert code == 0, out
    assert re.search(r"\rrows 400/400 ━{20} [\d,]+ rows/s \d+s", out), out
    r = subprocess.run(_seqc("predict", str(built), str(x), "-o",
                             str(tmp_path / "q.npy"), "--batch-size", "64"), cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "rows/s" not in r.stdout + r.stderr


def test_progbar_text_matches_keras(monkeypatch, capsys):
    """The same updates at the same clock readings give Keras' Progbar characters exactly."""
    keras_progbar = pytest.importorskip("keras.src.utils.progbar")
    now = {"t": 100.0}
    monkeypatch.setattr("time.time", lambda: now["t"])
    updates = [(1, {"loss": 0.69312, "accuracy": 0.5}), (7, {"loss": 0.5, "accuracy": 1e-4}),
               (12, {"loss": 0.2, "accuracy": 0.75})]
    texts = []
    for verbose in (1, 2):
        # Keras' ProgbarLogger shows fit's logs as they are (stateless_metrics=set()).
        for make in (lambda v=verbose: keras_progbar.Progbar(12, verbose=v,
                                                             stateless_metrics=set()),
                     lambda v=verbose: progress.Progbar(12, verbose=v, stream=sys.stdout)):
            now["t"] = 100.0
            clock = iter(np.arange(100.0, 200.0, 0.75).tolist())
            bar = make()
            for step, logs in updates:
                now["t"] = next(clock) + 0.5
                bar.update(step, list(logs.items()) if isinstance(bar, keras_progbar.Progbar)
                           else logs)
            texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] and "━" in texts[0]
    assert texts[2] == texts[3] and texts[2].startswith("12/12 - ")


def test_row_progress_is_silent_off_a_terminal():
    buf = io.StringIO()
    line = progress.RowProgress(10, stream=buf)
    line(5)
    line(10, final=True)
    assert buf.getvalue() == ""
