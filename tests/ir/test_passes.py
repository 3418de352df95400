"""IR passes: BatchNormalization folding (when it applies, when it must not), numerical
equality of folded and unfolded graphs in NumPy and onnxruntime, and the pass report.
Rescaling/Normalization folding is tested in test_fold_preprocessing.py."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.passes import PIPELINE, run_passes
from seqc.ir.passes.fold_batchnorm import fold_batchnorm
from seqc.ir.types import batched
from seqc.ops import REGISTRY
from seqc.ops.base import RunContext
from seqc.training.executor import forward


def _graph(shape, layers):
    return build_graph("g", batched(shape), [LayerConfig(k, c) for k, c in layers])


def _params(graph, seed=0):
    """Random, non-trivial parameters: moving means away from 0, variances away from 1."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, spec in graph.param_specs.items():
        if key.endswith("moving_variance"):
            v = rng.uniform(0.2, 3.0, spec.shape)
        elif key.endswith("moving_mean"):
            v = rng.normal(0.5, 1.0, spec.shape)
        elif key.endswith("gamma"):
            v = rng.normal(1.0, 0.5, spec.shape)
        else:
            v = rng.normal(0.0, 0.7, spec.shape)
        out[key] = v.astype(np.float32)
    return out


def _predict(graph, params, x):
    return forward(graph, params, x, RunContext(training=False, need_grad=False))[0]


def _ort(model, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


DENSE_BN = [
    pytest.param({"units": 4}, {}, id="bias"),
    pytest.param({"units": 4, "use_bias": False}, {"momentum": 0.9, "epsilon": 0.01},
                 id="no-bias"),
    pytest.param({"units": 3}, {"center": False}, id="no-center"),
    pytest.param({"units": 3, "use_bias": False}, {"scale": False}, id="no-scale"),
]


@pytest.mark.parametrize("dense,bn", DENSE_BN)
def test_dense_batchnorm_folds_and_forward_is_unchanged(dense, bn):
    g = _graph((5,), [("Dense", dense), ("BatchNormalization", bn), ("Dense", {"units": 2})])
    params = _params(g)
    snapshot = copy.deepcopy(params)
    g2, p2, changes = fold_batchnorm(g, params)
    assert changes == ["batch_normalization folded into dense"]
    assert [n.op for n in g2.nodes] == ["Dense", "Dense"]
    assert g2.nodes[0].attrs.use_bias  # the shift needs a bias even when there was none
    assert set(p2) == set(g2.param_specs)
    assert list(g2.param_specs) == ["dense/kernel", "dense/bias", "dense_1/kernel",
                                    "dense_1/bias"]
    assert all(p.dtype == np.float32 for p in p2.values())
    # The pass never mutates its inputs.
    assert [n.op for n in g.nodes] == ["Dense", "BatchNormalization", "Dense"]
    assert all(np.array_equal(params[k], snapshot[k]) for k in snapshot)
    assert params.keys() == snapshot.keys()
    x = np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32)
    np.testing.assert_allclose(_predict(g2, p2, x), _predict(g, params, x),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dense,bn", DENSE_BN)
def test_export_with_and_without_folding_match_numpy(dense, bn):
    pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    g = _graph((5,), [("Dense", dense), ("BatchNormalization", bn), ("ReLU", {})])
    params = _params(g, seed=2)
    x = np.random.default_rng(3).normal(size=(6, 5)).astype(np.float32)
    want = _predict(g, params, x)
    report: dict = {}
    folded = to_onnx(g, params, report=report)
    unfolded = to_onnx(g, params, fold_batchnorm=False)
    assert "BatchNormalization" not in {n.op_type for n in folded.graph.node}
    assert "BatchNormalization" in {n.op_type for n in unfolded.graph.node}
    assert report["passes"] == {"fold_batchnorm": ["batch_normalization folded into dense"],
                                "fold_preprocessing": []}
    for model in (folded, unfolded):
        np.testing.assert_allclose(_ort(model, x), want, rtol=1e-4, atol=1e-5)


def test_report_says_skipped_when_folding_is_off():
    pytest.importorskip("onnx")
    from seqc.export import to_onnx

    g = _graph((3,), [("Dense", {"units": 2}), ("BatchNormalization", {})])
    report: dict = {}
    to_onnx(g, _params(g), fold_batchnorm=False, report=report)
    assert report["passes"] == {"fold_batchnorm": "skipped", "fold_preprocessing": []}
    assert report["nodes"]["BatchNormalization"] == 1


def test_not_folded_across_an_activation():
    g = _graph((4,), [("Dense", {"units": 3, "activation": "relu"}), ("BatchNormalization", {})])
    params = _params(g)
    g2, p2, changes = fold_batchnorm(g, params)
    assert changes == [] and g2 is g and p2 == params


def test_not_folded_when_the_producer_output_has_another_reader():
    g = _graph((4,), [("Dense", {"units": 3}), ("BatchNormalization", {})])
    dense = g.nodes[0]
    # A second reader of the Dense output (a side branch): folding would change what it sees.
    side = dense.replace(op="ReLU", name="side", inputs=dense.outputs, outputs=("side",),
                         attrs=REGISTRY["ReLU"].parse_attrs({}), params=(), layer="side")
    g = g.replace(nodes=(*g.nodes, side), types={**g.types, "side": g.types[dense.outputs[0]]})
    assert fold_batchnorm(g, _params(g))[2] == []


def test_not_folded_when_the_producer_output_is_a_graph_output():
    g = _graph((4,), [("Dense", {"units": 3}), ("BatchNormalization", {})])
    g = g.replace(outputs=(*g.outputs, g.nodes[0].outputs[0]))
    assert fold_batchnorm(g, _params(g))[2] == []


def test_not_folded_when_batchnorm_axis_is_not_the_last():
    g = _graph((3, 4), [("Dense", {"units": 5}), ("BatchNormalization", {"axis": 1})])
    assert fold_batchnorm(g, _params(g))[2] == []
    # The same graph with BN on the last axis, given as a positive index, does fold.
    g = _graph((3, 4), [("Dense", {"units": 5}), ("BatchNormalization", {"axis": 2})])
    params = _params(g)
    g2, p2, changes = fold_batchnorm(g, params)
    assert changes == ["batch_normalization folded into dense"]
    x = np.random.default_rng(4).normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(_predict(g2, p2, x), _predict(g, params, x), rtol=1e-5,
                               atol=1e-5)


def test_not_folded_into_a_kind_without_fold_affine():
    g = _graph((4,), [("Dense", {"units": 3}), ("Dropout", {"rate": 0.5}),
                      ("BatchNormalization", {})])
    assert REGISTRY["Dropout"].fold_affine is None
    assert fold_batchnorm(g, _params(g))[2] == []


def test_two_blocks_fold_independently():
    g = _graph((6,), [("Dense", {"units": 4}), ("BatchNormalization", {}), ("ReLU", {}),
                      ("Dense", {"units": 3, "use_bias": False}), ("BatchNormalization", {})])
    params = _params(g, seed=5)
    g2, p2, changes = fold_batchnorm(g, params)
    assert changes == ["batch_normalization folded into dense",
                       "batch_normalization_1 folded into dense_1"]
    assert [n.op for n in g2.nodes] == ["Dense", "ReLU", "Dense"]
    assert g2.outputs == g.outputs
    x = np.random.default_rng(6).normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_allclose(_predict(g2, p2, x), _predict(g, params, x), rtol=1e-5,
                               atol=1e-5)


def test_run_passes_skip_and_unknown_names():
    g = _graph((3,), [("Dense", {"units": 2}), ("BatchNormalization", {})])
    params = _params(g)
    assert list(PIPELINE) == ["fold_batchnorm", "fold_preprocessing"]
    g2, _, report = run_passes(g, params, skip=("fold_batchnorm",))
    assert g2 is g and report == {"fold_batchnorm": "skipped", "fold_preprocessing": []}
    with pytest.raises(ValueError, match="fold_batchnorm"):
        run_passes(g, params, skip=("fold_bn",))


@pytest.mark.skipif("Conv2D" not in REGISTRY,
                    reason="Conv2D is not registered yet (its helper adds the conv kinds)")
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_batchnorm_folds(use_bias):
    g = _graph((6, 6, 2), [("Conv2D", {"filters": 3, "kernel_size": 3, "use_bias": use_bias}),
                           ("BatchNormalization", {"momentum": 0.9}), ("ReLU", {})])
    params = _params(g, seed=7)
    g2, p2, changes = fold_batchnorm(g, params)
    assert changes == ["batch_normalization folded into conv2d"]
    assert [n.op for n in g2.nodes] == ["Conv2D", "ReLU"]
    x = np.random.default_rng(8).normal(size=(2, 6, 6, 2)).astype(np.float32)
    want = _predict(g, params, x)
    np.testing.assert_allclose(_predict(g2, p2, x), want, rtol=1e-5, atol=1e-5)
    pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    for fold in (True, False):
        model = to_onnx(g, params, fold_batchnorm=fold)
        assert ("BatchNormalization" in {n.op_type for n in model.graph.node}) == (not fold)
        np.testing.assert_allclose(_ort(model, x), want, rtol=1e-4, atol=1e-5)


def test_pipeline_order_lets_preprocessing_fold_past_a_batchnorm():
    """Why fold_batchnorm runs first (PIPELINE's comment): once the BatchNormalization has
    folded into the Dense, the Rescaling in front of it folds too; the other way round the
    Rescaling stays, since a BatchNormalization neither absorbs nor commutes with it."""
    g = _graph((4,), [("Rescaling", {"scale": 0.5, "offset": 0.25}),
                      ("BatchNormalization", {}), ("Dense", {"units": 3})])
    params = _params(g)
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    g2, p2, report = run_passes(g, params)
    assert [n.op for n in g2.nodes] == ["Dense"], report
    np.testing.assert_allclose(_predict(g2, p2, x), _predict(g, params, x), rtol=1e-5,
                               atol=1e-5)
    g3, p3, _ = PIPELINE["fold_preprocessing"](g, params)
    g3, _, _ = PIPELINE["fold_batchnorm"](g3, p3)
    assert [n.op for n in g3.nodes] == ["Rescaling", "Dense"]
