"""Engines for sharded predict: they schedule `shard_worker.run_shard` calls on workers, retry
failed attempts and place workers; seqc's driver owns the outputs and the ledger.

Every engine is a context manager (it starts or joins its cluster and tears down what it
started) with `run(spec, tasks)`, yielding `(task index, result dict or ShardFailure)` as
shards finish, each task once, after at most `retries` retries. Ray and Dask are imported
only inside their modules, when that engine is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from ...errors import UsageError

_MODULES = {"local": ("local", "LocalEngine", None),
            "ray": ("ray", "RayEngine", "seqc[ray]"),
            "dask": ("dask", "DaskEngine", "seqc[dask]")}


def get_engine(name: str) -> Any:
    """The engine class for `name`; a UsageError naming the extra to install when its
    library is missing."""
    module, cls, extra = _MODULES[name]
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ImportError as e:
        raise UsageError(f"--engine {name} needs {e.name or name}, which is not installed",
                         field="--engine", received=f"--engine {name}",
                         hint=f"pip install '{extra}', or use --engine local") from None
    return getattr(mod, cls)


class Engine:
    """What the engines share: their options and the context-manager protocol."""

    def __init__(self, *, address: str | None = None, workers: int | None = None,
                 cpus_per_worker: float = 1, gpus_per_worker: float = 0,
                 retries: int = 2) -> None:
        self.address, self.workers, self.retries = address, workers, retries
        self.cpus_per_worker, self.gpus_per_worker = cpus_per_worker, gpus_per_worker

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        pass
