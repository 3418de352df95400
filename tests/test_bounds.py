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


def test_time_limit_is_checked():
    refused(run("predict", "m.onnx", "x.npy", "-o", "y.npy", "--time-limit", "-1"),
            "--time-limit must be a number of seconds")


def test_reference_evaluator_skips_a_loop_it_could_not_stop(tmp_path):
    from seqc.runtime.runners import RUNTIMES, resolve

    src = resolve(loop_model(None))
    assert "only known at run time" in RUNTIMES["onnx-reference"].cannot_run(src)
    assert RUNTIMES["onnx-reference"].cannot_run(resolve(loop_model(3))) is None


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
