"""Run one seqc command on one generated input and check seqc's contract for bad input
(issue 16): exit 0, 1 or 2 only (never 70, an internal error); no traceback without --debug;
an exit-2 message names the input; a failed command leaves no output behind; a time bound.

`run_in_process` uses click's CliRunner (fast: the fuzz suite runs hundreds of inputs per
frontend); `run_subprocess` runs `python -m seqc` under a wall-clock limit and an address-space
limit, for the hang and memory checks on a small sample (a hang inside C code, libhdf5 or
onnxruntime, cannot be interrupted in-process).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALLOWED_EXITS = (0, 1, 2)
TRACEBACK = "Traceback (most recent call last)"
# The outputs a command writes; one left behind by a failed command is a partial output.
OUTPUT_NAMES = ("model.onnx", "weights.npz", "model.ir.json", "report.json")
# Per-input bounds. In-process runs are measured (a hung C call cannot be interrupted); the
# subprocess sample is killed at its bound and counted as a hang.
TIME_BOUND_S = 60.0  # generous: the CI machine may be shared
MEMORY_BOUND = 3 * 1024**3


@dataclass
class Case:
    """One generated input: the files to write (relative path -> bytes), which of them is the
    command's input, and the command line with `{input}`, `{out}` and `{dir}` placeholders."""

    frontend: str
    files: dict[str, bytes]
    input: str
    argv: list[str]
    out: str | None = None  # the output path the command is asked to write, relative

    def __repr__(self) -> str:  # hypothesis prints a failing case: sizes, not the bytes
        files = {k: f"<{len(v)} bytes>" for k, v in self.files.items()}
        return f"Case({self.frontend!r}, files={files}, input={self.input!r}, argv={self.argv})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # hypothesis' printer
        p.text(repr(self))

    def materialize(self, root: Path) -> tuple[Path, list[str], Path | None]:
        for rel, data in self.files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        target = root / self.input
        target.parent.mkdir(parents=True, exist_ok=True)
        out = root / self.out if self.out else None
        subs = {"input": str(target), "out": str(out), "dir": str(root)}
        return target, [a.format(**subs) for a in self.argv], out


@dataclass
class Outcome:
    code: int  # -1: killed at the time bound (a hang)
    output: str
    elapsed_s: float
    violations: list[str] = field(default_factory=list)


def run_in_process(argv: list[str]) -> Outcome:
    from click.testing import CliRunner

    from seqc.cli import cli

    t0 = time.perf_counter()
    r = CliRunner().invoke(cli, argv)
    elapsed = time.perf_counter() - t0
    output = r.output
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        # Escaped handle_errors entirely (a BaseException): as bad as a traceback.
        import traceback

        output += "\n" + "".join(traceback.format_exception(r.exception))
        return Outcome(EXIT_ESCAPED, output, elapsed)
    return Outcome(r.exit_code, output, elapsed)


EXIT_ESCAPED = 99  # an exception that escaped the CLI's handler (not an exit code seqc uses)


def ci_settings(n: int) -> Any:
    """Hypothesis settings for CI: `n` inputs (or SEQC_FUZZ_EXAMPLES), derandomized (the same
    inputs on every run, so CI is reproducible and a failure names its input), no database, no
    shrinking (the failure message already holds the whole input and the command)."""
    from hypothesis import HealthCheck, Phase, settings

    return settings(max_examples=int(os.environ.get("SEQC_FUZZ_EXAMPLES", n)),
                    derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


def _limits(memory: int) -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def run_subprocess(argv: list[str], *, timeout_s: float = TIME_BOUND_S,
                   memory: int = MEMORY_BOUND) -> Outcome:
    """`python -m seqc ARGV` in a fresh process under a time and an address-space limit. A
    MemoryError there ends in exit 70 (a violation); a kill at the time bound is code -1."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-m", "seqc", *argv], capture_output=True,
                           text=True, timeout=timeout_s, env=env,
                           preexec_fn=lambda: _limits(memory))
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        return Outcome(-1, out, time.perf_counter() - t0)
    return Outcome(p.returncode, p.stdout + p.stderr, time.perf_counter() - t0)


def check(outcome: Outcome, input_path: Path, out: Path | None, *,
          time_bound_s: float = TIME_BOUND_S) -> Outcome:
    """Fill `outcome.violations` with every broken promise (empty: the contract held)."""
    v = outcome.violations
    if outcome.code == -1:
        v.append("hang")
    elif outcome.code not in ALLOWED_EXITS:
        v.append(f"exit {outcome.code}")
    if TRACEBACK in outcome.output:
        v.append("traceback")
    if outcome.code == 2 and str(input_path) not in outcome.output:
        v.append("exit-2 message does not name the input")
    if outcome.code != 0 and out is not None and _partial(out):
        v.append(f"partial output left: {_partial(out)}")
    if outcome.code != -1 and outcome.elapsed_s > time_bound_s:
        v.append(f"slow: {outcome.elapsed_s:.1f} s")
    return outcome


def _partial(out: Path) -> list[str]:
    """Outputs a failed command left: the file it was asked to write, or a build folder's
    artifacts and staging folders (a `rejected/` folder of exit 1 is by design)."""
    if out.is_file():
        return [out.name]
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir()
                  if p.name in OUTPUT_NAMES or p.name.startswith(".staging"))


def run_case(case: Case, root: Path, *, subprocess_run: bool = False) -> Outcome:
    target, argv, out = case.materialize(root)
    outcome = run_subprocess(argv) if subprocess_run else run_in_process(argv)
    return check(outcome, target, out)


def describe(case: Case, outcome: Outcome) -> str:
    """A failure report a person can reproduce from: the command, the files, the output."""
    files = ", ".join(f"{k} ({len(b)} bytes)" for k, b in case.files.items())
    head = {k: b[:400] for k, b in case.files.items() if k == case.input}
    return (f"[{case.frontend}] {' '.join(case.argv)}\nviolations: {outcome.violations}\n"
            f"exit {outcome.code} in {outcome.elapsed_s:.2f} s; files: {files}\n"
            f"input head: {head}\noutput:\n{outcome.output[-3000:]}")
