"""AffineGrid and GridSample against PyTorch's own F.affine_grid and F.grid_sample (the contract
harness checks backward by finite differences, the ONNX lowering and the shape rule): forward,
the gradients autograd gives (to the image, the grid and theta), and the ONNX model at opset 20
(the mode's new name) in onnxruntime and the ONNX reference evaluator."""

from __future__ import annotations

import numpy as np
import pytest

from seqc.ir.build import NodeConfig, build_dag
from seqc.ir.types import batched
from seqc.ops import get_op


def _run(kind, config, xs):
    op = get_op(kind)
    attrs = op.parse_attrs(config)
    ys, cache = op.forward(attrs, {}, xs, None)
    return op, attrs, ys[0], cache


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("size", [(5, 4), (1, 3), (2, 1)])
@pytest.mark.filterwarnings("ignore:Since version 1.3.0")  # torch on unit-size grids
def test_affine_grid_matches_torch(size, align):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((3, 2, 3)).astype(np.float32)
    op, attrs, grid, cache = _run("AffineGrid", {"size": list(size), "align_corners": align},
                                  [theta])
    tt = torch.from_numpy(theta).requires_grad_(True)
    tg = torch.nn.functional.affine_grid(tt, [3, 7, *size], align_corners=align)
    np.testing.assert_allclose(grid, tg.detach().numpy(), atol=1e-6)
    dy = rng.standard_normal(grid.shape).astype(np.float32)
    tg.backward(torch.from_numpy(dy))
    (dtheta,), _ = op.backward(attrs, {}, cache, [dy])
    np.testing.assert_allclose(dtheta, tt.grad.numpy(), atol=1e-5)


@pytest.mark.parametrize("config", [
    {}, {"align_corners": True}, {"padding_mode": "border"},
    {"padding_mode": "border", "align_corners": True}])
@pytest.mark.parametrize("first", [True, False])
def test_grid_sample_matches_torch(config, first):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    img = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)  # (N, C, H, W)
    grid = rng.uniform(-1.3, 1.3, (2, 4, 3, 2)).astype(np.float32)
    grid[0, 0, 0] = [-1, -1]  # the corners and the centre exactly
    grid[0, 0, 1] = [1, 1]
    grid[0, 0, 2] = [0, 0]
    cfg = {**config, "data_format": "channels_first" if first else "channels_last"}
    x = img if first else np.ascontiguousarray(img.transpose(0, 2, 3, 1))
    op, attrs, y, cache = _run("GridSample", cfg, [x, grid])
    ti = torch.from_numpy(img).requires_grad_(True)
    tg = torch.from_numpy(grid).requires_grad_(True)
    ty = torch.nn.functional.grid_sample(ti, tg, **{"align_corners": False, **config})
    want = ty.detach().numpy()
    np.testing.assert_allclose(y if first else y.transpose(0, 3, 1, 2), want, atol=1e-5)
    dy = rng.standard_normal(want.shape).astype(np.float32)
    ty.backward(torch.from_numpy(dy))
    (dx, dgrid), _ = op.backward(attrs, {}, cache, [dy if first else dy.transpose(0, 2, 3, 1)])
    np.testing.assert_allclose(dx if first else dx.transpose(0, 3, 1, 2), ti.grad.numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(dgrid, tg.grad.numpy(), atol=1e-4)


def test_far_and_non_finite_points_sample_zeros():
    img = np.ones((1, 1, 3, 3), np.float32)
    grid = np.array([[[[1e30, 0], [np.inf, 0], [np.nan, 0], [-np.inf, -1e30]]]], np.float32)
    _, _, y, _ = _run("GridSample", {"data_format": "channels_first"}, [img, grid])
    np.testing.assert_array_equal(y, 0)


def _stn_graph():
    return build_dag("stn", {"image": batched((4, 5, 2)), "theta": batched((2, 3))}, [
        NodeConfig("AffineGrid", {"size": [3, 4]}, "grid", ["theta"]),
        NodeConfig("GridSample", {}, "out", ["image", "grid"])], ["out"])


@pytest.mark.parametrize("opset", [16, 17, 20])
def test_exported_sampler_matches_numpy(opset):
    ort = pytest.importorskip("onnxruntime")
    from onnx.reference import ReferenceEvaluator

    from seqc.export import to_onnx
    from seqc.training import executor

    graph = _stn_graph()
    rng = np.random.default_rng(2)
    img = rng.standard_normal((3, 4, 5, 2)).astype(np.float32)
    theta = (np.array([[1, 0, 0], [0, 1, 0]]) + 0.3 * rng.standard_normal((3, 2, 3))).astype(
        np.float32)
    want, _ = executor.forward(graph, {}, [img, theta])
    model = to_onnx(graph, {}, opset=opset)
    (node,) = [n for n in model.graph.node if n.op_type == "GridSample"]
    mode = {a.name: a.s for a in node.attribute}["mode"]
    assert mode == (b"linear" if opset >= 20 else b"bilinear")
    feed = {"image": img, "theta": theta}
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, feed)[0], want, atol=1e-5)
    if opset >= 20:  # onnx.reference knows only opset 20's names
        np.testing.assert_allclose(ReferenceEvaluator(model).run(None, feed)[0], want,
                                   atol=1e-5)


def test_export_below_opset_16_is_refused_naming_the_opset():
    from seqc.errors import ExportError
    from seqc.export import to_onnx

    with pytest.raises(ExportError, match="GridSample needs ONNX opset 16"):
        to_onnx(_stn_graph(), {}, opset=15)


def test_torch_runtime_runs_the_sampler():
    pytest.importorskip("torch")
    from seqc.runtime.torch_runtime import build_module
    from seqc.training import executor

    torch = pytest.importorskip("torch")
    graph = _stn_graph()
    rng = np.random.default_rng(3)
    img = rng.standard_normal((2, 4, 5, 2)).astype(np.float32)
    theta = rng.standard_normal((2, 2, 3)).astype(np.float32)
    module = build_module(graph, {})
    with torch.no_grad():
        got = module([torch.from_numpy(img), torch.from_numpy(theta)]).numpy()
    np.testing.assert_allclose(got, executor.forward(graph, {}, [img, theta])[0], atol=1e-5)


def test_a_json_graph_spec_reads_the_kinds_by_name(tmp_path):
    """A spatial transformer written as a seqc graph spec (channels last, Keras' layout):
    the localization Dense starts at the identity transform (a Constant bias holding an
    array, as Keras 3's Constant takes one), so the sampler returns the image."""
    import json

    import seqc

    doc = {"inputs": {"image": [5, 6, 2]}, "layers": [
        {"type": "Flatten", "name": "flat"},
        {"type": "Dense", "units": 6, "kernel_initializer": "zeros",
         "bias_initializer": {"type": "Constant", "value": [1, 0, 0, 0, 1, 0]}, "name": "loc"},
        {"type": "Reshape", "target_shape": [2, 3], "name": "theta"},
        {"type": "AffineGrid", "size": [5, 6], "name": "grid"},
        {"type": "GridSample", "from": ["image", "grid"], "name": "out"}]}
    p = tmp_path / "stn.json"
    p.write_text(json.dumps(doc))
    model = seqc.load(str(p))
    x = np.random.default_rng(4).standard_normal((2, 5, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), x, atol=1e-5)
