"""SimpleRNN / LSTM / GRU semantics against real Keras (torch backend) on identical weights:
masks of every shape Keras accepts (right padding, an all-masked row, left padding, a hole),
go_backwards, return_sequences, zero_output_for_mask, both GRU formulations, hard_sigmoid;
gradients against torch autograd through the Keras layer, and BPTT against finite
differences in float64."""

from __future__ import annotations

import os

import numpy as np
import pytest
from ops_harness import numeric_grad

from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.types import TensorType, batched
from seqc.ops import REGISTRY
from seqc.ops.base import RunContext
from seqc.training.initializers import init_params

N, T, F = 5, 5, 3
# Rows: all valid, right-padded, all masked, left-padded, a hole in the middle.
MASK = np.array([[1, 1, 1, 1, 1],
                 [1, 1, 1, 0, 0],
                 [0, 0, 0, 0, 0],
                 [0, 0, 1, 1, 1],
                 [1, 0, 1, 1, 0]], bool)

CASES = [
    ("LSTM", {"units": 3}),
    ("LSTM", {"units": 3, "return_sequences": True}),
    ("LSTM", {"units": 3, "go_backwards": True, "return_sequences": True}),
    ("LSTM", {"units": 3, "go_backwards": True}),
    ("LSTM", {"units": 2, "recurrent_activation": "hard_sigmoid", "activation": "relu",
              "return_sequences": True}),
    ("LSTM", {"units": 3, "return_sequences": True, "zero_output_for_mask": True}),
    ("LSTM", {"units": 3, "zero_output_for_mask": True, "go_backwards": True}),
    ("GRU", {"units": 3, "return_sequences": True}),
    ("GRU", {"units": 3, "reset_after": False, "return_sequences": True}),
    ("GRU", {"units": 3, "reset_after": False, "go_backwards": True}),
    ("GRU", {"units": 3, "go_backwards": True, "return_sequences": True}),
    ("GRU", {"units": 2, "recurrent_activation": "hard_sigmoid", "use_bias": False}),
    ("GRU", {"units": 3, "zero_output_for_mask": True}),
    ("SimpleRNN", {"units": 3, "return_sequences": True}),
    ("SimpleRNN", {"units": 3, "go_backwards": True, "activation": "relu"}),
    ("SimpleRNN", {"units": 3, "return_sequences": True, "zero_output_for_mask": True}),
]


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _setup(kind, config, dtype=np.float32, seed=0):
    op = REGISTRY[kind]
    attrs = op.parse_attrs(dict(config))
    specs = op.params(attrs, [batched((T, F))])
    rng = np.random.default_rng(seed)
    params = {s.name: rng.normal(scale=0.7, size=s.shape).astype(dtype) for s in specs}
    x = rng.normal(size=(N, T, F)).astype(dtype)
    return op, attrs, params, x


def _seqc(op, attrs, params, x, mask, *, need_grad=False):
    ctx = RunContext(mask=mask, need_grad=need_grad)
    (y,), cache = op.forward(attrs, params, [x], ctx)
    return y, cache


def _keras_layer(keras, kind, config, params):
    layer = getattr(keras.layers, kind)(**config)
    layer.build((None, T, F))
    layer.set_weights(list(params.values()))  # seqc's params are in Keras' order
    return layer


@pytest.mark.parametrize("mask", [None, MASK], ids=["unmasked", "masked"])
@pytest.mark.parametrize("kind,config", CASES)
def test_forward_matches_keras(kind, config, mask):
    keras = _keras()
    op, attrs, params, x = _setup(kind, config)
    want_layer = _keras_layer(keras, kind, config, params)
    kwargs = {} if mask is None else {"mask": keras.ops.convert_to_tensor(mask)}
    want = keras.ops.convert_to_numpy(want_layer(x, **kwargs))
    got, _ = _seqc(op, attrs, params, x, mask)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind,config", [
    ("LSTM", {"units": 3, "return_sequences": True}),
    ("GRU", {"units": 3, "go_backwards": True}),
    ("GRU", {"units": 3, "reset_after": False, "return_sequences": True}),
])
def test_gradients_match_torch_autograd_through_keras(kind, config):
    keras = _keras()
    import torch

    op, attrs, params, x = _setup(kind, config, seed=1)
    layer = _keras_layer(keras, kind, config, params)
    xt = torch.tensor(x, requires_grad=True)
    y = layer(xt, mask=torch.tensor(MASK))
    g = np.random.default_rng(2).normal(size=tuple(y.shape)).astype(np.float32)
    (y * torch.tensor(g)).sum().backward()

    got_y, cache = _seqc(op, attrs, params, x, MASK, need_grad=True)
    (dx,), grads = op.backward(attrs, params, cache, [g])
    np.testing.assert_allclose(got_y, y.detach().numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-5, rtol=1e-4)
    for name, w in zip(params, layer.weights):
        np.testing.assert_allclose(grads[name], w.value.grad.numpy(), atol=1e-5, rtol=1e-4,
                                   err_msg=name)


@pytest.mark.parametrize("kind,config", [
    ("LSTM", {"units": 2, "return_sequences": True}),
    ("LSTM", {"units": 2, "go_backwards": True, "zero_output_for_mask": True}),
    ("GRU", {"units": 2, "return_sequences": True, "zero_output_for_mask": True}),
    ("GRU", {"units": 2, "reset_after": False, "go_backwards": True}),
    ("SimpleRNN", {"units": 2, "return_sequences": True, "go_backwards": True}),
])
def test_bptt_matches_finite_differences_with_masks(kind, config):
    op, attrs, params, x = _setup(kind, config, dtype=np.float64, seed=3)
    y, cache = _seqc(op, attrs, params, x, MASK, need_grad=True)
    g = np.random.default_rng(4).normal(size=y.shape)
    (dx,), grads = op.backward(attrs, params, cache, [g])

    def loss():
        return float((_seqc(op, attrs, params, x, MASK)[0] * g).sum())

    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-5, atol=1e-7)
    for name, p in params.items():
        np.testing.assert_allclose(grads[name], numeric_grad(loss, p), rtol=1e-5, atol=1e-7,
                                   err_msg=name)


def test_all_masked_row_outputs_zeros_and_gets_no_gradient():
    op, attrs, params, x = _setup("LSTM", {"units": 3, "return_sequences": True})
    y, cache = _seqc(op, attrs, params, x, MASK, need_grad=True)
    assert not y[2].any()
    (dx,), _ = op.backward(attrs, params, cache, [np.ones_like(y)])
    assert not dx[2].any()
    # Masked steps repeat the last valid output: row 1 is valid for 3 steps.
    np.testing.assert_array_equal(y[1, 3], y[1, 2])
    np.testing.assert_array_equal(y[1, 4], y[1, 2])


def test_input_gradient_skipped_when_not_needed():
    op, attrs, params, x = _setup("GRU", {"units": 3})
    ctx = RunContext(input_grad=False)
    (y,), cache = op.forward(attrs, params, [x], ctx)
    (dx,), grads = op.backward(attrs, params, cache, [np.ones_like(y)])
    assert dx is None and set(grads) == {"kernel", "recurrent_kernel", "bias"}
    assert op.forward(attrs, params, [x], RunContext(need_grad=False))[1] is None


def test_lstm_unit_forget_bias_initial_bias_matches_keras():
    keras = _keras()
    graph = build_graph("t", batched((T, F)), [LayerConfig("LSTM", {"units": 4})])
    params = init_params(graph, seed=0)
    (bias_key,) = [k for k in params if k.endswith("/bias")]
    layer = keras.layers.LSTM(4)
    layer.build((None, T, F))
    np.testing.assert_array_equal(params[bias_key], keras.ops.convert_to_numpy(layer.cell.bias))
    np.testing.assert_array_equal(params[bias_key], np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    graph = build_graph("t", batched((T, F)),
                        [LayerConfig("LSTM", {"units": 4, "unit_forget_bias": False})])
    assert not init_params(graph, seed=0)[f"{graph.nodes[0].name}/bias"].any()


def test_gru_bias_shapes_follow_reset_after():
    op = REGISTRY["GRU"]
    for reset_after, shape in ((True, (2, 9)), (False, (9,))):
        attrs = op.parse_attrs({"units": 3, "reset_after": reset_after})
        specs = op.params(attrs, [TensorType((None, None, F))])
        assert [(s.name, s.shape) for s in specs] == [
            ("kernel", (F, 9)), ("recurrent_kernel", (3, 9)), ("bias", shape)]


def test_dropout_is_training_only_and_shared_over_steps():
    op, attrs, params, x = _setup("SimpleRNN", {"units": 3, "dropout": 0.5,
                                                "return_sequences": True})
    infer, _ = _seqc(op, attrs, params, x, None)
    no_drop, _ = _seqc(op, op.parse_attrs({"units": 3, "return_sequences": True}), params, x,
                       None)
    np.testing.assert_array_equal(infer, no_drop)
    ctx = RunContext(training=True, rng=np.random.default_rng(0))
    (y,), _ = op.forward(attrs, params, [x], ctx)
    assert not np.allclose(y, infer)
    # One input mask per call: zeroing the features it drops changes nothing.
    dm, rm = _seqc_masks(op, attrs, params, x)
    # the cached mask covers [x, 1]: the bias column is never dropped
    assert rm is None and dm.shape == (N, F + 1) and np.all(dm[:, F] == 1)
    dm = dm[:, :F]
    np.testing.assert_allclose(y, _seqc(op, op.parse_attrs(
        {"units": 3, "return_sequences": True}), params, x * dm[:, None, :], None)[0],
        atol=1e-6)


def _seqc_masks(op, attrs, params, x):
    ctx = RunContext(training=True, rng=np.random.default_rng(0))
    _, cache = op.forward(attrs, params, [x], ctx)
    return cache[1], cache[2]
