"""Sharded predict's unit of work (see sharded.py), run in a worker: `run_shard` predicts one
input file into one output file with the worker's one onnxruntime session, built once from
the `WorkerSpec`'s model bytes. The engines (engines/) call it.
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._version import __version__
from ..errors import DataError, SeqcError
from ..fileio import sha256_file
from .bounds import DEFAULT_TIME_LIMIT
from .shard_ledger import identity


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
    """The test hook's fault for this shard, armed once across attempts (see sharded.FAULT_ENV)."""
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
