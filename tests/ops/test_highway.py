"""Highway: the formula against a NumPy reference written from the paper, its defaults, a
stack of four that trains and exports (onnxruntime agrees), and the fused lowering's size."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import seqc
from seqc.export import to_onnx

L = seqc.layers


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference(x, kernel, transform_kernel, bias, transform_bias, act):
    """y = H(x)·T(x) + x·(1 − T(x)), written as the paper does (not as seqc computes it)."""
    h = act(x @ kernel + bias)
    t = _sigmoid(x @ transform_kernel + transform_bias)
    return h * t + x * (1.0 - t)


@pytest.mark.parametrize("activation,act", [("relu", lambda z: np.maximum(z, 0.0)),
                                            ("linear", lambda z: z), ("tanh", np.tanh)])
def test_forward_matches_the_formula(activation, act):
    rng = np.random.default_rng(0)
    m = seqc.Sequential([L.Input((3, 6)), L.Highway(activation=activation)])
    w = [rng.normal(size=s).astype(np.float32) for s in [(6, 6), (6, 6), (6,), (6,)]]
    m.set_weights(w)
    x = rng.normal(size=(4, 3, 6)).astype(np.float32)
    want = reference(x.astype(np.float64), *[a.astype(np.float64) for a in w], act)
    np.testing.assert_allclose(m.predict(x, verbose=0), want, atol=1e-5)


def test_defaults_and_parameters():
    m = seqc.Sequential([L.Input((5,)), L.Highway()])
    node = m.graph.nodes[-1]
    assert node.attrs.activation == "linear"  # Keras 1/2's Highway default
    assert list(m.graph.param_specs) == ["highway/kernel", "highway/transform_kernel",
                                         "highway/bias", "highway/transform_bias"]
    w = dict(zip(m.graph.param_specs, m.get_weights()))
    np.testing.assert_array_equal(w["highway/transform_bias"], np.full(5, -1.0, np.float32))
    np.testing.assert_array_equal(w["highway/bias"], np.zeros(5, np.float32))
    assert seqc.Sequential([L.Input((5,)), L.Highway(use_bias=False)]).count_params() == 50


def test_spec_json_entry(tmp_path):
    from seqc.frontend.spec import load_spec

    path = tmp_path / "hw.json"
    path.write_text('{"input_shape": [4], "layers": [{"type": "Highway", "activation": "relu"},'
                    ' {"type": "Highway"}, {"type": "Dense", "units": 1}]}')
    graph = load_spec(path).model.graph
    assert [n.op for n in graph.nodes] == ["Highway", "Highway", "Dense"]
    assert graph.nodes[0].attrs.activation == "relu"


def _stack():
    return seqc.Sequential([L.Input((8,)), *[L.Highway(activation="relu") for _ in range(4)],
                            L.Dense(1)])


def test_four_highway_layers_train_and_export():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = (np.sin(x[:, :1]) + 0.5 * x[:, 1:2] * x[:, 2:3]).astype(np.float32)
    m = _stack()
    m.compile("adam", "mse")
    hist = m.fit(x, y, epochs=15, batch_size=32, verbose=0, seed=0).history["loss"]
    assert hist[-1] < 0.6 * hist[0], hist  # 0.71 -> 0.38 measured
    onnx_model = to_onnx(m.graph, m.params)
    sess = ort.InferenceSession(onnx_model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x[:64]})[0]
    np.testing.assert_allclose(got, m.predict(x[:64], verbose=0), atol=1e-5)


@pytest.mark.parametrize("shape,use_bias,count", [((8,), True, 8), ((8,), False, 7),
                                                  ((3, 8), True, 8)])
def test_fused_lowering_node_count(shape, use_bias, count):
    m = seqc.Sequential([L.Input(shape), L.Highway(activation="relu", use_bias=use_bias)])
    nodes = [n.op_type for n in to_onnx(m.graph, m.params).graph.node]
    # MatMul, Add (bias), Split, Relu, Sigmoid, Sub, Mul, Add: one matmul for both Denses.
    assert nodes.count("MatMul") == 1 and nodes.count("Split") == 1, nodes
    assert len(nodes) == count, nodes
