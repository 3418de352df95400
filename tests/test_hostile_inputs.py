"""Damaged and hostile inputs end in a clear exit 2 (or exit 1 for a disagreement) that names
the file, never seqc's internal-error exit 70 or a traceback (issue 16)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import refused, run


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("built")
    (d / "s.json").write_text(json.dumps(
        {"input_shape": [3], "layers": [{"type": "Dense", "units": 2}]}))
    r = run("build", d / "s.json", "--no-train", "-q", "-o", d / "b")
    assert r.exit_code == 0, r.output
    np.save(d / "x.npy", np.ones((2, 3), np.float32))
    return d


def _truncated(src: bytes, d: Path) -> bytes:
    return src[: len(src) // 2]


def _random(src: bytes, d: Path) -> bytes:
    return np.random.default_rng(0).bytes(300)


def _empty(src: bytes, d: Path) -> bytes:
    return b""


def _flipped(src: bytes, d: Path) -> bytes:
    # Every byte of the serialized graph's first node flipped: protobuf or the checker fails.
    import onnx

    node = onnx.load_from_string(src).graph.node[0].SerializeToString()
    at = src.index(node)
    return src[:at] + bytes(b ^ 0xFF for b in src[at:at + len(node)]) + src[at + len(node):]


def _renamed_input(src: bytes, d: Path) -> bytes:
    import onnx

    m = onnx.load_from_string(src)
    m.graph.node[0].input[0] = "nosuch"
    return m.SerializeToString()


def _unknown_op(src: bytes, d: Path) -> bytes:
    # onnx.checker lets a custom-domain op through; onnxruntime's session creation refuses it.
    import onnx

    m = onnx.load_from_string(src)
    m.graph.node[0].op_type, m.graph.node[0].domain = "NoSuchOp", "x.hostile"
    m.opset_import.append(onnx.helper.make_opsetid("x.hostile", 1))
    return m.SerializeToString()


MUTATIONS = [_truncated, _random, _empty, _flipped, _renamed_input, _unknown_op]


@pytest.mark.parametrize("command", ["predict", "validate", "bench"])
@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda f: f.__name__.strip("_"))
def test_damaged_onnx_is_exit_2_naming_the_file(built, tmp_path, command, mutate):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(mutate((built / "b" / "model.onnx").read_bytes(), tmp_path))
    extra = {"predict": [built / "x.npy", "-o", tmp_path / "y.npy"],
             "bench": ["--batch-sizes", "1"]}.get(command, [])
    out = refused(run(command, bad, *extra), str(bad), "not a valid ONNX model")
    assert not (tmp_path / "y.npy").exists(), out


def test_build_disagreement_is_exit_1_and_keeps_the_good_build(built, tmp_path, monkeypatch):
    from seqc.runtime import RUNTIMES

    out = tmp_path / "out"
    assert run("build", built / "s.json", "--no-train", "-q", "-o", out).exit_code == 0
    good = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    ort = RUNTIMES["onnxruntime"]
    load = ort.load

    def off_by_one(src, **options):
        predict = load(src, **options)
        return lambda x: predict(x) + 1.0

    monkeypatch.setattr(ort, "load", off_by_one)
    r = run("build", built / "s.json", "--no-train", "-q", "-o", out)
    refused(r, "disagrees with the NumPy model", "onnxruntime max abs err",
            str(built / "s.json"), code=1)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == good
    assert (out / "rejected" / "model.onnx").exists()


@pytest.mark.parametrize("layer, field", [
    ({"type": "Rescaling", "scale": 1e300}, "scale"),
    ({"type": "Rescaling", "scale": [1.0, -1e39]}, "scale"),
    ({"type": "Rescaling", "scale": 1.0, "offset": 10 ** 350}, "offset"),
    ({"type": "Dropout", "rate": float("inf")}, "rate"),
    ({"type": "LeakyReLU", "negative_slope": float("nan")}, "negative_slope"),
])
def test_float_attributes_outside_float32_are_refused(tmp_path, layer, field):
    spec = tmp_path / "m.json"
    spec.write_text(json.dumps({"input_shape": [2], "layers": [layer]}))  # NaN/Infinity literals
    refused(run("build", spec, "--no-train", "-q", "-o", tmp_path / "o"), str(spec),
            f"'{field}' must be", "float32's range", f"({layer['type']})")
    assert not (tmp_path / "o" / "model.onnx").exists()


DEEP = 5000
SPEC_HEAD = '{"input_shape": [2], "layers": [{"type": "Dense", "units": 1, "name": '
KERAS_HEAD = ('{"class_name": "Sequential", "config": {"name": "s", "layers": '
              '[{"class_name": "Dense", "config": {"units": 1, "name": ')


@pytest.mark.parametrize("command", ["build", "summary"])
@pytest.mark.parametrize("text, words", [
    (SPEC_HEAD + "[" * DEEP + "]" * DEEP + "}]}", ["nested 5003 levels deep", "at most 100"]),
    (SPEC_HEAD + "[" * 150 + "]" * 150 + "}]}", ["nested 153 levels deep"]),
    (KERAS_HEAD + "{\"a\": " * DEEP + "1" + "}" * DEEP + "}}]}}", ["levels deep"]),
    ('{"input_shape": [2],\n "layers": [{"type": "Dense", "units": ' + "9" * 5000 + "}]}",
     ["'units' at line 2 has 5000 digits"]),
    (" \n", ["the file is empty", '"layers"']),
    ("[[1.0, 2.0], [3.0, 4.0]]", ["a model file is a JSON object", "looks like data",
                                  '"input_shape"']),
], ids=["deep-spec", "deep-150", "deep-keras-json", "5000-digit-int", "empty", "list"])
def test_hostile_json_is_exit_2_naming_the_file(tmp_path, command, text, words):
    spec = tmp_path / "m.json"
    spec.write_text(text)
    extra = ["--no-train", "-q", "-o", tmp_path / "o"] if command == "build" else []
    refused(run(command, spec, *extra), str(spec), *words)


def test_output_path_blocked_by_a_file_is_exit_2(built, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    for args in (["build", built / "s.json", "--no-train", "-q", "-o", blocker],
                 ["convert", built / "s.json", "-o", blocker / "m.onnx"],
                 ["predict", built / "b", built / "x.npy", "-o", blocker / "y.npy"]):
        refused(run(*args), str(blocker), "a file is in the way")
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("code, words", [
    (errno.EROFS, ["read-only"]), (errno.EACCES, ["no permission"]),
    (errno.ENOSPC, ["disk is full"])])
def test_unwritable_output_folder_is_exit_2(built, tmp_path, monkeypatch, code, words):
    # Simulated: the tests may run as root, whom a read-only folder does not stop.
    import tempfile

    out = tmp_path / "out"

    def refuse(*args, dir=None, **kwargs):
        raise OSError(code, os.strerror(code), None if code == errno.ENOSPC else str(dir))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    refused(run("build", built / "s.json", "--no-train", "-q", "-o", out), *words,
            *([] if code == errno.ENOSPC else [str(out)]))
    assert not (out / "model.onnx").exists()


def test_an_unsorted_but_valid_onnx_still_runs(built, tmp_path):
    # onnx.checker wants nodes topologically sorted, onnxruntime does not (seqc's own float16
    # variant has its Casts last): such a model is not refused.
    import onnx

    m = onnx.load(built / "b" / "model.onnx")
    out = m.graph.output[0]
    m.graph.node.insert(0, onnx.helper.make_node("Identity", [out.name], ["y_copy"]))
    out.name = "y_copy"
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(m)
    path = tmp_path / "unsorted.onnx"
    onnx.save(m, path)
    r = run("predict", path, built / "x.npy", "-o", tmp_path / "y.npy")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "y.npy").shape == (2, 2)


@pytest.mark.parametrize("field, value", [
    ("kernel_initializer", 1), ("bias_initializer", True), ("kernel_initializer", None),
    ("kernel_initializer", {"class_name": "GlorotUniform", "config": 1}),
    ("bias_initializer", {"class_name": "Zeros", "config": [1, 2]}),
    ("kernel_initializer", {"class_name": "VarianceScaling",
                            "config": {"scale": "big", "mode": "fan_in"}}),
])
def test_wrong_typed_keras_initializer_is_exit_2(tmp_path, field, value):
    layer = {"class_name": "Dense", "config": {"name": "d", "units": 2, field: value}}
    doc = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 3], "name": "in"}},
        layer]}}
    spec = tmp_path / "k.json"
    spec.write_text(json.dumps(doc))
    refused(run("summary", spec), str(spec), "'d' (Dense)", field)


def test_a_closed_pipe_ends_quietly_not_as_an_internal_error():
    """`seqc ops | head`: the reader leaves; seqc exits as a process ended by SIGPIPE, with no
    'internal error' line."""
    import subprocess
    import sys

    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "seqc", "ops"], stdout=w,
                           stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(w)
    assert p.returncode == 141
    assert b"internal error" not in p.stderr and b"Traceback" not in p.stderr
