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
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .._version import __version__
from ..errors import DataError, SeqcError, UsageError, did_you_mean
from ..fileio import atomic_write, sha256_file
from .bounds import DEFAULT_TIME_LIMIT

MANIFEST, SUCCESS, REPORT = "_manifest.jsonl", "_SUCCESS", "_report.json"
INPUT_EXTS = (".npy", ".npz", ".csv", ".parquet")
FORMATS = {"npy": ".npy", "parquet": ".parquet", "csv": ".csv"}
ENGINES = ("local", "ray", "dask")
# Test hook (tests/runtime/test_predict_sharded.py): a JSON object whose "exit" / "raise" list
# output names whose first attempt dies (os._exit) / raises after its first batch is written,
# once each (a marker file in "dir" remembers it), and "kill_driver_after" N: the driver
# SIGKILLs itself after recording N shards.
FAULT_ENV = "SEQC_PREDICT_FAULT"


class ShardFailure(Exception):
    """One shard's error as text: it crosses process boundaries (a SeqcError's keyword
    arguments do not survive pickling)."""


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker needs once: the model's ONNX bytes, the facts the driver read from
    it, and how to run it."""

    model: bytes
    sha256: str
    facts: Any  # predict.ModelFacts
    provider: str
    threads: int | None
    windows: bool | None
    seqc_version: str = __version__
    # Seconds one onnxruntime run may take in the worker (the driver's `--time-limit` or
    # bounds.time_limit; None: no limit): a worker process does not inherit the context.
    time_limit: float | None = DEFAULT_TIME_LIMIT


# ---- inputs and output names ----

def find_inputs(inputs: Iterable[Any], out_dir: str) -> list[str]:
    """Files (absolute paths, in order, each once) from files, folders (their top-level .npy,
    .npz, .csv and .parquet files) and globs, leaving out names starting with '.' or '_'
    (hidden, or a ledger) and files inside `out_dir`, so OUTDIR may sit in the input folder."""
    found: list[str] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            files = [os.path.join(item, n) for n in sorted(os.listdir(item))
                     if n[:1] not in "._" and os.path.splitext(n)[1].lower() in INPUT_EXTS
                     and os.path.isfile(os.path.join(item, n))]
            if not files:
                raise UsageError("the folder holds no input files", field="INPUTS",
                                 received=item, hint=f"inputs are {', '.join(INPUT_EXTS)} files")
        elif os.path.isfile(item):
            if os.path.splitext(item)[1].lower() not in INPUT_EXTS:
                raise UsageError(f"an input must be a {', '.join(INPUT_EXTS)} file",
                                 field="INPUTS", received=item)
            files = [item]
        elif glob.has_magic(item):
            files = [f for f in sorted(glob.glob(item, recursive=True)) if os.path.isfile(f)
                     and os.path.splitext(f)[1].lower() in INPUT_EXTS
                     and os.path.basename(f)[:1] not in "._"]
            if not files:
                raise UsageError("the pattern matches no input file", field="INPUTS",
                                 received=item, hint=f"inputs are {', '.join(INPUT_EXTS)} files")
        else:
            raise DataError("input file not found", file=item, field="INPUTS", received=item)
        found += [os.path.abspath(f) for f in files]
    out_real = os.path.realpath(out_dir) + os.sep
    seen: set[str] = set()
    result = []
    for f in found:
        real = os.path.realpath(f)
        if real not in seen and not real.startswith(out_real):
            seen.add(real)
            result.append(f)
    if not result:
        raise UsageError("no input files: files inside OUTDIR are never inputs",
                         field="INPUTS", received=f"{' '.join(map(str, inputs))} -o {out_dir}",
                         hint="choose another -o (a folder inside the input folder is fine)")
    return result


def output_names(paths: list[str], ext: str) -> list[str]:
    """Each input's output name: its path below the inputs' common folder, with `ext` for
    its extension (`data/a/part-1.parquet` -> `a/part-1.npy`). Two inputs that would share a
    name (x.npy beside x.csv) are refused."""
    base = os.path.commonpath([os.path.dirname(p) for p in paths])
    names = [os.path.splitext(os.path.relpath(p, base))[0] + ext for p in paths]
    first: dict[str, str] = {}
    for p, n in zip(paths, names):
        if n in first:
            raise UsageError("two inputs would write the same output", field="INPUTS",
                             received=f"{first[n]} and {p} -> {n}",
                             hint="rename one, or predict them in separate runs")
        first[n] = p
    return names


def identity(path: str) -> dict[str, Any]:
    """What the ledger knows an input by: its path, size and modification time."""
    st = os.stat(path)
    return {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# ---- the ledger ----

class Ledger:
    """OUTDIR/_manifest.jsonl: one record per finished shard, appended and fsynced; the last
    record of an output name wins. A line cut short by a crash is dropped on reading."""

    def __init__(self, out_dir: str) -> None:
        self.path = os.path.join(out_dir, MANIFEST)

    def read(self) -> dict[str, dict]:
        if not os.path.exists(self.path):
            return {}
        with open(self.path, "rb") as f:
            data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # the driver died mid-append: drop the torn line for good
            with open(self.path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        records: dict[str, dict] = {}
        for i, line in enumerate(data[:end].splitlines(), 1):
            try:
                rec = json.loads(line)
                records[rec["output"]] = rec
            except (ValueError, KeyError, TypeError):
                raise DataError("the manifest is damaged", file=self.path, field=f"line {i}",
                                received=line[:80].decode("utf-8", "replace"),
                                hint="pass --overwrite to start the run again") from None
        return records

    def append(self, record: dict) -> None:
        with open(self.path, "ab") as f:
            f.write(json.dumps(record, sort_keys=True).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())


def _check_same_run(records: dict[str, dict], sha: str, settings: dict, out_dir: str) -> None:
    """A resumed run must use the model and settings the recorded shards were made with."""
    for rec in records.values():
        if rec.get("model_sha256") != sha:
            raise UsageError(
                "OUTDIR holds predictions of another model", file=out_dir, field="model",
                received=f"model sha256 {sha[:12]}…; the manifest's shards were made by "
                         f"{str(rec.get('model_sha256'))[:12]}…",
                hint="pass --overwrite to start again, or choose another -o")
        for key, value in settings.items():
            if rec.get("settings", {}).get(key) != value:
                raise UsageError(
                    f"OUTDIR holds predictions made with another {key}", file=out_dir,
                    field=key, received=f"{key}={value!r}; the manifest's shards have "
                    f"{key}={rec.get('settings', {}).get(key)!r}",
                    hint="pass the same settings to resume, --overwrite to start again, or "
                         "choose another -o")


def _is_done(rec: dict | None, ident: dict, out_path: str) -> bool:
    """The ledger's record stands: same input, and the output there with the recorded bytes."""
    return (rec is not None and rec.get("input") == ident and os.path.isfile(out_path)
            and os.path.getsize(out_path) == rec.get("bytes")
            and sha256_file(out_path) == rec.get("sha256"))


def _remove_temps(out_dir: str, names: list[str]) -> None:
    """Temporary files left by attempts that died (atomic_file names them .<name>.*.tmp)."""
    for name in names:
        folder = os.path.dirname(os.path.join(out_dir, name))
        base = os.path.basename(name)
        for t in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(base)}.*.tmp")):
            with contextlib.suppress(FileNotFoundError):  # another run's cleanup was first
                os.unlink(t)


# ---- the unit of work (runs in a worker) ----

_PREDICTOR: dict[tuple, Any] = {}
_PREDICTOR_LOCK = threading.Lock()  # a Dask worker may run tasks on several threads


def worker_predictor(spec: WorkerSpec) -> Any:
    """This process's Predictor for `spec`, built once: one onnxruntime session per worker."""
    key = (spec.sha256, spec.provider, spec.threads, spec.windows, spec.time_limit)
    with _PREDICTOR_LOCK:
        return _PREDICTOR.get(key) or _new_predictor(key, spec)


def _new_predictor(key: tuple, spec: WorkerSpec) -> Any:
    if spec.seqc_version != __version__:
        raise ShardFailure(f"the worker has seqc {__version__}, the driver "
                           f"{spec.seqc_version}: install the same version on every node")
    from .bounds import time_limit
    from .predict import Predictor

    _PREDICTOR.clear()  # one model per worker: a new run's model replaces the last one's
    p = Predictor(spec.model, provider=spec.provider, threads=spec.threads,
                  windows=spec.windows, facts=spec.facts)
    with time_limit(spec.time_limit):  # the session's runs keep the limit it was made with
        p.session()
    _PREDICTOR[key] = p
    return p


def _peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _fault_hook(fault: dict | None, name: str) -> Callable[[int], None] | None:
    """The test hook's fault for this shard, armed once across attempts (see FAULT_ENV)."""
    if not fault:
        return None
    kind = next((k for k in ("exit", "raise") if name in fault.get(k, ())), None)
    if kind is None:
        return None
    marker = os.path.join(fault["dir"], f"{kind}-{name.replace(os.sep, '_')}")
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return None  # this shard's fault already happened: the retry runs clean

    def hook(rows: int) -> None:
        if kind == "exit":
            os._exit(3)
        raise RuntimeError(f"injected fault in {name} after {rows} rows")

    return hook


def run_shard(spec: WorkerSpec, task: dict) -> dict:
    """Predict one input shard into its output shard; the facts its ledger record needs. Any
    failure is raised as a ShardFailure with the error's text."""
    try:
        if identity(task["input"]) != task["identity"]:
            raise DataError("the input changed after the run started", file=task["input"],
                            field="INPUTS", received=json.dumps(identity(task["input"])))
        predictor = worker_predictor(spec)
        t = time.perf_counter()
        rows_in, rows_out = predictor.run(
            task["input"], task["output"], batch_size=task["batch_size"],
            target=task["target"], columns=task["columns"],
            after_batch=_fault_hook(task.get("fault"), task["name"]))
        seconds = time.perf_counter() - t
        return {"rows_in": rows_in, "rows_out": rows_out, "seconds": round(seconds, 4),
                "bytes": os.path.getsize(task["output"]), "sha256": sha256_file(task["output"]),
                "pid": os.getpid(), "host": platform.node(), "peak_rss_mb": _peak_rss_mb()}
    except ShardFailure:
        raise
    except SeqcError as e:
        raise ShardFailure(str(e)) from None
    except Exception as e:  # noqa: BLE001 - any failure is the shard's, reported with it
        raise ShardFailure(f"{type(e).__name__}: {e}") from None


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
    ledger, tasks = _plan(out_dir, paths, names, spec, settings, overwrite,
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
    _remove_temps(out_dir, names)
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


def _plan(out_dir: str, paths: list[str], names: list[str], spec: WorkerSpec, settings: dict,
          overwrite: bool, common: dict) -> tuple[Ledger, list[dict]]:
    """OUTDIR made ready (the ledger checked against this run, or forgotten with `overwrite`;
    _SUCCESS and dead attempts' temporary files removed) and the tasks of the shards not done."""
    os.makedirs(out_dir, exist_ok=True)
    ledger = Ledger(out_dir)
    if overwrite:
        try:
            recorded = list(ledger.read())
        except DataError:  # a damaged ledger is forgotten too
            recorded = []
        root = os.path.realpath(out_dir) + os.sep
        for f in {MANIFEST, SUCCESS, REPORT, *names, *recorded}:
            path = os.path.join(out_dir, f)
            if os.path.realpath(path).startswith(root) and os.path.isfile(path):
                os.unlink(path)
    records = ledger.read()
    _check_same_run(records, spec.sha256, settings, out_dir)
    if os.path.exists(os.path.join(out_dir, SUCCESS)):
        os.unlink(os.path.join(out_dir, SUCCESS))
    _remove_temps(out_dir, names)
    tasks = []
    for path, name in zip(paths, names):
        out = os.path.abspath(os.path.join(out_dir, name))
        ident = identity(path)
        if not _is_done(records.get(name), ident, out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
            tasks.append({"input": path, "output": out, "name": name, "identity": ident,
                          **common})
    return ledger, tasks


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
