"""Recurrent layers' return_state (outputs [out, h(, c)]) and initial_state (inputs
[x, h0(, c0)]): the op facets against finite differences (every output's gradient, and the
gradient into the initial state), the executor's bookkeeping for a node with several outputs,
the ONNX lowering (Y_h, Y_c, initial_h, initial_c) in onnxruntime, and real Keras."""

from __future__ import annotations

import numpy as np
import pytest
from ops_harness import make_params, node_params, numeric_grad

from seqc.errors import DefinitionError
from seqc.ir.build import LayerConfig, NodeConfig, build_dag, build_graph
from seqc.ir.types import TensorType, batched
from seqc.ops import REGISTRY
from seqc.ops.base import RunContext
from seqc.training import executor

N, T, F, U = 3, 4, 3, 2
STATES = {"SimpleRNN": 1, "GRU": 1, "LSTM": 2}
CONFIGS = [
    {},
    {"return_sequences": True},
    {"go_backwards": True, "return_sequences": True},
    {"go_backwards": True},
    {"dropout": 0.3, "recurrent_dropout": 0.4},
]
LENGTHS = (4, 2, 3)  # a timestep mask: valid steps per row


def _cases():
    out = []
    for kind in STATES:
        for i, cfg in enumerate(CONFIGS):
            for init in (False, True):
                out.append(pytest.param(kind, cfg, init, False, id=f"{kind}-{i}-init{init}"))
        for init in (False, True):
            out.append(pytest.param(kind, {"return_sequences": True}, init, True,
                                    id=f"{kind}-masked-init{init}"))
            out.append(pytest.param(kind, {"zero_output_for_mask": True}, init, True,
                                    id=f"{kind}-masked-zero-init{init}"))
    return out


def _graph(kind, cfg, init):
    k = STATES[kind]
    inputs = {"x": batched((T, F))} | ({f"s{j}": batched((U,)) for j in range(k)} if init else {})
    node = NodeConfig(kind, {"units": U, "return_state": True, **cfg}, "rnn", list(inputs))
    return build_dag("t", inputs, [node], ["rnn", *(f"rnn:{j + 1}" for j in range(k))])


def _mask(masked):
    if not masked:
        return None
    return np.arange(T)[None, :] < np.array(LENGTHS)[:, None]


@pytest.mark.parametrize("kind,cfg,init,masked", _cases())
def test_state_outputs_and_initial_state_gradients(kind, cfg, init, masked):
    """Forward shapes match the shape rule; backward (from every output at once) matches
    central differences for the sequence, the initial state and every parameter."""
    rng = np.random.default_rng(0)
    graph = _graph(kind, cfg, init)
    node = graph.nodes[0]
    op = REGISTRY[kind]
    params = node_params(node, make_params(graph, rng, dtype=np.float64))
    xs = [rng.uniform(-2, 2, (N, T, F))]
    xs += [rng.uniform(-1, 1, (N, U)) for _ in range(STATES[kind] if init else 0)]
    training = "dropout" in cfg

    def run():
        ctx = RunContext(training=training, rng=np.random.default_rng(7), mask=_mask(masked))
        return op.forward(node.attrs, params, xs, ctx)

    ys, cache = run()
    assert len(ys) == 1 + STATES[kind]
    for v, y in zip(node.outputs, ys):
        assert graph.types[v].matches(y) and y.dtype == np.float64
    if not cfg.get("return_sequences") and not cfg.get("zero_output_for_mask"):
        np.testing.assert_array_equal(ys[0], ys[1])  # the output is the last state
    gs = [rng.normal(size=y.shape) for y in ys]
    dxs, grads = op.backward(node.attrs, params, cache, gs)

    def loss():
        return float(sum((y * g).sum() for y, g in zip(run()[0], gs)))

    assert len(dxs) == len(xs)
    for j, (x, dx) in enumerate(zip(xs, dxs)):
        np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-5, atol=1e-6,
                                   err_msg=f"gradient of input {j}")
    for name, p in params.items():
        np.testing.assert_allclose(grads[name], numeric_grad(loss, p), rtol=1e-5, atol=1e-6,
                                   err_msg=f"gradient of {name}")
    # A state output nobody reads (None) and an unread sequence output are both fine.
    dxs2, _ = op.backward(node.attrs, params, run()[1], [None, *gs[1:]])
    assert all(d is not None for d in dxs2[1:])


@pytest.mark.parametrize("kind", sorted(STATES))
def test_executor_encoder_decoder_gradients(kind):
    """The Keras seq2seq shape: an encoder's final state starts a decoder. The executor
    runs the several-output node, and its parameter gradients (reaching the encoder only
    through the states) match finite differences."""
    k = STATES[kind]
    inputs = {"enc_in": batched((T, F)), "dec_in": batched((T - 1, F))}
    entries = [
        NodeConfig(kind, {"units": U, "return_state": True}, "enc", ["enc_in"]),
        NodeConfig(kind, {"units": U, "return_sequences": True}, "dec",
                   ["dec_in", *(f"enc:{j + 1}" for j in range(k))]),
        NodeConfig("Dense", {"units": 2}, "out", ["dec"]),
    ]
    graph = build_dag("s2s", inputs, entries, ["out"])
    assert graph.nodes[0].outputs == ("enc", *(f"enc:{j + 1}" for j in range(k)))
    rng = np.random.default_rng(3)
    params = make_params(graph, rng, dtype=np.float64)
    x = [rng.uniform(-2, 2, (N, T, F)), rng.uniform(-2, 2, (N, T - 1, F))]
    y, tape = executor.forward(graph, params, x)
    g = rng.normal(size=y.shape)
    grads = executor.backward(graph, params, tape, g)

    def loss():
        return float((executor.forward(graph, params, x)[0] * g).sum())

    assert set(grads) == set(params)
    for key in ("enc/kernel", "enc/recurrent_kernel", "dec/recurrent_kernel"):
        np.testing.assert_allclose(grads[key], numeric_grad(loss, params[key]), rtol=1e-5,
                                   atol=1e-6, err_msg=key)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("kind,cfg,init", [
    (kind, cfg, init) for kind in STATES for cfg in CONFIGS[:4] for init in (False, True)])
def test_lowering_returns_the_states(kind, cfg, init, masked):
    """Y_h / Y_c as the returned states, initial_h / initial_c from the inputs, in
    onnxruntime; the model's outputs are [out, h(, c)]."""
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from seqc.export import to_onnx

    k = STATES[kind]
    inputs = {"x": batched((T, F))} | ({f"s{j}": batched((U,)) for j in range(k)} if init else {})
    entries = [NodeConfig("Masking", {"mask_value": 0.0}, "m", ["x"])] if masked else []
    entries.append(NodeConfig(kind, {"units": U, "return_state": True, **cfg}, "rnn",
                              ["m" if masked else "x", *list(inputs)[1:]]))
    graph = build_dag("t", inputs, entries, ["rnn", *(f"rnn:{j + 1}" for j in range(k))])
    rng = np.random.default_rng(2)
    params = make_params(graph, rng)
    x = [rng.uniform(-2, 2, (N, T, F)).astype(np.float32)]
    if masked:
        x[0] *= _mask(True)[:, :, None]
    x += [rng.uniform(-1, 1, (N, U)).astype(np.float32) for _ in range(k if init else 0)]
    want, _ = executor.forward(graph, params, x, RunContext(need_grad=False))
    model = to_onnx(graph, params, opset=17)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, dict(zip([i.name for i in model.graph.input], x)))
    assert len(got) == len(want) == 1 + k
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)


def test_refusals():
    with pytest.raises(DefinitionError, match="sequential model"):
        build_graph("t", batched((T, F)), [LayerConfig("LSTM", {"units": 2,
                                                                "return_state": True})])
    inputs = {"x": batched((T, F)), "h": batched((U,))}
    with pytest.raises(DefinitionError, match=r"initial_state is \[h, c\]"):
        build_dag("t", inputs, [NodeConfig("LSTM", {"units": U}, "l", ["x", "h"])], ["l"])
    with pytest.raises(DefinitionError, match="units=3"):
        build_dag("t", inputs, [NodeConfig("GRU", {"units": 3}, "l", ["x", "h"])], ["l"])
    with pytest.raises(DefinitionError, match="stateful"):
        build_dag("t", {"x": TensorType((N, T, F)), "h": TensorType((N, U))},
                  [NodeConfig("GRU", {"units": U, "stateful": True}, "l", ["x", "h"])], ["l"])
    with pytest.raises(DefinitionError, match="takes 1 to 3 inputs"):
        build_dag("t", inputs | {"a": batched((U,)), "b": batched((U,))},
                  [NodeConfig("LSTM", {"units": U}, "l", ["x", "h", "a", "b"])], ["l"])
    with pytest.raises(DefinitionError, match="return_state"):
        build_dag("t", {"x": batched((T, F))},
                  [NodeConfig("Bidirectional", {"layer": {"type": "LSTM", "units": 2,
                                                          "return_state": True}}, "b", ["x"])],
                  ["b"])
    with pytest.raises(DefinitionError, match="names no graph input or earlier layer"):
        build_dag("t", {"x": batched((T, F))},
                  [NodeConfig("GRU", {"units": 2, "return_state": True}, "g", ["x"]),
                   NodeConfig("Dense", {"units": 1}, "d", ["g:2"])], ["d"])


KERAS_CASES = [(kind, cfg, init, masked) for kind in STATES
               for cfg in ({}, {"return_sequences": True},
                           {"go_backwards": True, "return_sequences": True})
               for init, masked in ((True, False), (False, True), (True, True))]


@pytest.mark.parametrize("kind,cfg,init,masked", KERAS_CASES)
def test_matches_keras(kind, cfg, init, masked):
    """Outputs [out, h(, c)] and the gradients of a weighted sum of all of them (inputs,
    initial state, weights) against Keras 3 (torch backend) on identical weights."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    k = STATES[kind]
    rng = np.random.default_rng(5)
    graph = _graph(kind, cfg, init)
    node = graph.nodes[0]
    op = REGISTRY[kind]
    params = node_params(node, make_params(graph, rng))
    xs = [rng.uniform(-2, 2, (N, T, F)).astype(np.float32)]
    xs += [rng.uniform(-1, 1, (N, U)).astype(np.float32) for _ in range(k if init else 0)]
    mask = _mask(masked)
    ys, cache = op.forward(node.attrs, params, xs, RunContext(mask=mask))
    gs = [rng.normal(size=y.shape).astype(np.float32) for y in ys]
    dxs, grads = op.backward(node.attrs, params, cache, gs)

    layer = getattr(keras.layers, kind)(U, return_state=True, **cfg)
    layer.build((None, T, F))
    layer.set_weights([params[p] for p in node.params])
    tx = [torch.tensor(x, requires_grad=True) for x in xs]
    kw = {"initial_state": tx[1:]} if init else {}
    if masked:
        kw["mask"] = torch.tensor(mask)
    outs = layer(tx[0], **kw)
    assert len(outs) == len(ys)
    for got, want in zip(outs, ys):
        np.testing.assert_allclose(want, got.detach().cpu().numpy(), atol=2e-5, rtol=1e-4)
    total = sum((o * torch.tensor(g)).sum() for o, g in zip(outs, gs))
    weights = [w.value for w in layer.weights]
    kgrads = torch.autograd.grad(total, tx + weights)
    for j, (ours, theirs) in enumerate(zip(dxs, kgrads)):
        np.testing.assert_allclose(ours, theirs.numpy(), atol=2e-5, rtol=1e-4,
                                   err_msg=f"gradient of input {j}")
    for p, theirs in zip(node.params, kgrads[len(tx):]):
        np.testing.assert_allclose(grads[p], theirs.numpy(), atol=2e-5, rtol=1e-4,
                                   err_msg=f"gradient of {p}")


def test_torch_runtime_refuses_states():
    pytest.importorskip("torch")
    from seqc.errors import UsageError
    from seqc.runtime.torch_runtime import build_module

    for init in (False, True):
        graph = _graph("LSTM", {}, init)
        with pytest.raises(UsageError, match="return_state or initial_state"):
            build_module(graph, make_params(graph, np.random.default_rng(0)))
