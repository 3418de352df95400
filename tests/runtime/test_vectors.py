"""Test vectors embedded in an ONNX model: inline or sidecar, tamper detection, layouts, token
ids, onnxruntime re-check (catches a changed weight) and the NumPy check on load."""

from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import seqc
from seqc.errors import DataError, UsageError, ValidationFailure
from seqc.export import export_model
from seqc.fileio import atomic_write
from seqc.ir.serialize import dumps, params_to_npz_bytes
from seqc.runtime.vector_checks import (
    check_build_folder,
    check_loaded,
    check_on_load,
    check_vectors,
)
from seqc.runtime.vectors import (
    KEY,
    embed_from_model,
    embed_vectors,
    pick_rows,
    read_vectors,
    sidecar_path,
)

L = seqc.layers
TOL = {"atol": 1e-5, "rtol": 1e-4}


def mlp():
    return seqc.Sequential([L.Input((6,)), L.Dense(8, activation="relu"),
                            L.Dense(3, activation="softmax")], seed=0)


def convnet(flatten=True):
    layers = [L.Input((6, 6, 2)), L.Conv2D(3, 3, padding="same", activation="relu")]
    if flatten:
        layers += [L.Flatten(), L.Dense(2)]
    return seqc.Sequential(layers, seed=1)


def exported(model, tmp_path, **kw):
    return export_model(model, str(tmp_path / "model.onnx"), **kw)


def rows(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def meta(path):
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def set_meta(path, key, value):
    m = onnx.load(path)
    for p in m.metadata_props:
        if p.key == key:
            p.value = value
    atomic_write(path, m.SerializeToString())


# ---- embedding and reading ----

def test_inline_round_trip(tmp_path):
    model = mlp()
    path = exported(model, tmp_path)
    x = rows((8, 6))
    y = model.predict(x)
    info = embed_vectors(path, x, y, **TOL)
    assert info["stored"] == "inline" and info["rows"] == 8 and info["file"] is None
    assert not os.path.exists(sidecar_path(path))
    doc = json.loads(meta(path)[KEY])
    assert doc["format"] == 1 and doc["atol"] == 1e-5 and doc["rtol"] == 1e-4
    assert doc["input"] == {"dtype": "float32", "shape": [8, 6], "layout": "channels_last"}
    # Plain arrays only: readable without pickle, exactly x and y.
    with np.load(io.BytesIO(base64.b64decode(doc["npz_base64"])), allow_pickle=False) as z:
        assert sorted(z.files) == ["x", "y"]
        np.testing.assert_array_equal(z["x"], x)
    v = read_vectors(path)
    assert v.source == "inline" and v.rows == 8 and (v.atol, v.rtol) == (1e-5, 1e-4)
    np.testing.assert_array_equal(v.x, x)
    np.testing.assert_array_equal(v.y, y)
    # The rest of the model is untouched: same graph, other metadata kept.
    assert meta(path)["seqc.input_layout"] == "channels_last"
    assert check_vectors(path).ok


def test_sidecar_round_trip_and_reembed_inline_removes_it(tmp_path):
    model = mlp()
    path = exported(model, tmp_path)
    x = rows((8, 6))
    info = embed_vectors(path, x, model.predict(x), max_inline_bytes=64, **TOL)
    side = sidecar_path(path)
    assert info["stored"] == "sidecar" and info["file"] == "model.onnx.vectors.npz"
    assert os.path.isfile(side) and info["bytes"] == os.path.getsize(side)
    doc = json.loads(meta(path)[KEY])
    assert "npz_base64" not in doc and doc["sidecar"]["file"] == "model.onnx.vectors.npz"
    with np.load(side, allow_pickle=False) as z:
        assert sorted(z.files) == ["x", "y"]
    v = read_vectors(path)
    assert v.source == "sidecar" and v.file == side
    np.testing.assert_array_equal(v.x, x)
    c = check_vectors(path)
    assert c.ok and c.source == "sidecar" and c.rows == 8
    # A ModelProto has no folder: say so, and accept one.
    with pytest.raises(UsageError, match="sidecar"):
        read_vectors(onnx.load(path))
    assert read_vectors(onnx.load(path), folder=str(tmp_path)).source == "sidecar"
    # Re-embedding replaces the metadata entry (one entry) and drops the stale sidecar.
    embed_vectors(path, x[:2], model.predict(x[:2]), **TOL)
    assert not os.path.exists(side)
    assert [p.key for p in onnx.load(path).metadata_props].count(KEY) == 1
    assert read_vectors(path).rows == 2


def test_model_without_vectors(tmp_path):
    path = exported(mlp(), tmp_path)
    assert read_vectors(path) is None
    with pytest.raises(UsageError, match="no test vectors") as e:
        check_vectors(path)
    assert "--inputs" in str(e.value)


def test_pick_rows_spreads_over_the_data():
    x = np.arange(100)[:, None]
    assert pick_rows(x, 5)[:, 0].tolist() == [0, 25, 50, 74, 99]
    assert len(pick_rows(x[:3], 8)) == 3


def test_bad_arguments(tmp_path):
    model = mlp()
    path = exported(model, tmp_path)
    x = rows((4, 6))
    with pytest.raises(DataError, match="output shape") as e:
        embed_vectors(path, x, np.zeros((4, 5), np.float32), **TOL)
    assert "Received: array of shape (4, 5)" in str(e.value)
    with pytest.raises(DataError, match="one row per input"):
        embed_vectors(path, x, model.predict(x)[:3], **TOL)
    with pytest.raises(DataError, match=r"\(N, 6\)"):
        embed_vectors(path, rows((4, 5)), model.predict(x), **TOL)
    with pytest.raises(UsageError, match="atol"):
        embed_vectors(path, x, model.predict(x), atol=-1, rtol=0)
    with pytest.raises(UsageError, match="not found"):
        embed_vectors(str(tmp_path / "nope.onnx"), x, model.predict(x), **TOL)
    assert KEY not in meta(path)  # nothing was written by the failed calls


# ---- tampering ----

def test_tampered_or_missing_sidecar_names_the_file(tmp_path):
    model = mlp()
    path = exported(model, tmp_path)
    x = rows((8, 6))
    embed_vectors(path, x, model.predict(x), max_inline_bytes=0, **TOL)
    side = sidecar_path(path)
    with open(side, "rb") as f:
        good = f.read()
    # A valid .npz with other expected outputs: only the recorded hash can tell.
    with open(side, "wb") as f:
        np.savez(f, x=x, y=model.predict(x) * 2)
    with pytest.raises(DataError, match="sha256 mismatch") as e:
        read_vectors(path)
    assert side in str(e.value) and "model.onnx.vectors.npz" in e.value.message
    data = bytearray(good)
    data[len(data) // 2] ^= 0xFF
    with open(side, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(DataError, match="sha256 mismatch"):
        read_vectors(path)
    with pytest.raises(DataError):
        check_vectors(path)
    os.unlink(side)
    with pytest.raises(DataError, match="missing: model.onnx.vectors.npz") as e:
        read_vectors(path)
    assert e.value.file == side


def test_edited_metadata_is_caught(tmp_path):
    model = mlp()
    path = exported(model, tmp_path)
    x = rows((8, 6))
    embed_vectors(path, x, model.predict(x), **TOL)
    good = meta(path)[KEY]
    doc = json.loads(good)

    loosened = dict(doc, atol=1.0)  # a looser tolerance must not pass silently
    set_meta(path, KEY, json.dumps(loosened))
    with pytest.raises(DataError, match="recorded sha256"):
        read_vectors(path)

    # Other expected outputs, validly encoded: the arrays no longer match the hash.
    buf = io.BytesIO()
    np.savez(buf, x=x, y=model.predict(x) + 1)
    set_meta(path, KEY, json.dumps(dict(doc, npz_base64=base64.b64encode(
        buf.getvalue()).decode())))
    with pytest.raises(DataError, match="recorded sha256"):
        read_vectors(path)

    set_meta(path, KEY, json.dumps(dict(doc, npz_base64="not base64!")))
    with pytest.raises(DataError, match="not base64"):
        read_vectors(path)
    set_meta(path, KEY, "{not json")
    with pytest.raises(DataError, match="not JSON"):
        read_vectors(path)
    set_meta(path, KEY, json.dumps(dict(doc, format=99)))
    with pytest.raises(DataError, match="unknown format"):
        read_vectors(path)
    set_meta(path, KEY, good)
    assert read_vectors(path).rows == 8


def test_pickled_arrays_are_refused(tmp_path):
    path = exported(mlp(), tmp_path)
    embed_vectors(path, rows((2, 6)), np.zeros((2, 3), np.float32), **TOL)
    doc = json.loads(meta(path)[KEY])
    buf = io.BytesIO()
    np.savez(buf, x=np.array([{"a": 1}], dtype=object), y=np.zeros((1, 3), np.float32))
    set_meta(path, KEY, json.dumps(dict(doc, npz_base64=base64.b64encode(
        buf.getvalue()).decode())))
    with pytest.raises(DataError, match="cannot be read"):
        read_vectors(path)


# ---- layouts and dtypes ----

def test_channels_first_model_stores_its_own_layout(tmp_path):
    model = convnet()
    path = exported(model, tmp_path, input_layout="channels_first")
    x = rows((5, 6, 6, 2))
    info = embed_from_model(model, path, x, rows=4, **TOL)
    assert info["rows"] == 4
    v = read_vectors(path)
    assert v.x.shape == (4, 2, 6, 6) and v.input_layout == "channels_first"
    np.testing.assert_array_equal(v.x, np.moveaxis(pick_rows(x, 4), -1, 1))
    c = check_vectors(path)  # onnxruntime takes the stored (N, C, H, W) rows as they are
    assert c.ok and c.max_abs_error < 1e-5
    assert check_on_load(model, v).ok  # and the NumPy check moves them back


def test_channels_first_spatial_output(tmp_path):
    model = convnet(flatten=False)
    path = exported(model, tmp_path, input_layout="channels_first")
    x = rows((3, 6, 6, 2))
    embed_vectors(path, x, model.predict(x), **TOL)  # both given in seqc's layout
    v = read_vectors(path)
    assert v.output_layout == "channels_first" and v.y.shape == (3, 3, 6, 6)
    xi, yi = v.ir_arrays()
    np.testing.assert_array_equal(xi, x)
    np.testing.assert_allclose(yi, model.predict(x), rtol=1e-6)
    assert check_vectors(path).ok and check_on_load(model, v).ok


def test_token_ids(tmp_path):
    model = seqc.Sequential([L.Input((5,), dtype="int32"), L.Embedding(10, 4),
                             L.Flatten(), L.Dense(2)], seed=0)
    path = exported(model, tmp_path)
    ids = np.random.default_rng(0).integers(0, 10, (6, 5))  # int64: stored as the model's int32
    embed_from_model(model, path, ids, **TOL)
    v = read_vectors(path)
    assert v.x.dtype == np.int32 and v.rows == 6
    np.testing.assert_array_equal(v.x, ids)
    assert check_vectors(path).ok and check_on_load(model, v).ok
    with pytest.raises(DataError, match="token ids"):
        embed_vectors(path, ids + 0.5, np.zeros((6, 2), np.float32), **TOL)


# ---- catching a changed model ----

def test_changed_weight_in_the_onnx_file_fails_the_check(tmp_path):
    model = mlp()
    path = exported(model, tmp_path)
    embed_from_model(model, path, rows((16, 6)), **TOL)
    assert check_vectors(path).ok
    m = onnx.load(path)
    init = max(m.graph.initializer, key=lambda t: numpy_helper.to_array(t).size)
    w = numpy_helper.to_array(init).copy()
    w.flat[0] += 0.5
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    atomic_write(path, m.SerializeToString())
    c = check_vectors(path)
    assert not c.ok and c.rows == 8 and c.max_abs_error > 1e-3
    assert "FAILED" in c.summary() and f"{c.max_abs_error:.3g}" in c.summary()
    assert check_vectors(path, atol=1.0, rtol=0.0).ok  # an explicit tolerance overrides
    assert c.to_json()["ok"] is False


def write_build_dir(model, folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.ir.json"), "w") as f:
        f.write(dumps(model.graph))
    with open(os.path.join(folder, "weights.npz"), "wb") as f:
        f.write(params_to_npz_bytes(model.params))
    path = export_model(model, os.path.join(folder, "model.onnx"))
    embed_from_model(model, path, rows((8, 6)), **TOL)
    return str(folder)


def test_check_on_load_of_a_build_folder(tmp_path):
    model = mlp()
    folder = write_build_dir(model, tmp_path / "build")
    loaded = seqc.load(folder)
    assert check_loaded(loaded, folder).ok
    # A model.onnx carries its vectors too (seqc.load("model.onnx", check=True)); other files
    # do not.
    assert check_loaded(loaded, os.path.join(folder, "model.onnx")).ok
    with pytest.raises(UsageError, match="needs a build folder"):
        check_loaded(loaded, os.path.join(folder, "weights.npz"))
    # Weights changed after the build: the NumPy forward disagrees with the stored outputs.
    params = dict(model.params)
    key = next(k for k in params if params[k].ndim == 2)
    params[key] = params[key] + 0.1
    with open(os.path.join(folder, "weights.npz"), "wb") as f:
        f.write(params_to_npz_bytes(params))
    with pytest.raises(ValidationFailure, match="disagrees with its stored test vectors") as e:
        check_build_folder(seqc.load(folder), folder)
    assert "max abs err" in str(e.value) and e.value.exit_code == 1
    # Vectors from another model's ONNX file do not fit this one.
    other = seqc.Sequential([L.Input((4,)), L.Dense(3)], seed=0)
    with pytest.raises(ValidationFailure, match="do not fit"):
        check_on_load(other, read_vectors(os.path.join(folder, "model.onnx")))


def test_check_on_load_needs_vectors(tmp_path):
    model = mlp()
    folder = tmp_path / "b"
    folder.mkdir()
    with pytest.raises(UsageError, match="model.onnx"):
        check_build_folder(model, folder)
    exported(model, folder)
    with pytest.raises(UsageError, match="no test vectors"):
        check_build_folder(model, folder)
