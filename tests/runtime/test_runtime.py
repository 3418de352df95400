"""Runtimes and validation: the same input on numpy, onnxruntime and the ONNX reference."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import seqc
from seqc.errors import DataError, UsageError
from seqc.export import export_model
from seqc.ir.serialize import dumps, params_to_npz_bytes
from seqc.runtime import RUNTIMES, load_build_dir, make_session, run, validate
from seqc.runtime.validate import ValidationResult, compare

L = seqc.layers


def mlp(classes=3, seed=0):
    act = "softmax" if classes > 1 else "sigmoid"
    return seqc.Sequential([L.Input((6,)), L.Dense(8, activation="relu"),
                            L.Dense(classes, activation=act)], seed=seed)


def write_build_dir(model, folder, *, onnx_file=True):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.ir.json"), "w") as f:
        f.write(dumps(model.graph))
    with open(os.path.join(folder, "weights.npz"), "wb") as f:
        f.write(params_to_npz_bytes(model.params))
    if onnx_file:
        export_model(model, os.path.join(folder, "model.onnx"))
    return str(folder)


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((33, 6)).astype(np.float32)


# ---- runners ----

@pytest.mark.parametrize("runtime", ["numpy", "onnxruntime", "onnx-reference"])
def test_every_runtime_gives_the_same_answer(runtime, x):
    model = mlp()
    want = run(model, x, "numpy")
    got = run(model, x, runtime)
    assert got.shape == (33, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_batched_runs_equal_unbatched(x):
    model = mlp()
    whole = run(model, x, "numpy")
    np.testing.assert_allclose(run(model, x, "numpy", batch_size=5), whole, atol=0)
    np.testing.assert_allclose(run(model, x, "onnxruntime", batch_size=7), whole, atol=1e-5)


def test_unknown_runtime_suggests_the_nearest():
    with pytest.raises(UsageError) as e:
        run(mlp(), np.ones((1, 6)), "onxruntime")
    assert "did you mean 'onnxruntime'" in e.value.hint and e.value.field == "runtimes"


def test_session_threads_and_providers(tmp_path, x):
    path = export_model(mlp(), tmp_path / "m.onnx")
    sess = make_session(path, intra_op_num_threads=1)
    assert sess.get_session_options().intra_op_num_threads == 1
    assert sess.run(None, {"input": x})[0].shape == (33, 3)
    with pytest.raises(UsageError, match="cpu, cuda or auto"):
        make_session(path, provider="tpu")
    if RUNTIMES["onnxruntime-cuda"].unavailable():
        with pytest.raises(UsageError, match="CUDAExecutionProvider"):
            make_session(path, provider="cuda")
    assert make_session(path, provider="auto").get_providers()


def test_onnxruntime_gpu_without_a_usable_gpu_is_refused_not_run_on_cpu(tmp_path, x,
                                                                        monkeypatch):
    """onnxruntime-gpu on a machine whose GPU or CUDA libraries are missing lists the
    CUDAExecutionProvider, logs an error when a session asks for it, and runs the session on
    the CPU. seqc must not call that a CUDA run: "cuda" is an error, "auto" says it fell back,
    and validate's onnxruntime-cuda runtime sits out with the reason. Simulated here by
    listing CUDA and creating sessions the way that onnxruntime does."""
    import onnxruntime as ort

    from seqc.runtime import runners
    from seqc.runtime.bench import bench
    from seqc.runtime.predict import predict_file

    real = ort.InferenceSession
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession",
                        lambda data, so=None, providers=None: real(
                            data, so, providers=["CPUExecutionProvider"]))
    runners.cuda_problem.cache_clear()
    try:
        path = export_model(mlp(), tmp_path / "m.onnx")
        with pytest.raises(UsageError, match="could not start it") as e:
            make_session(path, provider="cuda")
        assert "CPUExecutionProvider" in e.value.received and "driver" in e.value.hint
        assert "could not start" in RUNTIMES["onnxruntime-cuda"].unavailable()
        assert make_session(path, provider="auto").get_providers() == ["CPUExecutionProvider"]
        np.save(tmp_path / "x.npy", x)
        logs: list[str] = []
        predict_file(path, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), provider="auto",
                     log=logs.append)
        assert "falling back to CPU" in logs[-1] and "could not start" in logs[-1]
        with pytest.raises(UsageError, match="could not start it"):
            bench(path, batch_sizes=(1,), provider="cuda", warmup=1, min_iterations=1,
                  min_time_s=0.0)
        r = validate(path, x, print_table=False)
        assert r.ok and "onnxruntime-cuda" not in [t.runtime for t in r.results]
    finally:
        runners.cuda_problem.cache_clear()  # the real answer again for later tests


@pytest.mark.parametrize("bad, match", [
    (np.ones((4, 5), np.float32), r"\(N, 6\)"),
    (np.ones((4, 6, 1), np.float32), r"\(N, 6\)"),
    (np.array([["a"] * 6]), "not numeric"),
    (np.ones((0, 6), np.float32), "at least one row"),
])
def test_bad_inputs_are_data_errors_naming_the_shape(bad, match):
    with pytest.raises(DataError, match=match) as e:
        run(mlp(), bad, "numpy")
    assert "Received:" in str(e.value)


def test_single_sample_hint():
    with pytest.raises(DataError) as e:
        run(mlp(), np.ones(6), "onnxruntime")
    assert "x[None]" in e.value.hint


def test_integer_input_is_cast_to_float32():
    model = mlp()
    xi = np.arange(12).reshape(2, 6)
    np.testing.assert_allclose(run(model, xi, "onnxruntime"),
                               run(model, xi.astype(np.float32), "numpy"), atol=1e-5)


# ---- build folders and sources ----

def test_load_build_dir(tmp_path):
    model = mlp()
    folder = write_build_dir(model, tmp_path / "b")
    graph, params, onnx_path = load_build_dir(folder)
    assert graph == model.graph
    assert set(params) == set(model.params)
    assert onnx_path == os.path.join(folder, "model.onnx")
    only_ir = write_build_dir(model, tmp_path / "c", onnx_file=False)
    assert load_build_dir(only_ir)[2] is None
    os.mkdir(tmp_path / "d")
    with pytest.raises(UsageError, match="not a build folder"):
        load_build_dir(tmp_path / "d")


def test_load_build_dir_rejects_missing_weights(tmp_path):
    folder = write_build_dir(mlp(), tmp_path / "b")
    os.remove(os.path.join(folder, "weights.npz"))
    with pytest.raises(UsageError, match="weights.npz"):
        load_build_dir(folder)


def test_missing_model_path_is_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        validate(tmp_path / "nope.onnx", np.ones((1, 6)), print_table=False)


# ---- validate ----

def test_validate_model_table_and_json(x, capsys):
    result = validate(mlp(), x)
    assert isinstance(result, ValidationResult) and result.ok
    assert [r.runtime for r in result.results][:1] == ["numpy"]
    assert {"numpy", "onnxruntime", "onnx-reference"} <= {r.runtime for r in result.results}
    ort_row = result["onnxruntime"]
    assert ort_row.max_abs_error < 1e-5 and ort_row.argmax_agreement == 1.0
    assert ort_row.seconds > 0
    printed = capsys.readouterr().out
    assert printed.strip() == result.format_table().strip()
    lines = printed.splitlines()
    header = next(line for line in lines if line.startswith("runtime"))
    assert "max abs err" in header and "argmax agree" in header
    # Aligned: the header, the rule and every runtime row end in the same column.
    start = lines.index(header)
    table = lines[start:start + 2 + len(result.results)]
    assert len({len(line) for line in table}) == 1
    assert [line.split()[-1] for line in table[2:]] == ["-"] + ["ok"] * (len(table) - 3)
    data = json.loads(json.dumps(result.to_json()))
    assert data["ok"] is True and data["reference"] == "numpy"
    assert {r["runtime"] for r in data["runtimes"]} >= {"numpy", "onnxruntime"}
    assert data["input_shape"] == [33, 6] and data["output_shape"] == [33, 3]


def test_validate_onnx_path_uses_first_runtime_as_reference(tmp_path, x):
    # An .onnx file without seqc's IR (another exporter's, or embed_ir=False); one seqc
    # wrote carries it and validates against numpy (tests/runtime/test_onnx_proof.py).
    path = export_model(mlp(), tmp_path / "m.onnx", embed_ir=False)
    result = seqc.validate(path, x, print_table=False)
    assert result.ok and result.reference == "onnxruntime"
    assert "numpy" not in {r.runtime for r in result.results}
    with pytest.raises(UsageError, match="IR"):
        validate(path, x, runtimes=["numpy", "onnxruntime"], print_table=False)


def test_validate_single_output_has_no_argmax(x):
    result = validate(mlp(classes=1), x, runtimes="numpy,onnxruntime", print_table=False)
    assert result.ok and result["onnxruntime"].argmax_agreement is None


def test_validate_catches_a_perturbed_onnx_weight(tmp_path, x):
    model = mlp()
    folder = write_build_dir(model, tmp_path / "b")
    onnx_path = os.path.join(folder, "model.onnx")
    assert validate(folder, x, print_table=False).ok
    proto = onnx.load(onnx_path)
    init = next(i for i in proto.graph.initializer if i.name == "dense/kernel")
    w = numpy_helper.to_array(init).copy()
    w[0, 0] += 1e-2
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(proto, onnx_path)
    result = validate(folder, x, print_table=False)
    assert not result.ok
    assert not result["onnxruntime"].ok and not result["onnx-reference"].ok
    assert result["onnxruntime"].max_abs_error > 1e-5
    assert "FAIL" in result.format_table() and result.to_json()["ok"] is False


def test_validate_inputs_from_file_and_random(tmp_path, x):
    np.save(tmp_path / "x.npy", x)
    result = validate(mlp(), str(tmp_path / "x.npy"), runtimes=["numpy", "onnxruntime"],
                      print_table=False)
    assert result.ok and result.input_shape == (33, 6)
    result = validate(mlp(), None, runtimes=["numpy", "onnxruntime"], print_table=False)
    assert result.ok and result.input_shape[1:] == (6,)


def test_validate_bad_input_and_arguments(x):
    with pytest.raises(DataError, match=r"\(N, 6\)"):
        validate(mlp(), x[:, :4], print_table=False)
    with pytest.raises(UsageError, match="atol"):
        validate(mlp(), x, atol=-1, print_table=False)
    with pytest.raises(UsageError, match="did you mean"):
        validate(mlp(), x, runtimes=["nunpy"], print_table=False)


def test_validate_records_a_crashing_runtime(tmp_path, x, monkeypatch):
    folder = write_build_dir(mlp(), tmp_path / "b")

    def crash(src, **_):
        raise RuntimeError("the runtime crashed")

    monkeypatch.setattr(RUNTIMES["onnxruntime"], "load", crash)
    result = validate(folder, x, runtimes=["numpy", "onnxruntime"], print_table=False)
    assert not result.ok and "crashed" in result["onnxruntime"].error
    assert "ERROR" in result.format_table()


def test_validate_refuses_a_damaged_onnx_in_a_build_folder(tmp_path, x):
    # A damaged file is bad input (exit 2 naming it), not a runtime that disagrees.
    folder = write_build_dir(mlp(), tmp_path / "b")
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(b"not an onnx model")
    with pytest.raises(DataError, match="model.onnx: not a valid ONNX model"):
        validate(folder, x, runtimes=["numpy", "onnxruntime"], print_table=False)


def test_unreadable_onnx_file_is_data_error(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match="not a valid ONNX model"):
        validate(path, np.ones((1, 6)), print_table=False)


def test_compare_rules():
    ref = np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)
    ok = compare(ref + 5e-6, ref, 1e-5, 1e-4)
    assert ok["ok"] and ok["argmax_agreement"] == 1.0
    bad = compare(ref + np.array([[0, 0], [3.0, 0]], np.float32), ref, 1e-5, 1e-4)
    assert not bad["ok"] and bad["argmax_agreement"] == 0.5 and bad["max_abs_error"] == 3.0
    # rtol scales with |ref|: 1e-4 relative on 2.0 passes with a tiny atol.
    assert compare(ref * (1 + 5e-5), ref, 1e-9, 1e-4)["ok"]
    nan = ref.copy()
    nan[0, 0] = np.nan
    assert not compare(nan, ref, 1e-5, 1e-4)["ok"]
    assert compare(nan, nan, 1e-5, 1e-4)["ok"]
    assert not compare(ref[:1], ref, 1e-5, 1e-4)["ok"]
