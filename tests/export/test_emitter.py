"""The Emitter interface every op's `lower` is written against (seqc.ops.emitter_api)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from seqc.export.emitter import Emitter
from seqc.ir.types import TensorType


def make():
    em = Emitter(17)
    em.declare("input", TensorType((None, 4)))
    em.begin("lstm")
    return em


def test_op_names_outputs_and_attributes():
    em = make()
    a = em.op("Relu", ["input"])
    b = em.op("Relu", [a])
    assert (a, b) == ("lstm/Relu", "lstm/Relu_1")
    outs = em.op("Split", ["input", ""], n_out=2, axis=np.int64(1))
    assert outs == ["lstm/Split/out0", "lstm/Split/out1"]
    node = em.nodes[-1]
    assert list(node.input) == ["input", ""]
    assert helper.get_attribute_value(node.attribute[0]) == 1
    em.op("LeakyRelu", ["input"], alpha=np.float32(0.25), unused=None)
    attrs = {a.name: helper.get_attribute_value(a) for a in em.nodes[-1].attribute}
    assert attrs == {"alpha": 0.25}
    em.op("Transpose", ["input"], perm=(1, 0))
    assert helper.get_attribute_value(em.nodes[-1].attribute[0]) == [1, 0]


def test_weights_constants_and_types():
    em = make()
    w = em.weight("kernel", np.ones((4, 8), np.float64))
    assert w == "lstm/kernel"
    assert em.initializers[-1].data_type == 1  # float32 even from float64
    assert em.type_of(w) == TensorType((4, 8))
    assert em.type_of("input").shape == (None, 4)
    c1 = em.const(np.array(2.0), "two")
    c2 = em.const(np.float32(2.0), "scale")
    assert c1 == c2 == "const/2"
    shape = em.const(np.array([0, -1], np.int64), "shape")
    assert shape == "const/shape" and em.type_of(shape) == TensorType((2,), "int64")
    big = em.const(np.zeros(100, np.float32), "table")
    assert big == "lstm/table"
    with pytest.raises(KeyError, match="no IR type"):
        em.type_of(em.op("Relu", ["input"]))


def test_subgraph_body_reads_outer_weights_and_prune_keeps_them():
    """A Scan body built through the emitter: its nodes go to the body, its weights stay in
    the outer graph (read by name), and prune keeps what only the body reads."""
    em = make()
    w = em.weight("w", np.full((4,), 2.0, np.float32))
    em.weight("unused", np.zeros(3, np.float32))

    def body(names):
        s, x = names
        s2 = em.op("Add", [s, em.op("Mul", [x, w])])
        return [s2, s2]  # the same value twice: the second becomes an Identity

    g = em.subgraph("step", [("s", "float32", (None, 4)), ("x", "float32", (None, 4))], body,
                    [(None, 4), (None, 4)])
    assert [n.op_type for n in g.node] == ["Mul", "Add", "Identity"]
    assert len(g.output) == 2 and g.output[0].name != g.output[1].name
    before = len(em.nodes)
    s0 = em.op("Mul", ["input", em.const(np.array(0.0, np.float32), "zero")])
    xs = em.op("Unsqueeze", ["input", em.const(np.array([0], np.int64), "axes")])
    last, _ = em.op("Scan", [s0, xs], n_out=2, body=g, num_scan_inputs=1)
    assert len(em.nodes) == before + 3  # the body's nodes are not in the outer graph
    em.prune(last)
    kept = {t.name for t in em.initializers}
    assert w in kept and "lstm/unused" not in kept


def test_the_emitter_offers_all_the_lowering_interface_names():
    """ops type `em` as seqc.ops.emitter_api.Emitter; the exporter's Emitter has every member
    with the Protocol's parameters, so a lowering typed against it runs on the real one."""
    import inspect

    from seqc.ops import emitter_api

    proto, em = emitter_api.Emitter, Emitter(17)
    members = [m for m in vars(proto) if not m.startswith("_")]
    members += list(proto.__annotations__)
    assert {"op", "const", "weight", "mask", "opset", "subgraph"} <= set(members)
    for name in members:
        assert hasattr(em, name), name
        want = getattr(proto, name, None)
        if callable(want):
            assert (list(inspect.signature(getattr(Emitter, name)).parameters)
                    == list(inspect.signature(want).parameters)), name
