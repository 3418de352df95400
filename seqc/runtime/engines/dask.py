"""`--engine dask`: one task per shard with `client.submit`, on the cluster at `address` or a
local one (one single-threaded worker process per worker).

Each worker process keeps one onnxruntime session (shard_worker.worker_predictor), built from the
model bytes, which travel to each worker once (the result of one task every shard depends on).
Dask retries a task that raised (`retries`) and reschedules one whose worker died (the
scheduler's `allowed-failures`, set to `retries` on a local cluster; an existing cluster keeps
its own setting).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import dask
from distributed import Client, LocalCluster, as_completed

from ...errors import UsageError
from ..shard_worker import ShardFailure, WorkerSpec
from . import Engine


def _spec(spec: WorkerSpec) -> WorkerSpec:
    return spec


def _run(spec: WorkerSpec, task: dict) -> dict:
    from ..shard_worker import run_shard

    return run_shard(spec, task)


def _message(e: BaseException) -> str:
    if isinstance(e, ShardFailure):
        return str(e)
    if type(e).__name__ == "KilledWorker":
        return f"the worker process died (Dask: {str(e).strip().splitlines()[0][:300]})"
    return f"{type(e).__name__}: {str(e).strip()[:300]}"


class DaskEngine(Engine):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.cluster = None
        self.client = None

    def _connect(self, n_tasks: int) -> Client:
        if self.address:
            return Client(self.address)
        n = self.workers or max(1, int((os.cpu_count() or 1) // self.cpus_per_worker))
        gpus = {"resources": {"GPU": self.gpus_per_worker}} if self.gpus_per_worker else {}
        with dask.config.set({"distributed.scheduler.allowed-failures": self.retries}):
            self.cluster = LocalCluster(n_workers=min(n, n_tasks), threads_per_worker=1,
                                        processes=True, dashboard_address=":0", **gpus)
        return Client(self.cluster)

    def run(self, spec: WorkerSpec, tasks: list[dict]) -> Iterator[tuple[int, Any]]:
        client = self.client = self._connect(len(tasks))
        resources = {"GPU": self.gpus_per_worker} if self.gpus_per_worker else None
        if resources:  # tasks asking for a resource no worker has would wait forever
            have = [w.get("resources", {}).get("GPU", 0)
                    for w in client.scheduler_info()["workers"].values()]
            if max(have, default=0) < self.gpus_per_worker:
                raise UsageError(
                    f"a task asks for {self.gpus_per_worker:g} GPUs; the Dask workers have "
                    f"{max(have, default=0):g}", field="--gpus-per-worker",
                    received=f"--gpus-per-worker {self.gpus_per_worker:g}",
                    hint="start the GPU workers with `dask worker ... --resources GPU=1`")
        # A task, not scattered data: a worker that dies takes its copy with it, and the
        # scheduler can recompute a task's result but not a lost scatter.
        spec_f = client.submit(_spec, spec, pure=False)
        futures = {client.submit(_run, spec_f, t, retries=self.retries, pure=False,
                                 resources=resources): i for i, t in enumerate(tasks)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                result = fut.result()
            except Exception as e:  # noqa: BLE001 - the shard's failure, reported with it
                yield i, ShardFailure(_message(e))
            else:
                yield i, result
            fut.release()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None
