"""`--engine ray`: one Ray actor per worker, each holding one onnxruntime session.

Ray places the actors (`num_cpus`/`num_gpus` per worker), restarts one that dies
(`max_restarts=-1`) and retries its task there, and retries a task that raised
(`max_task_retries`, `retry_exceptions`). Reads happen inside the actor's own reservation, so
actors that reserve every CPU cannot starve a read task (the hang of a `read -> map_batches`
pipeline); a worker is handed a shard only once Ray has placed it, so asking for more workers
than the cluster holds runs on those that fit instead of waiting.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import ray

from ...errors import UsageError
from ..shard_worker import ShardFailure, WorkerSpec
from . import Engine

# Seconds to wait for the first worker to be placed before giving up.
START_TIMEOUT_S = 300


class _Actor:
    """One worker. The spec comes with each call, not to the constructor: Ray cannot restart
    an actor whose constructor arguments left the object store, while a call's arguments stay
    as long as the driver holds them; the predictor is built once per process all the same."""

    def ready(self, spec: WorkerSpec) -> bool:
        from ..shard_worker import worker_predictor

        worker_predictor(spec)
        return True

    def run(self, spec: WorkerSpec, task: dict) -> dict:
        from ..shard_worker import run_shard

        return run_shard(spec, task)


def _message(e: BaseException) -> str:
    cause = getattr(e, "cause", None)
    if isinstance(cause, ShardFailure):
        return str(cause)
    if isinstance(e, ray.exceptions.RayActorError):
        return "the worker process died: " + str(e).strip().splitlines()[0][:300]
    return f"{type(e).__name__}: " + str(e).strip().splitlines()[-1][:300]


class RayEngine(Engine):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.actors: list[Any] = []
        self.started = False
        if not ray.is_initialized():  # else: the Ray this process already joined
            kwargs = dict(address=self.address) if self.address else {}
            ray.init(**kwargs, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
            self.started = True

    def run(self, spec: WorkerSpec, tasks: list[dict]) -> Iterator[tuple[int, Any]]:
        res = ray.cluster_resources()
        for need, key, flag in ((self.cpus_per_worker, "CPU", "--cpus-per-worker"),
                                (self.gpus_per_worker, "GPU", "--gpus-per-worker")):
            if need and need > res.get(key, 0):
                raise UsageError(f"a worker asks for {need:g} {key}s; the Ray cluster has "
                                 f"{res.get(key, 0):g}", field=flag,
                                 received=f"{flag} {need:g}",
                                 hint="ask for less, or add nodes to the cluster")
        n = self.workers or max(1, int(res.get("CPU", 1) // self.cpus_per_worker))
        n = min(n, len(tasks))
        Actor = ray.remote(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker,
                           max_restarts=-1, max_task_retries=self.retries)(_Actor)
        spec_ref = ray.put(spec)
        self.actors = [Actor.remote() for _ in range(n)]
        starting = {a.ready.remote(spec_ref): a for a in self.actors}
        running: dict[Any, tuple[int, Any]] = {}
        queue, idle = deque(range(len(tasks))), []
        left, since = len(tasks), time.monotonic()
        while left:
            while idle and queue:
                i, a = queue.popleft(), idle.pop()
                ref = a.run.options(retry_exceptions=True).remote(spec_ref, tasks[i])
                running[ref] = (i, a)
            ready, _ = ray.wait([*starting, *running], num_returns=1, timeout=10)
            if not ready:
                if not running and not idle and time.monotonic() - since > START_TIMEOUT_S:
                    raise UsageError(f"no Ray worker was placed in {START_TIMEOUT_S} s",
                                     field="--cpus-per-worker",
                                     received=f"cluster resources {res}",
                                     hint="check that the cluster has the CPUs and GPUs one "
                                          "worker asks for free")
                continue
            ref = ready[0]
            if ref in starting:
                a = starting.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayError as e:
                    raise UsageError(f"a Ray worker could not start: {_message(e)}",
                                     field="model") from None
                idle.append(a)
                continue
            i, a = running.pop(ref)
            idle.append(a)
            left -= 1
            try:
                yield i, ray.get(ref)
            except GeneratorExit:
                raise
            except ray.exceptions.RayError as e:
                yield i, ShardFailure(_message(e))

    def close(self) -> None:
        for a in self.actors:
            ray.kill(a)
        self.actors = []
        if self.started:
            ray.shutdown()
