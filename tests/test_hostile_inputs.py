"""Damaged and hostile inputs end in a clear exit 2 (or exit 1 for a disagreement) that names
the file, never seqc's internal-error exit 70 or a traceback (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqc.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(r, *words: str, code: int = 2) -> str:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    for w in words:
        assert w in r.output, r.output
    return r.output


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
