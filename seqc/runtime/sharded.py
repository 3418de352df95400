"""Sharded predict: many input files (a data lake's shards) through one model on an engine
(engines/: a local process pool, Ray or Dask), one output shard per input shard.

seqc owns the unit of work and the ledger; the engine only schedules, retries and places:
- the unit: `run_shard(spec, task)` predicts one input file into one output file named from
  it (`Predictor.run`: a temporary file, fsynced, renamed), with the worker's one onnxruntime
  session, built from the model bytes in the worker and never pickled;
- the ledger: OUTDIR/_manifest.jsonl, one JSON line per finished shard, appended and fsynced
  by the driver alone (input identity, rows in/out, the output's bytes and sha256, the model's
  sha256, the settings and seqc's version); OUTDIR/_SUCCESS is written last, only when every
  shard is done. A rerun skips the shards the ledger shows done (their outputs re-hashed) and
  refuses another model or other settings unless `overwrite`.

This module is the driver; the inputs, the ledger and the plan of a run are in
`shard_ledger.py`, the unit of work in `shard_worker.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from .._version import __version__
from ..errors import UsageError, did_you_mean
from ..fileio import atomic_write
from .shard_ledger import REPORT, SUCCESS, Ledger, find_inputs, output_names, plan, remove_temps
from .shard_worker import WorkerSpec

FORMATS = {"npy": ".npy", "parquet": ".parquet", "csv": ".csv"}
ENGINES = ("local", "ray", "dask")
# Test hook (tests/runtime/test_predict_sharded.py): a JSON object whose "exit" / "raise" list
# output names whose first attempt dies (os._exit) / raises after its first batch is written,
# once each (a marker file in "dir" remembers it), and "kill_driver_after" N: the driver
# SIGKILLs itself after recording N shards.
FAULT_ENV = "SEQC_PREDICT_FAULT"


# ---- the driver ----

def _positive(value: Any, name: str, *, integer: bool = True, zero: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, kinds) or value < 0 or (
            value == 0 and not zero):
        what = "an integer" if integer else "a number"
        raise UsageError(f"{name} must be {what} >= {0 if zero else 1 if integer else '> 0'}",
                         field=name, received=f"{name}={value!r}")


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def predict_dataset(model: Any, inputs: Any, out_dir: str, *, engine: str = "local",
                    address: str | None = None, workers: int | None = None,
                    cpus_per_worker: float = 1, gpus_per_worker: float = 0, retries: int = 2,
                    format: str = "npy", column: list[str] | str | None = None,
                    target: str | None = None, batch_size: int = 1024,
                    provider: str | None = None, windows: bool | None = None,
                    overwrite: bool = False, quiet: bool = False,
                    log: Callable[[str], Any] | None = None) -> dict:
    """Predict every input shard into OUTDIR, one output shard each, on `engine` ("local": a
    process pool; "ray" and "dask": those engines, `address` an existing cluster's, else a
    local one). Returns the run's report (also written to OUTDIR/_report.json); shards that
    failed after `retries` retries are listed in report["failed"] and no _SUCCESS is written.

    `inputs`: a file, folder or glob, or a list of them (.npy, .npz, .csv, .parquet).
    `format`: "npy", "parquet" or "csv". `column`: a Parquet file's feature column(s).
    `workers`: how many (default: the CPUs over `cpus_per_worker`); each runs one
    onnxruntime session with `cpus_per_worker` intra-op threads, on CUDA when
    `gpus_per_worker` > 0 (or as `provider` says). Each run in a worker stops at the time
    limit in force here (`with seqc.runtime.bounds.time_limit(s):`, the CLI's --time-limit).

    >>> report = seqc.predict_dataset("build/mlp", "data/*.npy", "preds", engine="ray")
    ... # doctest: +SKIP
    """
    log = None if quiet else (log or print)
    _check_options(engine, format, address, workers=workers, retries=retries,
                   batch_size=batch_size, cpus_per_worker=cpus_per_worker,
                   gpus_per_worker=gpus_per_worker)
    columns = [column] if isinstance(column, str) else (list(column) if column else None)
    provider = provider or ("cuda" if gpus_per_worker else "cpu")
    spec = _worker_spec(model, provider, max(1, int(cpus_per_worker)), windows)
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError("OUTDIR is a file; sharded predict writes a folder", field="--out",
                         received=out_dir)
    paths = find_inputs([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs,
                        out_dir)
    names = output_names(paths, FORMATS[format])
    settings = {"format": format, "batch_size": batch_size, "target": target,
                "columns": columns, "windows": windows, "provider": provider}
    fault = json.loads(os.environ[FAULT_ENV]) if os.environ.get(FAULT_ENV) else None
    ledger, tasks = plan(out_dir, paths, names, spec, settings, overwrite,
                         {"batch_size": batch_size, "target": target, "columns": columns,
                          "fault": fault})
    report: dict[str, Any] = {
        "engine": engine, "model": spec.facts.label, "model_sha256": spec.sha256,
        "seqc_version": __version__, "out_dir": out_dir, "format": format,
        "shards": len(paths), "skipped": len(paths) - len(tasks), "done": 0, "failed": [],
        "rows_in": 0, "rows_out": 0, "seconds": 0.0, "rows_per_s": 0.0, "workers": {}}
    if log:
        log(f"{len(paths)} shards: {report['skipped']} already done, {len(tasks)} to predict "
            f"on {engine}" + (f" at {address}" if address else ""))
    t0 = time.perf_counter()
    if tasks:
        _run_tasks(engine, spec, tasks, report, ledger, settings, log, t0,
                   dict(address=address, workers=workers, cpus_per_worker=cpus_per_worker,
                        gpus_per_worker=gpus_per_worker, retries=retries),
                   (fault or {}).get("kill_driver_after"))
    remove_temps(out_dir, names)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    report["rows_per_s"] = round(report["rows_in"] / report["seconds"], 1) if tasks else 0.0
    atomic_write(os.path.join(out_dir, REPORT), json.dumps(report, indent=1).encode())
    if not report["failed"]:
        atomic_write(os.path.join(out_dir, SUCCESS), b"")
    if log:
        log(summary(report))
    return report


def _check_options(engine: str, format: str, address: str | None, **numbers: Any) -> None:
    if engine not in ENGINES:
        raise UsageError(f"engine must be one of {', '.join(ENGINES)}", field="--engine",
                         received=f"--engine {engine}", hint=did_you_mean(str(engine), ENGINES))
    if format not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}", field="--format",
                         received=f"--format {format}", hint=did_you_mean(str(format), FORMATS))
    if address and engine == "local":
        raise UsageError("--address is for --engine ray or dask; the local engine runs on "
                         "this machine", field="--address", received=f"--address {address}")
    _positive(numbers["workers"], "workers")
    _positive(numbers["retries"], "retries", zero=True)
    _positive(numbers["batch_size"], "batch_size")
    _positive(numbers["cpus_per_worker"], "cpus_per_worker", integer=False)
    _positive(numbers["gpus_per_worker"], "gpus_per_worker", integer=False, zero=True)


def _worker_spec(model: Any, provider: str, threads: int, windows: bool | None) -> WorkerSpec:
    """The model read and checked once, in the driver, before any work."""
    from .named import several_io
    from .predict import ModelFacts
    from .runners import resolve

    src = resolve(model)
    if several_io(src):
        raise UsageError("sharded predict takes models with one input and one output",
                         field="model", received=src.label,
                         hint="predict each file with `seqc predict MODEL INPUT -o OUT.npz`")
    facts = ModelFacts.of(src, windows)
    m = src.onnx()
    if isinstance(m, str):
        with open(m, "rb") as f:
            data = f.read()
    else:
        data = m.SerializeToString()
    from .bounds import current_time_limit

    return WorkerSpec(data, hashlib.sha256(data).hexdigest(), facts, provider, threads, windows,
                      time_limit=current_time_limit())


def _run_tasks(engine: str, spec: WorkerSpec, tasks: list[dict], report: dict, ledger: Ledger,
               settings: dict, log: Callable | None, t0: float, options: dict,
               kill_after: int | None) -> None:
    from .engines import get_engine

    total_bytes = sum(t["identity"]["size"] for t in tasks)
    done_bytes = 0
    with get_engine(engine)(**options) as eng:
        for i, result in eng.run(spec, tasks):
            task = tasks[i]
            if isinstance(result, BaseException):
                report["failed"].append({"input": task["input"], "output": task["name"],
                                         "error": str(result)})
                if log:
                    finished = report["done"] + len(report["failed"]) + report["skipped"]
                    log(f"[{finished}/{report['shards']}] FAILED {task['name']}: {result}")
                continue
            ledger.append({
                "output": task["name"], "input": task["identity"],
                "rows_in": result["rows_in"], "rows_out": result["rows_out"],
                "bytes": result["bytes"], "sha256": result["sha256"],
                "model_sha256": spec.sha256, "settings": settings, "seqc_version": __version__,
                "seconds": result["seconds"], "finished_at": round(time.time(), 3)})
            report["done"] += 1
            report["rows_in"] += result["rows_in"]
            report["rows_out"] += result["rows_out"]
            w = report["workers"].setdefault(f"{result['host']}:{result['pid']}",
                                             {"shards": 0, "peak_rss_mb": 0.0})
            w["shards"] += 1
            w["peak_rss_mb"] = max(w["peak_rss_mb"], result["peak_rss_mb"] or 0.0)
            if kill_after is not None and report["done"] >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            done_bytes += task["identity"]["size"]
            if log:
                elapsed = time.perf_counter() - t0
                finished = report["done"] + len(report["failed"]) + report["skipped"]
                eta = elapsed * (total_bytes - done_bytes) / max(done_bytes, 1)
                log(f"[{finished}/{report['shards']}] {task['name']}: "
                    f"{result['rows_out']:,} rows; {report['rows_in'] / elapsed:,.0f} rows/s; "
                    f"ETA {_eta(eta)}")


def summary(report: dict) -> str:
    """The report in a few lines: what was done, how fast, and every failed shard."""
    lines = [f"{report['done']} shards predicted, {report['skipped']} already done, "
             f"{len(report['failed'])} failed, of {report['shards']}; "
             f"{report['rows_in']:,} rows in {report['seconds']:.1f} s "
             f"({report['rows_per_s']:,.0f} rows/s) into {report['out_dir']}"]
    for f in report["failed"]:
        lines.append(f"  failed: {f['input']}: {f['error']}")
    if report["failed"]:
        lines.append("  rerun the same command to retry the failed shards (done ones are kept)")
    return "\n".join(lines)
