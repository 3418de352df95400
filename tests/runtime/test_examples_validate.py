"""Issue 6's done-when: `seqc validate` on every example model compares at least 4 runtimes
and they agree; `seqc bench` prints its table for every example."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from seqc.cli import cli

EXAMPLES = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "examples").glob(
    "*.json"))
os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each example built once (untrained: agreement does not depend on the weights)."""
    from seqc.pipeline import BuildOptions, build

    root = Path(__file__).resolve().parents[2] / "examples"
    out = {}
    for name in EXAMPLES:
        folder = tmp_path_factory.mktemp(name.removesuffix(".json"))
        build(str(root / name), BuildOptions(out_dir=str(folder), train=False, verbose=0,
                                             log=None))
        out[name] = folder
    return out


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_agrees_on_at_least_four_runtimes(built, name):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    import seqc

    runtimes = ["numpy", "onnxruntime", "onnx-reference", "keras", "torch"]
    from seqc.runtime import resolve
    from seqc.runtime.runners import RUNTIMES

    src = resolve(str(built[name]))
    usable = [r for r in runtimes if RUNTIMES[r].cannot_run(src) is None]
    assert len(usable) >= 4, usable  # onnx-reference sits out masked recurrent models
    result = seqc.validate(str(built[name]), runtimes=usable, print_table=False)
    assert result.ok, result.format_table()
    assert [r.runtime for r in result.results] == usable


@pytest.mark.parametrize("name", EXAMPLES)
def test_bench_prints_its_table_for_every_example(built, name):
    r = CliRunner().invoke(cli, ["bench", str(built[name]), "--numpy", "--min-time", "0",
                                 "--iterations", "3", "--batch-sizes", "1,64"])
    assert r.exit_code == 0, r.output
    assert "p50 ms" in r.output and "session creation" in r.output
    assert r.output.count("onnxruntime ") >= 2 and r.output.count("numpy ") >= 2
