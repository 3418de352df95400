"""Every blocking read and every onnxruntime run has a bound (issue 16): ONNX control flow is
read before it runs and each run has a time limit; data and model paths must be regular files;
.npy/.npz headers are checked against the file before anything is allocated; a damaged .h5
ends quickly."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import refused, run

# ---------------------------------------------------------------- ONNX control flow

def _body(p: str, nested: int | None):
    """A Loop body adding 1 to the carried value; nested: it also runs an inner loop of that
    many iterations (names prefixed with `p`: names are unique across nested scopes)."""
    from onnx import TensorProto as T
    from onnx import helper as h

    vi = h.make_tensor_value_info
    nodes = [h.make_node("Identity", [p + "cond_in"], [p + "cond_out"]),
             h.make_node("Add", [p + "v_in", p + "one"], [p + "v_add"])]
    out = p + "v_add"
    if nested is not None:
        nodes += [h.make_node("Constant", [], [p + "m"], value_int=nested),
                  h.make_node("Loop", [p + "m", "", out], [p + "v_out"],
                              body=_body(p + "inner_", None), name="inner")]
        out = p + "v_out"
    return h.make_graph(nodes, p + "body",
                        [vi(p + "i", T.INT64, []), vi(p + "cond_in", T.BOOL, []),
                         vi(p + "v_in", T.FLOAT, [None, 2])],
                        [vi(p + "cond_out", T.BOOL, []), vi(out, T.FLOAT, [None, 2])],
                        [h.make_tensor(p + "one", T.FLOAT, [], [1.0])])


def loop_model(trip: int | None, *, nested: int | None = None, constant_node: bool = False):
    """y = x + trip (a Loop adding 1 per iteration). trip=None: no trip count and a condition
    that stays true, a loop that never ends. nested: an inner loop of that many iterations in
    the body. constant_node: the trip count comes from a Constant node through a Squeeze."""
    from onnx import TensorProto as T
    from onnx import helper as h

    vi = h.make_tensor_value_info
    inits = [h.make_tensor("cond", T.BOOL, [], [True])]
    nodes = []
    if trip is not None and constant_node:
        nodes += [h.make_node("Constant", [], ["M0"],
                              value=h.make_tensor("c", T.INT64, [1], [trip])),
                  h.make_node("Squeeze", ["M0"], ["M"])]
    elif trip is not None:
        inits.append(h.make_tensor("M", T.INT64, [], [trip]))
    nodes.append(h.make_node("Loop", ["M" if trip is not None else "", "cond", "x"], ["y"],
                             body=_body("b_", nested), name="spin"))
    g = h.make_graph(nodes, "g", [vi("x", T.FLOAT, [None, 2])], [vi("y", T.FLOAT, [None, 2])],
                     inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=8)


@pytest.fixture
def x_file(tmp_path) -> Path:
    np.save(tmp_path / "x.npy", np.zeros((2, 2), np.float32))
    return tmp_path / "x.npy"


def _args(command: str, x_file: Path, tmp_path: Path) -> list:
    return {"predict": [x_file, "-o", tmp_path / "y.npy"],
            "bench": ["--batch-sizes", "1"]}.get(command, [])


@pytest.mark.parametrize("command", ["predict", "validate", "bench"])
@pytest.mark.parametrize("model, words", [
    (dict(trip=2**62), ["Loop node 'spin' runs 4,611,686,018,427,387,904 iterations"]),
    (dict(trip=2**40, constant_node=True), ["1,099,511,627,776 iterations"]),
    (dict(trip=10**4, nested=10**4), ["Loop node 'inner'", "(100,000,000 with the loops"]),
], ids=["2**62", "constant-node", "nested"])
def test_a_loop_past_the_bound_is_refused_before_it_runs(tmp_path, x_file, command, model,
                                                         words):
    import onnx

    path = tmp_path / "loop.onnx"
    onnx.save(loop_model(**model), path)
    t = time.perf_counter()
    refused(run(command, path, *_args(command, x_file, tmp_path)), str(path),
            "over the limit of 10,000,000", *words)
    assert time.perf_counter() - t < 10
    assert not (tmp_path / "y.npy").exists()


@pytest.mark.parametrize("command", ["summary", "build", "convert"])
def test_a_loop_past_the_bound_is_refused_by_the_definition_reader(tmp_path, command):
    """seqc.load and every command reading an .onnx definition check it as predict does
    (frontend/onnx_checks.load_checked), before the reverse lowering looks at its nodes."""
    import onnx

    import seqc
    from seqc.errors import ResourceError

    path = tmp_path / "loop.onnx"
    onnx.save(loop_model(2**62), path)
    with pytest.raises(ResourceError, match="Loop node 'spin' runs 4,611,686,018,427,387,904"):
        seqc.load(str(path))
    extra = {"summary": [], "build": ["--no-train", "-o", tmp_path / "b"],
             "convert": ["-o", tmp_path / "m.onnx"]}[command]
    refused(run(command, path, *extra), str(path), "over the limit of 10,000,000")
    assert not (tmp_path / "b").exists() and not (tmp_path / "m.onnx").exists()


def test_a_damaged_onnx_definition_is_the_checker_refusal(tmp_path):
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    import seqc
    from seqc.errors import DataError

    # Relu reads a value nothing makes: onnx.checker refuses it (onnxruntime too).
    g = h.make_graph([h.make_node("Relu", ["nowhere"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [None, 2])],
                     [h.make_tensor_value_info("y", T.FLOAT, [None, 2])])
    path = tmp_path / "bad.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=8), path)
    with pytest.raises(DataError, match="not a valid ONNX model"):
        seqc.load(str(path))
    refused(run("summary", path), str(path), "not a valid ONNX model")


def test_a_loop_within_the_bound_runs(tmp_path, x_file):
    import onnx

    path = tmp_path / "loop.onnx"
    onnx.save(loop_model(5, nested=3), path)
    r = run("predict", path, x_file, "-o", tmp_path / "y.npy")
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.full((2, 2), 20.0))


@pytest.mark.parametrize("command", ["predict", "validate", "bench"])
def test_a_loop_that_never_ends_stops_at_the_time_limit(tmp_path, x_file, command):
    import onnx

    path = tmp_path / "forever.onnx"
    onnx.save(loop_model(None), path)
    t = time.perf_counter()
    out = refused(run(command, path, *_args(command, x_file, tmp_path), "--time-limit", "0.5"),
                  str(path), "ran past the time limit of 0.5 s", "--time-limit")
    assert time.perf_counter() - t < 10
    assert "terminate flag" not in out  # onnxruntime's own log line is not printed
    assert not (tmp_path / "y.npy").exists()


def test_the_time_limit_reaches_sharded_predict_workers(tmp_path):
    """A worker process does not inherit the driver's limit (a context variable): it travels
    in the WorkerSpec, so a shard whose loop never ends fails at the limit, not after 600 s."""
    import onnx

    import seqc
    from seqc.runtime.bounds import time_limit

    path = tmp_path / "forever.onnx"
    onnx.save(loop_model(None), path)
    np.save(tmp_path / "a.npy", np.zeros((2, 2), np.float32))
    t = time.perf_counter()
    with time_limit(0.5):
        report = seqc.predict_dataset(str(path), str(tmp_path / "a.npy"), str(tmp_path / "out"),
                                      workers=1, retries=0, quiet=True)
    assert time.perf_counter() - t < 60
    [failed] = report["failed"]
    assert "ran past the time limit of 0.5 s" in failed["error"], failed
    assert failed["error"].startswith(f"{path}: "), failed  # the model is named, not its bytes
    assert not (tmp_path / "out" / "_SUCCESS").exists()


def test_a_constant_of_shape_too_big_to_allocate_is_refused(tmp_path, x_file):
    # onnxruntime skips constant-folding it (over 1 GB) and then allocates it at run time.
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    vi = h.make_tensor_value_info
    g = h.make_graph([h.make_node("ConstantOfShape", ["shp"], ["big"], name="huge",
                                  value=h.make_tensor("v", T.FLOAT, [1], [1.0])),
                      h.make_node("ReduceSum", ["big"], ["s"], keepdims=0),
                      h.make_node("Add", ["x", "s"], ["y"])], "g",
                     [vi("x", T.FLOAT, [None, 2])], [vi("y", T.FLOAT, [None, 2])],
                     [h.make_tensor("shp", T.INT64, [2], [2**20, 2**16])])
    path = tmp_path / "big.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=8), path)
    refused(run("predict", path, x_file, "-o", tmp_path / "y.npy"), str(path),
            "ConstantOfShape node 'huge' makes a tensor of shape (1048576, 65536)")


def test_an_allocation_failure_in_onnxruntime_is_exit_2():
    from seqc.errors import ResourceError
    from seqc.runtime.bounds import BoundedSession

    class Failing:
        def run(self, *args):
            raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Failed to allocate memory for "
                               "requested buffer of size 274877906944")

    with pytest.raises(ResourceError, match="could not allocate") as e:
        BoundedSession(Failing(), 10.0, "m.onnx").run(None, {})
    assert e.value.file == "m.onnx"


def test_time_limit_is_checked():
    refused(run("predict", "m.onnx", "x.npy", "-o", "y.npy", "--time-limit", "-1"),
            "--time-limit must be a number of seconds")


def test_reference_evaluator_skips_a_loop_it_could_not_stop(tmp_path):
    from seqc.runtime.runners import RUNTIMES, resolve

    src = resolve(loop_model(None))
    assert "only known at run time" in RUNTIMES["onnx-reference"].cannot_run(src)
    assert RUNTIMES["onnx-reference"].cannot_run(resolve(loop_model(3))) is None


def test_a_scan_over_a_long_initializer_inside_a_loop_is_refused():
    # The Scan's length is its scanned initializer's first axis (dims only: no data is read);
    # inside a loop of 1,000 iterations, 20,000 steps make 20,000,000.
    from onnx import TensorProto as T
    from onnx import helper as h

    from seqc.errors import ResourceError
    from seqc.runtime.bounds import check_control_flow

    vi = h.make_tensor_value_info
    scan_body = h.make_graph([h.make_node("Add", ["s_in", "e"], ["s_out"])], "scan_body",
                             [vi("s_in", T.FLOAT, [2]), vi("e", T.FLOAT, [2])],
                             [vi("s_out", T.FLOAT, [2])])
    seq = T(name="seq", data_type=T.FLOAT, dims=[20000, 2])  # dims only
    m = loop_model(1000)
    body = m.graph.node[-1].attribute[0].g
    body.initializer.append(seq)
    body.node.append(h.make_node("Scan", ["b_v_add", "seq"], ["b_scanned"], name="walk",
                                 body=scan_body, num_scan_inputs=1))
    with pytest.raises(ResourceError, match=r"Scan node 'walk' runs 20,000 iterations "
                                            r"\(20,000,000 with the loops around it\)"):
        check_control_flow(m, "scan.onnx")
    body.initializer[-1].dims[0] = 2000  # 2,000,000 in all: within the bound
    assert check_control_flow(m, "scan.onnx").dynamic_loops == []


def test_deeply_nested_subgraphs_are_refused():
    from onnx import helper as h

    from seqc.errors import ResourceError
    from seqc.runtime.bounds import MAX_SUBGRAPH_DEPTH, check_control_flow

    m = loop_model(2)
    for _ in range(MAX_SUBGRAPH_DEPTH + 1):
        body = m.graph
        m = loop_model(2)
        m.graph.node[-1].attribute[0].CopyFrom(h.make_attribute("body", body))
    with pytest.raises(ResourceError, match="nest 17 levels deep"):
        check_control_flow(m, "deep.onnx")


# ---------------------------------------------------------------- data and model paths

@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("spec")
    (d / "s.json").write_text(json.dumps({
        "input_shape": [2], "layers": [{"type": "Dense", "units": 1}],
        "compile": {"optimizer": "adam", "loss": "mse"}, "fit": {"epochs": 1}}))
    return d / "s.json"


@pytest.mark.parametrize("place", ["--data", "--x", "predict", "model", "definition"])
def test_a_fifo_is_refused_without_blocking(tmp_path, spec, x_file, place):
    fifo = tmp_path / {"model": "m.onnx", "definition": "d.json"}.get(place, "fifo.csv")
    os.mkfifo(fifo)  # opening it to read would wait for a writer forever
    args = {"--data": ["build", spec, "--data", fifo, "--target", "t"],
            "--x": ["build", spec, "--x", fifo.with_suffix(".npy")],
            "predict": ["predict", spec, fifo, "-o", tmp_path / "y.npy"],
            "model": ["predict", fifo, x_file, "-o", tmp_path / "y.npy"],
            "definition": ["summary", fifo]}[place]
    if place == "--x":
        os.mkfifo(fifo.with_suffix(".npy"))
    if place == "predict":
        args[1] = tmp_path / "b"
        assert run("build", spec, "--no-train", "-q", "-o", tmp_path / "b").exit_code == 0
    refused(run(*args, "-q") if args[0] == "build" else run(*args), "a FIFO (named pipe)",
            "not a regular file")


def test_a_device_is_refused(tmp_path, spec):
    refused(run("build", spec, "--x", "/dev/zero", "--no-train", "-q", "-o", tmp_path / "o"),
            "/dev/zero", "is a device")


def test_a_path_with_a_nul_byte_is_refused(tmp_path, spec):
    bad = tmp_path / "s.json"
    bad.write_text(json.dumps({"input_shape": [2], "layers": [{"type": "Dense", "units": 1}],
                               "data": {"path": "d\u0000.csv", "target": "t"}}))
    refused(run("build", bad, "--no-train", "-q", "-o", tmp_path / "o"),
            "data.path must be a file path", "NUL")


def _npy_with_header(path: Path, shape: tuple, descr: str = "<f4", data: bytes = b"") -> Path:
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(data)
    return path


@pytest.mark.parametrize("shape, words", [
    ((10**12, 10**6), ["declares shape (1000000000000, 1000000)",
                       "only 32 bytes of data"]),
    ((3, 2), ["declares shape (3, 2) float32 (24 bytes)", "only 16 bytes"]),
])
def test_npy_declared_size_is_checked_before_allocating(tmp_path, spec, shape, words):
    x = _npy_with_header(tmp_path / "x.npy", shape, data=bytes(32 if shape[0] > 3 else 16))
    refused(run("build", spec, "--x", x, "--no-train", "-q", "-o", tmp_path / "o"), str(x),
            *words)


def test_npy_object_array_is_refused(tmp_path, spec):
    x = _npy_with_header(tmp_path / "x.npy", (2, 2), descr="|O", data=bytes(32))
    refused(run("build", spec, "--x", x, "--no-train", "-q", "-o", tmp_path / "o"), str(x),
            "Python objects")


def test_npy_over_max_memory_is_refused(tmp_path, spec):
    x = _npy_with_header(tmp_path / "x.npy", (12 * 2**20, 2))
    os.truncate(x, x.stat().st_size + 96 * 2**20)  # 96 MiB of zeros, sparse on disk
    refused(run("build", spec, "--x", x, "--no-train", "-q", "-o", tmp_path / "o",
                "--max-memory", "80MB"), str(x), "needs 96.0 MiB in memory",
            "over the limit of 80.0 MiB")


@pytest.mark.parametrize("member", ["x.npy", "x"])  # np.load reads "x" as raw bytes
def test_npz_zip_bomb_is_refused_before_inflating(tmp_path, spec, member):
    # 96 MiB of zeros compress to ~96 KiB; the limit is 80 MiB: refused from the zip
    # directory, before one byte is inflated.
    import tracemalloc
    import zipfile

    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open(member, "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (12 * 2**20, 2)})
        for _ in range(96):
            f.write(bytes(2**20))
    assert bomb.stat().st_size < 2**20
    tracemalloc.start()
    r = run("build", spec, "--data", bomb, "--no-train", "-q", "-o", tmp_path / "o",
            "--max-memory", "80MB")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    refused(r, str(bomb), "decompresses to more than 80.0 MiB")
    assert peak < 16 * 2**20


def test_npz_member_shorter_than_its_header_is_refused(tmp_path, spec):
    import zipfile

    bad = tmp_path / "d.npz"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("x.npy", "w") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 2)})
        f.write(bytes(64))
    for args in (["build", spec, "--data", bad, "--no-train", "-q", "-o", tmp_path / "o"],
                 ["predict", tmp_path / "b", bad, "-o", tmp_path / "y.npy"]):
        if args[0] == "predict":
            assert run("build", spec, "--no-train", "-q", "-o", tmp_path / "b").exit_code == 0
        refused(run(*args), str(bad), "member 'x.npy'", "declares shape (1000000000, 2)")


@pytest.mark.parametrize("text, words", [
    ("a,b,t\n1,2,3\n4,5\n", ["line 3 has 2 cells but the header has 3 columns"]),
    ("a,b,t\n1,x,3\n", ["line 2 (data row 1), column 'b' holds a non-numeric value 'x'"]),
    ("a,b,t\n1,2\x00,3\n", ["column 'b' holds a non-numeric value '2\\x00'"]),
    ("a,b,t\n", ["a header but no data rows"]),
    ("", ["the CSV file is empty"]),
    ("a,b,t\n1,2,3\n1,nan,3\n", ["line 3 (data row 2), column 'b' holds 'nan'"]),
    ("a,b,t\n-inf,2,3\n", ["column 'a' holds '-inf', not a finite float32"]),
    ("a,b,t\n1,1e39,3\n", ["column 'b' holds '1e39', not a finite float32"]),
    ("a,b,t\n1,2,inf\n", ["target 't' is not finite"]),
], ids=["ragged", "text", "nul", "zero-rows", "empty", "nan", "inf", "overflow", "inf-label"])
def test_bad_csv_is_exit_2_naming_file_row_and_column(tmp_path, spec, text, words):
    data = tmp_path / "d.csv"
    data.write_text(text)
    out = refused(run("build", spec, "--data", data, "--target", "t", "-q", "-o",
                      tmp_path / "o"), str(data), *words)
    assert "RuntimeWarning" not in out


# ---------------------------------------------------------------- the --max-memory estimate

def _memory_peak_module():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "memory_peak.py"
    spec = importlib.util.spec_from_file_location("memory_peak", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SMALL_MODELS = {
    "dense": ([2000], [{"type": "Dense", "units": 2000}], 64),
    "mlp": ([784], [{"type": "Dense", "units": 1024, "activation": "relu"},
                    {"type": "Dense", "units": 1024, "activation": "relu"},
                    {"type": "Dense", "units": 10}], 64),
    "cnn": ([32, 32, 3], [{"type": "Conv2D", "filters": 32, "kernel_size": 3,
                           "activation": "relu"},
                          {"type": "Conv2D", "filters": 32, "kernel_size": 3},
                          {"type": "Flatten"}, {"type": "Dense", "units": 10}], 64),
    "lstm": ([20, 32], [{"type": "LSTM", "units": 256, "return_sequences": True},
                        {"type": "LSTM", "units": 256}, {"type": "Dense", "units": 10}], 64),
}


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_memory_estimate_covers_the_measured_build_peak(tmp_path):
    # Each model is built (Adam, one epoch, export, validation) in one fresh process with its
    # resident high-water mark reset before it; the estimate must cover the peak and not be
    # more than 3x it, or the limit would refuse models that fit.
    rows = _memory_peak_module().measure(SMALL_MODELS, "build", str(tmp_path))
    for r in rows:
        assert r["peak_mb"] > 10, r  # a real measurement, not noise
        assert r["peak_mb"] <= r["estimate_mb"] <= 3 * r["peak_mb"], r


def _dense_spec(tmp_path: Path, n: int) -> Path:
    spec = tmp_path / "big.json"
    spec.write_text(json.dumps({"input_shape": [n], "layers": [{"type": "Dense", "units": n}],
                                "compile": {"optimizer": "adam", "loss": "mse"}}))
    return spec


@pytest.mark.parametrize("command", ["build", "convert", "summary"])
def test_the_issues_dense_15000_is_refused_under_4gb_before_allocating(tmp_path, command):
    # 225 million float32 parameters (900 MB): the old check counted 16 bytes each (3.4 GiB,
    # under 4 GB) and the build then peaked at 6.25 GB. Weights, gradients, Adam's slots, the
    # the ONNX export's copies (the embedded IR's coded lowering included) make 11 GiB.
    import tracemalloc

    spec = _dense_spec(tmp_path, 15000)
    args = {"build": ["--no-train", "-q", "-o", tmp_path / "o", "--max-memory", "4GB"],
            "convert": ["-o", tmp_path / "m.onnx", "--max-memory", "4GB"]}.get(command, [])
    tracemalloc.start()
    r = run(command, spec, *args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out = refused(r, str(spec), "225,015,000 parameters", "over the limit of 4.0 GiB",
                  "layer 'dense'")
    assert "would need about 11.0 GiB" in out, out
    assert peak < 64 * 2**20  # nothing the size of the layer was allocated


def test_the_build_checks_memory_again_with_the_data(tmp_path):
    # Parameters alone fit; the data (48 MiB, counted with its float32 copy) does not.
    spec = _dense_spec(tmp_path, 16)
    np.savez(tmp_path / "d.npz", x=np.zeros((393216, 16), np.float32),
             y=np.zeros((393216, 16), np.float32))
    refused(run("build", spec, "--data", tmp_path / "d.npz", "-q", "-o", tmp_path / "o",
                "--max-memory", "100MB"), "over the limit of 100.0 MiB", "fit ")


def test_memory_estimate_phases():
    import seqc
    from seqc.ir.memory import FIXED, estimate_memory

    m = seqc.Sequential([seqc.layers.Input((1000,)), seqc.layers.Dense(1000)])
    p = 1001000 * 4
    est = estimate_memory(m.graph, batch_size=1, rows=1)
    # the parameters, and the largest one's float64 draw before its float32 cast
    assert est.phases["init"] == FIXED + p + 2 * 4 * 10**6
    assert est.phases["fit"] >= 9 * p  # params, grads, flat p/g/tmp, Adam's slots twice
    assert est.phases["export"] >= 9 * p and est.total == est.phases["export"]
    frozen = estimate_memory(m.graph, train=False, rows=1)
    assert "fit" not in frozen.phases and frozen.total < est.total


# ---------------------------------------------------------------- damaged .h5

LEGACY_H5 = Path(__file__).parent / "fixtures" / "legacy_dense.h5"  # Keras 3.15 model.save


@pytest.fixture
def quick_probe(monkeypatch):
    import seqc.frontend._h5_probe as probe

    monkeypatch.setattr(probe, "BASE_SECONDS", 1.5)


@pytest.mark.parametrize("at, words", [
    (4477, ["did not finish in 2 s"]),  # libhdf5 loops reading model_config: the issue's hang
    (16000, ["bad object header version number"]),  # was h5py's KeyError, exit 70
    (15400, ["bad symbol table node signature"]),  # was RuntimeError, exit 70
])
def test_one_byte_inserted_into_a_legacy_h5_is_exit_2_quickly(tmp_path, quick_probe, at, words):
    src = LEGACY_H5.read_bytes()
    bad = tmp_path / "m.h5"
    bad.write_bytes(src[:at] + b"\0" + src[at:])
    t = time.perf_counter()
    refused(run("summary", bad), str(bad), "the HDF5 file is damaged", *words)
    assert time.perf_counter() - t < 8


def test_intact_legacy_h5_still_loads():
    r = run("summary", LEGACY_H5)
    assert r.exit_code == 0, r.output
    assert "Total params: 58" in r.output
