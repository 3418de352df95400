"""build_dag: graphs of named layer calls, shared layers, located errors; the executor's
several inputs and outputs, fan-out and shared-parameter gradients (float64 finite
differences)."""

from __future__ import annotations

import numpy as np
import pytest

from seqc.errors import DefinitionError, UsageError
from seqc.ir.build import NodeConfig, build_dag
from seqc.ir.types import batched
from seqc.ops.base import RunContext
from seqc.training import executor

X4 = {"x": batched((4,))}


def _err(inputs, entries, outputs) -> str:
    with pytest.raises(DefinitionError) as info:
        build_dag("g", inputs, entries, outputs, file="m.json")
    return str(info.value)


def test_auto_names_activation_split_and_outputs():
    g = build_dag("g", X4, [NodeConfig("Dense", {"units": 4, "activation": "relu"}, inputs=["x"]),
                            NodeConfig("Dense", {"units": 4}, inputs=["dense"]),
                            NodeConfig("Add", inputs=["dense_1", "x"])], ["add"])
    assert [n.name for n in g.nodes] == ["dense", "dense/activation", "dense_1", "add"]
    assert g.nodes[2].inputs == ("dense/activation",)  # the entry stands for its activation
    assert g.outputs == ("add",) and g.output_type.shape == (None, 4)


def test_errors_name_the_node_and_its_inputs():
    text = _err(X4, [NodeConfig("Dense", {"units": 3}, "d", ["x"]),
                     NodeConfig("Add", {}, "sum", ["d", "x"])], ["sum"])
    assert "m.json" in text and "'sum' (Add)" in text and "axis 1: 3 vs 4" in text
    assert "'d' f32[N,3]" in text and "'x' f32[N,4]" in text
    text = _err(X4, [NodeConfig("Dense", {"units": 3}, "d", ["dd"])], ["d"])
    assert "'dd' names no graph input or earlier layer" in text and "'d'" in text
    text = _err(X4, [NodeConfig("Add", {}, "a", ["x", "b"]),
                     NodeConfig("Dense", {"units": 4}, "b", ["a"])], ["b"])
    assert "defined later" in text and "'a' (Add)" in text
    text = _err({**X4, "y": batched((4,))}, [NodeConfig("Dense", {"units": 2}, "d", ["x"])],
                ["d"])
    assert "graph input 'y' is not used" in text
    text = _err(X4, [NodeConfig("Dense", {"units": 2}, "d", ["x"]),
                     NodeConfig("Dense", {"units": 2}, "e", ["x"])], ["d"])
    assert "'e' is never used" in text
    text = _err(X4, [NodeConfig("Subtract", {}, "s", ["x"])], ["s"])
    assert "exactly 2 inputs, and 1 are given" in text
    text = _err(X4, [NodeConfig("Dense", {"units": 2}, "d", ["x", "x"])], ["d"])
    assert "takes exactly 1 input" in text
    text = _err(X4, [NodeConfig("Dense", {"units": 2}, "d", ["x"])], ["dd"])
    assert "output 'dd'" in text and "'d'" in text
    text = _err(X4, [NodeConfig("Dense", {"units": 4}, "d", ["x"]),
                     NodeConfig("Dense", {"units": 4}, "d", ["d"])], ["d"])
    assert "used twice" in text


def _shared_graph():
    return build_dag("siamese", {"a": batched((3,)), "b": batched((3,))}, [
        NodeConfig("Dense", {"units": 2, "activation": "tanh"}, "enc", ["a"]),
        NodeConfig("Dense", {}, "enc_b", ["b"], shared_with="enc"),
        NodeConfig("Subtract", {}, "diff", ["enc", "enc_b"]),
        NodeConfig("Dense", {"units": 1}, "head", ["diff"]),
        NodeConfig("Multiply", {}, "both", ["enc", "enc_b"]),
    ], ["head", "both"])


def test_shared_layer_reads_one_parameter_table_entry():
    g = _shared_graph()
    assert sorted(g.param_specs) == ["enc/bias", "enc/kernel", "head/bias", "head/kernel"]
    assert g.node("enc_b").param_key("kernel") == "enc/kernel"
    assert g.node("enc_b/activation").op == "Activation"  # the activation is shared too
    text = _err({"a": batched((3,)), "b": batched((5,))}, [
        NodeConfig("Dense", {"units": 2}, "enc", ["a"]),
        NodeConfig("Dense", {}, "enc_b", ["b"], shared_with="enc"),
        NodeConfig("Add", {}, "s", ["enc", "enc_b"])], ["s"])
    assert "same shape" in text
    text = _err(X4, [NodeConfig("Dense", {"units": 2}, "enc", ["x"]),
                     NodeConfig("Dense", {"units": 3}, "e2", ["x"], shared_with="enc"),
                     NodeConfig("Add", {}, "s", ["enc", "e2"])], ["s"])
    assert "different one" in text


def test_several_inputs_outputs_fan_out_and_shared_gradients_match_finite_differences():
    g = _shared_graph()
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s.shape) for k, s in g.param_specs.items()}
    xs = {"a": rng.normal(size=(5, 3)), "b": rng.normal(size=(5, 3))}
    (y1, y2), tape = executor.forward(g, params, xs, RunContext(training=True))
    d1, d2 = rng.normal(size=y1.shape), rng.normal(size=y2.shape)
    grads = executor.backward(g, params, tape, [d1, d2])

    def loss() -> float:
        o1, o2 = executor.forward(g, params, [xs["a"], xs["b"]])[0]
        return float((o1 * d1).sum() + (o2 * d2).sum())

    for key, p in params.items():
        num = np.zeros_like(p)
        for i in range(p.size):
            old = p.flat[i]
            p.flat[i] = old + 1e-6
            hi = loss()
            p.flat[i] = old - 1e-6
            lo = loss()
            p.flat[i] = old
            num.flat[i] = (hi - lo) / 2e-6
        np.testing.assert_allclose(grads[key], num, rtol=1e-6, atol=1e-8, err_msg=key)


def test_executor_input_forms_and_errors():
    g = _shared_graph()
    a = np.ones((2, 3), np.float32)
    y_list, _ = executor.forward(g, {k: np.ones(s.shape, np.float32)
                                     for k, s in g.param_specs.items()}, [a, a])
    assert len(y_list) == 2
    with pytest.raises(UsageError, match="takes 2 inputs"):
        executor.graph_inputs(g, a)
    with pytest.raises(UsageError, match="missing"):
        executor.graph_inputs(g, {"a": a})


def test_shared_layer_counts_its_parameters_once():
    from seqc.ir.summary import format_summary, parameter_counts

    g = _shared_graph()
    assert parameter_counts(g)["total"] == g.count_params() == 8 + 3
    text = format_summary(g)  # Keras' form: a shared layer is one row listing both calls
    assert "enc_b" not in text and "a[0][0], b[0][0]" in text and "enc[1][0]" in text


def test_a_merge_kind_in_a_chain_is_refused():
    from seqc.ir.build import LayerConfig, build_graph

    with pytest.raises(DefinitionError, match="merges several inputs"):
        build_graph("g", batched((4,)), [LayerConfig("Dense", {"units": 4}),
                                         LayerConfig("Add")], file="m.json")


def test_graph_json_round_trip_and_printer_keep_several_inputs_and_sharing():
    import json

    from seqc.ir.printer import format_graph
    from seqc.ir.serialize import graph_from_json, graph_to_json

    g = _shared_graph()
    again = graph_from_json(json.loads(json.dumps(graph_to_json(g))))
    assert again == g and again.node("enc_b").shares == "enc"
    text = format_graph(g)
    assert "%a: f32[N,3], %b: f32[N,3]" in text
    assert "Subtract(%enc/activation, %enc_b/activation)" in text


def test_prune_keeps_keras_semantics_for_unused_inputs_and_layers():
    g = build_dag("g", {**X4, "y": batched((2,))}, [
        NodeConfig("Dense", {"units": 2}, "d", ["x"]),
        NodeConfig("Dense", {"units": 3, "activation": "relu"}, "side", ["x"]),
        NodeConfig("Dense", {"units": 3}, "side2", ["side"]),
    ], ["d"], prune=True)
    assert g.inputs == ("x", "y") and [n.name for n in g.nodes] == ["d"]
    assert sorted(g.param_specs) == ["d/bias", "d/kernel"]
    y, _ = executor.forward(g, {k: np.ones(s.shape) for k, s in g.param_specs.items()},
                            [np.ones((2, 4)), np.ones((2, 2))])
    assert y.shape == (2, 2)
