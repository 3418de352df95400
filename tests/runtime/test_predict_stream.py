"""predict: every input kind (.npy, stored and compressed .npz, .csv) streamed batch by batch
gives the in-memory answer; outputs written incrementally; bad input names the file; and a
300 MB input is predicted in a subprocess with bounded peak memory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import onnx
import pytest

import seqc
from seqc.errors import DataError, UsageError
from seqc.export import export_model
from seqc.runtime import RUNTIMES, make_session
from seqc.runtime import predict as P
from seqc.runtime import streams as S
from seqc.runtime.inputs import open_inputs, read_inputs
from seqc.runtime.predict import predict_file

L = seqc.layers


def mlp(features=6, classes=3, names=None):
    act = "softmax" if classes > 1 else "sigmoid"
    m = seqc.Sequential([L.Input((features,)), L.Dense(8, activation="relu"),
                         L.Dense(classes, activation=act)], seed=1)
    m.class_names = names
    return m


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    return export_model(mlp(), tmp_path_factory.mktemp("m") / "m.onnx")


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).standard_normal((37, 6)).astype(np.float32)


def in_memory(path, x):
    """The reference: one sess.run on the whole array."""
    return make_session(path).run(None, {"input": np.asarray(x, np.float32)})[0]


def csv_text(x, header=None, extra=None):
    header = header or [f"f{j}" for j in range(x.shape[1])]
    lines = [",".join(header + (["species"] if extra else []))]
    for i, row in enumerate(x):
        cells = [repr(float(v)) for v in row] + ([extra[i % len(extra)]] if extra else [])
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


# ---- same answer on every path ----

@pytest.mark.parametrize("batch", [1, 5, 37, 1000])
def test_npy_streamed_equals_in_memory(tmp_path, onnx_path, x, batch):
    np.save(tmp_path / "x.npy", x)
    n = predict_file(onnx_path, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"),
                     batch_size=batch)
    y = np.load(tmp_path / "y.npy", mmap_mode="r")  # header valid for memory mapping too
    assert n == 37 and y.shape == (37, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y, in_memory(onnx_path, x), atol=1e-6, rtol=1e-6)
    assert sorted(os.listdir(tmp_path)) == ["x.npy", "y.npy"]  # no temporary file left


def test_npy_read_is_a_memory_map_and_pages_are_released(tmp_path, x):
    np.save(tmp_path / "x.npy", np.tile(x, (2000, 1)))  # ~1.8 MB: several pages per batch
    with open_inputs(str(tmp_path / "x.npy")) as s:
        assert isinstance(s, S.ArrayStream) and isinstance(s.x, np.memmap)
        got = np.concatenate([np.array(b) for b in s.batches(333)])
    np.testing.assert_array_equal(got, np.tile(x, (2000, 1)))  # releasing never loses rows


def test_fortran_and_float64_npy(tmp_path, onnx_path, x):
    np.save(tmp_path / "x.npy", np.asfortranarray(x.astype(np.float64)))
    predict_file(onnx_path, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), batch_size=4)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), in_memory(onnx_path, x),
                               atol=1e-6)


def test_npz_stored_member_is_mapped_in_place(tmp_path, onnx_path, x):
    np.savez(tmp_path / "d.npz", y=np.arange(37), x=x)
    with open_inputs(str(tmp_path / "d.npz")) as s:
        assert isinstance(s.x, np.memmap)  # not a copy: mapped from its offset in the zip
        np.testing.assert_array_equal(s.x, x)
    predict_file(onnx_path, str(tmp_path / "d.npz"), str(tmp_path / "y.npy"), batch_size=8)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), in_memory(onnx_path, x),
                               atol=1e-6)


def test_npz_compressed_member_is_decompressed_batch_by_batch(tmp_path, onnx_path, x):
    np.savez_compressed(tmp_path / "d.npz", features=x)  # the only array: no 'x' needed
    with open_inputs(str(tmp_path / "d.npz")) as s:
        assert isinstance(s, S.ZipMemberStream)
        sizes = [len(b) for b in s.batches(10)]
    assert sizes == [10, 10, 10, 7]
    predict_file(onnx_path, str(tmp_path / "d.npz"), str(tmp_path / "y.csv"), batch_size=10)
    want = in_memory(onnx_path, x)
    got = np.loadtxt(tmp_path / "y.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)  # %.7g in the CSV


def test_npz_compressed_fortran_member(tmp_path, onnx_path, x, monkeypatch):
    np.savez_compressed(tmp_path / "d.npz", x=np.asfortranarray(x))
    predict_file(onnx_path, str(tmp_path / "d.npz"), str(tmp_path / "y.npy"), batch_size=8)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), in_memory(onnx_path, x),
                               atol=1e-6)
    monkeypatch.setattr(S, "COMPRESSED_FORTRAN_LIMIT", 100)  # as if it were huge
    with pytest.raises(DataError, match="Fortran-ordered") as e:
        open_inputs(str(tmp_path / "d.npz"))
    assert "ascontiguousarray" in e.value.hint and e.value.file.endswith("d.npz")


def test_csv_in_chunks_drops_the_target(tmp_path, onnx_path, x):
    (tmp_path / "x.csv").write_text(csv_text(x, extra=["setosa", "virginica"]))
    n = predict_file(onnx_path, str(tmp_path / "x.csv"), str(tmp_path / "y.npy"),
                     batch_size=4, target="species")
    assert n == 37
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), in_memory(onnx_path, x),
                               atol=1e-6)
    np.testing.assert_array_equal(read_inputs(str(tmp_path / "x.csv"), target="species"), x)


def test_csv_output_with_class_labels(tmp_path, x):
    path = export_model(mlp(names=["ant", "bee", "cat"]), tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", x)
    predict_file(path, str(tmp_path / "x.npy"), str(tmp_path / "y.csv"), batch_size=6)
    lines = (tmp_path / "y.csv").read_text().splitlines()
    assert lines[0] == "output_0,output_1,output_2,label" and len(lines) == 38
    want = in_memory(path, x)
    labels = [ln.rsplit(",", 1)[1] for ln in lines[1:]]
    assert labels == [["ant", "bee", "cat"][i] for i in want.argmax(1)]


def test_sigmoid_labels(tmp_path, x):
    path = export_model(mlp(classes=1, names=["no", "yes"]), tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", x)
    predict_file(path, str(tmp_path / "x.npy"), str(tmp_path / "y.csv"))
    rows = [ln.split(",") for ln in (tmp_path / "y.csv").read_text().splitlines()[1:]]
    assert [r[1] for r in rows] == ["yes" if float(r[0]) > 0.5 else "no" for r in rows]


def test_threads_and_auto_provider(tmp_path, onnx_path, x, monkeypatch):
    seen = {}
    real = P.make_session

    def spy(src, **kw):
        seen.update(kw)
        return real(src, **kw)

    monkeypatch.setattr(P, "make_session", spy)
    np.save(tmp_path / "x.npy", x)
    logs = []
    predict_file(onnx_path, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), threads=1,
                 provider="auto", log=logs.append)
    assert seen["intra_op_num_threads"] == 1
    if RUNTIMES["onnxruntime-cuda"].unavailable():
        assert "CPUExecutionProvider" in logs[-1] and "onnxruntime-gpu" in logs[-1]


def test_token_id_model_from_csv(tmp_path):
    m = seqc.Sequential([L.Input((4,), dtype="int32"), L.Embedding(10, 3), L.Flatten(),
                         L.Dense(2)], seed=0)
    path = export_model(m, tmp_path / "m.onnx")
    ids = np.random.default_rng(1).integers(0, 10, (9, 4))
    (tmp_path / "x.csv").write_text(csv_text(ids.astype(float)))
    predict_file(path, str(tmp_path / "x.csv"), str(tmp_path / "y.npy"), batch_size=4)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"),
                               make_session(path).run(None, {"input": ids.astype(np.int32)})[0],
                               atol=1e-6)
    # A fraction in a later batch: named with its rows; no output file is left.
    bad = ids.astype(float)
    bad[6, 2] = 2.5
    (tmp_path / "bad.csv").write_text(csv_text(bad))
    with pytest.raises(DataError, match="fractions") as e:
        predict_file(path, str(tmp_path / "bad.csv"), str(tmp_path / "z.npy"), batch_size=4)
    assert e.value.file.endswith("bad.csv") and "rows 5..8" in e.value.received
    assert not (tmp_path / "z.npy").exists()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    # Ids outside [0, input_dim): onnxruntime's Gather would fail on 10 and silently wrap -1.
    # The model carries its id range, so either is a DataError naming the Embedding layer.
    assert json.loads({p.key: p.value for p in onnx.load(path).metadata_props}[
        "seqc.token_ids"]) == {"count": 10, "layer": "'embedding' (Embedding)"}
    for value, batch in ((10, 4), (-1, 4), (-1, 100)):
        bad = ids.astype(float)
        bad[6, 1] = value
        (tmp_path / "bad.csv").write_text(csv_text(bad))
        with pytest.raises(DataError, match=r"\[0, 10\); these range from") as e:
            predict_file(path, str(tmp_path / "bad.csv"), str(tmp_path / "z.npy"),
                         batch_size=batch)
        assert e.value.layer == "'embedding' (Embedding)" and e.value.exit_code == 2
        assert (f"from {value} to" if value < 0 else f"to {value}") in e.value.message
        assert not (tmp_path / "z.npy").exists()
    # validate checks the same range before any runtime runs.
    with pytest.raises(DataError, match="input_dim"):
        seqc.validate(path, bad.astype(np.int32), print_table=False)


# ---- bad input: a SeqcError naming the file, exit code 2 ----

def _bad(tmp_path, onnx_path, name, write, err, match, **kw):
    p = tmp_path / name
    if write is not None:
        write(p)
    with pytest.raises(err, match=match) as e:
        predict_file(onnx_path, str(p), str(tmp_path / "y.npy"), **kw)
    assert e.value.exit_code == 2 and e.value.file == str(p), e.value
    assert not (tmp_path / "y.npy").exists()
    return e.value


def test_missing_file(tmp_path, onnx_path):
    e = _bad(tmp_path, onnx_path, "nope.npy", None, DataError, "not found")
    assert "Received:" in str(e)


def test_wrong_width(tmp_path, onnx_path):
    e = _bad(tmp_path, onnx_path, "w.npy", lambda p: np.save(p, np.ones((5, 4), np.float32)),
             DataError, r"shape \(N, 6\)")
    assert e.received == "array of shape (5, 4) float32" and "feature width, 6" in e.hint
    _bad(tmp_path, onnx_path, "w.csv", lambda p: p.write_text("a,b\n1,2\n"), DataError,
         r"shape \(N, 6\)")


@pytest.mark.parametrize("arr", [np.array([["a"] * 6]), np.ones((2, 6), np.complex64)],
                         ids=["strings", "complex"])
def test_wrong_dtype(tmp_path, onnx_path, arr):
    _bad(tmp_path, onnx_path, "d.npy", lambda p: np.save(p, arr), DataError, "not numeric")
    _bad(tmp_path, onnx_path, "d.npz", lambda p: np.savez_compressed(p, x=arr), DataError,
         "not numeric")


def test_unreadable_files(tmp_path, onnx_path):
    _bad(tmp_path, onnx_path, "obj.npy", lambda p: np.save(p, np.array([{}, 1]),
                                                           allow_pickle=True),
         DataError, "cannot read")
    _bad(tmp_path, onnx_path, "junk.npy", lambda p: p.write_bytes(b"not an array"),
         DataError, "cannot read")
    _bad(tmp_path, onnx_path, "junk.npz", lambda p: p.write_bytes(b"PK not a zip"),
         DataError, "cannot read")
    _bad(tmp_path, onnx_path, "two.npz", lambda p: np.savez(p, a=1, b=2), DataError,
         "none is named 'x'")
    _bad(tmp_path, onnx_path, "x.txt", lambda p: p.write_text("1"), UsageError, ".npy, .npz")
    _bad(tmp_path, onnx_path, "empty.npy", lambda p: np.save(p, np.ones((0, 6), np.float32)),
         DataError, "no rows")


def test_truncated_npz_member(tmp_path, onnx_path, x):
    np.savez_compressed(tmp_path / "full.npz", x=np.tile(x, (50, 1)))
    with zipfile.ZipFile(tmp_path / "full.npz") as z:
        npy = z.read("x.npy")
    with zipfile.ZipFile(tmp_path / "cut.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", npy[:len(npy) // 2])  # header says 1850 rows; half the bytes
    # Refused up front: the header's shape is checked against the member's size.
    _bad(tmp_path, onnx_path, "cut.npz", None, DataError, "declares shape .* but it holds only")


@pytest.mark.parametrize("text, match", [
    ("", "header row"),
    ("a,b,c,d,e,f\n", "at least one data row"),
    ("a,b,c,d,e,f\n1,2,3,4,5,6\n1,2,3\n", "row 2 has 3 cells"),
    ("a,b,c,d,e,f\n1,2,3,4,5,6\n1,2,x,4,5,6\n", "row 2, column 'c' is not a number"),
])
def test_bad_csv(tmp_path, onnx_path, text, match):
    _bad(tmp_path, onnx_path, "x.csv", lambda p: p.write_text(text), DataError, match,
         batch_size=1)


def test_bad_arguments(tmp_path, onnx_path, x):
    np.save(tmp_path / "x.npy", x)
    for kw, match in (({"batch_size": 0}, "batch_size"), ({"threads": -1}, "threads"),
                      ({"provider": "tpu"}, "cpu, cuda or auto")):
        with pytest.raises(UsageError, match=match):
            predict_file(onnx_path, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), **kw)
    with pytest.raises(UsageError, match=".npy or .csv"):
        predict_file(onnx_path, str(tmp_path / "x.npy"), str(tmp_path / "y.parquet"))


def test_failed_run_keeps_the_previous_output(tmp_path, onnx_path, x):
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "y.npy").write_bytes(b"previous")
    np.save(tmp_path / "bad.npy", np.ones((3, 5), np.float32))
    with pytest.raises(DataError):
        predict_file(onnx_path, str(tmp_path / "bad.npy"), str(tmp_path / "y.npy"))
    assert (tmp_path / "y.npy").read_bytes() == b"previous"


# ---- bounded memory ----

CHILD = textwrap.dedent("""
    import json, sys
    from seqc.runtime.predict import predict_file

    def kb(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])

    model, x, out = sys.argv[1:4]
    base = kb("VmRSS")
    n = predict_file(model, x, out, batch_size=4096)
    print(json.dumps({"rows": n, "growth_mb": (kb("VmHWM") - base) / 1024}))
""")


def _write_big(f, rows, features):
    """A float32 .npy written in slices, so this process stays small too."""
    rng = np.random.default_rng(0)
    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                             "shape": (rows, features)})
    for i in range(0, rows, 2**16):
        f.write(rng.standard_normal((min(2**16, rows - i), features), np.float32).data)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_300mb_input_streams_with_bounded_memory(tmp_path, kind):
    if shutil.disk_usage(tmp_path).free < 2 * 2**30:
        pytest.skip("needs 2 GB free in the temporary folder")
    features, rows = 64, 300 * 2**20 // (64 * 4)  # 300 MB of float32
    path = export_model(mlp(features=features, classes=4), tmp_path / "m.onnx")
    xpath = tmp_path / f"big.{kind}"
    if kind == "npy":
        with open(xpath, "wb") as f:
            _write_big(f, rows, features)
    else:  # as np.savez writes it: a stored (uncompressed) zip64 member
        with zipfile.ZipFile(xpath, "w", zipfile.ZIP_STORED) as z, \
                z.open("x.npy", "w", force_zip64=True) as f:
            _write_big(f, rows, features)
    # Warm the module imports (and their peak) before the baseline inside the child.
    script = "import onnxruntime, onnx, seqc.export\n" + CHILD
    r = subprocess.run([sys.executable, "-c", script, path, str(xpath),
                        str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["rows"] == rows
    assert got["growth_mb"] < 150, got  # the file is 300 MB
    y = np.load(tmp_path / "y.npy", mmap_mode="r")
    assert y.shape == (rows, 4)
    sample = np.asarray(read_inputs(str(xpath))[-5:])
    np.testing.assert_allclose(y[-5:], in_memory(path, sample), atol=1e-6)
