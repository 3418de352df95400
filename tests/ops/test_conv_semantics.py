"""Convolution semantics the contract tests cannot see: hand-derived window sums ('same' with
odd sizes and stride 2, causal, dilation), group and depthwise channel order, transposed-conv
output sizes, errors located at the layer, BN folding, the big-im2col path, ONNX corner cases,
and a stacked model against Keras."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from ops_harness import build, forward, make_input, make_params

import seqc
from seqc.errors import DefinitionError
from seqc.ops import REGISTRY, _conv_math
from seqc.ops.base import Example, RunContext


def run(kind: str, config: dict, x: np.ndarray, params: dict, dy=None, input_grad=True):
    """(y, dx, grads) through the kind's own facets; dx/grads are None without dy."""
    op = REGISTRY[kind]
    a = op.parse_attrs(config)
    (y,), cache = op.forward(a, params, [x], RunContext(training=True, input_grad=input_grad))
    if dy is None:
        return y, None, None
    (dx,), grads = op.backward(a, params, cache, [dy])
    return y, dx, grads


def seq(values) -> np.ndarray:
    """A (1, L, 1) float32 sequence."""
    return np.asarray(values, np.float32).reshape(1, -1, 1)


def ones_kernel(*shape) -> dict:
    return {"kernel": np.ones(shape, np.float32)}


# ---- hand-derived values ----

def test_same_stride_2_even_size_puts_the_extra_pad_at_the_end():
    # L=6, k=3, s=2: out 3, total pad 1 -> (0, 1): windows [1,2,3] [3,4,5] [5,6,0].
    y, _, _ = run("Conv1D", {"filters": 1, "kernel_size": 3, "strides": 2, "padding": "same",
                             "use_bias": False}, seq([1, 2, 3, 4, 5, 6]), ones_kernel(3, 1, 1))
    np.testing.assert_array_equal(y.ravel(), [6, 12, 11])


def test_same_stride_2_odd_size():
    # L=5, k=3, s=2: out 3, total pad 2 -> (1, 1): windows [0,1,2] [2,3,4] [4,5,0].
    y, _, _ = run("Conv1D", {"filters": 1, "kernel_size": 3, "strides": 2, "padding": "same",
                             "use_bias": False}, seq([1, 2, 3, 4, 5]), ones_kernel(3, 1, 1))
    np.testing.assert_array_equal(y.ravel(), [3, 9, 9])


def test_conv2d_same_stride_2_counts_real_pixels():
    # A ones image and kernel count the real pixels under each window: rows/cols 2, 3, 2.
    y, _, _ = run("Conv2D", {"filters": 1, "kernel_size": 3, "strides": 2, "padding": "same",
                             "use_bias": False}, np.ones((1, 5, 5, 1), np.float32),
                  ones_kernel(3, 3, 1, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], np.outer([2, 3, 2], [2, 3, 2]))
    assert y.dtype == np.float32


def test_causal_and_dilation():
    x = seq([1, 2, 3, 4])
    y, _, _ = run("Conv1D", {"filters": 1, "kernel_size": 2, "padding": "causal",
                             "use_bias": False}, x, ones_kernel(2, 1, 1))
    np.testing.assert_array_equal(y.ravel(), [1, 3, 5, 7])  # x[t] + x[t-1]
    y, _, _ = run("Conv1D", {"filters": 1, "kernel_size": 2, "padding": "causal",
                             "dilation_rate": 2, "use_bias": False}, x, ones_kernel(2, 1, 1))
    np.testing.assert_array_equal(y.ravel(), [1, 2, 4, 6])  # x[t] + x[t-2]
    y, _, _ = run("Conv1D", {"filters": 1, "kernel_size": 2, "dilation_rate": 3,
                             "use_bias": False}, seq([1, 2, 3, 4, 5, 6]), ones_kernel(2, 1, 1))
    np.testing.assert_array_equal(y.ravel(), [5, 7, 9])  # x[t] + x[t+3], valid


def test_causal_gradient_sums_over_the_windows_that_saw_each_step():
    _, dx, grads = run("Conv1D", {"filters": 1, "kernel_size": 3, "padding": "causal"},
                       seq([1, 2, 3, 4]), {**ones_kernel(3, 1, 1), "bias": np.zeros(1)},
                       dy=np.ones((1, 4, 1), np.float32))
    np.testing.assert_array_equal(dx.ravel(), [3, 3, 2, 1])  # x[t] feeds y[t..t+2]
    np.testing.assert_array_equal(grads["kernel"].ravel(), [3, 6, 10])  # tap 0 sees x[t-2]
    np.testing.assert_array_equal(grads["bias"], [4])


def test_groups_convolve_each_half_of_the_channels_separately():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 4)).astype(np.float32)
    kernel = rng.normal(size=(3, 2, 6)).astype(np.float32)  # 4 channels / 2 groups, 6 filters
    y, _, _ = run("Conv1D", {"filters": 6, "kernel_size": 3, "groups": 2, "use_bias": False},
                  x, {"kernel": kernel})
    for g in range(2):
        part, _, _ = run("Conv1D", {"filters": 3, "kernel_size": 3, "use_bias": False},
                         x[..., 2 * g:2 * g + 2], {"kernel": kernel[..., 3 * g:3 * g + 3]})
        np.testing.assert_allclose(y[..., 3 * g:3 * g + 3], part, rtol=1e-6)


def test_depthwise_output_channel_order_is_c_times_dm_plus_m():
    kernel = np.array([[[1, 2], [11, 12]]], np.float32)  # (k=1, C=2, dm=2): 10*c + m + 1
    x = np.array([[[1, 100]]], np.float32)
    y, _, _ = run("DepthwiseConv1D", {"kernel_size": 1, "depth_multiplier": 2,
                                      "use_bias": False}, x, {"kernel": kernel})
    np.testing.assert_array_equal(y.ravel(), [1, 2, 1100, 1200])


@pytest.mark.parametrize("config,length,want", [
    ({"kernel_size": 3, "strides": 2}, 4, 9),                               # (L-1)s + k
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, 4, 8),             # L * s
    ({"kernel_size": 3, "strides": 2, "output_padding": 1}, 4, 10),         # + output_padding
    ({"kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1}, 4, 8),
    ({"kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 0}, 5, 9),
    ({"kernel_size": 2, "strides": 3}, 3, 9),                               # (L-1)s + max(k, s)
    ({"kernel_size": 2, "dilation_rate": 3}, 3, 6),                         # k_eff = 4
    ({"kernel_size": 4, "strides": 2, "padding": "same", "output_padding": 1}, 3, 5),
])
def test_transpose_output_sizes(config, length, want):
    config = {"filters": 1, **config}
    op = REGISTRY["Conv1DTranspose"]
    (t,) = op.infer(op.parse_attrs(config), [seqc.ir.types.batched((length, 1))])
    assert t.shape == (None, want, 1)
    y, _, _ = run("Conv1DTranspose", config, np.ones((1, length, 1), np.float32),
                  {"kernel": np.ones((*op.parse_attrs(config).kernel_size, 1, 1), np.float32),
                   "bias": np.zeros(1, np.float32)})
    assert y.shape == (1, want, 1)


def test_transpose_values_scatter_and_crop():
    cfg = {"filters": 1, "kernel_size": 3, "strides": 2, "use_bias": False}
    k = ones_kernel(3, 1, 1)
    y, _, _ = run("Conv1DTranspose", cfg, seq([1, 2]), k)
    np.testing.assert_array_equal(y.ravel(), [1, 1, 3, 2, 2])  # 1 at 0..2, 2 at 2..4
    y, _, _ = run("Conv1DTranspose", {**cfg, "padding": "same"}, seq([1, 2]), k)
    np.testing.assert_array_equal(y.ravel(), [1, 1, 3, 2])  # Keras crops the end
    y, _, _ = run("Conv1DTranspose", {**cfg, "kernel_size": 2, "strides": 3}, seq([1, 2]),
                  ones_kernel(2, 1, 1))
    np.testing.assert_array_equal(y.ravel(), [1, 1, 0, 2, 2, 0])  # zeros appended


# ---- errors before training, located at the layer ----

@pytest.mark.parametrize("layer,shape,match", [
    (lambda L: L.Conv2D(4, 3, name="conv"), (16,), "rank 4"),
    (lambda L: L.Conv2D(4, 5, name="conv"), (4, 4, 1), "larger than the input"),
    (lambda L: L.Conv2D(4, 3, padding="full", name="conv"), (8, 8, 1), "'padding'"),
    (lambda L: L.Conv2D(4, 3, strides=0, name="conv"), (8, 8, 1), "strides"),
    (lambda L: L.Conv1D(4, 3, padding="causal", dilation_rate=2, strides=2, name="conv"),
     (8, 1), "dilation_rate"),
    (lambda L: L.Conv2DTranspose(4, 3, strides=2, output_padding=2, name="conv"), (4, 4, 1),
     "output_padding"),
])
def test_shape_errors_name_the_layer(layer, shape, match):
    with pytest.raises(DefinitionError) as info:
        seqc.Sequential([seqc.layers.Input(shape), layer(seqc.layers)])
    text = str(info.value)
    assert "'conv'" in text and "Received:" in text and match in text


def test_json_spec_error_names_file_and_layer(tmp_path):
    spec = {"name": "bad", "input_shape": [4, 4, 1],
            "layers": [{"type": "Conv2D", "filters": 2, "kernel_size": 3, "padding": "same"},
                       {"type": "Conv2D", "name": "too_big", "filters": 2, "kernel_size": 5}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(DefinitionError) as info:
        seqc.load(str(path))
    text = str(info.value)
    assert "bad.json" in text and "'too_big'" in text and "Conv2D" in text
    assert "larger than the input" in text


def test_unknown_size_too_small_at_run_time_is_a_definition_error():
    op = REGISTRY["Conv1D"]
    a = op.parse_attrs({"filters": 1, "kernel_size": 4})
    with pytest.raises(DefinitionError, match="larger than the input"):
        op.forward(a, ones_kernel(4, 1, 1) | {"bias": np.zeros(1)}, [seq([1, 2])],
                   RunContext())


def test_keras_spellings_parse_to_the_same_attrs():
    op = REGISTRY["Conv2D"]
    a = op.parse_attrs({"filters": 2, "kernel_size": 3, "padding": "SAME", "data_format": None})
    b = op.parse_attrs({"filters": 2, "kernel_size": [3, 3], "strides": [1, 1],
                        "padding": "same", "data_format": "channels_last"})
    assert a == b and a.kernel_size == (3, 3) and a.strides == (1, 1)


def test_activation_is_split_at_keras_positional_index():
    cfg = seqc.layers.Conv2D(8, 3, 1, "same", None, 1, 1, "relu").config
    assert cfg["activation"] == "relu" and cfg["groups"] == 1
    cfg = seqc.layers.DepthwiseConv2D(3, 1, "valid", 2, None, 1, "relu").config
    assert cfg["activation"] == "relu" and cfg["depth_multiplier"] == 2
    cfg = seqc.layers.SeparableConv1D(4, 3, 1, "valid", None, 1, 2, "relu").config
    assert cfg["activation"] == "relu" and cfg["depth_multiplier"] == 2
    cfg = seqc.layers.Conv3DTranspose(4, 3, 1, "valid", None, None, 1, "relu").config
    assert cfg["activation"] == "relu" and cfg["data_format"] is None
    m = seqc.Sequential([seqc.layers.Input((6, 6, 1)), seqc.layers.Conv2D(2, 3,
                                                                          activation="relu")])
    assert [n.op for n in m.graph.nodes] == ["Conv2D", "Activation"]


# ---- kernels: the input_grad skip, the big-cols path, dtypes ----

def test_input_grad_false_skips_dx_but_not_the_weight_gradients():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    p = {"kernel": rng.normal(size=(3, 3, 3, 4)).astype(np.float32),
         "bias": rng.normal(size=4).astype(np.float32)}
    dy = rng.normal(size=(2, 4, 4, 4)).astype(np.float32)
    cfg = {"filters": 4, "kernel_size": 3}
    _, dx, g1 = run("Conv2D", cfg, x, p, dy=dy, input_grad=False)
    _, dx2, g2 = run("Conv2D", cfg, x, p, dy=dy)
    assert dx is None and dx2.shape == x.shape and dx2.dtype == np.float32
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-6)
        assert g1[k].dtype == np.float32


@pytest.mark.parametrize("kind,config,shape", [
    ("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same", "groups": 1}, (5, 5, 2)),
    ("Conv2D", {"filters": 4, "kernel_size": 2, "groups": 2, "strides": 2}, (5, 5, 4)),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2}, (5, 5, 2)),
    ("Conv1D", {"filters": 2, "kernel_size": 1}, (5, 3)),  # cols is a view of x
])
def test_rebuilding_cols_in_backward_matches_keeping_them(monkeypatch, kind, config, shape):
    rng = np.random.default_rng(0)
    ex = Example(config, shape)
    graph = build(kind, ex)
    node = graph.nodes[0]
    params = {p: v for p, v in zip(node.params, make_params(graph, rng).values())}
    x = make_input(ex, rng)
    y, _, _ = run(kind, config, x, params)
    dy = rng.normal(size=y.shape).astype(np.float32)
    _, dx1, g1 = run(kind, config, x, params, dy=dy)
    monkeypatch.setattr(_conv_math, "KEEP_COLS_BYTES", 0)
    _, dx2, g2 = run(kind, config, x, params, dy=dy)
    np.testing.assert_allclose(dx1, dx2, rtol=1e-6)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-6)


# ---- BatchNormalization folding (fold_affine itself: on every kind declaring it, in
# tests/ops/test_contract.py) ----

def test_batchnorm_folds_into_conv_in_the_exported_model():
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from seqc.export import to_onnx

    m = seqc.Sequential([seqc.layers.Input((6, 6, 2)),
                         seqc.layers.Conv2D(3, 3, use_bias=False),
                         seqc.layers.BatchNormalization()])
    rng = np.random.default_rng(0)
    m.set_weights([w + rng.uniform(0.1, 1, size=w.shape).astype(np.float32)
                   for w in m.get_weights()])
    x = rng.normal(size=(4, 6, 6, 2)).astype(np.float32)
    onnx_model = to_onnx(m.graph, m.params)
    assert [n.op_type for n in onnx_model.graph.node].count("Conv") == 1
    assert "BatchNormalization" not in [n.op_type for n in onnx_model.graph.node]
    sess = ort.InferenceSession(onnx_model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], m.predict(x), atol=1e-5,
                               rtol=1e-4)


# ---- ONNX corner cases ----

@pytest.mark.parametrize("kind,config,in_shape,x_shape", [
    # 'same' at stride 1 with unknown sizes: explicit pads (k_eff - 1 in total).
    ("Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"},
     (None, None, 2), (3, 7, 6, 2)),
    # strided 'same' with unknown sizes: SAME_UPPER, odd sizes.
    ("Conv2D", {"filters": 2, "kernel_size": [2, 3], "strides": [2, 3], "padding": "same"},
     (None, None, 2), (3, 7, 8, 2)),
    # strided + dilated 'same' with an unknown size: onnxruntime refuses SAME_* with
    # dilations, so the lowering spells the dilated kernel out.
    ("DepthwiseConv2D", {"kernel_size": 3, "dilation_rate": 2, "strides": 2,
                         "padding": "same"}, (None, 9, 2), (3, 8, 9, 2)),
    ("SeparableConv1D", {"filters": 3, "kernel_size": 2, "dilation_rate": 3, "strides": 2,
                         "padding": "same"}, (None, 2), (3, 9, 2)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": [3, 4], "strides": [2, 3],
                         "padding": "same", "output_padding": [1, 2]}, (None, None, 2),
     (2, 5, 3, 2)),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
     (3, 3, 3, 1), (2, 3, 3, 3, 1)),
])
def test_lowering_corner_cases(kind, config, in_shape, x_shape):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    from seqc.export import to_onnx

    graph = build(kind, Example(config, in_shape))
    rng = np.random.default_rng(0)
    params = make_params(graph, rng)
    model = to_onnx(graph, params, opset=17)
    x = rng.normal(size=x_shape).astype(np.float32)
    want, _ = forward(graph, params, x, training=False)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for got in (sess.run(None, {"input": x})[0], ReferenceEvaluator(model).run(None,
                                                                              {"input": x})[0]):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


# ---- against Keras ----

def test_stacked_model_matches_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    layers = [
        ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same",
                    "activation": "relu"}),
        ("DepthwiseConv2D", {"kernel_size": 2, "depth_multiplier": 2, "padding": "same"}),
        ("SeparableConv2D", {"filters": 3, "kernel_size": 3, "dilation_rate": 2,
                             "padding": "same", "activation": "tanh"}),
        ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                             "output_padding": 1}),
    ]
    m = seqc.Sequential([seqc.layers.Input((9, 7, 2))]
                        + [getattr(seqc.layers, k)(**c) for k, c in layers])
    km = keras.Sequential([keras.Input((9, 7, 2))]
                          + [getattr(keras.layers, k)(**c) for k, c in layers])
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in m.get_weights()]
    assert [w.shape for w in weights] == [tuple(w.shape) for w in km.get_weights()]
    m.set_weights(weights)
    km.set_weights(weights)
    x = rng.normal(size=(3, 9, 7, 2)).astype(np.float32)
    want = keras.ops.convert_to_numpy(km(x))
    got = m.predict(x)
    assert got.shape == want.shape == (3, 10, 8, 2)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
