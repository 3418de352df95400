"""lower_recurrent (seqc/ops/_recurrent_onnx.py) against real Keras 3 layers, run in
onnxruntime: every kind, directions, return_sequences, Bidirectional merges, masks of every
shape, dynamic batch and length, opsets, node counts."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from seqc.errors import ExportError
from seqc.export.emitter import Emitter
from seqc.export.opsets import ir_version_for
from seqc.ir.types import TensorType
from seqc.ops._recurrent_onnx import lower_recurrent, onnx_activation

ort = pytest.importorskip("onnxruntime")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

F, T = 3, 6
ATTR_NAMES = ("units", "activation", "recurrent_activation", "use_bias", "return_sequences",
              "go_backwards", "zero_output_for_mask", "reset_after")


def keras_rnn(kind: str, seed: int = 0, **cfg):
    """A built Keras layer with random (non-trivial) weights, biases included."""
    layer = getattr(keras.layers, kind)(**cfg)
    layer.build((None, None, F))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in layer.get_weights()])
    return layer


def entry(layer, prefix: str = ""):
    """(op, attrs, params, prefix) the way seqc's kinds pass themselves to lower_recurrent."""
    cfg = layer.get_config()
    attrs = SimpleNamespace(**{k: cfg[k] for k in ATTR_NAMES if k in cfg})
    if not hasattr(attrs, "zero_output_for_mask"):
        attrs.zero_output_for_mask = layer.zero_output_for_mask
    names = ["kernel", "recurrent_kernel", "bias"]
    params = dict(zip(names, layer.get_weights()))
    return SimpleNamespace(kind=type(layer).__name__), attrs, params, prefix


def bidi_entries(bi):
    return [entry(bi.forward_layer, "forward/"), entry(bi.backward_layer, "backward/")]


def build(layers, *, masked=False, merge_mode=None, opset=17, f=F):
    em = Emitter(opset)
    em.declare("input", TensorType((None, None, f)))
    if masked:
        em.declare("mask", TensorType((None, None), "bool"))
    em.begin("rnn")
    out = lower_recurrent(em, "input", "mask" if masked else None, layers,
                          merge_mode=merge_mode)
    rank = 3 if getattr(layers[0][1], "return_sequences", False) else 2
    return finish(em, out, masked, opset, f, rank)


def finish(em, out, masked, opset, f=F, rank=2):
    em.prune(out)
    em.rename_value(out, "output")
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "T", f])]
    if masked:
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.BOOL, ["N", "T"]))
    g = helper.make_graph(em.nodes, "g", inputs,
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                                         [f"d{i}" for i in range(rank)])],
                          initializer=em.initializers)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=ir_version_for(opset))
    onnx.checker.check_model(model, full_check=True)
    return model


def run_ort(model, x, mask=None):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"input": x}
    if mask is not None:
        feed["mask"] = mask
    return sess.run(None, feed)[0]


def keras_out(layer, x, mask=None):
    kw = {} if mask is None else {"mask": keras.ops.convert_to_tensor(mask)}
    return keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(x), **kw))


def data(n=4, t=T, seed=1):
    return np.random.default_rng(seed).normal(size=(n, t, F)).astype(np.float32)


def op_types(model):
    return [n.op_type for n in model.graph.node]


KINDS = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {"reset_after": True}),
         ("GRU", {"reset_after": False})]


@pytest.mark.parametrize("kind,extra", KINDS)
@pytest.mark.parametrize("seqs", [False, True])
@pytest.mark.parametrize("backwards", [False, True])
def test_single_layer_matches_keras(kind, extra, seqs, backwards):
    layer = keras_rnn(kind, units=4, return_sequences=seqs, go_backwards=backwards, **extra)
    model = build([entry(layer)])
    assert op_types(model).count({"SimpleRNN": "RNN"}.get(kind, kind)) == 1
    assert not {"Loop", "Scan"} & set(op_types(model))
    # Batch sizes 1 and 33, and a length other than any used before (dynamic T).
    for n, t in [(1, T), (33, 9), (2, 1)]:
        x = data(n, t)
        np.testing.assert_allclose(run_ort(model, x), keras_out(layer, x), atol=1e-5)


@pytest.mark.parametrize("kind,extra", KINDS)
def test_reference_evaluator_agrees(kind, extra):
    from onnx.reference import ReferenceEvaluator

    layer = keras_rnn(kind, units=4, return_sequences=True, **extra)
    model = build([entry(layer)])
    x = data(3, 5)
    (ref,) = ReferenceEvaluator(model).run(None, {"input": x})
    np.testing.assert_allclose(ref, keras_out(layer, x), atol=1e-5)


def test_weight_layout_and_names():
    layer = keras_rnn("LSTM", units=2)
    model = build([entry(layer, "p/")])
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    kernel, rec, bias = layer.get_weights()
    w, r, b = inits["rnn/p/kernel"], inits["rnn/p/recurrent_kernel"], inits["rnn/p/bias"]
    assert w.shape == (1, 8, F) and r.shape == (1, 8, 2) and b.shape == (1, 16)
    # Keras i,f,c,o -> ONNX i,o,f,c: ONNX block 1 (o) is Keras block 3.
    np.testing.assert_array_equal(w[0, 2:4], kernel[:, 6:8].T)
    np.testing.assert_array_equal(b[0, 2:4], bias[6:8])
    np.testing.assert_array_equal(b[0, 8:], 0)
    nobias = build([entry(keras_rnn("GRU", units=2, use_bias=False))])
    assert len(nobias.graph.node[1].input) == 3  # no B


BIDI_CASES = [(kind, extra, merge, seqs)
              for kind, extra in [("LSTM", {}), ("GRU", {}), ("SimpleRNN", {}),
                                  ("GRU", {"reset_after": False})]
              for merge in ["concat", "sum", "mul", "ave"] for seqs in [False, True]
              if kind == "LSTM" or seqs or merge in ("concat", "sum")]


@pytest.mark.parametrize("kind,extra,merge,seqs", BIDI_CASES)
def test_bidirectional_matches_keras(kind, extra, merge, seqs):
    bi = keras.layers.Bidirectional(getattr(keras.layers, kind)(4, return_sequences=seqs,
                                                                **extra), merge_mode=merge)
    bi.build((None, None, F))
    rng = np.random.default_rng(3)
    bi.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in bi.get_weights()])
    model = build(bidi_entries(bi), merge_mode=merge)
    rnn = [n for n in model.graph.node if n.op_type in ("RNN", "LSTM", "GRU")]
    assert len(rnn) == 1
    assert helper.get_attribute_value(rnn[0].attribute[[a.name for a in rnn[0].attribute]
                                                       .index("direction")]) == b"bidirectional"
    for n, t in [(1, T), (33, 4)]:
        x = data(n, t)
        np.testing.assert_allclose(run_ort(model, x), keras_out(bi, x), atol=1e-5)


def test_bidirectional_with_different_layers_uses_two_nodes():
    fwd = keras.layers.LSTM(3, return_sequences=True)
    bwd = keras.layers.GRU(3, return_sequences=True, go_backwards=True)
    bi = keras.layers.Bidirectional(fwd, backward_layer=bwd)
    bi.build((None, None, F))
    rng = np.random.default_rng(4)
    bi.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in bi.get_weights()])
    model = build(bidi_entries(bi), merge_mode="concat")
    assert sorted(t for t in op_types(model) if t in ("LSTM", "GRU")) == ["GRU", "LSTM"]
    x = data(2, 5)
    np.testing.assert_allclose(run_ort(model, x), keras_out(bi, x), atol=1e-5)


ACTS = [("hard_sigmoid", "linear"), ("sigmoid", "relu"), ("hard_sigmoid", "elu"),
        ("softsign", "softplus"), ("sigmoid", "leaky_relu")]


@pytest.mark.parametrize("rec_act,act", ACTS)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_activations_match_keras(kind, rec_act, act):
    layer = keras_rnn(kind, units=3, activation=act, recurrent_activation=rec_act,
                      return_sequences=True)
    model = build([entry(layer)])
    x = data(3, 5) * 3  # reach the saturated parts of hard_sigmoid
    np.testing.assert_allclose(run_ort(model, x), keras_out(layer, x), atol=1e-5)
    # Bidirectional repeats the activation list per direction (onnxruntime requires it).
    bi = keras.layers.Bidirectional(getattr(keras.layers, kind)(
        3, activation=act, recurrent_activation=rec_act))
    bi.build((None, None, F))
    model = build(bidi_entries(bi), merge_mode="concat")
    np.testing.assert_allclose(run_ort(model, x), keras_out(bi, x), atol=1e-5)


def test_simple_rnn_relu_and_unsupported_activation():
    layer = keras_rnn("SimpleRNN", units=3, activation="relu", return_sequences=True)
    x = data(2, 4)
    np.testing.assert_allclose(run_ort(build([entry(layer)]), x), keras_out(layer, x),
                               atol=1e-5)
    assert onnx_activation({"type": "relu", "negative_slope": 0.1}) == ("LeakyRelu", 0.1, None)
    bad = entry(keras_rnn("LSTM", units=2, activation="gelu"))
    with pytest.raises(ExportError, match="activation") as e:
        build([bad])
    assert "gelu" in str(e.value.received) and e.value.hint


def masks(t=T):
    """Rows: right-padded, left-padded (Keras' pad_sequences default), a run in the middle,
    holes, all masked, all valid, a single valid step at each end."""
    pad = [0] * (t - 6)
    rows = [[1] * 4 + [0] * (t - 4), [0] * (t - 3) + [1] * 3, [0, 1, 1, 1, 0, 0] + pad,
            [1, 0, 1, 1, 0, 1] + pad, [0] * t, [1] * t, [1] + [0] * (t - 1), [0] * (t - 1) + [1]]
    return np.array(rows, bool)


@pytest.mark.parametrize("kind,extra", KINDS)
@pytest.mark.parametrize("seqs", [False, True])
@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("zof", [False, True])
def test_masks_match_keras(kind, extra, seqs, backwards, zof):
    layer = keras_rnn(kind, units=4, return_sequences=seqs, go_backwards=backwards,
                      zero_output_for_mask=zof, **extra)
    model = build([entry(layer)], masked=True)
    m = masks()
    x = data(len(m))
    np.testing.assert_allclose(run_ort(model, x, m), keras_out(layer, x, m), atol=1e-5)
    # One row only, and a longer sequence.
    m2 = masks(9)[1:2]
    x2 = data(1, 9, seed=5)
    np.testing.assert_allclose(run_ort(model, x2, m2), keras_out(layer, x2, m2), atol=1e-5)


@pytest.mark.parametrize("merge", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("seqs", [False, True])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_bidirectional_masks_match_keras(kind, merge, seqs):
    bi = keras.layers.Bidirectional(getattr(keras.layers, kind)(4, return_sequences=seqs),
                                    merge_mode=merge)
    bi.build((None, None, F))
    rng = np.random.default_rng(6)
    bi.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in bi.get_weights()])
    model = build(bidi_entries(bi), masked=True, merge_mode=merge)
    m = masks()
    x = data(len(m))
    np.testing.assert_allclose(run_ort(model, x, m), keras_out(bi, x, m), atol=1e-5)


def test_masked_bidirectional_without_zero_output():
    # Keras' Bidirectional forces zero_output_for_mask = return_sequences; a pair that keeps
    # Keras' carry-forward outputs gathers each direction with its own index.
    fwd = keras_rnn("GRU", units=3, return_sequences=True)
    bwd = keras_rnn("GRU", units=3, return_sequences=True, go_backwards=True, seed=2)
    model = build([entry(fwd, "forward/"), entry(bwd, "backward/")], masked=True,
                  merge_mode="concat")
    m = masks()
    x = data(len(m))
    want = np.concatenate([keras_out(fwd, x, m), keras_out(bwd, x, m)[:, ::-1]], axis=-1)
    np.testing.assert_allclose(run_ort(model, x, m), want, atol=1e-5)


def test_mask_machinery_only_with_a_mask():
    layer = keras_rnn("LSTM", units=4)
    assert op_types(build([entry(layer)])) == ["Transpose", "LSTM", "Reshape"]
    masked = op_types(build([entry(layer)], masked=True))
    assert "TopK" in masked and "LSTM" in masked


@pytest.mark.parametrize("opset", [13, 15, 17, 18, 21])
def test_opsets(opset):
    bi = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True),
                                    merge_mode="ave")
    bi.build((None, None, F))
    model = build(bidi_entries(bi), masked=True, merge_mode="ave", opset=opset)
    m = masks()
    x = data(len(m))
    np.testing.assert_allclose(run_ort(model, x, m), keras_out(bi, x, m), atol=1e-5)
    last = keras.layers.Bidirectional(keras.layers.LSTM(3), merge_mode="mul")
    last.build((None, None, F))
    model = build(bidi_entries(last), merge_mode="mul", opset=opset)
    np.testing.assert_allclose(run_ort(model, x), keras_out(last, x), atol=1e-5)


def test_stacked_model_node_count():
    """LSTM(64, return_sequences) -> Bidirectional(GRU(32)) -> Dense(1), lowered node by node
    as the exporter does: a handful of nodes, dynamic batch and length."""
    from seqc.ops import REGISTRY

    lstm = keras_rnn("LSTM", units=64, return_sequences=True)
    bi = keras.layers.Bidirectional(keras.layers.GRU(32))
    bi.build((None, None, 64))
    dense = keras.layers.Dense(1)
    dense.build((None, 64))
    rng = np.random.default_rng(7)
    for lay in (bi, dense):
        lay.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32)
                         for w in lay.get_weights()])
    em = Emitter(17)
    em.declare("input", TensorType((None, None, F)))
    em.begin("lstm")
    h = em.bind(lower_recurrent(em, "input", None, [entry(lstm)]), "lstm",
                TensorType((None, None, 64)))
    em.begin("bidirectional")
    h = em.bind(lower_recurrent(em, h, None, bidi_entries(bi), merge_mode="concat"),
                "bidirectional", TensorType((None, 64)))
    em.begin("dense")
    dense_op = REGISTRY["Dense"]
    y = dense_op.lower(dense_op.Attrs(units=1), dict(zip(["kernel", "bias"],
                                                          dense.get_weights())), [h], em)[0]
    model = finish(em, y, False, 17)
    types = op_types(model)
    assert len(types) <= 15, types
    assert types == ["Transpose", "LSTM", "Reshape", "GRU", "Transpose", "Reshape", "Gemm"]
    for n, t in [(1, 24), (33, 7)]:
        x = data(n, t)
        want = keras_out(dense, keras_out(bi, keras_out(lstm, x)))
        np.testing.assert_allclose(run_ort(model, x), want, atol=1e-5)


# ---- through seqc's own kinds and exporter, against seqc's NumPy forward ----

def seqc_kinds():
    import seqc

    return seqc


def export_and_compare(model, xs, opset=17):
    from seqc.export import to_onnx

    report: dict = {}
    proto = to_onnx(model.graph, model.params, opset=opset, report=report)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for x in xs:
        np.testing.assert_allclose(sess.run(None, {"input": x})[0], model.predict(x),
                                   atol=1e-5, rtol=1e-5)
    return report["nodes"]


@pytest.mark.parametrize("opset", [13, 17])
def test_seqc_stacked_model_exports_natively(opset):
    seqc = seqc_kinds()
    L = seqc.layers
    model = seqc.Sequential([L.Input((None, F)), L.LSTM(64, return_sequences=True),
                             L.Bidirectional(L.GRU(32)), L.Dense(1)])
    xs = [data(1, 24), data(33, 7, seed=2), data(4, 40, seed=3)]
    nodes = export_and_compare(model, xs, opset)
    assert sum(nodes.values()) <= 15, nodes
    assert nodes["LSTM"] == nodes["GRU"] == 1 and "Loop" not in nodes and "Scan" not in nodes


@pytest.mark.parametrize("padding", ["post", "pre", "holes"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_seqc_masked_models(kind, padding):
    seqc = seqc_kinds()
    L = seqc.layers
    model = seqc.Sequential([
        L.Input((None,)), L.Embedding(20, 5, mask_zero=True),
        getattr(L, kind)(4, return_sequences=True),
        L.Bidirectional(getattr(L, kind)(3, return_sequences=True), merge_mode="sum"),
        getattr(L, kind)(3, go_backwards=True), L.Dense(2)])
    rng = np.random.default_rng(8)
    tokens = rng.integers(1, 20, size=(33, 8)).astype(np.float32)
    lengths = rng.integers(0, 9, size=33)
    valid = np.arange(8)[None, :] < lengths[:, None]
    if padding == "pre":
        valid = valid[:, ::-1]
    elif padding == "holes":
        valid = rng.random((33, 8)) < 0.6
    tokens = np.where(valid, tokens, 0).astype(np.float32)
    export_and_compare(model, [tokens, tokens[:1], tokens[:5, :3]])
