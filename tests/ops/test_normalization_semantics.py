"""BatchNormalization and LayerNormalization beyond the contract harness: training-mode batch
statistics and moving-statistic updates (against real Keras and hand formulas), frozen layers,
a full fit, LayerNormalization axis settings and rms_scaling, and lowering at several opsets."""

from __future__ import annotations

import os

import numpy as np
import pytest
from ops_harness import numeric_grad

import seqc
from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.types import batched
from seqc.ops import REGISTRY
from seqc.ops.base import RunContext

BN = REGISTRY["BatchNormalization"]
LN = REGISTRY["LayerNormalization"]


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _bn_params(c: int, rng, config: dict, dtype=np.float32) -> dict:
    a = BN.parse_attrs(config)
    p = {}
    if a.scale:
        p["gamma"] = rng.normal(1.0, 0.5, c)
    if a.center:
        p["beta"] = rng.normal(0.0, 0.5, c)
    p["moving_mean"] = rng.normal(0.0, 1.0, c)
    p["moving_variance"] = rng.uniform(0.5, 2.0, c)
    return {k: v.astype(dtype) for k, v in p.items()}


def _bn_step(config, params, x, *, training=True, trainable=True):
    """One seqc forward; returns (y, updates) with updates applied to a copy of params."""
    a = BN.parse_attrs(config)
    ctx = RunContext(training=training, node_trainable=trainable)
    (y,), _ = BN.forward(a, params, [x], ctx)
    return y, {**params, **ctx.updates}, ctx.updates


BN_CONFIGS = [
    ({}, (8, 3)),
    ({"momentum": 0.9, "epsilon": 0.1}, (4, 3, 3, 2)),
    ({"axis": 1, "center": False}, (5, 3, 4)),
    ({"scale": False, "momentum": 0.5}, (6, 2, 3)),
]


@pytest.mark.parametrize("config,shape", BN_CONFIGS)
def test_batchnorm_training_matches_hand_formula(config, shape):
    rng = np.random.default_rng(0)
    a = BN.parse_attrs(config)
    ax = a.axis % len(shape)
    params = _bn_params(shape[ax], rng, config)
    x = rng.normal(0.5, 2.0, shape).astype(np.float32)
    y, new, updates = _bn_step(config, params, x)
    reduce = tuple(d for d in range(x.ndim) if d != ax)
    b = [1] * x.ndim
    b[ax] = -1
    mean = x.astype(np.float64).mean(axis=reduce)
    var = x.astype(np.float64).var(axis=reduce)  # biased, as keras.ops.moments
    want = (x - mean.reshape(b)) / np.sqrt(var.reshape(b) + a.epsilon)
    if a.scale:
        want = want * params["gamma"].reshape(b)
    if a.center:
        want = want + params["beta"].reshape(b)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    assert set(updates) == {"moving_mean", "moving_variance"}
    m = a.momentum
    np.testing.assert_allclose(new["moving_mean"], params["moving_mean"] * m + mean * (1 - m),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(new["moving_variance"],
                               params["moving_variance"] * m + var * (1 - m), rtol=1e-6, atol=1e-6)
    assert new["moving_mean"].dtype == np.float32


@pytest.mark.parametrize("config,shape", BN_CONFIGS)
def test_batchnorm_three_training_steps_match_keras(config, shape):
    keras = _keras()
    rng = np.random.default_rng(1)
    a = BN.parse_attrs(config)
    params = _bn_params(shape[a.axis % len(shape)], rng, config)
    layer = keras.layers.BatchNormalization(**config)
    layer.build((None, *shape[1:]))
    layer.set_weights(list(params.values()))
    for _step in range(3):
        x = rng.normal(1.0, 3.0, shape).astype(np.float32)
        want = keras.ops.convert_to_numpy(layer(x, training=True))
        y, params, _ = _bn_step(config, params, x)
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(params["moving_mean"],
                               keras.ops.convert_to_numpy(layer.moving_mean), atol=1e-5)
    np.testing.assert_allclose(params["moving_variance"],
                               keras.ops.convert_to_numpy(layer.moving_variance), atol=1e-5)
    x = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(_bn_step(config, params, x, training=False)[0],
                               keras.ops.convert_to_numpy(layer(x, training=False)), atol=1e-5)


def test_batchnorm_inference_uses_moving_statistics():
    rng = np.random.default_rng(2)
    params = _bn_params(3, rng, {})
    x = rng.normal(size=(6, 3)).astype(np.float32)
    y_train, _, _ = _bn_step({}, params, x, training=True)
    y_inf, new, updates = _bn_step({}, params, x, training=False)
    assert updates == {} and new.keys() == params.keys()
    want = ((x - params["moving_mean"]) / np.sqrt(params["moving_variance"] + 1e-3)
            * params["gamma"] + params["beta"])
    np.testing.assert_allclose(y_inf, want, rtol=1e-6, atol=1e-6)
    assert not np.allclose(y_train, y_inf)
    # Training mode normalizes with the batch's own statistics: per-channel mean beta.
    np.testing.assert_allclose(y_train.mean(axis=0), params["beta"], atol=1e-5)


def test_frozen_batchnorm_runs_in_inference_mode():
    """Keras 3: trainable=False makes BatchNormalization use (and keep) its moving statistics,
    even when called with training=True."""
    rng = np.random.default_rng(3)
    params = _bn_params(3, rng, {})
    x = rng.normal(size=(6, 3)).astype(np.float32)
    y, _, updates = _bn_step({}, params, x, training=True, trainable=False)
    assert updates == {}
    np.testing.assert_array_equal(y, _bn_step({}, params, x, training=False)[0])
    keras = _keras()
    layer = keras.layers.BatchNormalization()
    layer.build((None, 3))
    layer.set_weights(list(params.values()))
    layer.trainable = False
    np.testing.assert_allclose(y, keras.ops.convert_to_numpy(layer(x, training=True)),
                               atol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_mean),
                                  params["moving_mean"])


@pytest.mark.parametrize("training,trainable", [(False, True), (True, False)])
def test_batchnorm_inference_gradient(training, trainable):
    """The affine gradient when moving statistics are used (the contract tests check the
    full training-mode gradient)."""
    rng = np.random.default_rng(4)
    a = BN.parse_attrs({"axis": 1})
    params = _bn_params(3, rng, {}, dtype=np.float64)
    x = rng.normal(size=(2, 3, 2))
    ctx = RunContext(training=training, node_trainable=trainable)
    (y,), cache = BN.forward(a, params, [x], ctx)
    g = rng.normal(size=y.shape)
    (dx,), grads = BN.backward(a, params, cache, [g])

    def loss():
        return float((BN.forward(a, params, [x], RunContext())[0][0] * g).sum())

    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for k in ("gamma", "beta"):
        np.testing.assert_allclose(grads[k], numeric_grad(loss, params[k]), rtol=1e-6)
    assert set(grads) == {"gamma", "beta"}  # moving statistics are not trainable


def _bn_mlp(trainable: bool = True):
    L = seqc.layers
    return seqc.Sequential([L.Input((4,)), L.Dense(5),
                            L.BatchNormalization(momentum=0.9, trainable=trainable),
                            L.Dense(1)], seed=3)


def test_fit_updates_moving_statistics():
    rng = np.random.default_rng(5)
    x = rng.normal(2.0, 1.5, (16, 4)).astype(np.float32)
    y = rng.normal(size=(16, 1)).astype(np.float32)
    model = _bn_mlp()
    kernel, bias = model.params["dense/kernel"].copy(), model.params["dense/bias"].copy()
    model.compile(optimizer="sgd", loss="mse")
    # One full batch: the statistics come from the forward before the optimizer step.
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    h = x @ kernel + bias
    np.testing.assert_allclose(model.params["batch_normalization/moving_mean"],
                               0.1 * h.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.params["batch_normalization/moving_variance"],
                               0.9 + 0.1 * h.var(axis=0), rtol=1e-5)
    assert model.params["batch_normalization/moving_mean"].dtype == np.float32
    before = model.params["batch_normalization/moving_mean"].copy()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert not np.allclose(model.params["batch_normalization/moving_mean"], before)
    # Inference reads the moving statistics: predict agrees with the hand formula.
    p = model.params
    h = x @ p["dense/kernel"] + p["dense/bias"]
    bn = ((h - p["batch_normalization/moving_mean"])
          / np.sqrt(p["batch_normalization/moving_variance"] + 1e-3)
          * p["batch_normalization/gamma"] + p["batch_normalization/beta"])
    np.testing.assert_allclose(model.predict(x), bn @ p["dense_1/kernel"] + p["dense_1/bias"],
                               rtol=1e-4, atol=1e-5)


def test_fit_leaves_a_frozen_batchnorm_alone():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    y = rng.normal(size=(12, 1)).astype(np.float32)
    model = _bn_mlp(trainable=False)
    before = {k: v.copy() for k, v in model.params.items()}
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    for k in before:
        same = np.array_equal(before[k], model.params[k])
        assert same == k.startswith("batch_normalization/"), k


# ---- LayerNormalization ----

def _ln_params(a, shape, rng) -> dict:
    specs = LN.params(a, [batched(tuple(shape[1:]))])
    return {s.name: rng.normal(0.5, 1.0, s.shape).astype(np.float32) for s in specs}


LN_CONFIGS = [
    ({}, (3, 5)),
    ({"axis": -1, "epsilon": 0.5}, (2, 3, 4)),
    ({"axis": [1, 2]}, (2, 3, 4)),
    ({"axis": [-2, -1], "center": False}, (2, 3, 4)),
    ({"axis": [1, 3]}, (2, 3, 2, 4)),
    ({"axis": [-1, 1]}, (2, 3, 2, 4)),
    ({"rms_scaling": True}, (3, 6)),
    ({"rms_scaling": True, "axis": [1, 2], "scale": False}, (2, 3, 4)),
    ({"scale": False}, (3, 4)),
]


@pytest.mark.parametrize("config,shape", LN_CONFIGS)
def test_layernorm_matches_keras(config, shape):
    keras = _keras()
    rng = np.random.default_rng(7)
    a = LN.parse_attrs(config)
    params = _ln_params(a, shape, rng)
    x = rng.normal(1.0, 2.0, shape).astype(np.float32)
    layer = keras.layers.LayerNormalization(**config)
    layer.build((None, *shape[1:]))
    assert [tuple(w.shape) for w in layer.weights] == [p.shape for p in params.values()]
    if params:
        layer.set_weights(list(params.values()))
    (y,), _ = LN.forward(a, params, [x], RunContext())
    np.testing.assert_allclose(y, keras.ops.convert_to_numpy(layer(x)), rtol=1e-5, atol=1e-5)


def test_layernorm_single_inner_axis_hand_formula():
    """axis=1 of a rank-3 input: Keras' torch backend hands this to F.layer_norm, which
    normalizes the *last* axes instead (an error or a wrong result), so it is checked against
    the documented formula (TensorFlow and JAX backends agree with it)."""
    rng = np.random.default_rng(8)
    a = LN.parse_attrs({"axis": 1})
    x = rng.normal(size=(2, 3, 3)).astype(np.float32)
    params = _ln_params(a, x.shape, rng)
    (y,), _ = LN.forward(a, params, [x], RunContext())
    mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    want = ((x - mean) / np.sqrt(var + 1e-3) * params["gamma"].reshape(1, 3, 1)
            + params["beta"].reshape(1, 3, 1))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_rms_scaling_scales_by_the_variance():
    """Keras 3's (deprecated) rms_scaling divides x itself by sqrt(var + eps), not by the
    root mean square, and has no beta."""
    a = LN.parse_attrs({"rms_scaling": True})
    x = np.array([[1.0, 2.0, 3.0, 6.0]], np.float32)
    assert [s.name for s in LN.params(a, [batched((4,))])] == ["gamma"]
    (y,), _ = LN.forward(a, {"gamma": np.ones(4, np.float32)}, [x], RunContext())
    np.testing.assert_allclose(y, x / np.sqrt(x.var() + 1e-3), rtol=1e-6)


# ---- lowering at several opsets ----

def _run_ort(model, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


@pytest.mark.parametrize("opset", [13, 17, 18])
@pytest.mark.parametrize("config,shape", LN_CONFIGS)
def test_layernorm_lowering_at_opsets(config, shape, opset):
    pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    rng = np.random.default_rng(9)
    g = build_graph("ln", batched(tuple(shape[1:])), [LayerConfig("LayerNormalization", config)])
    a = g.nodes[0].attrs
    params = {f"layer_normalization/{k}": v for k, v in _ln_params(a, shape, rng).items()}
    model = to_onnx(g, params, opset=opset)
    ops = {n.op_type for n in model.graph.node}
    rank = len(shape)
    axes = sorted(d % rank for d in a.axis)
    trailing = axes == list(range(rank - len(axes), rank))
    assert ("LayerNormalization" in ops) == (opset >= 17 and trailing and not a.rms_scaling)
    x = rng.normal(size=shape).astype(np.float32)
    want, _ = LN.forward(a, {k.split("/")[1]: v for k, v in params.items()}, [x], RunContext())
    np.testing.assert_allclose(_run_ort(model, x), want[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("config,shape,onnx_op", [
    ({}, (3, 4), "BatchNormalization"),
    ({}, (2, 3, 4, 2), "BatchNormalization"),
    ({"axis": 1}, (2, 3, 4, 2), "BatchNormalization"),  # the IR's axis 1 is ONNX's
    ({"axis": 2, "scale": False}, (2, 3, 4, 2), "Mul"),
    ({"axis": -2}, (2, 3, 4, 2), "Mul"),
    ({"axis": -2}, (2, 3, 2), "BatchNormalization"),
])
def test_batchnorm_lowering(config, shape, onnx_op, opset):
    pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    rng = np.random.default_rng(10)
    g = build_graph("bn", batched(shape[1:]), [LayerConfig("BatchNormalization", config)])
    a = g.nodes[0].attrs
    local = _bn_params(shape[a.axis % len(shape)], rng, config)
    params = {f"batch_normalization/{k}": v for k, v in local.items()}
    x = rng.normal(size=shape).astype(np.float32)
    want = _bn_step(config, local, x, training=False)[0]
    for layout in ("channels_last", "channels_first") if len(shape) > 2 else ("channels_last",):
        model = to_onnx(g, params, opset=opset, input_layout=layout)
        ops = [n.op_type for n in model.graph.node]
        assert onnx_op in ops
        if layout == "channels_first" and a.axis == -1:
            assert ops == ["BatchNormalization"]  # no Transpose either side
            got = np.moveaxis(_run_ort(model, np.ascontiguousarray(np.moveaxis(x, -1, 1))),
                              1, -1)
        elif layout == "channels_first":
            got = _run_ort(model, np.ascontiguousarray(np.moveaxis(x, -1, 1)))
            props = {p.key: p.value for p in model.metadata_props}
            if props["seqc.output_layout"] == "channels_first":
                got = np.moveaxis(got, 1, -1)
        else:
            got = _run_ort(model, x)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif("Conv2D" not in REGISTRY, reason="Conv2D is not registered yet")
def test_batchnorm_after_flatten_reads_permuted_features():
    """Conv2D -> Flatten -> BatchNormalization -> Dense, BN not folded: Flatten of a
    channels-first tensor yields permuted features, and BN permutes its channel vectors
    instead of asking for a Gather or Transpose."""
    pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    rng = np.random.default_rng(11)
    g = build_graph("cnn", batched((4, 4, 2)), [
        LayerConfig("Conv2D", {"filters": 3, "kernel_size": 3}), LayerConfig("Flatten", {}),
        LayerConfig("BatchNormalization", {}), LayerConfig("Dense", {"units": 2})])
    params = {}
    for key, spec in g.param_specs.items():
        v = rng.normal(size=spec.shape)
        params[key] = (np.abs(v) + 0.5 if spec.domain == "positive" else v).astype(np.float32)
    from seqc.training.executor import forward

    x = rng.normal(size=(3, 4, 4, 2)).astype(np.float32)
    want = forward(g, params, x, RunContext())[0]
    model = to_onnx(g, params, fold_batchnorm=False)
    ops = [n.op_type for n in model.graph.node]
    assert "BatchNormalization" in ops and "Gather" not in ops
    assert ops.count("Transpose") == 1  # only the graph input's
    np.testing.assert_allclose(_run_ort(model, x), want, rtol=1e-4, atol=1e-5)


# ---- GroupNormalization and UnitNormalization: exported where the value is ----

@pytest.mark.parametrize("opset", [17, 18])
def test_group_and_unit_normalization_add_no_transpose(opset):
    """After a convolution they normalize the channels-first value in place (one Transpose, at
    the input); after an LSTM the channels-last value stays as it is (the LSTM's two only)."""
    from collections import Counter

    import onnxruntime as ort

    from seqc.export import to_onnx
    from seqc.training.executor import forward

    L = seqc.layers
    rng = np.random.default_rng(0)
    for layers, x, transposes in (
        ([L.Input((6, 5, 3)), L.Conv2D(8, 3), L.GroupNormalization(4), L.UnitNormalization(),
          L.GroupNormalization(2, axis=1), L.Flatten(), L.Dense(2)], (2, 6, 5, 3), 1),
        ([L.Input((7, 4)), L.LSTM(6, return_sequences=True), L.GroupNormalization(3),
          L.UnitNormalization(axis=[1, 2]), L.Dense(2)], (2, 7, 4), 2),
    ):
        model = seqc.Sequential(layers, seed=0)
        for k, v in model.params.items():
            model.params[k] = rng.normal(0, 0.5, v.shape).astype(v.dtype)
        proto = to_onnx(model.graph, model.params, opset=opset)
        ops = Counter(n.op_type for n in proto.graph.node)
        # The LSTM's own: into time-major and back.
        assert ops["Transpose"] == transposes, ops
        xv = rng.normal(size=x).astype(np.float32)
        want = forward(model.graph, model.params, xv, RunContext(training=False))[0]
        got = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"]).run(None, {"input": xv})[0]
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_group_normalization_matches_keras_in_a_conv_net():
    keras = _keras()
    rng = np.random.default_rng(1)
    km = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(6, 3),
                           keras.layers.GroupNormalization(3, epsilon=1e-2),
                           keras.layers.UnitNormalization(axis=[1, 2, 3]),
                           keras.layers.GroupNormalization(-1, center=False)])
    km.set_weights([rng.normal(size=w.shape).astype("float32") for w in km.get_weights()])
    model = seqc.Sequential([seqc.layers.Input((6, 6, 2)), seqc.layers.Conv2D(6, 3),
                             seqc.layers.GroupNormalization(3, epsilon=1e-2),
                             seqc.layers.UnitNormalization(axis=[1, 2, 3]),
                             seqc.layers.GroupNormalization(-1, center=False)], seed=0)
    model.set_weights(km.get_weights())
    x = rng.normal(size=(3, 6, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), keras.ops.convert_to_numpy(km(x)),
                               atol=1e-5, rtol=1e-5)


def _run1(kind: str, config: dict, x: np.ndarray) -> np.ndarray:
    g = build_graph("g", batched(x.shape[1:]), [LayerConfig(kind, config)])
    return REGISTRY[kind].forward(g.nodes[0].attrs, {p.name: np.ones(p.shape, x.dtype) * (
        1.0 if p.name == "gamma" else 0.0) for p in g.param_specs.values()}, [x],
        RunContext())[0][0]


def test_group_normalization_extremes_are_layer_and_instance_normalization():
    x = np.random.default_rng(2).normal(size=(2, 3, 4, 6))
    one = _run1("GroupNormalization", {"groups": 1, "epsilon": 1e-3}, x)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    var = x.var(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(one, (x - mean) / np.sqrt(var + 1e-3), atol=1e-12)
    each = _run1("GroupNormalization", {"groups": -1, "epsilon": 1e-3}, x)
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(each, (x - mean) / np.sqrt(var + 1e-3), atol=1e-12)


def test_unit_normalization_of_zeros_is_zeros_as_in_keras():
    keras = _keras()
    x = np.zeros((2, 3), np.float32)
    x[1] = [3.0, 4.0, 0.0]
    got = _run1("UnitNormalization", {}, x)
    np.testing.assert_allclose(got, [[0, 0, 0], [0.6, 0.8, 0]], atol=1e-7)
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(keras.layers.UnitNormalization()(x)),
                               atol=1e-7)
