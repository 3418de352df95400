"""The fuzz suite at scale (issue 16): N generated inputs per frontend (default 10,000), run in
parallel worker processes, with totals per frontend: counts per exit code, tracebacks, hangs
and every other broken promise (tests/fuzz/_harness.py says which).

    python benchmarks/fuzz.py                          # 10,000 per frontend, all frontends
    python benchmarks/fuzz.py -n 300 -j 2 --frontends spec,h5 --save-dir /tmp/fuzz-fails

Each worker runs its inputs in-process (hypothesis draws them from tests/fuzz's strategies with
a seed of its own) under an address-space limit, announcing each input before it runs; the
parent kills a worker whose input runs past --time-bound and starts a fresh worker (next seed)
for what is left. The input a worker hung or died on is then run alone (`python -m seqc` under
the same bounds): a hang or a break that recurs alone is seqc's and counted; one that does not
(the load, memory an earlier input left in the worker) is listed apart as the harness's. A
MemoryError under the limit is seqc's exit 70, counted. Exit status 1 when any input broke the
contract, else 0.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "@@fuzz "


def _worker(frontend: str, n: int, seed: int, save_dir: str | None, scratch: str) -> None:
    """Run `n` inputs of `frontend`; one `@@fuzz {...}` line on stdout before and after each.
    The input running is also kept in `scratch` (case.json and its files), so that the parent
    can rerun it alone when it kills the worker."""

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from tests.fuzz._harness import run_case

    FRONTENDS = _frontends()

    out = os.fdopen(os.dup(1), "w", buffering=1)
    count = [0]

    @hseed(seed)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(FRONTENDS[frontend]())
    def run(case):
        i = count[0]
        count[0] += 1
        if i >= n:
            return
        _keep_current(Path(scratch), case)
        out.write(PREFIX + json.dumps({"start": i, "argv": case.argv}) + "\n")
        keep = Path(save_dir) / frontend / f"s{seed}-{i}" if save_dir else None
        if keep is not None:  # saved first: a hang or a crash of the worker leaves it behind
            _save(keep, case, None)
        with tempfile.TemporaryDirectory(prefix="seqc-fuzz-") as tmp:
            outcome = run_case(case, Path(tmp))
        tb = "Traceback (most recent call last)" in outcome.output
        if keep is not None:
            if outcome.violations:
                _save(keep, case, outcome)
            else:
                shutil.rmtree(keep)
        out.write(PREFIX + json.dumps({
            "done": i, "code": outcome.code, "traceback": tb, "elapsed": outcome.elapsed_s,
            "violations": outcome.violations,
            "error": _last_error(outcome.output) if outcome.violations else ""}) + "\n")

    run()


def _frontends() -> dict:
    """Every strategy: the definition frontends, then data files and ONNX models."""
    sys.path.insert(0, str(ROOT))
    from tests.fuzz._data_onnx import PENDING_FRONTENDS
    from tests.fuzz._frontends import FRONTENDS

    return {**FRONTENDS, **PENDING_FRONTENDS}


def _keep_current(scratch: Path, case) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "files").mkdir(parents=True)
    for rel, data in case.files.items():
        p = scratch / "files" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (scratch / "case.json").write_text(json.dumps({
        "frontend": case.frontend, "files": sorted(case.files), "input": case.input,
        "argv": case.argv, "out": case.out}))


def _rerun_alone(scratch: Path, args) -> dict:
    """The input a worker died on (or hung on), run again by itself: `python -m seqc` in a
    fresh process under the same time and memory bounds. What that run breaks is seqc's; a
    death that does not recur alone came from the worker's long life (memory other inputs
    left behind, a crash in a destructor of an earlier input's object): the harness's."""
    sys.path.insert(0, str(ROOT))
    from tests.fuzz._harness import Case, check, run_subprocess

    meta = json.loads((scratch / "case.json").read_text())
    files = {rel: (scratch / "files" / rel).read_bytes() for rel in meta["files"]}
    case = Case(meta["frontend"], files, meta["input"], meta["argv"], meta["out"])
    with tempfile.TemporaryDirectory(prefix="seqc-fuzz-alone-") as tmp:
        target, argv, out = case.materialize(Path(tmp))
        outcome = check(run_subprocess(argv, timeout_s=args.time_bound, memory=args.memory),
                        target, out, time_bound_s=args.time_bound)
    return {"code": outcome.code, "violations": outcome.violations,
            "error": _last_error(outcome.output), "elapsed": outcome.elapsed_s}


def _last_error(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("internal error", "error:", "validation failed")):
            return ln[:300]
    return (lines[-1] if lines else "")[:300]


def _save(folder: Path, case, outcome) -> None:
    from tests.fuzz._harness import Outcome

    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in case.files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    if outcome is None:  # still running (or hung, or killed the worker)
        outcome = Outcome(-1, "(did not finish)", 0.0, ["did not finish"])
    (folder / "CASE.txt").write_text(
        f"argv: {case.argv}\ninput: {case.input}\nout: {case.out}\n"
        f"violations: {outcome.violations}\nexit: {outcome.code}\n\n{outcome.output}")


class Totals:
    def __init__(self) -> None:
        self.codes: collections.Counter = collections.Counter()
        self.violations: collections.Counter = collections.Counter()
        self.errors: collections.Counter = collections.Counter()
        self.artefacts: collections.Counter = collections.Counter()
        self.tracebacks = self.hangs = self.cases = 0
        self.slowest = 0.0
        self.lock = threading.Lock()

    def add(self, rec: dict) -> None:
        with self.lock:
            self.cases += 1
            self.codes[rec["code"]] += 1
            self.tracebacks += bool(rec.get("traceback"))
            self.slowest = max(self.slowest, rec.get("elapsed", 0.0))
            for v in rec["violations"]:
                self.violations[v.split(":")[0]] += 1
            if rec["violations"]:
                self.errors[rec.get("error", "")[:160]] += 1

    def artefact(self, alone: dict | None, what: str) -> None:
        """A hang or a worker death that the input does not cause by itself: the input's own
        outcome (run alone) is counted, the event listed apart, not as a break."""
        with self.lock:
            if alone is not None:
                self.cases += 1
                self.codes[alone["code"]] += 1
                self.slowest = max(self.slowest, alone.get("elapsed", 0.0))
            self.artefacts[what[:200]] += 1

    def hang(self, argv: list[str]) -> None:
        with self.lock:
            self.cases += 1
            self.hangs += 1
            self.codes["hang"] += 1
            self.violations["hang"] += 1
            self.errors[f"hang: {' '.join(argv)[:140]}"] += 1


def _run_chunk(frontend: str, n: int, seed: int, args, totals: Totals) -> None:
    """Drive one worker process over `n` inputs, restarting it after a hang or a death."""
    restarts = 0
    while n > 0:
        with tempfile.TemporaryFile(mode="w+") as err, \
                tempfile.TemporaryDirectory(prefix="seqc-fuzz-current-") as scratch:
            cmd = [sys.executable, __file__, "--worker", frontend, "-n", str(n),
                   "--seed", str(seed + 100_003 * restarts), "--scratch", scratch]
            if args.save_dir:
                cmd += ["--save-dir", args.save_dir]
            done, cut_short = _run_worker(cmd, n, err, Path(scratch), args, totals)
        if not cut_short:  # all done, or hypothesis ran out of distinct inputs
            return
        n -= done
        restarts += 1


def _run_worker(cmd: list[str], n: int, err, scratch: Path, args,
                totals: Totals) -> tuple[int, bool]:
    """One worker process: (inputs it accounted for, whether a hang or a death cut it short,
    so that a fresh worker must run the rest). The input it hung or died on is run again
    alone (`_rerun_alone`) to tell seqc's breaks from the harness's."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="torch", OMP_NUM_THREADS="1")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                         preexec_fn=lambda: _limit(args.memory))
    state = {"start": None, "t": time.monotonic(), "argv": [], "hung": False}

    def watchdog() -> None:
        while p.poll() is None:
            if state["start"] is not None and time.monotonic() - state["t"] > args.time_bound:
                state["hung"] = True
                p.kill()
                return
            time.sleep(0.5)

    threading.Thread(target=watchdog, daemon=True).start()
    done = 0
    for line in p.stdout:
        if not line.startswith(PREFIX):
            continue
        rec = json.loads(line[len(PREFIX):])
        if "start" in rec:
            state.update(start=rec["start"], t=time.monotonic(), argv=rec["argv"])
        else:
            state["start"] = None
            totals.add(rec)
            done += 1
    p.wait()
    argv = " ".join(state["argv"])[:120]
    if state["hung"]:
        alone = _rerun_alone(scratch, args)
        if "hang" in alone["violations"]:
            totals.hang(state["argv"])
        else:
            totals.artefact(alone, f"hung past {args.time_bound:.0f} s in the worker, not "
                                   f"alone (exit {alone['code']} in {alone['elapsed']:.1f} s): "
                                   f"{argv}")
        return done + 1, True
    if p.returncode != 0 and done < n:  # the worker died (the memory limit, a crash)
        err.seek(0)
        tail = err.read()[-300:].strip().replace("\n", " | ")
        if state["start"] is None:  # between inputs: hypothesis or the worker itself
            totals.artefact(None, f"worker died {p.returncode} between inputs: {tail}")
            return done, True
        alone = _rerun_alone(scratch, args)
        if alone["violations"]:
            alone["error"] = f"worker died {p.returncode}; alone: {alone['error']}"
            totals.add(alone)
        else:
            totals.artefact(alone, f"worker died {p.returncode}, not alone (exit "
                                   f"{alone['code']}): {argv}: {tail}")
        return done + 1, True
    return done, False


def _limit(memory: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10_000, help="inputs per frontend")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                    help="worker processes")
    ap.add_argument("--frontends", default=None, help="comma-separated (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-bound", type=float, default=60.0,
                    help="seconds per input before it counts as a hang")
    ap.add_argument("--memory", type=float, default=4.0, help="GiB of address space per worker")
    ap.add_argument("--save-dir", default=None, help="write each failing input here")
    ap.add_argument("--json", dest="json_out", default=None, help="write the totals here")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--scratch", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.memory = int(args.memory * 1024**3)
    if args.worker:
        _worker(args.worker, args.n, args.seed, args.save_dir, args.scratch)
        return 0

    names = args.frontends.split(",") if args.frontends else list(_frontends())
    chunks = []  # (frontend, n, seed): each frontend split over the workers
    per = max(1, -(-args.n // max(1, args.jobs)))
    for f in names:
        for k, start in enumerate(range(0, args.n, per)):
            chunks.append((f, min(per, args.n - start), args.seed + 1000 * k))
    totals = {f: Totals() for f in names}
    t0 = time.monotonic()
    pending = list(chunks)
    lock = threading.Lock()

    def slot() -> None:
        while True:
            with lock:
                if not pending:
                    return
                f, n, s = pending.pop(0)
            _run_chunk(f, n, s, args, totals[f])

    threads = [threading.Thread(target=slot) for _ in range(max(1, args.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0

    bad = 0
    print(f"{'frontend':<14}{'cases':>7}{'exit 0':>8}{'exit 1':>8}{'exit 2':>8}{'other':>7}"
          f"{'tracebk':>9}{'hangs':>7}{'broken':>8}{'slowest':>9}")
    report = {}
    for f, t in totals.items():
        other = sum(v for k, v in t.codes.items() if k not in (0, 1, 2))
        broken = sum(t.errors.values())
        bad += broken
        print(f"{f:<14}{t.cases:>7}{t.codes[0]:>8}{t.codes[1]:>8}{t.codes[2]:>8}{other:>7}"
              f"{t.tracebacks:>9}{t.hangs:>7}{broken:>8}{t.slowest:>8.1f}s")
        report[f] = {"cases": t.cases, "exit_codes": {str(k): v for k, v in t.codes.items()},
                     "tracebacks": t.tracebacks, "hangs": t.hangs, "broken": broken,
                     "violations": dict(t.violations), "slowest_s": round(t.slowest, 2),
                     "errors": dict(t.errors.most_common(20)),
                     "harness_artefacts": dict(t.artefacts.most_common(20))}
    print(f"wall time {wall:.0f} s with {args.jobs} workers")
    for f, t in totals.items():
        for err, k in t.errors.most_common(8):
            print(f"  [{f}] x{k}: {err}")
    for f, t in totals.items():
        for what, k in t.artefacts.most_common(8):
            print(f"  [{f}] harness, not a break, x{k}: {what}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
