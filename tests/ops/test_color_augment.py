"""The colour and intensity augmentation layers (RandomContrast ... MixUp, CutMix, AutoContrast):
the transform for given random parameters against Keras' own `transform_images` (torch
backend), the draws' statistics, seeded reproducibility, value_range clipping, inference
untouched, and the frontends. The contract tests (test_contract.py) cover config round trips,
shapes, backward vs finite differences and the (absent) lowering."""

from __future__ import annotations

import os

import numpy as np
import pytest

from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.types import batched
from seqc.ops import REGISTRY
from seqc.ops.base import RunContext

os.environ.setdefault("KERAS_BACKEND", "torch")

AUGMENT = ["CutMix", "Equalization", "MixUp", "RandomBrightness", "RandomColorDegeneration",
           "RandomColorJitter", "RandomContrast", "RandomErasing", "RandomGaussianBlur",
           "RandomGrayscale", "RandomHue", "RandomInvert", "RandomPosterization",
           "RandomSaturation", "RandomSharpness", "Solarization"]

# (kind, config, value range of the inputs): each transform is compared with Keras'.
KERAS_CASES = [
    ("RandomContrast", {"factor": 0.5}, (0, 255)),
    ("RandomContrast", {"factor": [0.2, 0.9], "value_range": [0, 1]}, (0, 1)),
    ("RandomBrightness", {"factor": 0.4}, (0, 255)),
    ("RandomBrightness", {"factor": [-0.5, 0.5], "value_range": [-1, 1]}, (-1, 1)),
    ("RandomGrayscale", {"factor": 0.5}, (0, 255)),
    ("RandomHue", {"factor": 0.9}, (0, 255)),
    ("RandomHue", {"factor": [0.3, 1.0], "value_range": [0, 1]}, (0, 1)),
    ("RandomSaturation", {"factor": 0.8}, (0, 255)),
    ("RandomSaturation", {"factor": [0.3, 0.7], "value_range": [0, 1]}, (0, 1)),
    ("RandomSharpness", {"factor": 0.8}, (0, 255)),
    ("RandomColorDegeneration", {"factor": 0.9}, (0, 255)),
    ("RandomInvert", {"factor": 0.7}, (0, 255)),
    ("RandomPosterization", {"factor": [1, 8]}, (0, 255)),
    ("RandomPosterization", {"factor": 3, "value_range": [0, 1]}, (0, 1)),
    ("Solarization", {"addition_factor": 0.3, "threshold_factor": 0.7}, (0, 255)),
    ("Solarization", {"threshold_factor": [0.2, 0.6], "value_range": [0, 1]}, (0, 1)),
    ("Equalization", {}, (0, 255)),
    ("Equalization", {"bins": 32, "value_range": [0, 1]}, (0, 1)),
    ("RandomErasing", {"scale": [0.2, 0.5]}, (0, 255)),
    ("RandomErasing", {"fill_value": [10, 20, 30], "factor": [0.5, 1.0]}, (0, 255)),
    ("RandomGaussianBlur", {"kernel_size": 5, "sigma": [0.2, 1.0]}, (0, 255)),
    ("MixUp", {"alpha": 0.5}, (0, 255)),
    ("CutMix", {}, (0, 255)),
]


def _keras():
    return pytest.importorskip("keras")


def _to_keras(t):
    keras = _keras()
    if isinstance(t, dict):
        return {k: _to_keras(v) for k, v in t.items()}
    return keras.ops.convert_to_tensor(np.asarray(t))


def _attrs(kind, config):
    op = REGISTRY[kind]
    attrs = op.parse_attrs(dict(config))
    op.check(attrs)
    return op, attrs


def _images(rng, lo, hi, shape=(6, 5, 7, 3)):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def _keras_layer(kind, config):
    import copy

    return getattr(_keras().layers, kind)(**copy.deepcopy(config))


@pytest.mark.parametrize("kind,config,vr", KERAS_CASES,
                         ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(KERAS_CASES)])
def test_transform_matches_keras_for_given_parameters(kind, config, vr):
    keras = _keras()
    rng = np.random.default_rng(0)
    op, a = _attrs(kind, config)
    x = _images(rng, *vr)
    t = op.draw(a, x.shape, rng)
    want, _ = op.transform(a, x, t)
    layer = _keras_layer(kind, config)
    got = layer.transform_images(keras.ops.convert_to_tensor(x),
                                 None if t is None else _to_keras(t), training=True)
    got = keras.ops.convert_to_numpy(got)
    scale = vr[1] - vr[0]
    np.testing.assert_allclose(want, got, atol=1e-5 * scale, rtol=1e-5)
    assert want.dtype == np.float32


def test_color_jitter_is_keras_parts_in_order():
    keras = _keras()
    rng = np.random.default_rng(1)
    config = {"brightness_factor": 0.3, "contrast_factor": 0.5, "saturation_factor": 0.5,
              "hue_factor": 0.4}
    op, a = _attrs("RandomColorJitter", config)
    x = _images(rng, 0, 255)
    t = op.draw(a, x.shape, rng)
    want, _ = op.transform(a, x, t)
    layer = _keras_layer("RandomColorJitter", config)
    y = keras.ops.convert_to_tensor(x)
    for part in ("brightness", "contrast", "saturation", "hue"):  # Keras' order
        y = getattr(layer, f"random_{part}").transform_images(y, _to_keras(t[part]))
    np.testing.assert_allclose(want, keras.ops.convert_to_numpy(y), atol=3e-3, rtol=1e-5)


@pytest.mark.parametrize("kind,config", [
    ("RandomContrast", {"factor": 0.5}), ("RandomHue", {"factor": 0.9}),
    ("RandomSaturation", {"factor": 0.8}), ("RandomSharpness", {"factor": 0.8}),
    ("RandomGaussianBlur", {}), ("RandomErasing", {"scale": 0.5}), ("CutMix", {}),
    ("Equalization", {}),
])
def test_channels_first_matches_keras(kind, config):
    keras = _keras()
    rng = np.random.default_rng(2)
    config = {**config, "data_format": "channels_first"}
    op, a = _attrs(kind, config)
    x = _images(rng, 0, 255, (4, 3, 5, 6))
    # seqc's transforms run channels-last; the layer moves the axes.
    xl = np.moveaxis(x, 1, -1)
    t = op.draw(a, xl.shape, rng)
    want = np.moveaxis(op.transform(a, xl, t)[0], -1, 1)
    if t is not None and "batch_masks" in t:
        t = {**t, "batch_masks": np.moveaxis(t["batch_masks"], -1, 1)}
    if t is not None and np.ndim(t.get("fill_value", 0)) == 4:
        t = {**t, "fill_value": np.moveaxis(t["fill_value"], -1, 1)}
    got = _keras_layer(kind, config).transform_images(
        keras.ops.convert_to_tensor(x), None if t is None else _to_keras(t), training=True)
    np.testing.assert_allclose(want, keras.ops.convert_to_numpy(got), atol=3e-3, rtol=1e-5)


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1)])
def test_auto_contrast_matches_keras_with_a_constant_channel(value_range):
    keras = _keras()
    rng = np.random.default_rng(3)
    x = _images(rng, *value_range, (3, 4, 5, 3))
    x[1, :, :, 2] = x[1, 0, 0, 2]  # a flat channel keeps its values (Keras' NaN rule)
    op, a = _attrs("AutoContrast", {"value_range": list(value_range)})
    for training in (True, False):  # Keras applies it at inference too
        y, _ = op.forward(a, {}, [x], RunContext(training=training))
        got = _keras_layer("AutoContrast", {"value_range": list(value_range)})(
            x, training=training)
        np.testing.assert_allclose(y[0], keras.ops.convert_to_numpy(got),
                                   atol=1e-5 * value_range[1], rtol=1e-5)
    np.testing.assert_array_equal(y[0][1, :, :, 2], x[1, :, :, 2])
    assert y[0].min() >= value_range[0] and y[0].max() <= value_range[1]


# ---------------------------------------------------------------- statistics of the draws

def _run(kind, config, x, seed=0, training=True):
    op, a = _attrs(kind, config)
    return op.forward(a, {}, [x], RunContext(training=training,
                                             rng=np.random.default_rng(seed)))[0][0]


def test_brightness_deltas_stay_within_factor_times_range_and_clip():
    x = np.full((2000, 2, 2, 1), 100.0, np.float32)
    y = _run("RandomBrightness", {"factor": [-0.2, 0.1]}, x)
    delta = y[:, 0, 0, 0] - 100.0
    assert delta.min() >= -0.2 * 255 - 1e-3 and delta.max() <= 0.1 * 255 + 1e-3
    assert abs(delta.mean() - (-0.05 * 255)) < 2.0  # uniform over the range
    # Clipped to value_range: bright images saturate at its top.
    y = _run("RandomBrightness", {"factor": 0.9, "value_range": [0, 1]},
             np.full((500, 2, 2, 3), 0.9, np.float32))
    assert y.max() == 1.0 and y.min() >= 0.0 and (y == 1.0).mean() > 0.3


def test_contrast_factor_range_and_channel_means_kept():
    rng = np.random.default_rng(4)
    x = _images(rng, 100, 150, (500, 4, 4, 3))
    y = _run("RandomContrast", {"factor": 0.5}, x)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1e-3)
    ratio = y.std(axis=(1, 2)) / x.std(axis=(1, 2))
    # Keras' rule for one number f: contrast in [1 - 0, 1 + f] (its factor becomes (0, f)).
    assert ratio.min() >= 1.0 - 1e-4 and ratio.max() <= 1.5 + 1e-4
    assert ratio.max() > 1.4


@pytest.mark.parametrize("factor", [0.25, 0.8])
def test_grayscale_is_applied_with_probability_factor(factor):
    rng = np.random.default_rng(5)
    x = _images(rng, 0, 255, (2000, 2, 2, 3))
    y = _run("RandomGrayscale", {"factor": factor}, x)
    gray = np.all(np.ptp(y, axis=-1) < 1e-3, axis=(1, 2))
    assert abs(gray.mean() - factor) < 0.04
    np.testing.assert_array_equal(y[~gray], x[~gray])


def test_invert_erasing_and_blur_probabilities():
    rng = np.random.default_rng(6)
    x = _images(rng, 0, 255, (2000, 4, 4, 3))
    y = _run("RandomInvert", {"factor": [0.2, 0.6]}, x)
    inverted = np.all(np.isclose(y, 255.0 - x), axis=(1, 2, 3))
    assert abs(inverted.mean() - 0.4) < 0.04  # p ~ U(0.2, 0.6): 0.4 on average
    y = _run("RandomErasing", {"factor": 0.5, "scale": [0.3, 0.6], "fill_value": -1.0,
                               "value_range": [-1, 255]}, x)
    erased = (y == -1.0).mean(axis=(1, 2, 3))
    assert abs((erased > 0).mean() - 0.25) < 0.04  # default factor 0.5 -> p ~ U(0, 0.5)
    area = erased[erased > 0]
    assert area.max() <= 0.6 + 1e-6 and area.mean() > 0.2


def test_hue_shift_is_at_most_half_the_factor():
    from seqc.ops._color import rgb_to_hsv

    rng = np.random.default_rng(7)
    x = _images(rng, 0, 1, (1000, 1, 1, 3))
    y = _run("RandomHue", {"factor": 0.4, "value_range": [0, 1]}, x)
    d = rgb_to_hsv(y)[..., 0] - rgb_to_hsv(x)[..., 0]
    d = (d + 0.5) % 1.0 - 0.5
    assert np.abs(d).max() <= 0.2 + 1e-4 and (d > 0.1).any() and (d < -0.1).any()


def test_mixup_weights_and_cutmix_boxes():
    op, a = _attrs("MixUp", {"alpha": 0.2})
    t = op.draw(a, (4000, 2, 2, 1), np.random.default_rng(8))
    w = t["mix_weight"]
    # Beta(0.2, 0.2): mean 1/2, U-shaped (about a third of the mass inside (0.1, 0.9)).
    assert abs(w.mean() - 0.5) < 0.03 and 0.28 < ((w > 0.1) & (w < 0.9)).mean() < 0.4
    assert sorted(t["permutation_order"]) == list(range(4000))
    # The forward applies exactly such a draw from the run's generator.
    x = np.random.default_rng(9).uniform(0, 1, (16, 3, 3, 2)).astype(np.float32)
    want, _ = op.transform(a, x, op.draw(a, x.shape, np.random.default_rng(3)))
    np.testing.assert_array_equal(_run("MixUp", {"alpha": 0.2}, x, seed=3), want)
    # CutMix: boxes of sides sqrt(1 - w), w ~ Beta(alpha), alpha ~ U(0, 1): half the area on
    # average; every pixel comes from the image itself or its partner.
    op, a = _attrs("CutMix", {})
    t = op.draw(a, (4000, 16, 16, 1), np.random.default_rng(10))
    assert 0.42 < t["batch_masks"].mean() < 0.55
    x = np.arange(64, dtype=np.float32)[:, None, None, None] * np.ones((1, 4, 4, 1), np.float32)
    assert all(len(np.unique(img)) <= 2 for img in _run("CutMix", {}, x))


def test_posterization_keeps_the_drawn_number_of_bits():
    x = np.arange(256, dtype=np.float32).reshape(1, 16, 16, 1).repeat(50, axis=0)
    y = _run("RandomPosterization", {"factor": [2, 5]}, x)
    levels = {len(np.unique(img)) for img in y}
    assert levels <= {4, 8, 16} and len(levels) > 1  # 2, 3 or 4 bits (randint's [2, 5))


# ---------------------------------------------------------------- seeds, inference, graph

@pytest.mark.parametrize("kind", AUGMENT)
def test_seeded_reproducible_and_identity_at_inference(kind):
    op = REGISTRY[kind]
    ex = next(e for e in op.examples if e.training)
    rng = np.random.default_rng(9)
    x = rng.uniform(*ex.input_range, (8, *ex.input_shape)).astype(np.float32)
    a = op.parse_attrs(dict(ex.config))
    run = lambda seed, training=True: op.forward(  # noqa: E731
        a, {}, [x], RunContext(training=training, rng=np.random.default_rng(seed)))[0][0]
    np.testing.assert_array_equal(run(1), run(1))
    if kind != "Equalization":  # deterministic: the same in every training step
        assert not np.array_equal(run(1), run(2))
    assert run(1, training=False) is x
    # Without the run's generator the layer's own seed decides.
    seeded = op.parse_attrs({**ex.config, "seed": 5}) if "seed" in _fields(op) else a
    alone = lambda: op.forward(seeded, {}, [x], RunContext(training=True))[0][0]  # noqa: E731
    if "seed" in _fields(op):
        np.testing.assert_array_equal(alone(), alone())


def _fields(op):
    import dataclasses

    return {f.name for f in dataclasses.fields(op.Attrs)}


def _model(layers, shape=(8, 8, 3)):
    import seqc

    L = seqc.layers
    return seqc.Sequential([L.Input(shape), *layers, L.Conv2D(2, 3), L.Flatten(), L.Dense(1)])


def test_augmentation_trains_end_to_end_and_leaves_the_onnx_graph(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    import seqc

    L = seqc.layers
    model = _model([L.RandomBrightness(0.2), L.RandomContrast(0.3), L.RandomHue(0.2),
                    L.RandomSaturation(0.3), L.RandomColorJitter(brightness_factor=0.1),
                    L.RandomGrayscale(0.2), L.RandomErasing(), L.MixUp(),
                    L.Rescaling(1 / 255), L.RandomSharpness(0.3, value_range=(0, 1))])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(10)
    x = rng.uniform(0, 255, (32, 8, 8, 3)).astype(np.float32)
    y = rng.normal(size=(32, 1)).astype(np.float32)
    w0 = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.array_equal(a, b) for a, b in zip(w0, model.get_weights()))
    path = tmp_path / "m.onnx"
    model.export(str(path))
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ops <= {"Transpose", "Mul", "Conv", "Reshape", "Flatten", "Gemm", "MatMul", "Add"}
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("value_range,opset", [((0, 255), 17), ((0, 1), 18)])
def test_auto_contrast_is_exported_into_the_graph_and_matches_keras(value_range, opset):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from seqc.export import to_onnx

    keras = _keras()
    graph = build_graph("m", batched((8, 8, 3)),
                        [LayerConfig("AutoContrast", {"value_range": list(value_range)})])
    model = to_onnx(graph, {}, opset=opset)
    assert {"ReduceMin", "ReduceMax", "IsNaN", "Where"} <= {n.op_type for n in model.graph.node}
    lo, hi = value_range
    x = np.random.default_rng(11).uniform(lo + 0.1 * hi, 0.8 * hi, (4, 8, 8, 3))
    x = x.astype(np.float32)
    x[0, ..., 1] = 0.5 * hi  # a constant channel
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    want = keras.ops.convert_to_numpy(
        keras.layers.AutoContrast(value_range=value_range)(x, training=False))
    np.testing.assert_allclose(got, want, atol=1e-5 * hi, rtol=1e-5)
    assert got.max() == pytest.approx(hi) and got[1:].min() == pytest.approx(lo)


def test_backward_through_hue_reaches_the_layer_before():
    """A colour layer after a trainable one: gradients through it match finite differences
    of the whole (fixed-draw) training forward."""
    from ops_harness import backward, forward, numeric_grad

    graph = build_graph("m", batched((4, 4, 3)), [
        LayerConfig("Conv2D", {"filters": 3, "kernel_size": 1}),
        LayerConfig("RandomHue", {"factor": 0.8, "value_range": [0, 1]}),
        LayerConfig("RandomSaturation", {"factor": 0.5, "value_range": [0, 1]}),
        LayerConfig("RandomContrast", {"factor": 0.5, "value_range": [-5, 5]})])
    rng = np.random.default_rng(12)
    params = {k: rng.uniform(0.1, 0.9, s.shape) for k, s in graph.param_specs.items()}
    x = rng.uniform(0.1, 0.9, (2, 4, 4, 3))
    y, caches = forward(graph, params, x, training=True)
    g = rng.normal(size=y.shape)
    _, grads = backward(graph, params, caches, g)
    loss = lambda: float((forward(graph, params, x, training=True)[0] * g).sum())  # noqa: E731
    for key, grad in grads.items():
        np.testing.assert_allclose(grad, numeric_grad(loss, params[key]), rtol=1e-5,
                                   atol=1e-6, err_msg=key)


# ---------------------------------------------------------------- frontends

def test_keras_json_and_python_script_pick_the_layers_up(tmp_path):
    keras = _keras()
    import seqc

    km = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.RandomContrast(0.2),
                           keras.layers.RandomHue(0.1, seed=3), keras.layers.AutoContrast(),
                           keras.layers.MixUp(), keras.layers.Flatten(), keras.layers.Dense(2)])
    (tmp_path / "m.json").write_text(km.to_json())
    model = seqc.load(str(tmp_path / "m.json"))
    kinds = [n.op for n in model.graph.nodes]
    assert kinds[:4] == ["RandomContrast", "RandomHue", "AutoContrast", "MixUp"]
    assert model.graph.nodes[0].attrs.factor == (0.0, 0.2)
    script = tmp_path / "model.py"
    script.write_text(
        "import keras\nfrom keras import layers\n"
        "model = keras.Sequential([keras.Input((8, 8, 3)), layers.RandomContrast(0.2),\n"
        "    layers.RandomBrightness(0.1), layers.RandomColorJitter(hue_factor=0.1),\n"
        "    layers.Solarization(threshold_factor=0.5), layers.Flatten(), layers.Dense(2)])\n")
    model = seqc.load(str(script))
    assert [n.op for n in model.graph.nodes][:4] == [
        "RandomContrast", "RandomBrightness", "RandomColorJitter", "Solarization"]


def test_fit_with_augmentation_is_deterministic_per_seed():
    import seqc

    L = seqc.layers
    rng = np.random.default_rng(13)
    x = rng.uniform(0, 255, (16, 8, 8, 3)).astype(np.float32)
    y = rng.normal(size=(16, 1)).astype(np.float32)

    def trained(seed):
        model = _model([L.RandomContrast(0.5), L.RandomErasing(), L.CutMix(),
                        L.Rescaling(1 / 255)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=seed, shuffle=False)
        return model.get_weights()

    a, b, c = trained(1), trained(1), trained(2)  # no shuffling: only the draws differ
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert any(not np.array_equal(u, v) for u, v in zip(a, c))
