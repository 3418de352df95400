"""Golden values and edge cases for padding, cropping, upsampling, spatial dropout, the noise
kinds and Permute (the contract tests cover shapes, gradients and lowering generically)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError
from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.types import batched
from seqc.ops import REGISTRY
from seqc.ops._resize import bilinear_matrix
from seqc.ops.base import RunContext


def run(kind: str, config: dict, x: np.ndarray, *, training: bool = False, seed: int = 0):
    """(y, cache) of one kind's forward on x (batch included)."""
    op = REGISTRY[kind]
    attrs = op.parse_attrs(config)
    op.check(attrs)
    (t,) = op.infer(attrs, [batched(x.shape[1:], x.dtype.name)])
    (y,), cache = op.forward(attrs, {}, [x], RunContext(training=training,
                                                        rng=np.random.default_rng(seed)))
    assert t.matches(y)
    return y, cache


def grad(kind: str, config: dict, cache, dy: np.ndarray) -> np.ndarray:
    op = REGISTRY[kind]
    (dx,), _ = op.backward(op.parse_attrs(config), {}, cache, [dy])
    return dx


# ---- padding ----

def test_zero_padding2d_asymmetric_values():
    x = np.array([[1, 2], [3, 4]], np.float32).reshape(1, 2, 2, 1)
    y, cache = run("ZeroPadding2D", {"padding": [[1, 0], [0, 2]]}, x)
    want = np.array([[0, 0, 0, 0],
                     [1, 2, 0, 0],
                     [3, 4, 0, 0]], np.float32)
    np.testing.assert_array_equal(y[0, :, :, 0], want)
    dy = np.arange(12, dtype=np.float32).reshape(1, 3, 4, 1)
    np.testing.assert_array_equal(grad("ZeroPadding2D", {}, cache, dy)[0, :, :, 0],
                                  [[4, 5], [8, 9]])


def test_zero_padding1d_channels_first_pads_last_axis():
    x = np.array([[[1, 2], [3, 4]]], np.float32)  # (N=1, C=2, steps=2)
    y, _ = run("ZeroPadding1D", {"padding": [2, 1], "data_format": "channels_first"}, x)
    np.testing.assert_array_equal(y[0], [[0, 0, 1, 2, 0], [0, 0, 3, 4, 0]])


@pytest.mark.parametrize("kind,forms,canonical", [
    ("ZeroPadding1D", [2, [2, 2]], (2, 2)),
    ("ZeroPadding2D", [1, [1, 1], [[1, 1], [1, 1]], [1, [1, 1]]], ((1, 1), (1, 1))),
    ("ZeroPadding2D", [[2, 3], [[2, 2], [3, 3]]], ((2, 2), (3, 3))),
    ("ZeroPadding3D", [1, [1, 1, 1], [[1, 1]] * 3], ((1, 1),) * 3),
    ("Cropping2D", [0, [0, 0]], ((0, 0), (0, 0))),
    ("Cropping3D", [[1, 0, 2]], ((1, 1), (0, 0), (2, 2))),
])
def test_every_keras_spelling_parses_to_the_same_attrs(kind, forms, canonical):
    op = REGISTRY[kind]
    name = "padding" if "Padding" in kind else "cropping"
    parsed = {op.parse_attrs({name: f}) for f in forms}
    assert len(parsed) == 1
    assert getattr(parsed.pop(), name) == canonical


def test_defaults_match_keras():
    assert REGISTRY["ZeroPadding1D"].parse_attrs({}).padding == (1, 1)
    assert REGISTRY["ZeroPadding2D"].parse_attrs({}).padding == ((1, 1), (1, 1))
    assert REGISTRY["ZeroPadding3D"].parse_attrs({}).padding == ((1, 1),) * 3
    assert REGISTRY["Cropping1D"].parse_attrs({}).cropping == (1, 1)
    assert REGISTRY["Cropping2D"].parse_attrs({}).cropping == ((0, 0), (0, 0))
    assert REGISTRY["Cropping3D"].parse_attrs({}).cropping == ((1, 1),) * 3
    a = REGISTRY["UpSampling2D"].parse_attrs({"data_format": None})
    assert (a.size, a.data_format, a.interpolation) == ((2, 2), "channels_last", "nearest")
    assert REGISTRY["UpSampling3D"].parse_attrs({"size": 3}).size == (3, 3, 3)


# ---- cropping ----

def test_cropping1d_asymmetric_values():
    x = np.arange(10, dtype=np.float32).reshape(1, 5, 2)
    y, cache = run("Cropping1D", {"cropping": [1, 2]}, x)
    np.testing.assert_array_equal(y[0], [[2, 3], [4, 5]])
    dx = grad("Cropping1D", {}, cache, np.ones_like(y))
    np.testing.assert_array_equal(dx[0, :, 0], [0, 1, 1, 0, 0])


def test_cropping2d_asymmetric_and_channels_first():
    x = np.arange(20, dtype=np.float32).reshape(1, 4, 5, 1)
    y, _ = run("Cropping2D", {"cropping": [[1, 2], [0, 3]]}, x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[5, 6]])
    xf = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    yf, _ = run("Cropping2D", {"cropping": [[1, 2], [0, 3]], "data_format": "channels_first"},
                xf)
    np.testing.assert_array_equal(yf[0, 0], [[5, 6]])


def test_cropping_a_variable_axis_to_nothing_is_a_data_error():
    from seqc.errors import DataError

    op = REGISTRY["Cropping1D"]
    attrs = op.parse_attrs({"cropping": [2, 2]})
    op.infer(attrs, [batched((None, 2))])  # unknown length: cannot be checked yet
    with pytest.raises(DataError, match="Received:"):
        op.forward(attrs, {}, [np.zeros((1, 4, 2), np.float32)], RunContext())


# ---- upsampling ----

def test_nearest_repeat_and_block_sum_backward():
    x = np.array([[1, 2], [3, 4]], np.float32).reshape(1, 2, 2, 1)
    y, cache = run("UpSampling2D", {"size": [2, 3]}, x)
    want = np.array([[1, 1, 1, 2, 2, 2],
                     [1, 1, 1, 2, 2, 2],
                     [3, 3, 3, 4, 4, 4],
                     [3, 3, 3, 4, 4, 4]], np.float32)
    np.testing.assert_array_equal(y[0, :, :, 0], want)
    dy = np.arange(24, dtype=np.float32).reshape(1, 4, 6, 1)
    # Each input pixel gets the sum of its 2x3 block of dy.
    blocks = [[0 + 1 + 2 + 6 + 7 + 8, 3 + 4 + 5 + 9 + 10 + 11],
              [12 + 13 + 14 + 18 + 19 + 20, 15 + 16 + 17 + 21 + 22 + 23]]
    np.testing.assert_array_equal(grad("UpSampling2D", {"size": [2, 3]}, cache, dy)[0, :, :, 0],
                                  blocks)
    y1, _ = run("UpSampling1D", {"size": 3}, np.array([[[1.0], [2.0]]], np.float32))
    np.testing.assert_array_equal(y1[0, :, 0], [1, 1, 1, 2, 2, 2])
    y3, _ = run("UpSampling3D", {"size": [2, 1, 1], "data_format": "channels_first"},
                np.arange(2, dtype=np.float32).reshape(1, 1, 2, 1, 1))
    np.testing.assert_array_equal(y3.ravel(), [0, 0, 1, 1])


def test_bilinear_half_pixel_weights_by_hand():
    # n=2, s=2: sources (j + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (upper
    # neighbour clamped to pixel 1).
    np.testing.assert_allclose(bilinear_matrix(2, 2) @ [0.0, 1.0], [0, 0.25, 0.75, 1])
    # n=3, s=3: sources -1/3 -> 0, 0, 1/3, 2/3, 1, 4/3, 5/3, 2, 7/3 -> 2.
    np.testing.assert_allclose(bilinear_matrix(3, 3) @ [0.0, 3.0, 9.0],
                               [0, 0, 1, 2, 3, 5, 7, 9, 9], atol=1e-12)
    for n, s in ((1, 3), (5, 2), (4, 3)):
        np.testing.assert_allclose(bilinear_matrix(n, s).sum(axis=1), 1.0)


def test_bilinear_backward_is_the_adjoint():
    rng = np.random.default_rng(0)
    cfg = {"size": [3, 2], "interpolation": "bilinear"}
    x = rng.normal(size=(2, 5, 7, 3))
    y, cache = run("UpSampling2D", cfg, x)
    g = rng.normal(size=y.shape)
    dx = grad("UpSampling2D", cfg, cache, g)
    assert dx.dtype == np.float64
    np.testing.assert_allclose((y * g).sum(), (x * dx).sum(), rtol=1e-12)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("size", [(2, 2), (3, 2)])
@pytest.mark.parametrize("shape", [(5, 3, 2), (3, 7, 1), (1, 5, 1)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_bilinear_matches_keras(size, shape, data_format):
    keras = _keras()
    cfg = {"size": list(size), "interpolation": "bilinear", "data_format": data_format}
    x = np.random.default_rng(1).uniform(-3, 3, size=(2, *shape)).astype(np.float32)
    if data_format == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    want = keras.ops.convert_to_numpy(keras.layers.UpSampling2D(**cfg)(x))
    got, _ = run("UpSampling2D", cfg, x)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("cfg", [
    {"size": [3, 2], "interpolation": "bilinear"},
    {"size": [2, 3]},
    {"size": [2, 2], "interpolation": "bilinear", "data_format": "channels_first"},
])
def test_resize_lowering_matches_numpy(cfg, opset):
    ort = pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    shape = (3, 5, 7, 2) if cfg.get("data_format") != "channels_first" else (3, 2, 5, 7)
    graph = build_graph("up", batched(shape[1:]), [LayerConfig("UpSampling2D", dict(cfg))])
    model = to_onnx(graph, {}, opset=opset)
    (resize,) = [n for n in model.graph.node if n.op_type == "Resize"]
    attrs = {a.name: a.s.decode() for a in resize.attribute}
    if cfg.get("interpolation") == "bilinear":
        assert attrs == {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    else:
        assert attrs["coordinate_transformation_mode"] == "asymmetric"
    x = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    want, _ = run("UpSampling2D", cfg, x)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], want, atol=1e-5)


@pytest.mark.parametrize("layer", [
    LayerConfig("ZeroPadding2D", {"padding": [[1, 0], [2, 3]]}),
    LayerConfig("Cropping2D", {"cropping": [[0, 2], [1, 0]]}),
    LayerConfig("ZeroPadding1D", {"padding": [0, 2], "data_format": "channels_first"}),
])
def test_pad_and_slice_lower_at_opset13(layer):
    ort = pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    shape = (4, 5, 2) if layer.type.endswith("2D") else (3, 4)
    graph = build_graph("m", batched(shape), [layer])
    model = to_onnx(graph, {}, opset=13)
    x = np.random.default_rng(3).normal(size=(2, *shape)).astype(np.float32)
    want, _ = run(layer.type, layer.config, x)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(sess.run(None, {"input": x})[0], want)


# ---- spatial dropout ----

@pytest.mark.parametrize("kind,shape,data_format", [
    ("SpatialDropout1D", (7, 16), None),
    ("SpatialDropout2D", (4, 5, 16), "channels_last"),
    ("SpatialDropout2D", (16, 4, 5), "channels_first"),
    ("SpatialDropout3D", (2, 3, 4, 16), "channels_last"),
])
def test_spatial_dropout_drops_whole_channels(kind, shape, data_format):
    cfg = {"rate": 0.25} if data_format is None else {"rate": 0.25, "data_format": data_format}
    x = np.ones((64, *shape), np.float32)
    y, scale = run(kind, cfg, x, training=True)
    ch_axis = 1 if data_format == "channels_first" else x.ndim - 1
    spatial = tuple(a for a in range(1, x.ndim) if a != ch_axis)
    # One value per (sample, channel): constant over every spatial position.
    assert (y.max(axis=spatial) == y.min(axis=spatial)).all()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    kept = (y.max(axis=spatial) > 0).mean()
    assert abs(kept - 0.75) < 0.05  # 64 * 16 channel draws
    dy = np.full_like(y, 2.0)
    np.testing.assert_array_equal(grad(kind, cfg, scale, dy), 2.0 * y)
    y_inf, _ = run(kind, cfg, x, training=False)
    assert y_inf is x


# ---- noise kinds ----

def test_gaussian_noise_statistics_and_gradient():
    x = np.full((400, 250), 3.0, np.float32)
    y, cache = run("GaussianNoise", {"stddev": 0.3}, x, training=True)
    e = y - x
    assert abs(e.mean()) < 0.005 and abs(e.std() - 0.3) < 0.005
    np.testing.assert_array_equal(grad("GaussianNoise", {"stddev": 0.3}, cache, e), e)
    assert run("GaussianNoise", {"stddev": 0.3}, x)[0] is x


def test_gaussian_dropout_statistics_and_gradient():
    rate = 0.2
    x = np.full((400, 250), 2.0, np.float32)
    y, m = run("GaussianDropout", {"rate": rate}, x, training=True)
    noise = y / x
    assert abs(noise.mean() - 1.0) < 0.005
    assert abs(noise.std() - np.sqrt(rate / (1 - rate))) < 0.005
    dy = np.ones_like(y)
    np.testing.assert_allclose(grad("GaussianDropout", {"rate": rate}, m, dy), noise, rtol=1e-6)
    assert run("GaussianDropout", {"rate": rate}, x)[0] is x


def test_noise_is_reproducible_from_the_run_generator():
    x = np.zeros((2, 3), np.float32)
    a, _ = run("GaussianNoise", {"stddev": 0.5}, x, training=True, seed=5)
    b, _ = run("GaussianNoise", {"stddev": 0.5}, x, training=True, seed=5)
    c, _ = run("GaussianNoise", {"stddev": 0.5}, x, training=True, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ---- Permute ----

def test_permute_semantics():
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    y, _ = run("Permute", {"dims": [3, 1, 2]}, x)
    assert y.shape == (1, 4, 2, 3)
    # y[n, i, j, k] = x[n, j, k, i]
    assert y[0, 3, 1, 2] == x[0, 1, 2, 3]
    dx = grad("Permute", {"dims": [3, 1, 2]}, None, y)
    np.testing.assert_array_equal(dx, x)


def test_permute_lowers_to_one_transpose():
    pytest.importorskip("onnx")
    from seqc.export import to_onnx

    graph = build_graph("p", batched((2, 3, 4)), [LayerConfig("Permute", {"dims": [2, 3, 1]})])
    nodes = to_onnx(graph, {}).graph.node
    assert [n.op_type for n in nodes] == ["Transpose"]
    assert list(nodes[0].attribute[0].ints) == [0, 2, 3, 1]


def test_permute_after_a_channels_first_value_is_still_one_transpose():
    ort = pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    layers = [LayerConfig("ZeroPadding2D", {"padding": [[1, 0], [0, 2]]}),
              LayerConfig("Permute", {"dims": [3, 1, 2]})]
    graph = build_graph("p", batched((2, 3, 4)), layers)
    model = to_onnx(graph, {})
    # input Transpose to channels-first, Pad, then one Transpose straight to the Permute order.
    assert [n.op_type for n in model.graph.node] == ["Transpose", "Pad", "Transpose"]
    x = np.random.default_rng(0).normal(size=(2, 2, 3, 4)).astype(np.float32)
    want = np.pad(x, [(0, 0), (1, 0), (0, 2), (0, 0)]).transpose(0, 3, 1, 2)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(sess.run(None, {"input": x})[0], want)


# ---- errors through seqc.Sequential ----

@pytest.mark.parametrize("shape,layer,words", [
    ((4, 4, 1), seqc.layers.Cropping2D(cropping=[[2, 2], [0, 0]]),
     ["'cropping2d' (Cropping2D)", "removes all 4 rows", "Received: cropping=[[2, 2], [0, 0]]"]),
    ((5, 2), seqc.layers.Cropping1D([3, 3]), ["removes all 5 steps", "cropping"]),
    ((4, 4, 1), seqc.layers.ZeroPadding2D([1, 2, 3]), ["padding", "[before, after] pairs"]),
    ((4, 4, 1), seqc.layers.ZeroPadding2D([[1, 2, 3], 1]), ["padding", "pair"]),
    ((4, 4, 1), seqc.layers.ZeroPadding2D("same"), ["padding", "Received: padding='same'"]),
    ((3, 4), seqc.layers.Permute([1, 3]), ["permutation of 1..2", "dims=[1, 3]"]),
    ((3, 4), seqc.layers.Permute((1, 2, 3)), ["3 entries", "2 non-batch axes"]),
    ((4, 4, 1), seqc.layers.UpSampling2D(interpolation="lanczos3"),
     ["not supported", "'nearest', 'bilinear'"]),
    ((4, 4, 1), seqc.layers.UpSampling2D(interpolaton="bilinear"),
     ["unknown argument 'interpolaton'", "interpolation"]),
    ((4, 4, 1), seqc.layers.ZeroPadding2D(paddding=1), ["unknown argument", "padding"]),
    ((4, 3), seqc.layers.SpatialDropout1D(0.5, data_format="channels_first"),
     ["unknown argument 'data_format'"]),
    ((4, 3), seqc.layers.SpatialDropout2D(0.5), ["rank 4"]),
    ((3,), seqc.layers.GaussianNoise(2.0), ["stddev", "Received: stddev=2.0"]),
    ((3,), seqc.layers.GaussianDropout(stdev=0.1), ["unknown argument 'stdev'"]),
])
def test_errors_name_layer_and_field(shape, layer, words):
    with pytest.raises(DefinitionError) as info:
        seqc.Sequential([seqc.layers.Input(shape), layer])
    text = str(info.value)
    assert "Received:" in text
    for w in words:
        assert w in text, text


def test_a_small_model_trains_through_every_kind():
    L = seqc.layers
    model = seqc.Sequential([
        L.Input((4, 4, 2)), L.ZeroPadding2D(1), L.SpatialDropout2D(0.2), L.GaussianNoise(0.1),
        L.UpSampling2D(2, interpolation="bilinear"), L.Cropping2D(((1, 2), (2, 1))),
        L.GaussianDropout(0.1), L.Permute((3, 1, 2)), L.Flatten(), L.Dense(1),
    ])
    assert model.output_shape == (None, 1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4, 4, 2)).astype(np.float32)
    y = x.mean(axis=(1, 2, 3))[:, None]
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert all(np.isfinite(losses))
    pred = model.predict(x)
    assert pred.shape == (32, 1) and np.isfinite(pred).all()
