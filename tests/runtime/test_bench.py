"""bench: per-batch-size latency percentiles and throughput, session creation time, peak
memory, the optional NumPy column, the table and the JSON; IO binding gives sess.run's answer
(on CPU here; on CUDA where onnxruntime has it)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import seqc
from seqc.errors import UsageError
from seqc.export import export_model
from seqc.ir.serialize import dumps, params_to_npz_bytes
from seqc.runtime import make_session
from seqc.runtime.bench import BenchResult, bench, bind_io, parse_batch_sizes
from seqc.runtime.runners import cuda_problem

L = seqc.layers
FAST = {"warmup": 1, "min_iterations": 20, "min_time_s": 0.02}
HAS_CUDA = cuda_problem() is None  # listed *and* a session really starts on it


def mlp():
    return seqc.Sequential([L.Input((16,)), L.Dense(32, activation="relu"),
                            L.Dense(4, activation="softmax")], seed=0)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("build")
    m = mlp()
    (folder / "model.ir.json").write_text(dumps(m.graph))
    (folder / "weights.npz").write_bytes(params_to_npz_bytes(m.params))
    export_model(m, folder / "model.onnx")
    return str(folder)


def check_stats(r: BenchResult, runtime: str, sizes: tuple[int, ...]):
    rb = r[runtime]
    assert [b.batch_size for b in rb.batches] == list(sizes)
    for b in rb.batches:
        assert b.iterations >= FAST["min_iterations"]
        assert 0 < b.p50_ms <= b.p90_ms <= b.p99_ms
        # rows/s is rows over the mean latency
        assert b.rows_per_s == pytest.approx(b.batch_size / (b.mean_ms / 1000), rel=1e-9)
    if os.path.exists("/proc/self/status"):
        assert rb.peak_rss_growth_mb is not None and rb.peak_rss_growth_mb >= 0


def test_bench_build_folder_with_numpy_column(build_dir):
    r = bench(build_dir, batch_sizes=(1, 8, 32), numpy=True, threads=1, **FAST)
    check_stats(r, "onnxruntime", (1, 8, 32))
    check_stats(r, "numpy", (1, 8, 32))
    assert r.provider == "CPUExecutionProvider" and not r.io_binding and r.threads == 1
    assert r.session_create_ms > 0 and r.input_shape == ("N", 16) and r.input_dtype == "float32"
    table = r.format_table()
    assert "session creation" in table and "p99 ms" in table and "rows/s" in table
    assert table.count("\nnumpy ") == 3 and table.count("\nonnxruntime ") == 3
    assert "peak memory growth" in table


def test_bench_onnx_file_json(build_dir):
    r = bench(os.path.join(build_dir, "model.onnx"), batch_sizes="4,2", **FAST)
    d = json.loads(json.dumps(r.to_json()))  # JSON-serialisable as is
    assert set(d) == {"model", "provider", "threads", "io_binding", "input_shape",
                      "input_dtype", "session_create_ms", "memory_method", "runtimes"}
    assert d["input_shape"] == ["N", 16] and [x["runtime"] for x in d["runtimes"]] == [
        "onnxruntime"]
    batches = d["runtimes"][0]["batches"]
    assert [b["batch_size"] for b in batches] == [4, 2]
    assert set(batches[0]) == {"batch_size", "iterations", "p50_ms", "p90_ms", "p99_ms",
                               "mean_ms", "rows_per_s"}


def test_min_time_drives_the_iteration_count():
    r = bench(mlp(), batch_sizes=(1,), warmup=0, min_iterations=3, min_time_s=0.1)
    b = r["onnxruntime"].batches[0]
    assert b.iterations > 3 and b.iterations * b.mean_ms >= 0.1 * 1000 * 0.9


def test_token_id_model():
    m = seqc.Sequential([L.Input((5,), dtype="int32"), L.Embedding(10, 4), L.Flatten(),
                         L.Dense(2)], seed=0)
    r = bench(m, batch_sizes=(1, 16), numpy=True, **FAST)
    assert r.input_dtype == "int32"
    check_stats(r, "numpy", (1, 16))


def test_io_binding_on_cpu_gives_sess_run_answer():
    sess = make_session(mlp())
    x = np.random.default_rng(0).standard_normal((7, 16)).astype(np.float32)
    run, fetch = bind_io(sess, x, "cpu")
    run()
    np.testing.assert_allclose(fetch()[0], sess.run(None, {"input": x})[0], atol=1e-6)
    r = bench(mlp(), batch_sizes=(1, 4), io_binding=True, **FAST)
    assert r.io_binding and "IO binding" in r.format_table()
    check_stats(r, "onnxruntime", (1, 4))


@pytest.mark.skipif(not HAS_CUDA, reason=f"no CUDA here: {cuda_problem()}")
def test_cuda_bench_uses_io_binding():
    model = mlp()
    sess = make_session(model, provider="cuda")
    x = np.random.default_rng(0).standard_normal((9, 16)).astype(np.float32)
    run, fetch = bind_io(sess, x, "cuda")
    run()
    np.testing.assert_allclose(fetch()[0], make_session(model).run(None, {"input": x})[0],
                               atol=1e-5)
    r = bench(model, batch_sizes=(1, 64), provider="cuda", **FAST)
    assert r.provider == "CUDAExecutionProvider" and r.io_binding
    check_stats(r, "onnxruntime", (1, 64))


@pytest.mark.skipif(HAS_CUDA, reason="checks the error without CUDA")
def test_cuda_without_cuda_is_a_usage_error():
    with pytest.raises(UsageError, match="CUDAExecutionProvider"):
        bench(mlp(), provider="cuda", **FAST)
    r = bench(mlp(), provider="auto", batch_sizes=(1,), **FAST)
    assert r.provider == "CPUExecutionProvider"


def test_bad_arguments(build_dir):
    for text in ("", "0,4", "a", "-1"):
        with pytest.raises(UsageError, match="batch sizes"):
            parse_batch_sizes(text)
    assert parse_batch_sizes("1, 64,1024,64") == (1, 64, 1024)
    with pytest.raises(UsageError, match="IR"):
        bench(os.path.join(build_dir, "model.onnx"), numpy=True, **FAST)
    with pytest.raises(UsageError, match="threads"):
        bench(mlp(), threads=0, **FAST)
    with pytest.raises(UsageError, match="min_iterations"):
        bench(mlp(), min_iterations=0)
    with pytest.raises(UsageError, match="cpu, cuda or auto"):
        bench(mlp(), provider="gpu", **FAST)


def test_cli_io_binding_flag(tmp_path):
    from click.testing import CliRunner

    from seqc.cli import cli

    path = export_model(mlp(), tmp_path / "m.onnx")
    for flag, want in (("--io-binding", True), ("--no-io-binding", False)):
        r = CliRunner().invoke(cli, ["bench", path, "--batch-sizes", "1,8", "--min-time", "0",
                                     "--iterations", "2", flag, "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["io_binding"] is want
