"""`--engine local`: a pool of worker processes on this machine, with no dependency.

Each worker is a spawned process holding one onnxruntime session; the driver hands it one
task at a time over a pipe and watches its process sentinel, so a worker that dies mid-shard
(killed, out of memory, a crash in native code) is charged that shard's attempt exactly and
replaced. A worker whose driver died sees its pipe close and exits.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import wait
from typing import Any

from ...errors import UsageError
from ..shard_worker import ShardFailure, WorkerSpec
from . import Engine


def _worker_main(conn: Any, spec: WorkerSpec) -> None:
    from ..shard_worker import run_shard, worker_predictor

    try:
        worker_predictor(spec)
    except Exception as e:  # noqa: BLE001 - reported to the driver, which stops the run
        conn.send(("init-failed", None, str(e)))
        return
    conn.send(("ready", None, None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if msg is None:
            return
        i, task = msg
        try:
            conn.send(("done", i, run_shard(spec, task)))
        except ShardFailure as e:
            conn.send(("fail", i, str(e)))


class _Worker:
    def __init__(self, ctx: Any, spec: WorkerSpec) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, spec), daemon=True)
        # Started with Ctrl-C ignored (kept across exec; Python then installs no handler):
        # the driver handles it and stops the pool, and no worker prints a traceback.
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            self.proc.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, old)
        child.close()
        self.task: int | None = None
        self.ready = False

    def stop(self) -> None:
        """An idle worker is asked to exit; one mid-shard (the run was interrupted) is killed:
        its shard is not in the ledger, and its temporary file goes at the next run."""
        if self.task is not None:
            self.proc.kill()
        with contextlib.suppress(OSError):  # already gone
            self.conn.send(None)
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class LocalEngine(Engine):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.pool: list[_Worker] = []

    def run(self, spec: WorkerSpec, tasks: list[dict]) -> Iterator[tuple[int, Any]]:
        # spawn, not fork: the driver may hold onnxruntime's and numpy's thread pools
        ctx = mp.get_context("spawn")
        n = self.workers or max(1, int((os.cpu_count() or 1) // self.cpus_per_worker))
        n = min(n, len(tasks))
        queue = deque(range(len(tasks)))
        attempts = [0] * len(tasks)
        self.pool = [_Worker(ctx, spec) for _ in range(n)]
        left, start_deaths = len(tasks), 0
        while left:
            for w in self.pool:
                if w.ready and w.task is None and queue:
                    w.task = queue.popleft()
                    w.conn.send((w.task, tasks[w.task]))
            by_conn = {w.conn: w for w in self.pool}
            by_sentinel = {w.proc.sentinel: w for w in self.pool}
            for r in wait([*by_conn, *by_sentinel]):
                w = by_conn.get(r) or by_sentinel[r]
                if w not in self.pool:
                    continue
                msg = None
                if r is w.conn or w.conn.poll():
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):  # it died: its sentinel is about to fire
                        w.proc.join(timeout=5)
                if msg is None:
                    if w.proc.is_alive():
                        continue
                    error = f"the worker process died (exit code {w.proc.exitcode})"
                    msg = ("fail", w.task, error) if w.task is not None else None
                    if not w.ready:  # died starting: a broken install, not a shard
                        start_deaths += 1
                        if start_deaths > self.retries:
                            raise UsageError(f"worker processes die as they start: {error}",
                                             field="--engine", received="--engine local")
                    self.pool.remove(w)
                    w.stop()
                    if queue or msg:
                        self.pool.append(_Worker(ctx, spec))
                    if msg is None:
                        continue
                kind, i, payload = msg
                if kind == "init-failed":
                    raise UsageError(f"a worker could not start: {payload}", field="model")
                if kind == "ready":
                    w.ready = True
                    continue
                w.task = None
                if kind == "fail" and attempts[i] < self.retries:
                    attempts[i] += 1
                    queue.append(i)
                    continue
                left -= 1
                yield i, (ShardFailure(payload) if kind == "fail" else payload)

    def close(self) -> None:
        for w in self.pool:
            w.stop()
        self.pool = []
