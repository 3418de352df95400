"""Export: Dense MLPs to ONNX, checked, run in onnxruntime and the reference evaluator."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx.reference import ReferenceEvaluator

import seqc
from seqc.errors import ExportError, UsageError
from seqc.export import (
    export_model,
    ir_version_for,
    onnx_export,
    opsets,
    runtime_limits,
    supported_opsets,
    to_onnx,
)
from seqc.ir.build import LayerConfig
from seqc.ops.base import REGISTRY, OpDef, RunContext, register
from seqc.training.executor import forward

L = seqc.layers


def mlp(features=(30,), seed=0):
    return seqc.Sequential([L.Input(features), L.Dense(16, activation="relu"),
                            L.Dense(8, activation="tanh"), L.Dense(3, activation="softmax")],
                           seed=seed)


def numpy_forward(model, x):
    return forward(model.graph, model.params, x, RunContext(training=False, need_grad=False))[0]


def ort_run(proto, x):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def op_types(proto):
    return [n.op_type for n in proto.graph.node]


@pytest.mark.parametrize("batch", [1, 33])
def test_mlp_matches_numpy_in_onnxruntime_and_reference(batch):
    model = mlp()
    proto = to_onnx(model.graph, model.params)
    onnx.checker.check_model(proto, full_check=True)
    x = np.random.default_rng(batch).standard_normal((batch, 30)).astype(np.float32)
    want = numpy_forward(model, x)
    got_ort = ort_run(proto, x)
    got_ref = ReferenceEvaluator(proto).run(None, {"input": x})[0]
    assert got_ort.shape == got_ref.shape == (batch, 3)
    np.testing.assert_allclose(got_ort, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got_ref, want, atol=1e-5, rtol=0)


def test_rank2_dense_is_gemm_and_rank3_is_matmul_add():
    m2 = seqc.Sequential([L.Input((4,)), L.Dense(3)])
    assert op_types(to_onnx(m2.graph, m2.params)) == ["Gemm"]
    m3 = seqc.Sequential([L.Input((5, 4)), L.Dense(3)])
    p3 = to_onnx(m3.graph, m3.params)
    assert op_types(p3) == ["MatMul", "Add"]
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(ort_run(p3, x), numpy_forward(m3, x), atol=1e-5)
    m_nb = seqc.Sequential([L.Input((5, 4)), L.Dense(3, use_bias=False)])
    assert op_types(to_onnx(m_nb.graph, m_nb.params)) == ["MatMul"]


def test_batch_and_unknown_dims_are_dynamic():
    model = seqc.Sequential([L.Input((None, 4)), L.Dense(2)])
    proto = to_onnx(model.graph, model.params)
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert (inp.name, out.name) == ("input", "output")
    in_dims = inp.type.tensor_type.shape.dim
    assert in_dims[0].dim_param == "N" and in_dims[1].dim_param and in_dims[2].dim_value == 4
    assert out.type.tensor_type.shape.dim[0].dim_param == "N"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    for shape in [(1, 3, 4), (7, 5, 4)]:
        x = np.ones(shape, np.float32)
        assert ort_run(proto, x).shape == (*shape[:2], 2)


def test_readable_names_and_shared_constants():
    model = seqc.Sequential([
        L.Input((4,)),
        L.Dense(3, activation={"type": "relu", "threshold": 0.5}, name="fc1"),
        L.Dense(3, activation={"type": "relu", "threshold": 0.5}, name="fc2")])
    proto = to_onnx(model.graph, model.params)
    inits = [i.name for i in proto.graph.initializer]
    assert {"fc1/kernel", "fc1/bias", "fc2/kernel", "fc2/bias"} <= set(inits)
    assert len(inits) == len(set(inits))
    # The 0.5 threshold appears once, shared by both ReLUs.
    halves = [i for i in proto.graph.initializer
              if i.dims == [] and onnx.numpy_helper.to_array(i) == np.float32(0.5)]
    assert len(halves) == 1
    produced = {o for n in proto.graph.node for o in n.output}
    assert {"fc1", "fc1/activation", "fc2", "output"} <= produced
    names = [n.name for n in proto.graph.node]
    assert len(names) == len(set(names)) and all(names)
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(ort_run(proto, x), numpy_forward(model, x), atol=1e-5)


def test_pass_through_last_layer_names_the_producer_output():
    """A last layer that emits nothing (linear activation) leaves the Gemm's result as the
    graph output; only a model that emits no node at all needs an Identity."""
    model = seqc.Sequential([L.Input((4,)), L.Dense(3), L.Activation("linear")])
    proto = to_onnx(model.graph, model.params)
    assert op_types(proto) == ["Gemm"]
    assert proto.graph.node[0].output[0] == "output"
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(ort_run(proto, x), numpy_forward(model, x), atol=1e-6)
    only = seqc.Sequential([L.Input((4,)), L.Activation("linear")])
    p = to_onnx(only.graph, only.params)
    assert op_types(p) == ["Identity"]
    np.testing.assert_array_equal(ort_run(p, x), x)


def test_layer_named_output_in_the_middle_does_not_steal_the_graph_output():
    model = seqc.Sequential([L.Input((4,)), L.Dense(3, name="output"), L.Dense(2)])
    proto = to_onnx(model.graph, model.params)
    assert [o.name for o in proto.graph.output] == ["output"]
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(ort_run(proto, x), numpy_forward(model, x), atol=1e-5)


# ---- opsets and IR versions ----

def test_opset_range_bounds():
    lo, hi = supported_opsets().start, supported_opsets().stop - 1
    assert lo == 13 and hi >= 17
    assert hi <= onnx.defs.onnx_opset_version()
    model = mlp()
    x = np.random.default_rng(0).standard_normal((4, 30)).astype(np.float32)
    want = numpy_forward(model, x)
    for opset in (13, hi):
        proto = to_onnx(model.graph, model.params, opset=opset)
        assert proto.opset_import[0].version == opset
        np.testing.assert_allclose(ort_run(proto, x), want, atol=1e-5)
    for bad in (12, hi + 1, "17", 17.0, True):
        with pytest.raises(UsageError) as e:
            to_onnx(model.graph, model.params, opset=bad)
        assert e.value.field == "opset" and "Received:" in str(e.value)
        assert f"13..{hi}" in e.value.hint


def test_ir_version_is_loadable_and_matches_opset():
    max_ir, _ = runtime_limits()
    assert ir_version_for(17) == 8  # the IR version onnx 1.12 shipped with opset 17
    assert ir_version_for(13) == 7
    for opset in supported_opsets():
        assert ir_version_for(opset) <= max_ir
    model = mlp()
    proto = to_onnx(model.graph, model.params, opset=supported_opsets().stop - 1)
    assert proto.ir_version <= max_ir
    ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def test_default_make_model_versions_are_refused_by_onnxruntime():
    # Why the IR version is pinned: onnx's own newest IR is past what onnxruntime reads.
    max_ir, _ = runtime_limits()
    if max_ir >= onnx.IR_VERSION:
        pytest.skip("this onnxruntime reads onnx's newest IR version")
    assert not opsets._loads(13, onnx.IR_VERSION)


# ---- metadata ----

def test_metadata_props(tmp_path):
    model = mlp()
    model.history = SimpleNamespace(history={"loss": [0.9, 0.4], "accuracy": [0.5, 0.75]})
    model.class_names = ["a", "b", "c"]
    model.metadata = {"author": "tests"}
    path = export_model(model, tmp_path / "m.onnx", metadata={"seqc.source_hash": "abc123"})
    proto = onnx.load(path)
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["seqc.version"] == seqc.__version__
    assert props["seqc.source_hash"] == "abc123"
    assert props["seqc.input_layout"] == "channels_last"
    assert json.loads(props["seqc.metrics"]) == {"loss": 0.4, "accuracy": 0.75}
    assert json.loads(props["seqc.class_names"]) == ["a", "b", "c"]
    assert props["author"] == "tests"
    assert proto.producer_name == "seqc" and proto.producer_version == seqc.__version__


def test_model_export_method(tmp_path):
    model = mlp()
    path = model.export(str(tmp_path / "model.onnx"), opset=13)
    assert onnx.load(path).opset_import[0].version == 13


# ---- atomic writes ----

def _boom(*a, **k):
    raise OSError("disk full (simulated)")


@pytest.mark.parametrize("where", ["to_onnx", "replace"])
def test_failed_export_leaves_previous_file_untouched(tmp_path, monkeypatch, where):
    path = tmp_path / "model.onnx"
    export_model(mlp(seed=0), path)
    before = path.read_bytes()
    if where == "to_onnx":  # fails before anything is written
        monkeypatch.setattr(onnx_export, "to_onnx", _boom)
    else:
        # Fails after the temp file is written: it must be removed.
        monkeypatch.setattr(onnx_export.os, "replace", _boom)
    with pytest.raises(OSError, match="simulated"):
        export_model(mlp(seed=1), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_export_overwrites_on_success(tmp_path):
    path = tmp_path / "model.onnx"
    export_model(mlp(seed=0), path)
    before = path.read_bytes()
    export_model(mlp(seed=1), path)
    assert path.read_bytes() != before
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_export_to_missing_folder_is_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        export_model(mlp(), tmp_path / "nope" / "m.onnx")


# ---- every unlowerable node reported at once ----

@dataclass(frozen=True)
class _NoAttrs:
    pass


@pytest.fixture
def throwaway_kinds():
    class TestNoLowering(OpDef):
        kind = "TestNoLowering"
        Attrs = _NoAttrs

        def infer(self, a, in_types):
            return list(in_types)

        def forward(self, a, params, xs, ctx):
            return list(xs), None

    class TestNeedsOpset99(TestNoLowering):
        kind = "TestNeedsOpset99"

        def lower(self, a, params, xs, em):
            raise ExportError("needs opset 99", field="opset", hint="use an opset >= 99")

    register(TestNoLowering)
    register(TestNeedsOpset99)
    try:
        yield
    finally:
        REGISTRY.pop("TestNoLowering", None)
        REGISTRY.pop("TestNeedsOpset99", None)


def test_export_error_lists_every_unlowerable_node(throwaway_kinds, tmp_path):
    model = seqc.Sequential([
        L.Input((4,)), LayerConfig("TestNoLowering", {}, name="odd1"), L.Dense(3),
        LayerConfig("TestNeedsOpset99", {}, name="odd2"), L.Dense(2),
        LayerConfig("TestNoLowering", {}, name="odd3")])
    with pytest.raises(ExportError) as e:
        to_onnx(model.graph, model.params)
    msg = str(e.value)
    for name in ("'odd1' (TestNoLowering)", "'odd2' (TestNeedsOpset99)",
                 "'odd3' (TestNoLowering)"):
        assert name in msg
    assert "3 layers cannot be exported" in msg and "needs opset 99" in msg
    assert "(Dense)" not in msg
    assert "opset >= 99" in e.value.hint
    assert e.value.received == "layer kinds TestNeedsOpset99, TestNoLowering"
    path = tmp_path / "m.onnx"
    with pytest.raises(ExportError):
        export_model(model, path)
    assert os.listdir(tmp_path) == []
