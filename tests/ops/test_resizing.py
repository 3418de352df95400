"""Resizing and CenterCrop against Keras 3 beyond the contract examples: every interpolation over
up- and downsampling sizes, crop/pad to the aspect ratio, antialias; lanczos against Keras'
numpy backend (Keras' torch backend refuses it), area against TF's ResizeArea definition; the
exported graph (which ONNX op each mode becomes, no extra Transpose, any input size where the
mode allows it)."""

from __future__ import annotations

import ast
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError
from seqc.ir.types import batched
from seqc.ops import REGISTRY
from seqc.ops._resample import axis_matrix, nearest_indices, resize_plan
from seqc.ops.base import RunContext

os.environ.setdefault("KERAS_BACKEND", "torch")
L = seqc.layers


def run(kind: str, config: dict, x: np.ndarray) -> np.ndarray:
    op = REGISTRY[kind]
    attrs = op.parse_attrs(config)
    op.check(attrs)
    (t,) = op.infer(attrs, [batched(x.shape[1:], x.dtype.name)])
    (y,), _ = op.forward(attrs, {}, [x], RunContext(training=False))
    assert t.matches(y)
    return y


def keras_call(kind: str, config: dict, x: np.ndarray) -> np.ndarray:
    keras = pytest.importorskip("keras")
    return keras.ops.convert_to_numpy(getattr(keras.layers, kind)(**config)(x))


# ---- Keras on the torch backend: bilinear, bicubic, nearest, antialias, crop, pad ----

SIZES = [((6, 9), (4, 5)), ((4, 5), (9, 7)), ((7, 3), (3, 8)), ((5, 5), (5, 2)), ((1, 4), (3, 4)),
         ((96, 80), (64, 100))]


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("antialias", [False, True])
def test_torch_modes_match_keras(interpolation, antialias):
    rng = np.random.default_rng(0)
    for (h, w), (th, tw) in SIZES:
        x = rng.uniform(-2, 2, (2, h, w, 3)).astype(np.float32)
        for extra in ({}, {"crop_to_aspect_ratio": True},
                      {"pad_to_aspect_ratio": True, "fill_value": 1.5}):
            config = {"height": th, "width": tw, "interpolation": interpolation,
                      "antialias": antialias, **extra}
            np.testing.assert_allclose(run("Resizing", config, x),
                                       keras_call("Resizing", config, x),
                                       atol=1e-5, rtol=1e-5, err_msg=str(config))


def test_channels_first_matches_keras():
    x = np.random.default_rng(1).normal(size=(2, 3, 7, 4)).astype(np.float32)
    config = {"height": 3, "width": 6, "data_format": "channels_first",
              "pad_to_aspect_ratio": True, "fill_value": -1.0}
    np.testing.assert_allclose(run("Resizing", config, x), keras_call("Resizing", config, x),
                               atol=1e-5, rtol=1e-5)


def test_nearest_indices_are_torch_nearest_exact():
    torch = pytest.importorskip("torch")
    for n_in in range(1, 50):
        for n_out in range(1, 50):
            # 2-D, as Keras calls it (torch's 1-D kernel rounds a few ties differently).
            x = torch.arange(n_in, dtype=torch.float32).reshape(1, 1, n_in, 1).repeat(1, 1, 1, 3)
            want = torch.nn.functional.interpolate(x, size=(n_out, 3), mode="nearest-exact")
            np.testing.assert_array_equal(nearest_indices(n_in, n_out), want[0, 0, :, 1].numpy())


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("antialias", [False, True])
def test_torch_kernels_to_float32_rounding(mode, antialias):
    """The matrices repeat torch's float32 coordinate and weight arithmetic: at image sizes the
    outputs agree to the rounding of the sums, not only of the coordinates (1e-4 on noise)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    for n_in, n_out in ((224, 180), (180, 224), (333, 77), (64, 128), (1000, 999), (7, 5),
                        (2, 41), (1, 4), (4, 1)):
        x = rng.uniform(-2, 2, (1, 1, n_in, 3)).astype(np.float32)
        want = torch.nn.functional.interpolate(
            torch.tensor(x), size=(n_out, 3), mode=mode, antialias=antialias,
            align_corners=False).numpy()[0, 0]
        got = axis_matrix(n_in, n_out, mode, antialias).astype(np.float32) @ x[0, 0]
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f"{n_in} -> {n_out}")


def test_keras_torch_backend_refuses_lanczos_and_area():
    """Why those modes follow Keras' other backends (see seqc/ops/_resample.py)."""
    x = np.zeros((1, 4, 4, 1), np.float32)
    for mode in ("lanczos3", "lanczos5", "area"):
        with pytest.raises(ValueError):
            keras_call("Resizing", {"height": 2, "width": 2, "interpolation": mode}, x)


# ---- lanczos: Keras' numpy backend (jax.image.scale_and_translate) ----

def keras_numpy_resize():
    """Keras' numpy-backend image.resize, run from the installed Keras source. Its package
    imports scipy (not a seqc dependency), so the resize functions are executed on their own."""
    keras = pytest.importorskip("keras")
    path = Path(keras.__file__).parent / "src/backend/numpy/image.py"
    tree = ast.parse(path.read_text())
    keep = {"resize", "_resize", "_resize_nearest", "_compute_weight_mat", "_scale_and_translate",
            "_fill_triangle_kernel", "_fill_keys_cubic_kernel", "_fill_lanczos_kernel"}
    body = [n for n in tree.body
            if (isinstance(n, ast.FunctionDef) and n.name in keep)
            or (isinstance(n, ast.Assign)
                and {getattr(t, "id", "") for t in n.targets} & {"_kernels",
                                                                 "RESIZE_INTERPOLATIONS"})]
    ns = {"np": np, "backend": keras.src.backend}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), ns)
    return ns["resize"]


@pytest.mark.parametrize("mode", ["lanczos3", "lanczos5"])
@pytest.mark.parametrize("antialias", [False, True])
def test_lanczos_matches_keras_numpy_backend(mode, antialias):
    resize = keras_numpy_resize()
    rng = np.random.default_rng(3)
    for (h, w), (th, tw) in SIZES:
        x = rng.uniform(-2, 2, (2, h, w, 2)).astype(np.float32)
        for extra in ({}, {"crop_to_aspect_ratio": True},
                      {"pad_to_aspect_ratio": True, "fill_value": 0.5}):
            want = resize(x, (th, tw), interpolation=mode, antialias=antialias, **extra)
            got = run("Resizing", {"height": th, "width": tw, "interpolation": mode,
                                   "antialias": antialias, **extra}, x)
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5, err_msg=str(extra))


# ---- area: TensorFlow's ResizeArea ----

def test_area_is_the_box_mean():
    x = np.arange(2 * 6 * 9, dtype=np.float32).reshape(1, 6, 9, 2) ** 1.5
    got = run("Resizing", {"height": 2, "width": 3, "interpolation": "area"}, x)
    want = x.reshape(1, 2, 3, 3, 3, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_area_weighs_partly_covered_pixels():
    # 3 -> 2: each output covers 1.5 input pixels.
    np.testing.assert_allclose(axis_matrix(3, 2, "area"), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]])
    # 2 -> 3 (upsampling): spans of 2/3.
    np.testing.assert_allclose(axis_matrix(2, 3, "area"), [[1, 0], [0.5, 0.5], [0, 1]])
    for n_in, n_out in ((7, 3), (3, 7), (10, 4)):
        np.testing.assert_allclose(axis_matrix(n_in, n_out, "area").sum(axis=1), 1.0)


# ---- CenterCrop ----

@pytest.mark.parametrize("shape,target", [((7, 8), (3, 4)), ((4, 8), (6, 4)), ((3, 4), (5, 5)),
                                          ((6, 6), (6, 6)), ((5, 3), (2, 4))])
def test_center_crop_matches_keras(shape, target):
    x = np.random.default_rng(4).normal(size=(2, *shape, 3)).astype(np.float32)
    config = {"height": target[0], "width": target[1]}
    np.testing.assert_allclose(run("CenterCrop", config, x), keras_call("CenterCrop", config, x),
                               atol=1e-5, rtol=1e-5)


# ---- refusals ----

def test_integer_input_is_refused_for_resizing():
    with pytest.raises(DefinitionError, match="float input"):
        seqc.Sequential([L.Input((4, 4, 1), dtype="int32"), L.Resizing(2, 2)])


def test_pad_fill_constant_matches_the_padded_resize():
    plan = resize_plan((4, 8), (6, 6), "bicubic", pad_to_aspect_ratio=True, fill_value=2.0)
    x = np.random.default_rng(5).normal(size=(4, 8))
    padded = np.pad(x, ((2, 2), (0, 0)), constant_values=2.0)
    want = axis_matrix(8, 6, "bicubic") @ padded @ axis_matrix(8, 6, "bicubic").T
    got = plan.mats[0] @ x @ plan.mats[1].T + plan.const
    np.testing.assert_allclose(got, want, atol=1e-12)


# ---- export ----

ort = pytest.importorskip("onnxruntime")


def _export(model):
    from seqc.export import to_onnx

    proto = to_onnx(model.graph, model.params)
    return proto, Counter(n.op_type for n in proto.graph.node)


def _check(model, proto, x, atol=1e-5):
    from seqc.training.executor import forward

    want = forward(model.graph, model.params, x, RunContext(training=False, need_grad=False))[0]
    s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = s.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, atol=atol, rtol=1e-4 if atol >= 1e-5 else 0)


@pytest.mark.parametrize("interpolation,op", [
    ("bilinear", "Gather"), ("bicubic", "Gather"), ("nearest", "Gather"),
    ("lanczos3", "MatMul"), ("area", "Gather")])
def test_tutorial_stack_exports_with_one_transpose(interpolation, op):
    model = seqc.Sequential([L.Input((20, 24, 3)), L.Resizing(12, 10, interpolation),
                             L.Rescaling(1 / 255), L.Conv2D(4, 3, activation="relu"),
                             L.Flatten(), L.Dense(2)], seed=0)
    proto, ops = _export(model)
    assert ops["Transpose"] == 1 and ops[op] >= 2 and ops["Resize"] == 0, ops
    assert not any(n.name.startswith("rescaling/") for n in proto.graph.node), \
        "the Rescaling folds into the Conv2D after the Resizing"
    _check(model, proto, np.random.default_rng(6).uniform(0, 255, (2, 20, 24, 3))
           .astype(np.float32))


def test_bilinear_is_two_weighted_gathers_per_axis():
    model = seqc.Sequential([L.Input((9, 7, 1)), L.Resizing(5, 11)], seed=0)
    _, ops = _export(model)
    assert ops["Gather"] == 4 and ops["Mul"] == 4 and ops["Add"] == 2, ops


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest", "lanczos3", "area"])
def test_exported_resize_agrees_with_keras_at_image_sizes(interpolation):
    """onnxruntime on the exported graph against seqc's NumPy forward (itself matched to
    Keras above) where coordinate rounding matters: 480x640 -> 224x224 and an upsampling."""
    rng = np.random.default_rng(9)
    for (h, w), (th, tw) in (((480, 640), (224, 224)), ((60, 50), (150, 131))):
        model = seqc.Sequential([L.Input((h, w, 1)), L.Resizing(th, tw, interpolation)], seed=0)
        proto, _ = _export(model)
        _check(model, proto, rng.uniform(-2, 2, (1, h, w, 1)).astype(np.float32), atol=2e-6)


def test_crop_to_aspect_ratio_and_center_crop_are_slices():
    model = seqc.Sequential([L.Input((9, 14, 2)), L.CenterCrop(8, 12),
                             L.Resizing(4, 4, crop_to_aspect_ratio=True)], seed=0)
    proto, ops = _export(model)
    assert ops["Slice"] == 2 and ops["Gather"] == 4, ops
    _check(model, proto, np.random.default_rng(7).normal(size=(2, 9, 14, 2)).astype(np.float32))


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_any_input_size_where_the_mode_allows(interpolation):
    model = seqc.Sequential([L.Input((None, None, 3)), L.Resizing(6, 5, interpolation)], seed=0)
    proto, _ = _export(model)
    rng = np.random.default_rng(8)
    for h, w in ((7, 5), (12, 16), (3, 2), (480, 11), (1, 1)):
        _check(model, proto, rng.normal(size=(2, h, w, 3)).astype(np.float32), atol=2e-6)


def test_dynamic_size_is_refused_where_matrices_are_needed():
    for config in ({"interpolation": "lanczos3"}, {"interpolation": "bicubic"},
                   {"antialias": True},
                   {"pad_to_aspect_ratio": True}):
        with pytest.raises(DefinitionError, match="build time"):
            seqc.Sequential([L.Input((None, None, 3)), L.Resizing(6, 5, **config)])
