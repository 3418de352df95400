"""Folding Rescaling, Normalization and BatchNormalization into the layer beside them
(seqc.ir.passes.fold_preprocessing, and fold_batchnorm's consumer side): when it applies and
when it must not, and that folded and unfolded graphs agree in NumPy and onnxruntime, over
every example of every kind with a `fold_input_affine` facet."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.passes._fold import MAX_INPUT_SHIFT
from seqc.ir.passes.fold_batchnorm import fold_batchnorm
from seqc.ir.passes.fold_preprocessing import fold_preprocessing
from seqc.ir.types import batched
from seqc.ops import REGISTRY
from seqc.ops.base import RunContext
from seqc.training.executor import forward


def _graph(shape, layers, dtype="float32"):
    return build_graph("g", batched(shape, dtype), [LayerConfig(k, c) for k, c in layers])


def _params(graph, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for key, spec in graph.param_specs.items():
        if key.endswith(("variance", "moving_variance")):
            v = rng.uniform(0.2, 3.0, spec.shape)
        elif key.endswith("count"):
            v = np.zeros(spec.shape, np.int32)
        else:
            v = rng.normal(0.3, 0.7, spec.shape)
        out[key] = v.astype(spec.dtype if key.endswith("count") else np.float32)
    return out


def _predict(graph, params, x):
    return forward(graph, params, x, RunContext(training=False, need_grad=False))[0]


def _ort(graph, params, x, **kw):
    import onnxruntime as ort

    from seqc.export import to_onnx

    model = to_onnx(graph, params, **kw)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0], [n.op_type for n in model.graph.node]


def _x(shape, seed=1, lo=-2.0, hi=2.0):
    return np.random.default_rng(seed).uniform(lo, hi, (3, *shape)).astype(np.float32)


# ---- the generic check: every example of every kind that can absorb an input affine

def _foldable_examples():
    for kind, op in sorted(REGISTRY.items()):
        if op.fold_input_affine is None:
            continue
        for i, ex in enumerate(op.examples):
            if ex.input_dtype.startswith("float") and ex.mask_lengths is None:
                yield pytest.param(kind, ex, id=f"{kind}-{i}")


@pytest.mark.parametrize("kind,ex", list(_foldable_examples()))
@pytest.mark.parametrize("with_shift", [False, True], ids=["scale", "scale+shift"])
def test_input_affine_folds_into_every_example(kind, ex, with_shift):
    shape = tuple(6 if d is None else d for d in ex.input_shape)
    c = shape[-1]
    rng = np.random.default_rng(len(shape) + c)
    scale = rng.uniform(0.3, 2.0, c).round(3).tolist()
    offset = rng.uniform(-1.5, 1.5, c).round(3).tolist() if with_shift else 0.0
    g = _graph(ex.input_shape, [("Rescaling", {"scale": scale, "offset": offset}),
                                (kind, ex.config)])
    params = _params(g, seed=3)
    g2, p2, changes = fold_preprocessing(g, params)
    a = g.nodes[1].attrs
    refused = (getattr(a, "data_format", "channels_last") == "channels_first"
               or getattr(a, "groups", 1) != 1
               or (with_shift and getattr(a, "padding", "valid") != "valid"))
    if refused:
        assert changes == [] and g2 is g
        return
    assert changes == [f"rescaling folded into {g.nodes[1].name}"]
    assert [n.op for n in g2.nodes] == [kind] and g2.nodes[0].inputs == g.inputs
    assert set(p2) == set(g2.param_specs)
    x = _x(shape, lo=ex.input_range[0], hi=ex.input_range[1])
    want = _predict(g, params, x)
    np.testing.assert_allclose(_predict(g2, p2, x), want, rtol=1e-4, atol=1e-5)
    pytest.importorskip("onnxruntime")
    got, ops = _ort(g, params, x)
    _, ops_kept = _ort(g, params, x, fold_preprocessing=False)
    assert "Mul" not in ops and "Mul" in ops_kept and len(ops) < len(ops_kept)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# ---- Normalization

@pytest.mark.parametrize("config", [{}, {"invert": True}, {"axis": None},
                                    {"mean": [1.0, -2.0, 0.5], "variance": [4.0, 0.25, 1.0]}])
def test_normalization_folds_into_dense(config):
    g = _graph((3,), [("Normalization", config), ("Dense", {"units": 4, "use_bias": False}),
                      ("ReLU", {})])
    params = _params(g, seed=4)
    snapshot = copy.deepcopy(params)
    g2, p2, changes = fold_preprocessing(g, params)
    assert changes == ["normalization folded into dense"]
    assert [n.op for n in g2.nodes] == ["Dense", "ReLU"]
    assert list(g2.param_specs) == ["dense/kernel", "dense/bias"]  # the shift needs a bias
    assert all(np.array_equal(params[k], snapshot[k]) for k in snapshot)  # inputs untouched
    x = _x((3,), lo=-5, hi=5)
    np.testing.assert_allclose(_predict(g2, p2, x), _predict(g, params, x), rtol=1e-5,
                               atol=1e-5)


def test_a_large_shift_is_not_folded_into_the_consumer():
    # Prices around 10,000 with a spread of 2: x * scale and shift cancel in float32.
    mean = [1e4, 5.0]
    g = _graph((2,), [("Normalization", {"mean": mean, "variance": [4.0, 1.0]}),
                      ("Dense", {"units": 2})])
    assert abs(mean[0] / 2.0) > MAX_INPUT_SHIFT
    assert fold_preprocessing(g, _params(g))[2] == []


def test_a_constant_feature_is_not_folded():
    # variance 0: Keras divides by 1e-7, a scale no kernel should absorb next to a mean of 3.
    g = _graph((2,), [("Normalization", {"mean": [3.0, 0.0], "variance": [0.0, 1.0]}),
                      ("Dense", {"units": 2})])
    assert fold_preprocessing(g, _params(g))[2] == []


def test_statistics_over_two_axes_are_not_folded():
    g = _graph((3, 2), [("Normalization", {"axis": [1, 2]}), ("Dense", {"units": 2})])
    assert fold_preprocessing(g, _params(g))[2] == []
    # Per last-axis statistics on the same rank-3 input fold (Dense acts on the last axis).
    g = _graph((3, 2), [("Normalization", {}), ("Dense", {"units": 2})])
    params = _params(g, seed=6)
    g2, p2, changes = fold_preprocessing(g, params)
    assert changes == ["normalization folded into dense"]
    x = _x((3, 2))
    np.testing.assert_allclose(_predict(g2, p2, x), _predict(g, params, x), rtol=1e-5,
                               atol=1e-5)


# ---- Rescaling

def test_integer_input_keeps_its_rescaling():
    g = _graph((4,), [("Rescaling", {"scale": 0.5}), ("Dense", {"units": 2})], dtype="int32")
    assert fold_preprocessing(g, _params(g))[2] == []


def test_rescaling_with_another_reader_or_as_output_is_kept():
    g = _graph((4,), [("Rescaling", {"scale": 0.5}), ("ReLU", {})])
    assert fold_preprocessing(g, _params(g))[2] == []  # ReLU cannot absorb it
    g = _graph((4,), [("Dense", {"units": 3, "activation": "relu"}),
                      ("Rescaling", {"scale": 2.0})])
    assert fold_preprocessing(g, _params(g))[2] == []  # the producer is the activation


def test_a_final_rescaling_folds_into_the_dense_before_it():
    # The sunspots pattern: a linear Dense(1), then Rescaling undoing the target's scaling.
    g = _graph((5,), [("Dense", {"units": 4, "activation": "tanh"}), ("Dense", {"units": 1}),
                      ("Rescaling", {"scale": 40.0, "offset": 50.0})])
    params = _params(g, seed=8)
    g2, p2, changes = fold_preprocessing(g, params)
    assert changes == ["rescaling folded into dense_1"]
    assert g2.outputs == g.outputs and g2.nodes[-1].outputs == g.outputs
    x = _x((5,))
    np.testing.assert_allclose(_predict(g2, p2, x), _predict(g, params, x), rtol=1e-5,
                               atol=1e-4)


def test_conv_with_same_padding_takes_a_pure_scale_only():
    layers = [("Rescaling", {"scale": 1 / 16}),
              ("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same"})]
    g = _graph((5, 5, 1), layers)
    assert fold_preprocessing(g, _params(g))[2] == ["rescaling folded into conv2d"]
    layers[0] = ("Rescaling", {"scale": 1 / 8, "offset": -1.0})
    g = _graph((5, 5, 1), layers)
    assert fold_preprocessing(g, _params(g))[2] == []


def test_onnx_without_the_pass_keeps_the_nodes():
    pytest.importorskip("onnxruntime")
    g = _graph((3,), [("Normalization", {}), ("Dense", {"units": 2, "activation": "relu"})])
    params = _params(g, seed=9)
    x = _x((3,), lo=-4, hi=4)
    want = _predict(g, params, x)
    folded, ops = _ort(g, params, x)
    kept, ops_kept = _ort(g, params, x, fold_preprocessing=False)
    assert ops == ["Gemm", "Relu"] and ops_kept == ["Sub", "Div", "Gemm", "Relu"]
    for got in (folded, kept):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# ---- BatchNormalization after an activation folds into the next layer

def test_batchnorm_after_an_activation_folds_into_the_next_dense():
    g = _graph((4,), [("Dense", {"units": 5, "activation": "relu"}),
                      ("BatchNormalization", {}), ("Dense", {"units": 2})])
    params = _params(g, seed=10)
    g2, p2, changes = fold_batchnorm(g, params)
    assert changes == ["batch_normalization folded into dense_1"]
    assert [n.op for n in g2.nodes] == ["Dense", "Activation", "Dense"]
    x = _x((4,))
    np.testing.assert_allclose(_predict(g2, p2, x), _predict(g, params, x), rtol=1e-5,
                               atol=1e-5)


# ---- recurrent layers: the affine folds into the input projection

@pytest.mark.parametrize("kind,config", [
    ("LSTM", {"units": 3}), ("LSTM", {"units": 2, "use_bias": False, "return_sequences": True}),
    ("GRU", {"units": 3}), ("GRU", {"units": 2, "reset_after": False}),
    ("GRU", {"units": 2, "use_bias": False}), ("SimpleRNN", {"units": 3, "go_backwards": True})])
def test_normalization_folds_into_a_recurrent_layer_under_a_mask(kind, config):
    g = _graph((5, 2), [("Masking", {}), ("Normalization", {}), (kind, config)])
    assert g.masked  # the mask from Masking reaches the recurrent layer through the fold
    params = _params(g, seed=11)
    g2, p2, changes = fold_preprocessing(g, params)
    assert changes == [f"normalization folded into {g.nodes[2].name}"]
    assert [n.op for n in g2.nodes] == ["Masking", kind] and g2.masked
    x = _x((5, 2), seed=12, lo=-3, hi=3)
    x[0, 3:] = 0.0  # masked steps
    x[2, 1:] = 0.0
    want = _predict(g, params, x)
    np.testing.assert_allclose(_predict(g2, p2, x), want, rtol=1e-4, atol=1e-5)
    pytest.importorskip("onnxruntime")
    got, ops = _ort(g, params, x)
    _, ops_kept = _ort(g, params, x, fold_preprocessing=False)
    assert ops.count("Div") == ops_kept.count("Div") - 1 and len(ops) == len(ops_kept) - 2
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_bidirectional_keeps_its_normalization():
    g = _graph((4, 2), [("Normalization", {}), ("Bidirectional", {"layer": {
        "class_name": "LSTM", "config": {"units": 2}}})])
    assert REGISTRY["Bidirectional"].fold_input_affine is None
    assert fold_preprocessing(g, _params(g))[2] == []


# ---- moving the affine past kinds it commutes with (Resizing, CenterCrop; every
# inference_identity kind: Identity, Dropout, augmentation)

@pytest.mark.parametrize("affine,between,moves", [
    ({"scale": 1 / 255}, [("Resizing", {"height": 6, "width": 5})], True),
    ({"scale": 1 / 127.5, "offset": -1.0},
     [("Identity", {}), ("Resizing", {"height": 6, "width": 6, "interpolation": "lanczos3"}),
      ("CenterCrop", {"height": 4, "width": 5})], True),
    ({"scale": [0.5, 2.0], "offset": [1.0, -1.0]},
     [("Resizing", {"height": 4, "width": 4, "crop_to_aspect_ratio": True,
                    "interpolation": "area"})], True),
    # Zero padding: a pure scale passes, a shift would reach the padded border.
    ({"scale": 0.5}, [("Resizing", {"height": 6, "width": 4, "pad_to_aspect_ratio": True})],
     True),
    ({"scale": 0.5, "offset": 1.0},
     [("Resizing", {"height": 6, "width": 4, "pad_to_aspect_ratio": True})], False),
    # A non-zero fill would be scaled too.
    ({"scale": 0.5}, [("Resizing", {"height": 6, "width": 4, "pad_to_aspect_ratio": True,
                                    "fill_value": 1.0})], False),
    # Per-channel values on a channels-first image would act on its width.
    ({"scale": [0.5, 2.0]}, [("Resizing", {"height": 4, "width": 4,
                                           "data_format": "channels_first"})], False),
])
def test_affine_moves_past_resampling_into_the_conv(affine, between, moves):
    graph = _graph((8, 7, 2), [("Rescaling", affine), *between,
                               ("Conv2D", {"filters": 3, "kernel_size": 2}),
                               ("Flatten", {}), ("Dense", {"units": 2})])
    params = _params(graph)
    folded, fparams, changes = fold_preprocessing(graph, params)
    ops = [n.op for n in folded.nodes]
    assert ("Rescaling" not in ops) == moves, changes
    if moves:
        assert changes[0].startswith("rescaling moved past") and "conv2d" in changes[1]
        assert ops[:len(between)] == [k for k, _ in between]
    x = _x((8, 7, 2), lo=0.0, hi=255.0)
    want = _predict(graph, params, x)
    np.testing.assert_allclose(_predict(folded, fparams, x), want, rtol=1e-5, atol=1e-4)
    got, _ = _ort(graph, params, x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("between", [
    [("RandomFlip", {})],
    [("Dropout", {"rate": 0.3}), ("RandomContrast", {"factor": 0.2}),
     ("RandomRotation", {"factor": 0.1}), ("Identity", {})],
])
def test_affine_moves_past_inference_identity_kinds(between):
    """Rescaling -> RandomFlip (any `inference_identity` kinds) -> Conv2D folds as Rescaling ->
    Conv2D does: the exported graph is the same nodes, and agrees with NumPy."""
    affine = ("Rescaling", {"scale": 1 / 127.5, "offset": -1.0})
    tail = [("Conv2D", {"filters": 3, "kernel_size": 2}), ("Flatten", {}), ("Dense", {"units": 2})]
    graph = _graph((8, 7, 2), [affine, *between, *tail])
    params = _params(graph)
    direct = _graph((8, 7, 2), [affine, *tail])
    folded, fparams, changes = fold_preprocessing(graph, params)
    assert "Rescaling" not in [n.op for n in folded.nodes], changes
    assert changes[0].startswith("rescaling moved past") and "conv2d" in changes[1]
    x = _x((8, 7, 2), lo=0.0, hi=255.0)
    want = _predict(graph, params, x)
    np.testing.assert_allclose(_predict(folded, fparams, x), want, rtol=1e-5, atol=1e-4)
    got, nodes = _ort(graph, params, x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    _, direct_nodes = _ort(direct, _params(direct), x)
    assert "Mul" not in nodes and nodes == direct_nodes, (nodes, direct_nodes)
    _, unfolded = _ort(graph, params, x, fold_preprocessing=False)
    assert len(unfolded) > len(nodes), (unfolded, nodes)


def test_affine_stays_when_nothing_after_the_resizing_can_absorb_it():
    graph = _graph((8, 7, 2), [("Rescaling", {"scale": 0.5}),
                               ("Resizing", {"height": 4, "width": 4}), ("Flatten", {})])
    folded, _, changes = fold_preprocessing(graph, _params(graph))
    assert folded is graph and changes == []
