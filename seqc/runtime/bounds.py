"""Bounds on running an ONNX model seqc did not necessarily write: its control flow is read
before anything runs (seqc.frontend.onnx_checks, re-exported here), and every onnxruntime run
has a time limit.

A loop whose trip count is only known at run time is left to the time limit: onnxruntime
checks `RunOptions.terminate` between nodes and between loop iterations, so one watchdog
thread per process sets it when a run passes its deadline, and the run ends with a
ResourceError (exit 2) naming the model.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..errors import ResourceError
from ..frontend.onnx_checks import (  # noqa: F401 - re-exported
    MAX_CONSTANT_ELEMENTS,
    MAX_ITERATIONS,
    MAX_SUBGRAPH_DEPTH,
    ControlFlow,
    check_control_flow,
)

# Seconds one onnxruntime run (one batch) may take; `--time-limit` changes it.
DEFAULT_TIME_LIMIT = 600.0

# ---- time limit ----

_LIMIT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "seqc_run_time_limit", default=DEFAULT_TIME_LIMIT)


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """`with time_limit(30): ...`: onnxruntime sessions made inside run at most `seconds`
    per run (None: no limit)."""
    token = _LIMIT.set(seconds)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def current_time_limit() -> float | None:
    """The limit sessions made now get (sharded predict hands it to its workers)."""
    return _LIMIT.get()


class _Watchdog:
    """One daemon thread for the process: it polls the runs in flight and sets `terminate`
    on each run past its deadline. A run costs two dict operations, not a thread, so bench's
    batch-1 latencies stay honest."""

    def __init__(self) -> None:
        self.active: dict[int, tuple[float, Any]] = {}
        self.ids = itertools.count()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def watch(self, deadline: float, ro: Any) -> int:
        key = next(self.ids)
        self.active[key] = (deadline, ro)
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._loop, name="seqc-watchdog",
                                                   daemon=True)
                    self.thread.start()
        return key

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            runs = list(self.active.values())
            for deadline, ro in runs:
                if now > deadline:
                    ro.terminate = True
            time.sleep(0.05 if runs else 0.25)  # a run starting while idle waits <= 0.25 s


_WATCHDOG = _Watchdog()


class BoundedSession:
    """An onnxruntime InferenceSession whose `run` and `run_with_iobinding` end with a
    ResourceError after `limit` seconds; every other attribute is the session's."""

    def __init__(self, sess: Any, limit: float | None, label: str) -> None:
        self._sess, self._limit, self._label = sess, limit, label
        self._ro: Any = None  # reused until a run is stopped (a fresh one costs ~1 us)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sess, name)

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        return self._bounded(self._sess.run, output_names, input_feed, run_options=run_options)

    def run_with_iobinding(self, binding: Any, run_options: Any = None) -> Any:
        return self._bounded(self._sess.run_with_iobinding, binding, run_options=run_options)

    def _bounded(self, fn: Any, *args: Any, run_options: Any = None) -> Any:
        if self._limit is None:
            return fn(*args, run_options)
        ro = run_options
        if ro is None:
            if self._ro is None:
                import onnxruntime as ort

                self._ro = ort.RunOptions()
                # The ResourceError below says why a run stopped; no log line before it.
                self._ro.log_severity_level = 4
            ro = self._ro
        key = _WATCHDOG.watch(time.monotonic() + self._limit, ro)
        try:
            return fn(*args, ro)
        except Exception as e:
            if "Failed to allocate memory" in str(e):
                raise ResourceError(
                    "onnxruntime could not allocate the memory this model needs on this "
                    f"input: {str(e).splitlines()[0][-200:]}", file=self._label,
                    field="model", received=self._label,
                    hint="use a smaller --batch-size; a tensor this large may be a damaged "
                         "shape in the model") from None
            if ro.terminate:
                self._ro = None
                raise ResourceError(
                    f"onnxruntime ran past the time limit of {self._limit:g} s for one run",
                    file=self._label, field="--time-limit",
                    received=f"stopped after {self._limit:g} s",
                    hint="a loop in the model may never end; if the model is just slow, "
                         "raise the limit with --time-limit SECONDS (or 'none') or use a "
                         "smaller --batch-size") from None
            raise
        finally:
            _WATCHDOG.active.pop(key, None)


def bounded(sess: Any, label: str) -> BoundedSession:
    """The session with the current time limit (see `time_limit`)."""
    return BoundedSession(sess, _LIMIT.get(), label)
