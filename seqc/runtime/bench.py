"""`seqc bench`: onnxruntime session creation time, latency percentiles and throughput per
batch size, and peak resident-memory growth; optionally seqc's NumPy forward beside it.

Latency of one run = wall time of `sess.run` on a batch already in memory (with CUDA: IO
binding, input and outputs on the device, so host<->device copies are left out). Each batch size
runs `warmup` untimed iterations, then at least `min_iterations` and `min_time_s` seconds.
Throughput = rows / mean latency. Peak memory = the process's peak resident set (VmHWM, reset
through /proc/self/clear_refs before each runtime) minus its resident set at the start: host
memory only (a CUDA session's device memory is not in it).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError
from .runners import RUNTIMES, make_session, onnx_value_type, resolve
from .validate import random_inputs

DEFAULT_BATCH_SIZES = (1, 64, 1024)


@dataclass
class BatchStats:
    batch_size: int
    iterations: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    rows_per_s: float


@dataclass
class RuntimeBench:
    runtime: str  # "onnxruntime" or "numpy"
    batches: list[BatchStats] = field(default_factory=list)
    peak_rss_growth_mb: float | None = None


@dataclass
class BenchResult:
    """What `bench` returns: `format_table()` for people, `to_json()` for machines."""

    model: str
    provider: str  # the execution provider the session runs on
    threads: int | None  # intra-op threads (None: onnxruntime's default)
    io_binding: bool
    input_shape: tuple  # one batch's shape, with "N" for the batch axis
    input_dtype: str
    session_create_ms: float
    memory_method: str
    runtimes: list[RuntimeBench] = field(default_factory=list)

    def __getitem__(self, runtime: str) -> RuntimeBench:
        for r in self.runtimes:
            if r.runtime == runtime:
                return r
        raise KeyError(runtime)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    def format_table(self) -> str:
        head = ["runtime", "batch", "iters", "p50 ms", "p90 ms", "p99 ms", "rows/s"]
        rows = [[r.runtime, str(b.batch_size), str(b.iterations), f"{b.p50_ms:.4g}",
                 f"{b.p90_ms:.4g}", f"{b.p99_ms:.4g}", f"{b.rows_per_s:,.0f}"]
                for r in self.runtimes for b in r.batches]
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

        def line(cells: list[str]) -> str:
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths)))

        shape = ", ".join(map(str, self.input_shape))
        threads = "default" if self.threads is None else str(self.threads)
        mem = ", ".join(f"{r.runtime} {_mb(r.peak_rss_growth_mb)}" for r in self.runtimes)
        return "\n".join([
            f"bench {self.model}: input ({shape}) {self.input_dtype}; {self.provider}, "
            f"intra-op threads {threads}" + (", IO binding" if self.io_binding else ""),
            f"session creation: {self.session_create_ms:.1f} ms",
            line(head), line(["-" * w for w in widths]), *map(line, rows),
            f"peak memory growth ({self.memory_method}): {mem}"])

    def __str__(self) -> str:
        return self.format_table()


def _mb(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} MB"


def parse_batch_sizes(text: str | Sequence[int]) -> tuple[int, ...]:
    """"1,64,1024" (or a sequence of ints) -> (1, 64, 1024); UsageError when not all >= 1."""
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        sizes = tuple(int(str(s).strip()) for s in items if str(s).strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise UsageError("batch sizes must be integers >= 1, comma-separated",
                         field="--batch-sizes", received=repr(text), hint="e.g. 1,64,1024")
    return tuple(dict.fromkeys(sizes))


# ---- memory ----

class _PeakRSS:
    """Peak resident-memory growth over a block, from /proc/self/status: VmHWM is reset to
    the current RSS by writing 5 to /proc/self/clear_refs (Linux >= 4.0), so no sampling thread
    competes with the timed runs. Without /proc, `growth_mb` stays None."""

    method = "VmHWM - VmRSS at start, Linux /proc"

    def __enter__(self) -> _PeakRSS:
        self.growth_mb = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.base = _status_kb("VmRSS")
        except OSError:
            self.base = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.base is not None:
            self.growth_mb = max(0, _status_kb("VmHWM") - self.base) / 1024


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise OSError(f"{key} not in /proc/self/status")


# ---- timing ----

def _measure(run: Callable[[], Any], rows: int, warmup: int, min_iterations: int,
             min_time_s: float) -> BatchStats:
    for _ in range(warmup):
        run()
    times = []
    # A collection pause inside a timed run would land in p99 as the runtime's fault.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        clock = time.perf_counter
        start = clock()
        while len(times) < min_iterations or clock() - start < min_time_s:
            t = clock()
            run()
            times.append(clock() - t)
    finally:
        if gc_was_enabled:
            gc.enable()
    ms = np.asarray(times) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    mean = float(ms.mean())
    return BatchStats(rows, len(times), float(p50), float(p90), float(p99), mean,
                      rows / (mean / 1000.0) if mean > 0 else float("inf"))


def bind_io(sess: Any, x: np.ndarray, device: str = "cuda", device_id: int = 0,
            ) -> tuple[Callable[[], None], Callable[[], list[np.ndarray]]]:
    """(run, fetch) for `sess` on input `x` with onnxruntime IO binding: `x` is copied to
    `device` once, the outputs are allocated there by the first run and bound again as
    OrtValues, so each later `run()` does no host<->device copy and no output allocation.
    `fetch()` copies the outputs of the last run to host arrays. `device` is "cuda" or "cpu"
    (the CPU form runs the same code path where there is no GPU).

    >>> run, fetch = bind_io(make_session(model, provider="cuda"), x)  # doctest: +SKIP
    >>> run(); y = fetch()[0]  # doctest: +SKIP
    """
    import onnxruntime as ort

    binding = sess.io_binding()
    x_dev = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(x), device, device_id)
    binding.bind_ortvalue_input(sess.get_inputs()[0].name, x_dev)
    names = [o.name for o in sess.get_outputs()]
    for name in names:
        binding.bind_output(name, device, device_id)
    sess.run_with_iobinding(binding)
    for name, value in zip(names, binding.get_outputs()):
        binding.bind_ortvalue_output(name, value)
    on_device = device != "cpu"

    def run() -> None:
        sess.run_with_iobinding(binding)
        if on_device:  # a run may return before the device finishes: wait, to time it all
            binding.synchronize_outputs()

    def fetch() -> list[np.ndarray]:
        _ = x_dev  # the bound input must live as long as the binding
        return binding.copy_outputs_to_cpu()

    return run, fetch


def bench(model: Any, *, batch_sizes: Sequence[int] | str = DEFAULT_BATCH_SIZES,
          provider: str = "cpu", threads: int | None = None, numpy: bool = False,
          io_binding: bool | None = None, warmup: int = 5, min_iterations: int = 20,
          min_time_s: float = 0.5, seed: int = 0,
          log: Callable[[str], Any] | None = None) -> BenchResult:
    """Benchmark `model` (Model, build folder or .onnx) in onnxruntime.

    `provider`: "cpu", "cuda" or "auto". `threads`: intra-op threads. `numpy`: time seqc's
    NumPy forward too (needs the IR: a Model or a build folder). `io_binding`: bind input
    and outputs on the device (default: on for CUDA). Inputs are seeded random rows of the
    model's input type (token ids 0/1 for integer inputs, valid for any vocabulary).

    >>> import seqc
    >>> m = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(2)])
    >>> r = bench(m, batch_sizes=(1, 8), min_time_s=0.01)
    >>> [b.batch_size for b in r["onnxruntime"].batches]
    [1, 8]
    """
    sizes = parse_batch_sizes(batch_sizes)
    for value, name, low in ((threads, "threads", 1), (warmup, "warmup", 0),
                             (min_iterations, "min_iterations", 1)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < low):
            raise UsageError(f"{name} must be an integer >= {low}", field=name,
                             received=f"{name}={value!r}")
    if not isinstance(min_time_s, (int, float)) or min_time_s < 0:
        raise UsageError("min_time_s must be a number >= 0", field="min_time_s",
                         received=f"min_time_s={min_time_s!r}")
    src = resolve(model)
    if numpy and not src.has_ir:
        raise UsageError("the NumPy forward needs seqc's IR, which an .onnx file lacks",
                         field="--numpy", received=src.label,
                         hint="pass the build folder (model.ir.json + weights.npz) instead")
    onnx_type = onnx_value_type(src.onnx_proto().graph.input[0])  # export/load: not timed
    x = random_inputs(onnx_type, seed, rows=max(sizes), ids=True, graph=src.graph)

    ort_bench, create_ms, used, bound = _bench_onnxruntime(
        src, x, sizes, provider, threads, io_binding, (warmup, min_iterations, min_time_s))
    if provider == "auto" and log:
        log(f"provider: {used}")
    result = BenchResult(src.label, used, threads, bound,
                         ("N", *x.shape[1:]),
                         onnx_type.dtype, create_ms, _PeakRSS.method, [ort_bench])
    if numpy:
        np_bench = RuntimeBench("numpy")
        x_ir = random_inputs(src.graph.input_type, seed, rows=max(sizes), ids=True,
                             graph=src.graph)
        with _PeakRSS() as mem:
            for b in sizes:
                predict = RUNTIMES["numpy"].load(src, batch_size=b)
                xb = np.ascontiguousarray(x_ir[:b])
                np_bench.batches.append(_measure(lambda p=predict, xb=xb: p(xb), b, warmup,
                                                 min_iterations, min_time_s))
                del predict
        np_bench.peak_rss_growth_mb = mem.growth_mb
        result.runtimes.append(np_bench)
    return result


def _bench_onnxruntime(src: Any, x: np.ndarray, sizes: tuple[int, ...], provider: str,
                       threads: int | None, io_binding: bool | None,
                       timing: tuple[int, int, float]) -> tuple[RuntimeBench, float, str, bool]:
    """(stats, session creation ms, provider used, IO binding used); the session is freed
    on return, before the NumPy forward is measured."""
    out = RuntimeBench("onnxruntime")
    with _PeakRSS() as mem:
        t = time.perf_counter()
        sess = make_session(src, provider=provider, intra_op_num_threads=threads)
        create_ms = 1000.0 * (time.perf_counter() - t)
        used = sess.get_providers()[0]
        on_cuda = used == "CUDAExecutionProvider"
        bound = on_cuda if io_binding is None else bool(io_binding)
        name = sess.get_inputs()[0].name
        for b in sizes:
            xb = np.ascontiguousarray(x[:b])
            if bound:
                run, _ = bind_io(sess, xb, "cuda" if on_cuda else "cpu")
            else:
                def run(xb: np.ndarray = xb) -> Any:
                    return sess.run(None, {name: xb})
            out.batches.append(_measure(run, b, *timing))
    out.peak_rss_growth_mb = mem.growth_mb
    return out, create_ms, used, bound
