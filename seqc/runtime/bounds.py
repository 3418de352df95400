"""Bounds on running an ONNX model seqc did not necessarily write: its control flow is read
before anything runs, and every onnxruntime run has a time limit.

Control flow: a `Loop` whose trip count is a constant (an initializer or a Constant node,
through Identity/Cast/Reshape/Squeeze/Unsqueeze), or a `Scan` over an initializer, is refused
when its iterations, times those of the loops around it, exceed `MAX_ITERATIONS`; subgraphs
(Loop/Scan/If bodies) nested deeper than `MAX_SUBGRAPH_DEPTH` are refused, and so is a
ConstantOfShape/Expand of a constant shape too large to allocate. A loop whose trip count is
only known at run time is left to the time limit: onnxruntime checks `RunOptions.terminate`
between nodes and between loop iterations, so one watchdog thread per process sets it when a
run passes its deadline, and the run ends with a ResourceError (exit 2) naming the model.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ResourceError

# Total iterations of a model's loops (nested ones multiplied): a float32 model that needs
# more than this is not something seqc is asked to run, and 2**62 of them never end.
MAX_ITERATIONS = 10**7
MAX_SUBGRAPH_DEPTH = 16
# A ConstantOfShape or Expand whose constant shape makes a tensor of more elements than this is
# refused before it runs (onnxruntime only skips folding it, then allocates it at run time).
MAX_CONSTANT_ELEMENTS = 2**30
# Seconds one onnxruntime run (one batch) may take; `--time-limit` changes it.
DEFAULT_TIME_LIMIT = 600.0

_PASS_THROUGH = ("Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten")


@dataclass
class ControlFlow:
    """What `check_control_flow` found: the Loop nodes whose trip count is not a constant
    (their run is bounded by the time limit only)."""

    dynamic_loops: list[str] = field(default_factory=list)


def _node_label(node: Any, index: int) -> str:
    return f"{node.op_type} node '{node.name}'" if node.name else f"{node.op_type} node #{index}"


def _constants(graph: Any, outer: dict[str, Any]) -> dict[str, Any]:
    """Scalar-ish integer constants visible in `graph`: initializers and Constant nodes, and
    values passed unchanged through a shape-only op."""
    from onnx import numpy_helper

    consts = dict(outer)
    consts[_DIMS] = {**outer.get(_DIMS, {}), **{i.name: list(i.dims) for i in graph.initializer}}
    for init in graph.initializer:
        if _small(init):
            consts[init.name] = numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for a in node.attribute:
                if a.name == "value" and _small(a.t):
                    consts[node.output[0]] = numpy_helper.to_array(a.t)
                elif a.name == "value_int":
                    consts[node.output[0]] = a.i
                elif a.name == "value_ints" and len(a.ints) <= 16:
                    consts[node.output[0]] = list(a.ints)
        elif node.op_type in _PASS_THROUGH and node.input and node.input[0] in consts:
            consts[node.output[0]] = consts[node.input[0]]
    return consts


def _small(tensor: Any) -> bool:
    n = 1
    for d in tensor.dims:
        n *= d
    return n <= 16 and not tensor.data_location  # never read external data here


def _trip_count(value: Any) -> int | None:
    import numpy as np

    try:
        arr = np.asarray(value).reshape(-1)
    except (TypeError, ValueError):
        return None
    if arr.size != 1 or arr.dtype.kind not in "iu":
        return None
    return int(arr[0])


def check_control_flow(proto: Any, file: str, *,
                       max_iterations: int = MAX_ITERATIONS) -> ControlFlow:
    """Refuse (ResourceError naming `file` and the node) a model whose constant loop trip
    counts, nested ones multiplied, exceed `max_iterations`, or whose subgraphs nest deeper
    than MAX_SUBGRAPH_DEPTH; return the loops whose trip count is only known at run time."""
    found = ControlFlow()
    graphs = [(proto.graph, {}, 1, 0, "")]
    for fn in getattr(proto, "functions", ()):
        graphs.append((fn, {}, 1, 0, f"function '{fn.name}': "))
    while graphs:
        graph, outer, runs, depth, where = graphs.pop()
        if depth > MAX_SUBGRAPH_DEPTH:
            raise ResourceError(
                f"{where}subgraphs nest {depth} levels deep, over the limit of "
                f"{MAX_SUBGRAPH_DEPTH}", file=file, field="model", received=f"depth {depth}",
                hint="seqc runs models whose Loop/Scan/If bodies nest at most "
                     f"{MAX_SUBGRAPH_DEPTH} levels")
        consts = _constants(graph, outer) if hasattr(graph, "initializer") else dict(outer)
        for i, node in enumerate(graph.node):
            label = where + _node_label(node, i)
            inner, trips = runs, None
            if node.op_type == "Loop":
                m = node.input[0] if node.input else ""
                trips = _trip_count(consts[m]) if m in consts else None
                if trips is None:
                    found.dynamic_loops.append(label)
            elif node.op_type == "Scan":
                trips = _scan_length(node, consts.get(_DIMS, {}))
            if trips is not None:
                inner = runs * max(trips, 0)
                if inner > max_iterations:
                    raise ResourceError(
                        f"{label} runs {trips:,} iterations"
                        + (f" ({inner:,} with the loops around it)" if runs > 1 else "")
                        + f", over the limit of {max_iterations:,}",
                        file=file, layer=None, field=f"{node.name or node.op_type}",
                        received=f"trip count {trips:,}",
                        hint="a loop this long never finishes; re-export the model with "
                             "a smaller trip count")
            if node.op_type in ("ConstantOfShape", "Expand"):
                _check_shape_input(node, consts, label, file)
            for a in node.attribute:
                subs = [a.g] if a.HasField("g") else list(a.graphs)
                for g in subs:
                    graphs.append((g, consts, inner, depth + 1, f"{label} > "))
    return found


_DIMS = "\0dims"  # consts[_DIMS]: {initializer name: dims}, for Scan lengths


def _scan_length(node: Any, dims: dict[str, list[int]]) -> int | None:
    """The iterations of a Scan whose first scan input is an initializer (else None: its
    length is the data's)."""
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute
             if a.name in ("num_scan_inputs", "scan_input_axes")}
    m = int(attrs.get("num_scan_inputs", 0))
    if m <= 0 or len(node.input) < m:
        return None
    shape = dims.get(node.input[len(node.input) - m])
    axis = int((attrs.get("scan_input_axes") or [0])[0])
    if not shape or not -len(shape) <= axis < len(shape):
        return None
    return int(shape[axis])


def _check_shape_input(node: Any, consts: dict[str, Any], label: str, file: str) -> None:
    import numpy as np

    at = 0 if node.op_type == "ConstantOfShape" else 1
    name = node.input[at] if len(node.input) > at else ""
    if name not in consts:
        return
    try:
        dims = [int(d) for d in np.asarray(consts[name]).reshape(-1)]
    except (TypeError, ValueError):
        return
    n = 1
    for d in dims:
        n *= max(d, 1)
    if n > MAX_CONSTANT_ELEMENTS:
        raise ResourceError(
            f"{label} makes a tensor of shape {tuple(dims)} ({n:,} elements), over the limit "
            f"of {MAX_CONSTANT_ELEMENTS:,}", file=file, field=f"{node.name or node.op_type}",
            received=f"shape {tuple(dims)}",
            hint="a model this large does not run in memory; re-export it with real shapes")


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
