"""Hand-written golden values where Keras 3 semantics matter (defaults, aliases, formulas)."""

from __future__ import annotations

import numpy as np
import pytest
from ops_harness import backward, forward

from seqc.errors import DataError, DefinitionError
from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.types import batched
from seqc.ops import REGISTRY
from seqc.ops._activations import ACTIVATIONS
from seqc.ops.base import RunContext
from seqc.ops.normalization import EPSILON


def run(kind, config, x, params=None, *, training=False, seed=0):
    x = np.asarray(x, np.float32)
    g = build_graph("g", batched(x.shape[1:], x.dtype.name), [LayerConfig(kind, config)])
    params = {f"{g.nodes[0].name}/{k}": np.asarray(v, np.float32)
              for k, v in (params or {}).items()}
    return forward(g, params, x, training=training, seed=seed)[0]


# ---- activations ----

def test_leaky_relu_layer_default_slope_is_0_3():
    op = REGISTRY["LeakyReLU"]
    assert op.parse_attrs({}).negative_slope == 0.3
    np.testing.assert_allclose(run("LeakyReLU", {}, [[-1.0, 0.0, 2.0]]), [[-0.3, 0.0, 2.0]])


def test_leaky_relu_alpha_is_an_alias():
    op = REGISTRY["LeakyReLU"]
    assert op.parse_attrs({"alpha": 0.1}) == op.parse_attrs({"negative_slope": 0.1})
    assert op.attrs_to_config(op.parse_attrs({"alpha": 0.1})) == {"negative_slope": 0.1}
    np.testing.assert_allclose(run("LeakyReLU", {"alpha": 0.5}, [[-2.0, 3.0]]), [[-1.0, 3.0]])


def test_leaky_relu_activation_function_default_slope_is_0_2():
    fn = ACTIVATIONS["leaky_relu"]
    assert dict(fn.defaults) == {"negative_slope": 0.2}
    np.testing.assert_allclose(fn.forward(np.array([-1.0, 1.0])), [-0.2, 1.0])


def test_hard_sigmoid_is_relu6_of_x_plus_3_over_6():
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0])
    want = np.clip(x + 3, 0, 6) / 6
    np.testing.assert_allclose(ACTIVATIONS["hard_sigmoid"].forward(x), want)
    np.testing.assert_allclose(want, [0, 0, 0.25, 0.5, 0.75, 1, 1])


def test_relu_threshold_and_cap():
    # Keras 3: x above threshold, negative_slope * (x - threshold) below, capped at max_value.
    y = run("ReLU", {"max_value": 2.0, "negative_slope": 0.5, "threshold": 1.0},
            [[-1.0, 0.0, 1.5, 3.0]])
    np.testing.assert_allclose(y, [[-1.0, -0.5, 1.5, 2.0]])


def test_elu_and_softmax_values():
    np.testing.assert_allclose(run("ELU", {"alpha": 2.0}, [[-1.0, 1.0]]),
                               [[2.0 * (np.exp(-1.0) - 1), 1.0]], rtol=1e-6)
    y = run("Softmax", {"axis": 1}, [[[1.0, 2.0], [3.0, 4.0]]])
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[0, :, 0], [1 / (1 + np.e**2), np.e**2 / (1 + np.e**2)],
                               rtol=1e-6)


def test_prelu_alpha_shape_follows_shared_axes():
    g = build_graph("g", batched((3, 2)), [LayerConfig("PReLU", {"shared_axes": [1]})])
    assert g.param_specs["p_re_lu/alpha"].shape == (1, 2)
    y = run("PReLU", {"shared_axes": [1]}, [[[-1.0, -1.0], [2.0, -4.0], [-3.0, 1.0]]],
            {"alpha": [[0.1, 0.5]]})
    np.testing.assert_allclose(y, [[[-0.1, -0.5], [2.0, -2.0], [-0.3, 1.0]]], rtol=1e-6)


# ---- Normalization ----

def _norm(config, shape):
    g = build_graph("g", batched(shape), [LayerConfig("Normalization", config)])
    return g, REGISTRY["Normalization"], g.nodes[0]


def _adapted(config, data, x):
    g, op, node = _norm(config, np.shape(data)[1:])
    stats = op.adapt(node.attrs, np.asarray(data, np.float32))
    params = {f"normalization/{k}": v for k, v in stats.items()}
    params["normalization/count"] = np.zeros((), np.int32)
    return forward(g, params, np.asarray(x, np.float32), training=False)[0], stats


def test_normalization_adapt_matches_keras_docstring():
    data = [[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]]
    y, stats = _adapted({"axis": -1}, data, [[0.0, 7.0, 4.0]])
    np.testing.assert_allclose(y, [[-1.0, -1.0, -1.0]], rtol=1e-6)
    np.testing.assert_allclose(stats["mean"], [1.0, 8.0, 5.0])
    np.testing.assert_allclose(stats["variance"], [1.0, 1.0, 1.0])  # population variance
    assert stats["mean"].dtype == np.float32 and set(stats) == {"mean", "variance"}
    y, _ = _adapted({"axis": -1, "invert": True}, data, [[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(y, [[2.0, 10.0, 8.0]], rtol=1e-6)


def test_normalization_axis_none_is_one_scalar_statistic():
    y, stats = _adapted({"axis": None}, [1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    assert stats["mean"].shape == ()
    np.testing.assert_allclose(y, [-1.4142135, -0.70710677, 0.0], rtol=1e-6)


def test_normalization_given_mean_and_variance_are_constants():
    g, _, _ = _norm({"mean": 3.0, "variance": 2.0}, (1,))
    assert g.param_specs == {}
    y = forward(g, {}, np.array([[1.0], [2.0], [3.0]], np.float32), training=False)[0]
    np.testing.assert_allclose(y, [[-1.4142135], [-0.70710677], [0.0]], rtol=1e-6)


def test_normalization_weights_are_keras_order_and_non_trainable():
    g, _, _ = _norm({"axis": [1, 2]}, (2, 3))
    specs = list(g.param_specs.values())
    assert [(s.name, s.shape, s.dtype) for s in specs] == [
        ("mean", (2, 3), "float32"), ("variance", (2, 3), "float32"), ("count", (), "int32")]
    assert not any(s.trainable for s in specs)
    assert specs[1].domain == "positive"


def test_normalization_epsilon_guards_zero_variance():
    assert EPSILON == 1e-7  # keras.config.epsilon()
    y, _ = _adapted({}, [[5.0, 1.0], [5.0, 3.0]], [[5.5, 3.0]])
    np.testing.assert_allclose(y, [[0.5 / 1e-7, 1.0]], rtol=1e-5)


def test_normalization_adapt_is_stable_on_large_offsets():
    # At 1e8 the one-pass E[x^2] - E[x]^2 loses every digit of a unit variance even in float64.
    noise = np.random.default_rng(0).normal(size=(1000, 2))
    _, op, node = _norm({}, (2,))
    stats = op.adapt(node.attrs, 1e8 + noise)
    np.testing.assert_allclose(stats["variance"], noise.var(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats["mean"], 1e8 + noise.mean(axis=0), rtol=1e-7)


def test_normalization_adapt_rejects_non_finite_data():
    _, op, node = _norm({}, (2,))
    with pytest.raises(DataError, match="NaN"):
        op.adapt(node.attrs, np.array([[1.0, np.nan], [2.0, 3.0]]))


def test_normalization_adapt_keeps_given_constants():
    _, op, node = _norm({"mean": 1.0, "variance": 1.0}, (2,))
    assert op.adapt(node.attrs, np.ones((4, 2))) == {}


# ---- Dropout ----

def test_dropout_scales_kept_units_in_training():
    x = np.ones((200, 50), np.float32)
    y = run("Dropout", {"rate": 0.25}, x, training=True)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    assert abs(y.mean() - 1.0) < 0.03  # inverted dropout keeps the expectation


def test_dropout_is_deterministic_for_a_seed_and_identity_at_inference():
    x = np.random.default_rng(0).normal(size=(4, 30)).astype(np.float32)
    a = run("Dropout", {"rate": 0.5}, x, training=True, seed=3)
    b = run("Dropout", {"rate": 0.5}, x, training=True, seed=3)
    c = run("Dropout", {"rate": 0.5}, x, training=True, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(run("Dropout", {"rate": 0.5}, x), x)
    op = REGISTRY["Dropout"]
    attrs = op.parse_attrs({"rate": 0.5})
    (y,), _ = op.forward(attrs, {}, [x], RunContext(training=False))
    assert y is x  # no copy at inference


def test_dropout_noise_shape_broadcasts_the_mask_and_backward_reuses_it():
    x = np.ones((2, 6, 3), np.float32)
    g = build_graph("g", batched((6, 3)), [LayerConfig("Dropout", {"rate": 0.5,
                                                                 "noise_shape": [None, 1, 3]})])
    y, caches = forward(g, {}, x, training=True, seed=1)
    assert (y == y[:, :1, :]).all()  # one mask per (sample, channel), shared over axis 1
    dx, _ = backward(g, {}, caches, np.ones_like(y))
    np.testing.assert_array_equal(dx, y)


# ---- Reshape, Flatten, Rescaling, InputLayer ----

def test_reshape_minus_one_is_inferred():
    g = build_graph("g", batched((2, 3)), [LayerConfig("Reshape", {"target_shape": [3, -1]})])
    assert g.output_type.shape == (None, 3, 2)
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    np.testing.assert_array_equal(forward(g, {}, x, training=False)[0], x.reshape(2, 3, 2))
    g = build_graph("g", batched((None, 4)), [LayerConfig("Reshape", {"target_shape": [-1]})])
    assert g.output_type.shape == (None, None)


def test_reshape_errors_name_the_counts():
    with pytest.raises(DefinitionError, match=r"element count per sample \(6\)") as e:
        build_graph("g", batched((6,)), [LayerConfig("Reshape", {"target_shape": [4, 2]})])
    assert "Received: target_shape=[4, 2] (8 elements), input f32[N,6]" in str(e.value)


def test_flatten_channels_first_moves_channels_last():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(1, 2, 3, 4)
    y = run("Flatten", {"data_format": "channels_first"}, x)
    np.testing.assert_array_equal(y, np.moveaxis(x, 1, -1).reshape(1, -1))
    assert run("Flatten", {}, np.ones((2, 5), np.float32)).shape == (2, 5)
    assert run("Flatten", {}, np.ones((2,), np.float32)).shape == (2, 1)


def test_rescaling_pixels():
    y = run("Rescaling", {"scale": 1 / 127.5, "offset": -1.0}, [[0.0, 127.5, 255.0]])
    np.testing.assert_allclose(y, [[-1.0, 0.0, 1.0]], atol=1e-6)


def test_input_layer_batch_shape_and_shape_are_the_same_layer():
    op = REGISTRY["InputLayer"]
    a = op.parse_attrs({"batch_shape": [None, 4], "dtype": "float32", "sparse": False,
                        "ragged": False, "optional": False})
    assert a == op.parse_attrs({"shape": [4]})
    assert a.shape == (4,) and a.batch_size is None
    assert op.parse_attrs({"shape": [2], "dtype": None}).dtype == "float32"
