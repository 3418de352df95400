"""Pooling semantics the contract tests cannot see: hand-derived 'same' borders, ties,
overlapping-window gradients, the tiling fast path against the generic one, keepdims, errors
located at the layer, and Keras parity on odd sizes."""

from __future__ import annotations

import os

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError
from seqc.ops import REGISTRY
from seqc.ops._pooling import global_backward, global_forward, pool_backward, pool_forward
from seqc.ops.base import RunContext


def run(kind: str, config: dict, x: np.ndarray, dy: np.ndarray | None = None):
    """(y, dx) through the kind's own facets; dx is None without dy."""
    op = REGISTRY[kind]
    a = op.parse_attrs(config)
    (y,), cache = op.forward(a, {}, [x], RunContext(training=True))
    if dy is None:
        return y, None
    (dx,), grads = op.backward(a, {}, cache, [dy])
    assert grads == {}
    return y, dx


def grid(n: int) -> np.ndarray:
    return np.arange(n * n, dtype=np.float64).reshape(1, n, n, 1)


# ---- hand-derived values ----

def test_max_same_padding_odd_size_stride_2():
    # 5x5 with pool 2, stride 2, same -> 3x3; the last row/column window holds one real
    # row/column (the pad is at the end, TF's rule).
    y, _ = run("MaxPooling2D", {"pool_size": 2, "strides": 2, "padding": "same"}, grid(5))
    np.testing.assert_array_equal(y[0, :, :, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])


def test_average_same_padding_divides_by_real_cells():
    y, _ = run("AveragePooling2D", {"pool_size": 2, "strides": 2, "padding": "same"}, grid(5))
    want = [[(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4, (4 + 9) / 2],
            [(10 + 11 + 15 + 16) / 4, (12 + 13 + 17 + 18) / 4, (14 + 19) / 2],
            [(20 + 21) / 2, (22 + 23) / 2, 24]]
    np.testing.assert_allclose(y[0, :, :, 0], want)


def test_average_same_padding_pool_3_stride_2_pads_at_the_end():
    # 6 steps, pool 3, stride 2: out 3, one pad cell after the end. TF/JAX divide the last
    # window by its 2 real cells. (Keras' torch backend pads by replicating the edge there,
    # giving (4 + 5 + 5) / 3; seqc follows the documented rule, and ONNX agrees.)
    x = np.arange(6, dtype=np.float64).reshape(1, 6, 1)
    y, dx = run("AveragePooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, x,
                np.ones((1, 3, 1)))
    np.testing.assert_allclose(y.ravel(), [1.0, 3.0, 4.5])
    # Cell 2 and cell 4 sit in two windows; cells 4 and 5 get 1/2 from the border window.
    np.testing.assert_allclose(dx.ravel(), [1 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2])


def test_average_same_padding_counts_both_ends():
    # 5x5, pool 3, stride 1, same: one pad on each side, so corners average 4 cells and
    # edges 6.
    y, _ = run("AveragePooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, grid(5))
    x = grid(5)[0, :, :, 0]
    assert y[0, 0, 0, 0] == pytest.approx(x[:2, :2].mean())
    assert y[0, 0, 2, 0] == pytest.approx(x[:2, 1:4].mean())
    assert y[0, 2, 2, 0] == pytest.approx(x[1:4, 1:4].mean())
    assert y[0, 4, 4, 0] == pytest.approx(x[3:, 3:].mean())


def test_max_ties_route_to_the_first_maximum():
    x = np.ones((1, 4, 4, 1))
    y, dx = run("MaxPooling2D", {"pool_size": 2}, x, np.array([[[[1.0], [2.0]], [[3.0], [4.0]]]]))
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))
    want = np.zeros((4, 4))
    want[0, 0], want[0, 2], want[2, 0], want[2, 2] = 1, 2, 3, 4
    np.testing.assert_array_equal(dx[0, :, :, 0], want)
    # Global max: the first position in row-major order wins too.
    x = np.zeros((1, 2, 2, 2))
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 5.0
    _, dx = run("GlobalMaxPooling2D", {}, x, np.array([[7.0, 1.0]]))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 7], [0, 0]])
    np.testing.assert_array_equal(dx[0, :, :, 1], [[1, 0], [0, 0]])


def test_overlapping_windows_accumulate_gradients():
    x = np.array([1.0, 3.0, 2.0, 0.0]).reshape(1, 4, 1)
    dy = np.array([10.0, 100.0]).reshape(1, 2, 1)
    y, dx = run("MaxPooling1D", {"pool_size": 3, "strides": 1}, x, dy)
    np.testing.assert_array_equal(y.ravel(), [3, 3])
    np.testing.assert_array_equal(dx.ravel(), [0, 110, 0, 0])  # both windows pick cell 1
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)
    _, dx = run("AveragePooling1D", {"pool_size": 2, "strides": 1}, x, dy)
    np.testing.assert_allclose(dx.ravel(), [5, 55, 50])
    # 2-D, pool 3 stride 2: the middle row/column is shared by two windows each way.
    y, dx = run("AveragePooling2D", {"pool_size": 3, "strides": 2}, grid(5), np.ones((1, 2, 2, 1)))
    np.testing.assert_allclose(dx[0, :, :, 0] * 9, [[1, 1, 2, 1, 1], [1, 1, 2, 1, 1],
                                                    [2, 2, 4, 2, 2], [1, 1, 2, 1, 1],
                                                    [1, 1, 2, 1, 1]])


# ---- the tiling path (stride == pool, no padding) against the generic scatter ----

@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape,pool", [((128, 6, 6, 32), (2, 2)), ((3, 5, 7, 2), (2, 3)),
                                        ((2, 4, 6, 4, 3), (2, 3, 2)), ((4, 9, 3), (3,))])
def test_tiled_path_matches_generic(mode, shape, pool):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    y, cache = pool_forward(x, mode, pool, pool, "valid")
    y_gen, cache_gen = pool_forward(x, mode, pool, pool, "valid", generic=True)
    assert cache[-1] is True and cache_gen[-1] is False
    np.testing.assert_array_equal(y, y_gen)
    # The reshape formulation of the same pooling (crop the tail, split each axis in two).
    nd = len(pool)
    out = [n // k for n, k in zip(shape[1:-1], pool)]
    crop = x[(slice(None), *(slice(0, o * k) for o, k in zip(out, pool)))]
    split = crop.reshape(shape[0], *[d for o, k in zip(out, pool) for d in (o, k)], shape[-1])
    reduce = split.max if mode == "max" else split.mean
    np.testing.assert_allclose(y, reduce(axis=tuple(2 + 2 * i for i in range(nd))), rtol=1e-6)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dx, dx_gen = pool_backward(cache, dy), pool_backward(cache_gen, dy)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    np.testing.assert_allclose(dx, dx_gen, rtol=1e-6, atol=1e-7)
    if mode == "max":  # one winner per window: the gradient's total is conserved
        assert dx.sum() == pytest.approx(dy.sum(), rel=1e-4)


def test_result_never_aliases_the_input_and_keeps_dtype():
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 2))
    for kind in ("MaxPooling2D", "AveragePooling2D", "GlobalMaxPooling2D",
                 "GlobalAveragePooling2D"):
        config = {"pool_size": 1} if "Global" not in kind else {"keepdims": True}
        for dtype in (np.float32, np.float64):
            xd = x.astype(dtype)
            y, dx = run(kind, config, xd, np.ones(run(kind, config, xd)[0].shape, dtype))
            assert y.dtype == dtype and dx.dtype == dtype, kind
            assert not np.shares_memory(y, xd), kind
    y, _ = run("MaxPooling2D", {"pool_size": 1}, x)
    np.testing.assert_array_equal(y, x)


def test_max_cache_is_small():
    x = np.random.default_rng(2).normal(size=(8, 6, 6, 4)).astype(np.float32)
    _, cache = pool_forward(x, "max", (2, 2), (2, 2), "valid")
    arrays = [c for c in cache if isinstance(c, np.ndarray)]
    assert [a.dtype for a in arrays] == [np.uint8] and arrays[0].shape == (8, 3, 3, 4)
    _, cache = global_forward(x, "max", "channels_last", False)
    assert cache[-1].dtype == np.int32 and cache[-1].size == 8 * 4


# ---- global pooling and keepdims ----

@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("mode", ["Average", "Max"])
def test_global_pooling_keepdims_and_data_format(nd, mode):
    rng = np.random.default_rng(nd)
    x = rng.normal(size=(2, *range(3, 3 + nd), 4))
    reduce = np.mean if mode == "Average" else np.max
    kind = f"Global{mode}Pooling{nd}D"
    axes = tuple(range(1, 1 + nd))
    y, _ = run(kind, {}, x)
    np.testing.assert_allclose(y, reduce(x, axis=axes))
    y, _ = run(kind, {"keepdims": True}, x)
    assert y.shape == (2, *(1,) * nd, 4)
    np.testing.assert_allclose(y, reduce(x, axis=axes, keepdims=True))
    xf = np.moveaxis(x, -1, 1)
    y, dx = run(kind, {"data_format": "channels_first", "keepdims": True}, xf,
                np.ones((2, 4, *(1,) * nd)))
    assert y.shape == (2, 4, *(1,) * nd)
    np.testing.assert_allclose(y[(slice(None), slice(None), *(0,) * nd)], reduce(x, axis=axes))
    assert dx.shape == xf.shape
    np.testing.assert_allclose(dx.sum(axis=tuple(range(2, 2 + nd))), np.ones((2, 4)))
    op = REGISTRY[kind]
    (out,) = op.infer(op.parse_attrs({"keepdims": True}), [seqc.ir.types.batched(x.shape[1:])])
    assert out.shape == (None, *(1,) * nd, 4)


def test_global_average_backward_spreads_evenly():
    x = np.zeros((1, 2, 3, 1))
    _, cache = global_forward(x, "average", "channels_last", False)
    np.testing.assert_allclose(global_backward(cache, np.array([[6.0]])), np.ones_like(x))


# ---- errors before training, located at the layer ----

@pytest.mark.parametrize("input_shape,layer,match", [
    ((2, 2, 1), {"pool_size": 3}, "output would be empty"),
    ((8,), {}, "rank 4"),
    ((4, 4, 1), {"padding": "full"}, "'padding' must be 'valid' or 'same'"),
    ((4, 4, 1), {"strides": 0}, "strides"),
    ((4, 4, 1), {"strides": (1, 0)}, "strides"),
    ((4, 4, 1), {"pool_size": (2, 2, 2)}, "pool_size"),
])
def test_errors_name_the_layer(input_shape, layer, match):
    with pytest.raises(DefinitionError) as info:
        seqc.Sequential([seqc.layers.Input(input_shape),
                         seqc.layers.MaxPooling2D(**layer, name="pool1")])
    text = str(info.value)
    assert "'pool1' (MaxPooling2D)" in text and "Received:" in text and match in text


def test_error_after_a_valid_layer_names_the_second_layer():
    with pytest.raises(DefinitionError, match=r"layers\[1\] 'p2' \(AveragePooling1D\)"):
        seqc.Sequential([seqc.layers.Input((5, 2)), seqc.layers.AveragePooling1D(2),
                         seqc.layers.AveragePooling1D(3, name="p2")])


def test_attrs_canonical_forms():
    op = REGISTRY["MaxPooling2D"]
    a = op.parse_attrs({"pool_size": 3, "padding": "SAME", "data_format": "Channels_Last"})
    assert (a.pool_size, a.strides, a.padding, a.data_format) == ((3, 3), (3, 3), "same",
                                                                  "channels_last")
    assert a == op.parse_attrs({"pool_size": [3, 3], "strides": [3, 3], "padding": "same"})
    assert REGISTRY["MaxPooling1D"].parse_attrs({}).pool_size == (2,)
    assert REGISTRY["MaxPooling3D"].parse_attrs({}).strides == (2, 2, 2)
    with pytest.raises(DefinitionError, match="missing required argument 'pool_size'"):
        REGISTRY["AveragePooling2D"].parse_attrs({})  # no default in Keras 3 either


# ---- export paths the contract examples do not reach ----

@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("kind,config,features", [
    ("MaxPooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}, (None, 2)),
    ("MaxPooling3D", {"pool_size": 2, "strides": 1, "padding": "same"}, (3, None, 3, 1)),
    ("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (None, None, 2)),
    ("GlobalMaxPooling3D", {}, (2, None, 3, 2)),
    ("GlobalMaxPooling1D", {"keepdims": True}, (5, 2)),
])
def test_export_matches_numpy(opset, kind, config, features):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    from seqc.export import to_onnx
    from seqc.ir.build import LayerConfig, build_graph
    from seqc.ir.types import batched

    graph = build_graph("t", batched(features), [LayerConfig(kind, dict(config))])
    model = to_onnx(graph, {}, opset=opset)
    if kind.startswith("Average"):
        (node,) = [n for n in model.graph.node if n.op_type == "AveragePool"]
        attrs = {a.name: a for a in node.attribute}
        assert attrs["count_include_pad"].i == 0
        assert attrs["auto_pad"].s == b"SAME_UPPER"  # sizes unknown when exported
    rng = np.random.default_rng(5)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for sizes in ((5, 7), (6, 6)):
        shape = [2] + [sizes[i % 2] if d is None else d for i, d in enumerate(features)]
        x = rng.normal(size=shape).astype(np.float32)
        want, _ = run(kind, config, x)
        for got in (sess.run(None, {"input": x})[0],
                    ReferenceEvaluator(model).run(None, {"input": x})[0]):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ---- Keras parity on odd sizes with 'same' ----

@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("config,features", [
    ({"pool_size": 2, "strides": 2, "padding": "same"}, (5, 5, 3)),
    ({"pool_size": 3, "strides": 2, "padding": "same"}, (7, 5, 2)),
    ({"pool_size": (3, 3), "strides": (1, 1), "padding": "same"}, (5, 5, 2)),
    ({"pool_size": 2, "strides": 1, "padding": "same"}, (5, 3, 2)),
    ({"pool_size": (2, 2), "padding": "same", "data_format": "channels_first"}, (2, 5, 7)),
])
def test_same_padding_odd_sizes_match_keras(kind, config, features):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(6).normal(size=(4, *features)).astype(np.float32)
    want = keras.ops.convert_to_numpy(getattr(keras.layers, kind)(**config)(x))
    got, _ = run(kind, config, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
