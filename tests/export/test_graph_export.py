"""Graphs with several-input nodes in ONNX: the layouts of a merge's inputs are unified.

The regression: `Add(Conv1D(x), x)` once exported the conv's channels-first output added to
the channels-last input, which failed onnx.checker, or, when time steps equal channels, ran
and was silently wrong (max difference 3.2)."""

from __future__ import annotations

import numpy as np
import pytest

from seqc.export import to_onnx
from seqc.ir.build import NodeConfig, build_dag
from seqc.ir.types import batched
from seqc.training import executor

ort = pytest.importorskip("onnxruntime")


def _params(graph, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s.shape).astype(np.float32) for k, s in graph.param_specs.items()}


def _run(model, feed):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feed)


@pytest.mark.parametrize("steps,channels", [(6, 6), (7, 6)])
def test_add_of_conv1d_and_its_input_exports_right(steps, channels):
    graph = build_dag("res", {"x": batched((steps, channels))}, [
        NodeConfig("Conv1D", {"filters": channels, "kernel_size": 3, "padding": "same"},
                   "conv", ["x"]),
        NodeConfig("Add", {}, "add", ["conv", "x"]),
    ], ["add"])
    params = _params(graph)
    x = np.random.default_rng(1).normal(size=(2, steps, channels)).astype(np.float32)
    want, _ = executor.forward(graph, params, x)
    (got,) = _run(to_onnx(graph, params), {"input": x})
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_concatenate_of_conv_outputs_and_input_remaps_its_axis():
    graph = build_dag("bank", {"x": batched((5, 3))}, [
        NodeConfig("Conv1D", {"filters": 4, "kernel_size": 1}, "c1", ["x"]),
        NodeConfig("Conv1D", {"filters": 2, "kernel_size": 3, "padding": "same"}, "c2", ["x"]),
        NodeConfig("Concatenate", {"axis": -1}, "cat", ["c1", "c2"]),
        NodeConfig("Concatenate", {"axis": 1}, "cat_t", ["c1", "c1"]),
        NodeConfig("Concatenate", {}, "cat_x", ["cat", "x"]),
        NodeConfig("MaxPooling1D", {"pool_size": 2}, "pool", ["cat_x"]),
    ], ["pool", "cat_t"])
    params = _params(graph)
    x = np.random.default_rng(2).normal(size=(3, 5, 3)).astype(np.float32)
    want, _ = executor.forward(graph, params, x)
    model = to_onnx(graph, params)
    assert [o.name for o in model.graph.output] == ["pool", "cat_t"]
    got = _run(model, {"input": x})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5)


def test_two_inputs_two_outputs_named_after_the_model():
    graph = build_dag("two", {"a": batched((4,)), "b": batched((3,))}, [
        NodeConfig("Dense", {"units": 3, "activation": "tanh"}, "pa", ["a"]),
        NodeConfig("Multiply", {}, "gate", ["pa", "b"]),
        NodeConfig("Dense", {"units": 2}, "head", ["gate"]),
        NodeConfig("Dot", {"axes": 1, "normalize": True}, "sim", ["pa", "b"]),
    ], ["head", "sim"])
    params = _params(graph)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 4)).astype(np.float32)
    b = rng.normal(size=(5, 3)).astype(np.float32)
    want, _ = executor.forward(graph, params, {"a": a, "b": b})
    model = to_onnx(graph, params)
    assert [i.name for i in model.graph.input] == ["a", "b"]
    assert [o.name for o in model.graph.output] == ["head", "sim"]
    got = _run(model, {"a": a, "b": b})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5)


def test_folding_leaves_shared_layers_alone():
    """A BatchNormalization after one call of a shared Dense must not fold into the Dense's
    weights: the other call reads them too."""
    graph = build_dag("siamese", {"a": batched((3,)), "b": batched((3,))}, [
        NodeConfig("Dense", {"units": 4}, "enc", ["a"]),
        NodeConfig("Dense", {}, "enc_b", ["b"], shared_with="enc"),
        NodeConfig("BatchNormalization", {}, "bn", ["enc"]),
        NodeConfig("Add", {}, "add", ["bn", "enc_b"]),
    ], ["add"])
    params = _params(graph)
    params["bn/moving_variance"] = np.abs(params["bn/moving_variance"]) + 0.5
    rng = np.random.default_rng(4)
    feed = {"a": rng.normal(size=(2, 3)).astype(np.float32),
            "b": rng.normal(size=(2, 3)).astype(np.float32)}
    want, _ = executor.forward(graph, params, feed)
    report: dict = {}
    (got,) = _run(to_onnx(graph, params, report=report), feed)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_an_output_listed_twice_and_an_input_passed_through():
    graph = build_dag("dup", {"x": batched((3,)), "y": batched((3,))}, [
        NodeConfig("Dense", {"units": 2}, "d", ["x"]),
        NodeConfig("Dropout", {"rate": 0.5}, "drop", ["y"]),
    ], ["d", "d", "drop"])
    params = _params(graph)
    x = np.ones((2, 3), np.float32)
    y = np.full((2, 3), 2.0, np.float32)
    want, _ = executor.forward(graph, params, [x, y])
    model = to_onnx(graph, params)
    assert [o.name for o in model.graph.output] == ["d_0", "d_1", "drop"]
    for g, w in zip(_run(model, {"x": x, "y": y}), want):
        np.testing.assert_allclose(g, w, atol=1e-6)


def test_inception_style_conv_bank_matches_keras_and_its_onnx():
    """Conv1D branches concatenated on the channels, a residual Add with a projection and a
    Dot of two branches: NumPy, onnxruntime and real Keras 3 (functional) agree."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    graph = build_dag("bank", {"x": batched((6, 3))}, [
        NodeConfig("Conv1D", {"filters": 2, "kernel_size": 1, "activation": "relu"}, "k1", ["x"]),
        NodeConfig("Conv1D", {"filters": 2, "kernel_size": 3, "padding": "same"}, "k3", ["x"]),
        NodeConfig("Concatenate", {}, "cat", ["k1", "k3", "x"]),
        NodeConfig("MaxPooling1D", {"pool_size": 2, "strides": 1, "padding": "same"}, "pool",
                   ["cat"]),
        NodeConfig("Conv1D", {"filters": 3, "kernel_size": 3, "padding": "same"}, "proj",
                   ["pool"]),
        NodeConfig("Add", {}, "res", ["proj", "x"]),
        NodeConfig("Dot", {"axes": 1}, "scores", ["res", "k3"]),
        NodeConfig("Concatenate", {"axis": 1}, "both", ["scores", "scores"]),
    ], ["both", "res"])
    params = _params(graph, seed=5)
    x = np.random.default_rng(6).normal(size=(2, 6, 3)).astype(np.float32)
    want, _ = executor.forward(graph, params, x)

    L = keras.layers
    inp = keras.Input((6, 3))
    k1 = L.Conv1D(2, 1, activation="relu", name="k1")(inp)
    k3 = L.Conv1D(2, 3, padding="same", name="k3")(inp)
    cat = L.Concatenate()([k1, k3, inp])
    pool = L.MaxPooling1D(2, strides=1, padding="same")(cat)
    proj = L.Conv1D(3, 3, padding="same", name="proj")(pool)
    res = L.Add()([proj, inp])
    scores = L.Dot(axes=1)([res, k3])
    kmodel = keras.Model(inp, [L.Concatenate(axis=1)([scores, scores]), res])
    for name in ("k1", "k3", "proj"):
        kmodel.get_layer(name).set_weights([params[f"{name}/kernel"], params[f"{name}/bias"]])
    theirs = [keras.ops.convert_to_numpy(t) for t in kmodel(x)]
    ours_onnx = _run(to_onnx(graph, params), {"input": x})
    for w, k, o in zip(want, theirs, ours_onnx):
        np.testing.assert_allclose(w, k, atol=1e-5)
        np.testing.assert_allclose(o, w, atol=1e-5)


def test_merges_of_flattened_convolutions_and_a_dense():
    """Flatten after a channels-first conv leaves a permuted layout: merges of two such
    values keep it, a merge with a Dense output converts them."""
    graph = build_dag("flat", {"x": batched((4, 4, 2))}, [
        NodeConfig("Conv2D", {"filters": 3, "kernel_size": 3}, "c1", ["x"]),
        NodeConfig("Conv2D", {"filters": 3, "kernel_size": 3}, "c2", ["x"]),
        NodeConfig("Flatten", {}, "f1", ["c1"]),
        NodeConfig("Flatten", {}, "f2", ["c2"]),
        NodeConfig("Multiply", {}, "m", ["f1", "f2"]),
        NodeConfig("Flatten", {}, "fx", ["x"]),
        NodeConfig("Dense", {"units": 12}, "d", ["fx"]),
        NodeConfig("Subtract", {}, "s", ["m", "d"]),
        NodeConfig("Concatenate", {}, "cat", ["f1", "s"]),
    ], ["cat"])
    params = _params(graph)
    x = np.random.default_rng(7).normal(size=(2, 4, 4, 2)).astype(np.float32)
    want, _ = executor.forward(graph, params, x)
    (got,) = _run(to_onnx(graph, params), {"input": x})
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_masks_flow_through_merges_to_a_recurrent_layer():
    """Embedding(mask_zero) feeds two branches merged by Add and Concatenate; the merged
    masks (OR) reach an LSTM, in NumPy and in ONNX alike."""
    graph = build_dag("masked", {"ids": batched((5,), "int32")}, [
        NodeConfig("Embedding", {"input_dim": 7, "output_dim": 3, "mask_zero": True}, "emb",
                   ["ids"]),
        NodeConfig("Dense", {"units": 3, "activation": "tanh"}, "d", ["emb"]),
        NodeConfig("Add", {}, "add", ["d", "emb"]),
        NodeConfig("Concatenate", {}, "cat", ["add", "emb"]),
        NodeConfig("LSTM", {"units": 2}, "lstm", ["cat"]),
    ], ["lstm"])
    assert {"add", "cat"} <= graph.masked
    params = _params(graph)
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 1, 0]], np.int32)
    want, _ = executor.forward(graph, params, ids)
    shorter, _ = executor.forward(graph, params, ids[:, :3])
    np.testing.assert_allclose(want[0], shorter[0], atol=1e-6)  # the padding is masked
    (got,) = _run(to_onnx(graph, params), {"input": ids})
    np.testing.assert_allclose(got, want, atol=1e-5)
