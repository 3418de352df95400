"""Export variants (float16, int8 dynamic/static, onnxruntime-optimized, external data) and the
ONNX clean-up passes: each variant loads and runs on onnxruntime's CPU provider and agrees with
the float32 model within its tolerance; the digits MLP keeps its held-out accuracy in int8."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import seqc
from seqc import layers as L
from seqc.errors import DataError, UsageError
from seqc.export import to_onnx
from seqc.export import variants as V
from seqc.export.cleanup import PASSES, cleanup, cleanup_file
from seqc.runtime import variants as RV

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(model, x, name="input"):
    data = model if isinstance(model, (str, os.PathLike)) else model.SerializeToString()
    s = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return s.run(None, {name: x})[0]


def small_models():
    return {
        "mlp": (seqc.Sequential([L.Input((8,)), L.Dense(16, activation="relu"),
                                 L.Dense(4, activation="softmax")]), (8,)),
        "cnn": (seqc.Sequential([L.Input((8, 8, 2)), L.Conv2D(4, 3, padding="same"),
                                 L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(2),
                                 L.AveragePooling2D(2), L.Flatten(), L.Dense(3)]), (8, 8, 2)),
        "lstm": (seqc.Sequential([L.Input((5, 3)), L.LSTM(6, return_sequences=True), L.GRU(4),
                                  L.Dense(2, activation="sigmoid")]), (5, 3)),
    }


def _randomise_bn(model):
    # Fresh BatchNormalization statistics are 0/1: make the folded affine non-trivial.
    rng = np.random.default_rng(1)
    for k, v in model.params.items():
        if "moving_variance" in k or "gamma" in k:
            model.params[k] = (0.5 + rng.random(v.shape)).astype(v.dtype)
        elif "moving_mean" in k or "beta" in k:
            model.params[k] = rng.normal(size=v.shape).astype(v.dtype)


# ---------------------------------------------------------------- float16

@pytest.mark.parametrize("kind", ["mlp", "cnn", "lstm"])
def test_float16_loads_on_cpu_keeps_float32_io_and_agrees(kind):
    model, shape = small_models()[kind]
    _randomise_bn(model)
    proto = to_onnx(model.graph, model.params)
    before = proto.SerializeToString()
    fp = V.float16(proto)
    assert proto.SerializeToString() == before  # the input model is untouched
    assert fp.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert fp.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    dtypes = {t.data_type for t in fp.graph.initializer if t.data_type in
              (TensorProto.FLOAT, TensorProto.FLOAT16)}
    assert TensorProto.FLOAT16 in dtypes  # the weights really are float16
    x = np.random.default_rng(0).normal(size=(16, *shape)).astype(np.float32)
    y32, y16 = model.predict(x), run(fp, x)
    scale = np.abs(y32).max()
    err = np.abs(y16 - y32).max()
    assert err <= RV.FP16_TOLERANCE * scale, err
    assert err > 0  # float16 rounding shows: the variant is not the float32 model


def test_float16_blocks_an_op_the_cpu_refuses(monkeypatch):
    """When onnxruntime refuses a node in float16, its op type stays float32 and the
    conversion is redone."""
    model, _ = small_models()["mlp"]
    proto = to_onnx(model.graph, model.params)
    real = V._cpu_refusal
    calls = []

    def refuse_gemm(m):
        calls.append(m)
        if any(n.op_type == "Gemm" and n.input[1].endswith("kernel") for n in m.graph.node):
            kernels = {t.name: t.data_type for t in m.graph.initializer}
            if any(kernels.get(n.input[1]) == TensorProto.FLOAT16 for n in m.graph.node
                   if n.op_type == "Gemm"):
                return "Gemm", "Could not find an implementation for Gemm(13) node"
        return real(m)

    monkeypatch.setattr(V, "_cpu_refusal", refuse_gemm)
    fp = V.float16(proto)
    assert len(calls) == 2
    gemm_w = {n.input[1] for n in fp.graph.node if n.op_type == "Gemm"}
    assert {t.data_type for t in fp.graph.initializer if t.name in gemm_w} == {TensorProto.FLOAT}


def test_float16_refusal_of_a_blocked_op_is_an_export_error(monkeypatch):
    from seqc.errors import ExportError

    model, _ = small_models()["mlp"]
    monkeypatch.setattr(V, "_cpu_refusal", lambda m: (None, "something else broke"))
    with pytest.raises(ExportError, match="does not load in onnxruntime"):
        V.float16(to_onnx(model.graph, model.params))


# ---------------------------------------------------------------- int8 on every family

@pytest.mark.parametrize("kind", ["mlp", "cnn", "lstm"])
@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_int8_loads_and_runs(tmp_path, kind, mode):
    model, shape = small_models()[kind]
    _randomise_bn(model)
    src = model.export(str(tmp_path / "model.onnx"))
    x = np.random.default_rng(0).normal(size=(64, *shape)).astype(np.float32)
    out = tmp_path / "model.int8.onnx"
    if mode == "dynamic":
        info = V.quantize_dynamic(src, out)
    else:
        info = V.quantize_static(src, out, x)
        assert info["calibration_rows"] == 64
    assert info["preprocessed"] and info["mode"] == mode
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeLSTM", "ConvInteger", "QuantizeLinear"}, ops
    y, y32 = run(str(out), x), model.predict(x)
    assert np.abs(y - y32).max() <= RV.INT8_TOLERANCE * np.abs(y32).max()


def test_static_quantization_leaves_a_weighted_output_unquantized(tmp_path):
    model = seqc.Sequential([L.Input((8,)), L.Dense(16, activation="relu"), L.Dense(1)])
    src = model.export(str(tmp_path / "model.onnx"))
    x = np.random.default_rng(0).normal(size=(128, 8)).astype(np.float32)
    V.quantize_static(src, tmp_path / "q.onnx", x)
    nodes = onnx.load(str(tmp_path / "q.onnx")).graph.node
    last = [n for n in nodes if "output" in n.output][0]
    assert last.op_type == "Gemm"
    assert any(n.op_type == "DequantizeLinear" and n.output[0] in last.input for n in nodes)


def test_static_quantization_needs_calibration_rows(tmp_path):
    model, _ = small_models()["mlp"]
    src = model.export(str(tmp_path / "model.onnx"))
    with pytest.raises(DataError, match="calibration rows"):
        V.quantize_static(src, tmp_path / "q.onnx", np.zeros((0, 8), np.float32))
    with pytest.raises(UsageError, match="calibration inputs"):
        RV.make_variants(model, src, tmp_path, int8="static", x_eval=np.ones((4, 8), "f4"))
    with pytest.raises(UsageError, match="int8 must be"):
        RV.make_variants(model, src, tmp_path, int8="int4")
    with pytest.raises(UsageError, match="not found"):
        V.quantize_dynamic(tmp_path / "missing.onnx", tmp_path / "q.onnx")
    assert not (tmp_path / "q.onnx").exists()


# ---------------------------------------------------------------- the digits MLP (done-when)

@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from seqc.build_data import load_build_data
    from seqc.frontend import load_definition
    from seqc.pipeline import BuildOptions

    defn = load_definition(str(EXAMPLES / "digits_mlp.json"))
    model = defn.model
    ds = load_build_data(defn, BuildOptions())
    x, y = ds.x, defn.prepare_labels(ds.y)
    model.compile(**defn.compile)
    # 4 epochs instead of the spec's 10 keep the test fast; held-out accuracy is ~95% already.
    model.fit(x, y, epochs=4, batch_size=32, validation_split=0.2, seed=0, verbose=0)
    n = int(len(x) * 0.8)  # validation_split takes the last 20%, as Keras does
    folder = tmp_path_factory.mktemp("digits")
    path = model.export(str(folder / "model.onnx"))
    return model, path, folder, (x[:n], y[:n]), (x[n:], y[n:])


@pytest.mark.parametrize("int8", ["dynamic", "static"])
def test_digits_mlp_int8_loses_at_most_one_point(digits, int8):
    model, path, folder, (xt, _), (xv, yv) = digits
    out = folder / int8
    rep = RV.make_variants(model, path, out, float16=True, int8=int8, x_calib=xt,
                          x_eval=xv, y_eval=yv)
    base = rep["float32"]["metrics"]
    assert base["accuracy"] >= 0.9 and rep["float32"]["numpy_max_abs_error"] <= 1e-5
    q = rep["int8"]
    assert q["mode"] == int8 and q["ok"], q
    assert q["accuracy_drop"] <= 0.01
    assert q["delta"]["accuracy"] == pytest.approx(q["metrics"]["accuracy"] - base["accuracy"])
    assert q["validation"]["argmax_agreement"] >= 0.98
    assert q["bytes"] < rep["float32"]["bytes"] / 3  # int8 weights: about a quarter
    # The softmax output stays float (no 1/255 grid on the probabilities), so the held-out
    # loss barely moves either.
    assert abs(q["delta"]["loss"]) <= 0.01, q["delta"]
    producer = {o: n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node
                for o in n.output}
    assert producer["output"] == "Softmax"
    f = rep["float16"]
    assert f["ok"] and f["validation"]["max_abs_error"] <= f["validation"]["atol"]
    assert f["validation"]["atol"] == pytest.approx(RV.FP16_TOLERANCE * rep["output_scale"])
    assert abs(f["delta"]["accuracy"]) <= 0.01
    assert f["bytes"] < 0.6 * rep["float32"]["bytes"]
    assert rep["ok"]
    for name in ("model.fp16.onnx", "model.int8.onnx"):
        props = {p.key: p.value for p in onnx.load(str(out / name)).metadata_props}
        assert json.loads(props[V.VARIANT_KEY])["source"] == "model.onnx"
        assert props["seqc.input_layout"] == "channels_last"  # seqc's metadata carried over
    json.dumps(rep)  # goes into report.json as is
    assert "float16" in RV.format_variants(rep) and "int8" in RV.format_variants(rep)


def test_a_variant_outside_its_tolerance_is_not_ok(digits):
    model, path, folder, _, (xv, yv) = digits
    rep = RV.make_variants(model, path, folder / "strict", float16=True, x_eval=xv, y_eval=yv,
                          fp16_tolerance=1e-7)
    assert not rep["float16"]["ok"] and not rep["ok"]
    assert rep["float16"]["validation"]["max_abs_error"] > rep["float16"]["validation"]["atol"]


def test_an_accuracy_drop_over_the_limit_is_not_ok(digits):
    model, path, folder, (xt, _), (xv, yv) = digits
    # A negative limit: even an int8 model as accurate as float32 fails it.
    rep = RV.make_variants(model, path, folder / "limit", int8="dynamic", x_eval=xv,
                          y_eval=yv, max_accuracy_drop=-0.5)
    assert not rep["int8"]["ok"]


def test_variants_drop_the_float32_test_vectors_and_score_with_a_metric(digits, tmp_path):
    model, path, _, _, (xv, yv) = digits
    m = onnx.load(path)
    entry = m.metadata_props.add()
    entry.key, entry.value = V.VECTORS_KEY, "{}"
    src = tmp_path / "model.onnx"
    src.write_bytes(m.SerializeToString())
    rep = RV.make_variants(None, src, tmp_path, float16=True, x_eval=xv, y_eval=yv,
                          metric="categorical_accuracy")
    assert set(rep["float32"]["metrics"]) == {"categorical_accuracy"}
    assert rep["float32"]["metrics"]["categorical_accuracy"] >= 0.9
    props = {p.key for p in onnx.load(str(tmp_path / "model.fp16.onnx")).metadata_props}
    assert V.VECTORS_KEY not in props and V.VARIANT_KEY in props

    def top1(y_true, y_pred):
        return float(np.mean(y_true.argmax(1) == y_pred.argmax(1)))

    s = RV.score(None, yv, run(path, xv), top1)
    assert s == {"top1": pytest.approx(rep["float32"]["metrics"]["categorical_accuracy"])}


def test_save_optimized(digits, tmp_path):
    model, path, _, _, (xv, _) = digits
    out = V.save_optimized(path, tmp_path / "model.opt.onnx", level="extended")
    assert np.allclose(run(out, xv), run(path, xv), atol=1e-5)
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert json.loads(props[V.VARIANT_KEY])["onnxruntime"] == ort.__version__
    with pytest.raises(UsageError, match="optimization level"):
        V.save_optimized(path, tmp_path / "x.onnx", level="max")


# ---------------------------------------------------------------- external data

def test_save_with_external_data_loads_from_its_folder(tmp_path):
    model = seqc.Sequential([L.Input((300,)), L.Dense(32, activation="relu"), L.Dense(3)])
    proto = to_onnx(model.graph, model.params)
    before = proto.SerializeToString()
    path = tmp_path / "model.onnx"
    info = V.save(proto, path, external_data_threshold=1000)
    assert proto.SerializeToString() == before
    assert info["external_data"] == "model.onnx.data"
    data = tmp_path / "model.onnx.data"
    assert data.is_file() and data.stat().st_size >= 300 * 32 * 4
    assert path.stat().st_size < 10_000  # the weights are not in the .onnx
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.data"]
    x = np.random.default_rng(0).normal(size=(5, 300)).astype(np.float32)
    assert np.allclose(run(str(path), x), model.predict(x), atol=1e-5)
    onnx.checker.check_model(str(path))
    # Saved again under the threshold: one self-contained file, the stale data file gone.
    info = V.save(proto, path)
    assert info["external_data"] is None and not data.exists()
    assert np.allclose(run(str(path), x), model.predict(x), atol=1e-5)


def test_a_failed_save_leaves_the_previous_files(tmp_path, monkeypatch):
    model = seqc.Sequential([L.Input((300,)), L.Dense(8)])
    proto = to_onnx(model.graph, model.params)
    path = tmp_path / "model.onnx"
    V.save(proto, path, external_data_threshold=0)
    old = (path.read_bytes(), (tmp_path / "model.onnx.data").read_bytes())

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(onnx, "save_model", boom)
    with pytest.raises(OSError, match="disk full"):
        V.save(proto, path, external_data_threshold=0)
    assert (path.read_bytes(), (tmp_path / "model.onnx.data").read_bytes()) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.data"]


# ---------------------------------------------------------------- clean-up passes

def _vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def _model(nodes, inits, out_shape, in_shape=(2, 3, 4)):
    g = helper.make_graph(nodes, "g", [_vi("x", list(in_shape))], [_vi("y", list(out_shape))],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _by_pass(report):
    return {r["pass"]: r for r in report}


def _same_outputs(a, b, x):
    sa = ort.InferenceSession(a.SerializeToString(), providers=["CPUExecutionProvider"])
    sb = ort.InferenceSession(b.SerializeToString(), providers=["CPUExecutionProvider"])
    for ya, yb in zip(sa.run(None, {"x": x}), sb.run(None, {"x": x})):
        np.testing.assert_allclose(ya, yb, rtol=1e-6, atol=1e-6)


def test_cleanup_crafted_graph_every_pass():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    a, b = rng.normal(size=(3,)).astype(np.float32), rng.normal(size=(3,)).astype(np.float32)
    nodes = [
        helper.make_node("Identity", ["x"], ["x1"], name="id1"),
        helper.make_node("Transpose", ["x1"], ["t1"], perm=[0, 2, 1], name="tA"),
        helper.make_node("Identity", ["t1"], ["t1b"], name="id2"),
        helper.make_node("Transpose", ["t1b"], ["t2"], perm=[0, 2, 1], name="tB"),  # cancels tA
        helper.make_node("Transpose", ["w"], ["wT"], perm=[1, 0], name="tW"),  # (3, 4) constant
        helper.make_node("Add", ["a", "b"], ["ab"], name="cAdd"),  # constant chain
        helper.make_node("Mul", ["ab", "a"], ["ab2"], name="cMul"),
        helper.make_node("MatMul", ["t2", "w"], ["h"], name="mm"),  # (2, 3, 3)
        helper.make_node("Add", ["h", "ab2"], ["h2"], name="add"),
        helper.make_node("Relu", ["x1"], ["dead1"], name="deadRelu"),  # nothing reads it
        helper.make_node("Identity", ["h2"], ["y"], name="id_out"),  # graph output
    ]
    m = _model(nodes, {"w": w, "a": a, "b": b, "unused": np.ones(5, np.float32)}, (2, 3, 3))
    before = m.SerializeToString()
    out, report = cleanup(m)
    assert m.SerializeToString() == before  # a copy was cleaned
    r = _by_pass(report)
    assert [e["pass"] for e in report] == list(PASSES)
    assert r["identity"]["removed"] == 3
    assert r["transpose"]["removed"] == 3  # the pair, and tW folded into a constant
    assert any("cancelled" in d for d in r["transpose"]["details"])
    assert any("folded into constant" in d for d in r["transpose"]["details"])
    assert r["constant_folding"]["removed"] == 2  # Add then Mul, chained in one pass
    assert r["dead_nodes"]["removed"] == 1 and r["dead_nodes"]["initializers_removed"] >= 3
    assert [n.op_type for n in out.graph.node] == ["MatMul", "Add"]
    assert {t.name for t in out.graph.initializer} == {"w", "ab2"}
    assert [o.name for o in out.graph.output] == ["y"]  # the interface keeps its names
    _same_outputs(m, out, rng.normal(size=(2, 3, 4)).astype(np.float32))


def test_cleanup_merges_transposes_that_do_not_cancel():
    nodes = [helper.make_node("Transpose", ["x"], ["t1"], perm=[1, 0, 2]),
             helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 2, 1]),
             helper.make_node("Relu", ["t2"], ["y"])]
    m = _model(nodes, {}, (3, 4, 2))
    out, report = cleanup(m)
    r = _by_pass(report)["transpose"]
    assert r["changed"] == 1 and r["removed"] == 1
    (t,) = [n for n in out.graph.node if n.op_type == "Transpose"]
    # y[i] = t1[p2[i]] = x[p1[p2[i]]]: p1=[1,0,2], p2=[0,2,1] -> [1,2,0]
    assert list(t.attribute[0].ints) == [1, 2, 0]
    _same_outputs(m, out, np.random.default_rng(1).normal(size=(2, 3, 4)).astype(np.float32))


def test_cleanup_keeps_what_it_must():
    """An Identity from the graph input to the output (a Dropout-only model) and a node only
    a subgraph reads are kept; folding never turns a graph output into an initializer."""
    rng = np.random.default_rng(2)
    then_g = helper.make_graph([helper.make_node("Identity", ["r"], ["o"])], "then", [],
                               [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["o2"])], "else", [],
                               [helper.make_tensor_value_info("o2", TensorProto.FLOAT, None)])
    nodes = [
        helper.make_node("Identity", ["x"], ["y"]),  # input straight to output: kept
        helper.make_node("Relu", ["x"], ["r"]),  # read only inside the If's subgraph
        helper.make_node("If", ["cond"], ["z"], then_branch=then_g, else_branch=else_g),
        helper.make_node("Add", ["c1", "c1"], ["k"]),  # a constant output: not folded
    ]
    g = helper.make_graph(
        nodes, "g", [_vi("x", [2, 3])],
        [_vi("y", [2, 3]), _vi("z", [2, 3]), _vi("k", [3])],
        initializer=[numpy_helper.from_array(np.array(True), "cond"),
                     numpy_helper.from_array(np.ones(3, np.float32), "c1")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    out, report = cleanup(m)
    assert [n.op_type for n in out.graph.node] == ["Identity", "Relu", "If", "Add"]
    assert all(r["removed"] == 0 for r in report)
    x = rng.normal(size=(2, 3)).astype(np.float32)
    _same_outputs(m, out, x)


def test_cleanup_folds_a_constant_of_a_constant_node_and_respects_size_limit():
    nodes = [helper.make_node("Constant", [], ["shape"],
                              value=numpy_helper.from_array(np.array([3, 4], np.int64))),
             helper.make_node("Reshape", ["c", "shape"], ["c2"], name="r"),
             helper.make_node("ConstantOfShape", ["big"], ["zeros"]),
             helper.make_node("Add", ["x", "zeros"], ["y0"]),
             helper.make_node("Add", ["y0", "c2"], ["y"])]
    m = _model(nodes, {"c": np.arange(12, dtype=np.float32),
                       "big": np.array([64, 3, 4], np.int64)}, (64, 3, 4), in_shape=(3, 4))
    out, report = cleanup(m)
    r = _by_pass(report)
    assert r["constant_folding"]["removed"] == 1  # the Reshape; ConstantOfShape would grow
    assert r["dead_nodes"]["removed"] == 1  # the Constant, once its reader was folded
    assert [n.op_type for n in out.graph.node] == ["ConstantOfShape", "Add", "Add"]
    _same_outputs(m, out, np.ones((3, 4), np.float32))


@pytest.mark.parametrize("kind", ["mlp", "cnn", "lstm", "masked", "dropout_only", "cf"])
def test_cleanup_keeps_seqc_exports_equal(kind, tmp_path):
    extra = {}
    if kind == "masked":
        model = seqc.Sequential([L.Input((6,), dtype="int32"),
                                 L.Embedding(10, 4, mask_zero=True), L.LSTM(5), L.Dense(2)])
        x = np.random.default_rng(0).integers(0, 10, (8, 6)).astype(np.int32)
        x[:, 4:] = 0
    elif kind == "dropout_only":
        model = seqc.Sequential([L.Input((3,)), L.Dropout(0.2)])
        x = np.ones((2, 3), np.float32)
    elif kind == "cf":
        model, shape = small_models()["cnn"]
        extra = {"input_layout": "channels_first"}
        x = np.random.default_rng(0).normal(size=(4, 2, 8, 8)).astype(np.float32)
    else:
        model, shape = small_models()[kind]
        x = np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)
    proto = to_onnx(model.graph, model.params, **extra)
    out, report = cleanup(proto)
    y0, y1 = run(proto, x), run(out, x)
    np.testing.assert_allclose(y1, y0, rtol=1e-6, atol=1e-6)
    assert [i.name for i in out.graph.input] == ["input"]
    assert [o.name for o in out.graph.output] == ["output"]
    # The bisection's map of IR values still names values that exist.
    props = {p.key: p.value for p in out.metadata_props}
    if "seqc.values" in props:
        present = {"input", *(o for n in out.graph.node for o in n.output)}
        assert all(e["onnx"] in present for e in json.loads(props["seqc.values"]))
    path = tmp_path / "model.onnx"
    path.write_bytes(proto.SerializeToString())
    assert [r["pass"] for r in cleanup_file(path)] == list(PASSES)
    np.testing.assert_allclose(run(str(path), x), y0, rtol=1e-6, atol=1e-6)


def test_cleanup_renames_follow_into_the_values_map():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Identity", ["r"], ["y"])]
    m = _model(nodes, {}, (2, 3, 4))
    helper.set_model_props(m, {"seqc.values": json.dumps(
        [{"value": "relu", "onnx": "r"}, {"value": "gone", "onnx": "nowhere"}])})
    out, _ = cleanup(m)
    props = {p.key: p.value for p in out.metadata_props}
    assert json.loads(props["seqc.values"]) == [{"value": "relu", "onnx": "y"}]


def test_cleanup_unknown_pass():
    with pytest.raises(UsageError, match="unknown clean-up pass"):
        cleanup(_model([helper.make_node("Relu", ["x"], ["y"])], {}, (2, 3, 4)),
                passes=["fold"])


def test_make_variants_on_a_channels_first_model_without_eval_rows(tmp_path):
    """Rows are seqc's layout (channels-last) whatever the ONNX input layout; with no
    evaluation rows, seeded ones are used and there are no metrics to compare."""
    model, _ = small_models()["cnn"]
    _randomise_bn(model)
    src = model.export(str(tmp_path / "model.onnx"), input_layout="channels_first")
    rep = RV.make_variants(model, src, tmp_path, float16=True, int8="dynamic",
                          optimized="basic")
    assert rep["ok"] and rep["eval_rows"] == 64 and rep["float32"]["metrics"] is None
    assert rep["float32"]["numpy_max_abs_error"] <= 1e-5
    assert {"float16", "int8", "optimized"} <= set(rep)
    assert "delta" not in rep["int8"]
