"""benchmarks/fuzz.py's own bookkeeping: a worker that dies or hangs on an input has that input
run again alone, and only what recurs alone counts as seqc's break."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

from ._harness import Case

ROOT = Path(__file__).resolve().parents[2]


def _fuzz():
    spec = importlib.util.spec_from_file_location("seqc_bench_fuzz", ROOT / "benchmarks" /
                                                  "fuzz.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _dying_worker(tmp: Path) -> list[str]:
    """A stand-in worker: announces an input, then dies of SIGSEGV (as libhdf5 can)."""
    script = tmp / "die.py"
    script.write_text("import json, os, signal\n"
                      f"print({_fuzz().PREFIX!r} + json.dumps({{'start': 0, 'argv': ['x']}}),"
                      " flush=True)\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    return [sys.executable, str(script)]


def test_a_worker_death_that_the_input_does_not_cause_alone_is_the_harness(tmp_path):
    fuzz = _fuzz()
    # Alone, the input is a clear exit 2 naming the file: within the contract.
    case = Case("spec", {"s.json": b"{"}, "s.json", ["summary", "{input}"])
    args = argparse.Namespace(time_bound=120.0, memory=4 * 1024**3)
    totals = fuzz.Totals()
    fuzz._keep_current(tmp_path / "scratch", case)
    with tempfile.TemporaryFile(mode="w+") as err:
        done, cut_short = fuzz._run_worker(_dying_worker(tmp_path), 5, err,
                                           tmp_path / "scratch", args, totals)
    assert (done, cut_short) == (1, True)
    assert totals.cases == 1 and not totals.errors, totals.errors  # not a break
    assert dict(totals.codes) == {2: 1}
    [(what, k)] = totals.artefacts.items()
    assert what.startswith("worker died -11, not alone (exit 2)") and k == 1


def test_a_worker_death_that_recurs_alone_is_a_break(tmp_path, monkeypatch):
    fuzz = _fuzz()
    case = Case("spec", {"s.json": b"{}"}, "s.json", ["summary", "{input}"])
    fuzz._keep_current(tmp_path / "scratch", case)
    monkeypatch.setattr(fuzz, "_rerun_alone", lambda scratch, args: {
        "code": -11, "violations": ["exit -11"], "error": "", "elapsed": 0.1})
    totals = fuzz.Totals()
    with tempfile.TemporaryFile(mode="w+") as err:
        fuzz._run_worker(_dying_worker(tmp_path), 5, err, tmp_path / "scratch",
                         argparse.Namespace(time_bound=60.0, memory=4 * 1024**3), totals)
    assert totals.codes[-11] == 1 and not totals.artefacts
    assert list(totals.errors) == ["worker died -11; alone: "]
