"""Sharded predict on the local process pool, a local Ray cluster and a local Dask cluster
(each started once for this module, on this machine): results equal single-process predict
row for row and byte for byte; a worker killed mid-shard and an exception in a shard are
retried with nothing lost or written twice; a driver SIGKILLed mid-run resumes to the same
bytes; another model is refused on resume; a corrupt shard fails alone, with exit 1."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import seqc
from seqc.cli import cli
from seqc.errors import DataError, UsageError
from seqc.export import export_model
from seqc.fileio import sha256_file
from seqc.runtime import shard_ledger as SL
from seqc.runtime import sharded as S
from seqc.runtime.inputs import open_inputs
from seqc.runtime.predict import predict_file

L = seqc.layers
ROOT = Path(__file__).resolve().parents[2]
SHARDS, ROWS, BATCH = 5, 300, 64  # several batches per shard: faults strike mid-shard


def mlp(seed=0, names=None):
    m = seqc.Sequential([L.Input((8,)), L.Dense(16, activation="relu"),
                         L.Dense(3, activation="softmax")], seed=seed)
    m.class_names = names
    return m


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("sharded")


@pytest.fixture(scope="module")
def model(work):
    return str(export_model(mlp(names=["a", "b", "c"]), work / "model.onnx"))


@pytest.fixture(scope="module")
def data(work):
    rng = np.random.default_rng(0)
    d = work / "data"
    d.mkdir()
    for i in range(SHARDS):
        np.save(d / f"part-{i}.npy", rng.standard_normal((ROWS + i, 8), np.float32))
    return d


@pytest.fixture(scope="module")
def expected(work, model, data):
    """Single-process `seqc predict` of each shard: {output name: file bytes}."""
    out = work / "single"
    out.mkdir()
    ref = {}
    for f in sorted(data.glob("*.npy")):
        predict_file(model, str(f), str(out / f.name), batch_size=BATCH, threads=1)
        ref[f.name] = (out / f.name).read_bytes()
    return ref


@pytest.fixture(scope="module")
def ray_address():
    ray = pytest.importorskip("ray")
    # Ray's worker processes import seqc from this checkout, as the driver does.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [old])])
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="module")
def dask_address():
    dask = pytest.importorskip("dask")
    from distributed import LocalCluster

    # A worker that died is rescheduled at most twice, as --retries 2 asks.
    with dask.config.set({"distributed.scheduler.allowed-failures": 2}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture(params=["local", "ray", "dask"])
def engine(request):
    """(engine name, its options): Ray through the cluster this process joined, Dask
    through the address of the module's cluster."""
    name = request.param
    if name == "ray":
        request.getfixturevalue("ray_address")
        return name, {}
    if name == "dask":
        return name, {"address": request.getfixturevalue("dask_address")}
    return name, {}


def run(model, inputs, out, engine, **kw):
    name, options = engine
    kw = {"workers": 2, "batch_size": BATCH, "quiet": True, **options, **kw}
    return S.predict_dataset(model, inputs, str(out), engine=name, **kw)


def manifest(out):
    lines = (Path(out) / SL.MANIFEST).read_text().splitlines()
    return [json.loads(line) for line in lines]


def assert_complete(out, expected):
    """Every shard once in the ledger, its output byte-identical to single-process predict,
    the recorded sha256 its own, no temporary file left, _SUCCESS there."""
    recs = manifest(out)
    assert sorted(r["output"] for r in recs) == sorted(expected)
    for r in recs:
        data = (Path(out) / r["output"]).read_bytes()
        assert data == expected[r["output"]], r["output"]
        assert r["bytes"] == len(data) and r["rows_in"] == r["rows_out"]
        assert r["sha256"] == sha256_file(Path(out) / r["output"])
    assert not glob.glob(str(Path(out) / ".*.tmp"))
    assert (Path(out) / SL.SUCCESS).exists()


def test_equal_to_single_process(model, data, expected, engine, tmp_path):
    report = run(model, data, tmp_path / "out", engine)
    assert report["failed"] == [] and report["done"] == SHARDS
    assert report["rows_in"] == sum(ROWS + i for i in range(SHARDS))
    assert_complete(tmp_path / "out", expected)
    got = np.concatenate([np.load(tmp_path / "out" / f"part-{i}.npy") for i in range(SHARDS)])
    x = np.concatenate([np.load(data / f"part-{i}.npy") for i in range(SHARDS)])
    np.testing.assert_allclose(got, mlp().predict(x), rtol=1e-5, atol=1e-6)
    again = run(model, data, tmp_path / "out", engine)  # everything is done: nothing reruns
    assert (again["skipped"], again["done"]) == (SHARDS, 0)


def test_worker_killed_and_exception_are_retried(model, data, expected, engine, tmp_path,
                                                 monkeypatch):
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv(S.FAULT_ENV, json.dumps(
        {"exit": ["part-1.npy"], "raise": ["part-3.npy"], "dir": str(marks)}))
    report = run(model, data, tmp_path / "out", engine)
    assert sorted(os.listdir(marks)) == ["exit-part-1.npy", "raise-part-3.npy"]  # both struck
    assert report["failed"] == [] and report["done"] == SHARDS
    assert_complete(tmp_path / "out", expected)


def test_driver_killed_then_resumed_is_byte_identical(model, data, expected, engine, tmp_path):
    name, options = engine
    out = tmp_path / "out"
    address = options.get("address")
    if name == "ray":
        import ray

        address = ray.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "seqc", "predict", model, str(data), "-o", str(out),
           "--engine", name, "--workers", "2", "--batch-size", str(BATCH), "-q",
           *(["--address", address] if address else [])]
    env = {**os.environ, S.FAULT_ENV: json.dumps({"kill_driver_after": 2})}
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr[-2000:]  # SIGKILL, by the driver's own hand
    assert 2 <= len(manifest(out)) < SHARDS and not (out / SL.SUCCESS).exists()
    report = run(model, data, out, engine)
    assert report["skipped"] >= 2 and report["skipped"] + report["done"] == SHARDS
    assert_complete(out, expected)


def test_corrupt_shard_fails_alone(model, data, expected, engine, tmp_path):
    bad = tmp_path / "data"
    shutil.copytree(data, bad)
    (bad / "part-2.npy").write_bytes(b"\x93NUMPY not really")
    name, options = engine
    if name == "local":  # through the CLI: exit 1, the failed shard listed, progress lines
        r = CliRunner().invoke(cli, ["predict", model, str(bad), "-o", str(tmp_path / "out"),
                                     "--retries", "1", "--workers", "2", "--batch-size",
                                     str(BATCH)])
        assert r.exit_code == 1, r.output
        assert "failed: " in r.output and "1 of 5 shards failed" in r.output
        assert "rows/s" in r.output and "ETA" in r.output  # a line per shard, failed or not
        assert all(f"[{k}/5]" in r.output for k in range(1, 6)), r.output
        report = json.loads((tmp_path / "out" / SL.REPORT).read_text())
    else:
        report = run(model, bad, tmp_path / "out", engine, retries=1)
    assert [f["output"] for f in report["failed"]] == ["part-2.npy"]
    assert "part-2.npy" in report["failed"][0]["input"] and report["failed"][0]["error"]
    assert report["done"] == SHARDS - 1 and not (tmp_path / "out" / SL.SUCCESS).exists()
    assert not (tmp_path / "out" / "part-2.npy").exists()
    shutil.copy(data / "part-2.npy", bad / "part-2.npy")  # fixed: the rerun does only it
    report = run(model, bad, tmp_path / "out", engine)
    assert (report["skipped"], report["done"], report["failed"]) == (SHARDS - 1, 1, [])
    assert_complete(tmp_path / "out", expected)


# ---- the local engine and the driver alone ----

LOCAL = ("local", {})


def test_another_model_or_setting_is_refused_on_resume(model, data, work, tmp_path):
    run(model, data, tmp_path / "out", LOCAL)
    other = str(export_model(mlp(seed=5), work / "other.onnx"))
    with pytest.raises(UsageError, match="another model"):
        run(other, data, tmp_path / "out", LOCAL)
    r = CliRunner().invoke(cli, ["predict", other, str(data), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "--overwrite" in r.output
    with pytest.raises(UsageError, match="another batch_size"):
        run(model, data, tmp_path / "out", LOCAL, batch_size=32)
    report = run(other, data, tmp_path / "out", LOCAL, overwrite=True, format="csv")
    assert report["done"] == SHARDS and {r["model_sha256"] for r in manifest(tmp_path / "out")} \
        == {report["model_sha256"]}
    assert sorted(os.listdir(tmp_path / "out")) == sorted(  # the first run's outputs are gone
        [SL.MANIFEST, SL.REPORT, SL.SUCCESS, *(f"part-{i}.csv" for i in range(SHARDS))])


def test_inputs_folder_glob_and_names(data, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        shutil.copy(data / "part-0.npy", tmp_path / d / "x.npy")
    (tmp_path / "a" / "_skip.npy").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("not an input")
    found = SL.find_inputs([tmp_path / "a", str(tmp_path / "*" / "x.npy")], str(tmp_path / "o"))
    assert found == [str(tmp_path / "a" / "x.npy"), str(tmp_path / "b" / "x.npy")]
    assert SL.output_names(found, ".npy") == ["a/x.npy", "b/x.npy"]
    shutil.copy(data / "part-0.npy", tmp_path / "a" / "x.csv")
    with pytest.raises(UsageError, match="same output"):
        SL.output_names([str(tmp_path / "a" / "x.npy"), str(tmp_path / "a" / "x.csv")], ".npy")
    # OUTDIR inside the input folder: its files are not inputs
    (tmp_path / "a" / "out").mkdir()
    shutil.copy(data / "part-0.npy", tmp_path / "a" / "out" / "y.npy")
    assert SL.find_inputs([str(tmp_path / "a" / "**" / "*.npy")], str(tmp_path / "a" / "out")) \
        == [str(tmp_path / "a" / "x.npy")]
    with pytest.raises(UsageError, match="matches no input"):
        SL.find_inputs([str(tmp_path / "*.parquet")], str(tmp_path / "o"))
    with pytest.raises(DataError, match="not found"):
        SL.find_inputs([str(tmp_path / "missing.npy")], str(tmp_path / "o"))


def test_output_may_not_replace_an_input(model, data, tmp_path):
    shutil.copytree(data, tmp_path / "d")
    with pytest.raises(UsageError, match="inside OUTDIR are never inputs"):
        S.predict_dataset(model, [str(tmp_path / "d" / "part-0.npy")], str(tmp_path / "d"),
                          quiet=True)


def test_ledger_drops_a_torn_line(tmp_path):
    ledger = SL.Ledger(str(tmp_path))
    ledger.append({"output": "a.npy", "bytes": 1})
    with open(ledger.path, "ab") as f:
        f.write(b'{"output": "b.np')  # the driver died mid-append
    assert list(ledger.read()) == ["a.npy"]
    ledger.append({"output": "c.npy"})
    assert list(ledger.read()) == ["a.npy", "c.npy"]
    Path(ledger.path).write_text('{"output": "a.npy"}\nnot json\n{"output": "c.npy"}\n')
    with pytest.raises(DataError, match="manifest is damaged"):
        ledger.read()


def test_parquet_in_and_out(model, data, expected, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    x = np.load(data / "part-0.npy")
    lists = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 8)
    pq.write_table(pa.table({"features": lists, "id": np.arange(len(x))}),
                   tmp_path / "lists.parquet", row_group_size=100)
    pq.write_table(pa.table({f"f{j}": x[:, j] for j in range(8)} | {"y": np.zeros(len(x))}),
                   tmp_path / "cols.parquet")
    want = np.load(_npy(expected["part-0.npy"], tmp_path))
    predict_file(model, str(tmp_path / "lists.parquet"), str(tmp_path / "y.npy"),
                 batch_size=BATCH, columns=["features"])  # single-file predict reads it too
    assert (tmp_path / "y.npy").read_bytes() == expected["part-0.npy"]
    # one run over every input kind: Parquet columns, CSV with a label column, .npz
    (tmp_path / "t.csv").write_text(
        "\n".join([",".join([f"f{j}" for j in range(8)] + ["y"])]
                  + [",".join([repr(float(v)) for v in row] + ["0"]) for row in x]) + "\n")
    np.savez(tmp_path / "z.npz", x=x)
    inputs = [tmp_path / "cols.parquet", tmp_path / "t.csv", tmp_path / "z.npz"]
    report = run(model, inputs, tmp_path / "out", LOCAL, format="parquet", target="y")
    assert report["failed"] == [] and report["rows_in"] == 3 * len(x), report["failed"]
    for name in ("cols", "t", "z"):
        t = pq.read_table(tmp_path / "out" / f"{name}.parquet")
        got = np.stack([t.column(f"output_{j}").to_numpy() for j in range(3)], 1)
        np.testing.assert_array_equal(got, want)
        assert t.column("label").to_pylist() == [["a", "b", "c"][i] for i in want.argmax(1)]
    # a variable-length list whose rows share a length reads as a fixed one; one that does
    # not is refused, naming the column
    pq.write_table(pa.table({"v": pa.array([r.tolist() for r in x[:5]], pa.list_(pa.float32()))}),
                   tmp_path / "var.parquet")
    with open_inputs(str(tmp_path / "var.parquet")) as stream:
        np.testing.assert_array_equal(np.concatenate(list(stream.batches(2))), x[:5])
    pq.write_table(pa.table({"v": pa.array([[1.0, 2.0], [3.0]], pa.list_(pa.float32()))}),
                   tmp_path / "ragged.parquet")
    with pytest.raises(DataError, match="'v' differ in length"), \
            open_inputs(str(tmp_path / "ragged.parquet")) as stream:
        list(stream.batches(8))
    # without --column, a file with a list column and another column is ambiguous
    with pytest.raises(DataError, match="one list column or numeric columns") as e:
        open_inputs(str(tmp_path / "lists.parquet"))
    assert "--column" in str(e.value)


def _npy(data: bytes, tmp_path: Path) -> Path:
    p = tmp_path / "ref.npy"
    p.write_bytes(data)
    return p


def test_single_file_predict_unchanged(model, data, tmp_path):
    r = CliRunner().invoke(cli, ["predict", model, str(data / "part-0.npy"), "-o",
                                 str(tmp_path / "y.npy")])
    assert r.exit_code == 0 and r.output.strip() == f"Wrote {ROWS} predictions to " \
        f"{tmp_path / 'y.npy'}"
    assert not (tmp_path / SL.MANIFEST).exists()
    r = CliRunner().invoke(cli, ["predict", model, str(data / "part-0.npy"), "-o",
                                 str(tmp_path / "y.npy"), "--retries", "3"])
    assert r.exit_code == 2 and "--retries is for sharded predict" in r.output
    r = CliRunner().invoke(cli, ["predict", model, str(data / "part-0.npy"), "-o",
                                 str(tmp_path / "o"), "--threads", "2"])
    assert r.exit_code == 2 and "--cpus-per-worker" in r.output


def test_missing_engine_library_names_the_extra(monkeypatch):
    from seqc.runtime import engines

    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.delitem(sys.modules, "seqc.runtime.engines.dask", raising=False)
    with pytest.raises(UsageError, match=r"seqc\[dask\]"):
        engines.get_engine("dask")


def test_ray_workers_that_do_not_fit(model, data, expected, ray_address, tmp_path):
    """More workers than the cluster holds, each reserving every CPU, still run (reads happen
    inside the worker's reservation); a GPU the cluster lacks is refused."""
    # three workers of 2 CPUs each on a 2-CPU cluster: one is placed, holding every CPU
    report = run(model, data, tmp_path / "o", ("ray", {}), workers=3, cpus_per_worker=2)
    assert report["done"] == SHARDS and len(report["workers"]) == 1
    assert_complete(tmp_path / "o", expected)
    with pytest.raises(UsageError, match="GPUs"):
        run(model, data, tmp_path / "g", ("ray", {}), gpus_per_worker=1)


def test_dask_local_cluster(model, data, expected, tmp_path):
    pytest.importorskip("distributed")
    report = run(model, data, tmp_path / "out", ("dask", {}))
    assert report["done"] == SHARDS
    assert_complete(tmp_path / "out", expected)


def test_timeseries_shards_are_cut_into_windows(work, tmp_path):
    """A timeseries model given raw-series shards (a CSV holding its columns among others, and
    an array) cuts each into its windows, as single-file predict does."""
    pq = pytest.importorskip("pyarrow.parquet")
    from seqc.runtime.windows import timeseries_metadata

    m = seqc.Sequential([L.Input((4, 2)), L.LSTM(3), L.Dense(2)], seed=3)
    meta = timeseries_metadata({"sequence_length": 4, "sequence_stride": 2, "sampling_rate": 1},
                               ["a", "b"])
    model = str(export_model(m, work / "ts.onnx", metadata=meta))
    x = np.random.default_rng(1).standard_normal((41, 2)).astype(np.float32)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "s1.csv").write_text("b,other,a\n" + "".join(
        f"{r[1]!r},7,{r[0]!r}\n" for r in x.astype(float).tolist()))
    np.save(tmp_path / "in" / "s2.npy", x)
    report = run(model, tmp_path / "in", tmp_path / "out", LOCAL, format="parquet")
    assert report["failed"] == [] and report["rows_in"] == 2 * len(x)
    starts = np.arange(0, len(x) - 3, 2)
    want = m.predict(np.stack([x[s:s + 4] for s in starts]))
    for name in ("s1", "s2"):
        t = pq.read_table(tmp_path / "out" / f"{name}.parquet")
        assert t.column("first_row").to_pylist() == starts.tolist()
        assert t.column("last_row").to_pylist() == (starts + 3).tolist()
        got = np.stack([t.column(f"output_{j}").to_numpy() for j in range(2)], 1)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert report["rows_out"] == 2 * len(starts)
