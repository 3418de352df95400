"""Bisection, per-dtype tolerances and per-output tables: one weight changed in model.onnx is
caught by `seqc validate`, and the bisection names the layer it belongs to."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import seqc
from seqc.cli import cli
from seqc.export import export_model
from seqc.ir.serialize import dumps, params_to_npz_bytes
from seqc.runtime.bisect import VALUES_KEY, bisect, to_ir_layout
from seqc.runtime.compare import TOLERANCES, model_precision, tolerance
from seqc.runtime.validate import validate

L = seqc.layers


def mlp():
    return seqc.Sequential([L.Input((6,)), L.Dense(8, activation="relu"), L.Dense(5),
                            L.Dense(3, activation="softmax")], seed=0)


def cnn():
    m = seqc.Sequential([L.Input((8, 8, 2)), L.Conv2D(3, 3), L.BatchNormalization(),
                         L.Activation("relu"), L.MaxPooling2D(2), L.Flatten(),
                         L.Dense(4, activation="softmax")], seed=1)
    # Statistics far from the identity, so folding BN into the conv really changes weights.
    rng = np.random.default_rng(1)
    for p, v in (("gamma", rng.uniform(0.5, 2, 3)), ("beta", rng.normal(0, 1, 3)),
                 ("moving_mean", rng.normal(0, 1, 3)), ("moving_variance", rng.uniform(.5, 2, 3))):
        m.params[f"batch_normalization/{p}"] = v.astype(np.float32)
    return m


def lstm():
    return seqc.Sequential([L.Input((5, 3)), L.LSTM(4), L.Dense(2)], seed=2)


def write_build_dir(model, folder, **export):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.ir.json"), "w") as f:
        f.write(dumps(model.graph))
    with open(os.path.join(folder, "weights.npz"), "wb") as f:
        f.write(params_to_npz_bytes(model.params))
    export_model(model, os.path.join(folder, "model.onnx"), **export)
    return str(folder)


def corrupt(folder, initializer, delta=2.0, *, drop_map=False):
    """Change one element of one initializer in model.onnx on disk."""
    path = os.path.join(folder, "model.onnx")
    proto = onnx.load(path)
    init = next(i for i in proto.graph.initializer if i.name == initializer)
    w = numpy_helper.to_array(init).copy()
    w.flat[w.size // 2] += delta
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    if drop_map:
        keep = [p for p in proto.metadata_props if p.key != VALUES_KEY]
        del proto.metadata_props[:]
        proto.metadata_props.extend(keep)
    onnx.save(proto, path)


def inputs(model, rows=12):
    shape = (rows, *model.graph.input_type.shape[1:])
    return np.random.default_rng(3).standard_normal(shape).astype(np.float32)


# ---- the done-when: a corrupted weight is caught and its layer named ----

CASES = {
    "mlp-first": (mlp, {}, "dense/kernel", "dense", "Dense"),
    "mlp-middle": (mlp, {}, "dense_1/kernel", "dense_1", "Dense"),
    "mlp-last-bias": (mlp, {}, "dense_2/bias", "dense_2", "Dense"),
    "cnn-conv-bn-folded": (cnn, {}, "conv2d/kernel", "conv2d", "Conv2D"),
    "cnn-dense": (cnn, {}, "dense/kernel", "dense", "Dense"),
    "cnn-nchw-input": (cnn, {"input_layout": "channels_first"}, "dense/bias", "dense", "Dense"),
    "cnn-bn-kept": (cnn, {"fold_batchnorm": False}, "batch_normalization/moving_mean",
                    "batch_normalization", "BatchNormalization"),
    "lstm-recurrent": (lstm, {}, "lstm/recurrent_kernel", "lstm", "LSTM"),
    "lstm-dense": (lstm, {}, "dense/kernel", "dense", "Dense"),
}


@pytest.mark.parametrize("case", CASES)
def test_corrupted_weight_is_caught_and_its_layer_named(case, tmp_path):
    make, export, init, layer, kind = CASES[case]
    model = make()
    folder = write_build_dir(model, tmp_path / "b", **export)
    x = inputs(model)
    clean = validate(folder, x, print_table=False)
    assert clean.ok and all(r.first_divergence is None for r in clean.results)

    corrupt(folder, init)
    result = validate(folder, x, print_table=False)
    assert not result.ok
    for runtime in ("onnxruntime", "onnx-reference"):
        row = result[runtime]
        assert not row.ok and row.error is None
        div = row.first_divergence
        assert div is not None, row.bisect_note
        assert (div["layer"], div["kind"]) == (layer, kind)
        assert div["max_abs_error"] > 1e-3
    line = next(s for s in result.format_table().splitlines()
                if s.startswith("onnxruntime: first divergence"))
    assert line.startswith(f"onnxruntime: first divergence: layer '{layer}' ({kind}")
    assert ", max abs err " in line
    data = json.loads(json.dumps(result.to_json()))
    row = next(r for r in data["runtimes"] if r["runtime"] == "onnxruntime")
    assert row["first_divergence"]["layer"] == layer
    assert row["first_divergence"]["kind"] == kind


def test_folded_batchnorm_is_reported_with_its_conv(tmp_path):
    folder = write_build_dir(cnn(), tmp_path / "b")
    corrupt(folder, "conv2d/kernel")
    b = bisect(folder, inputs(cnn()))
    div = b.first_divergence
    # The conv's own output has no ONNX value: the folded pair computes the BN's output.
    assert div.value == "batch_normalization" and div.folded == ["batch_normalization"]
    assert "with 'batch_normalization' folded in" in str(b)
    assert b.last_agreeing is None and "first layer compared" in str(b)


def test_last_agreeing_layer_and_every_node_compared(tmp_path):
    model = mlp()
    folder = write_build_dir(model, tmp_path / "b")
    x = inputs(model)
    b = bisect(folder, x)
    assert b.level == "ir" and b.first_divergence is None and b.note
    # Every IR node (Dense and its activation nodes) is a checkpoint, in node order.
    assert [c.node for c in b.checkpoints] == [n.name for n in model.graph.nodes]
    assert all(c.ok and c.max_abs_error < 1e-5 for c in b.checkpoints)

    corrupt(folder, "dense_1/kernel")
    b = bisect(folder, x, runtime="onnx-reference")
    assert (b.first_divergence.node, b.last_agreeing.node) == ("dense_1", "dense/activation")
    assert str(b).endswith("last agreeing: layer 'dense' (node 'dense/activation', Activation)")
    assert b.to_json()["first_divergence"]["last_agreeing"]["node"] == "dense/activation"


def test_model_without_the_value_map_is_bisected_from_the_ir(tmp_path):
    # An older model.onnx (no "seqc.values"): the map is rebuilt by exporting the IR again.
    folder = write_build_dir(cnn(), tmp_path / "b")
    corrupt(folder, "dense/kernel", drop_map=True)
    result = validate(folder, inputs(cnn()), runtimes="numpy,onnxruntime", print_table=False)
    assert result["onnxruntime"].first_divergence["layer"] == "dense"


def test_cli_validate_exits_1_and_names_the_layer(tmp_path):
    for make, init, layer in ((mlp, "dense_1/kernel", "dense_1"), (cnn, "conv2d/bias", "conv2d"),
                              (lstm, "lstm/kernel", "lstm")):
        folder = write_build_dir(make(), tmp_path / layer)
        ok = CliRunner().invoke(cli, ["validate", folder])
        assert ok.exit_code == 0, ok.output
        corrupt(folder, init)
        r = CliRunner().invoke(cli, ["validate", folder])
        assert r.exit_code == 1, r.output
        assert f"onnxruntime: first divergence: layer '{layer}'" in r.output
        r = CliRunner().invoke(cli, ["validate", folder, "--json"])
        assert r.exit_code == 1
        data = json.loads(r.output[:r.output.rindex("}") + 1])
        assert {row["runtime"]: (row["first_divergence"] or {}).get("layer")
                for row in data["runtimes"]}["onnxruntime"] == layer


def test_bisect_arguments_are_checked(tmp_path):
    folder = write_build_dir(mlp(), tmp_path / "b")
    with pytest.raises(seqc.errors.UsageError, match="ONNX runtime"):
        bisect(folder, inputs(mlp()), runtime="numpy")
    onnx_path = os.path.join(folder, "model.onnx")
    with pytest.raises(seqc.errors.UsageError, match="IR"):
        bisect(onnx_path, inputs(mlp()), reference="numpy")


# ---- bisecting between two ONNX runtimes (an .onnx file alone) ----

def test_onnx_file_bisects_between_onnx_runtimes(tmp_path, monkeypatch):
    import seqc.runtime.bisect as bis

    path = export_model(mlp(), tmp_path / "m.onnx")
    x = inputs(mlp())
    b = bisect(path, x)  # no IR: reference onnx-reference, layers named from the map
    assert b.reference == "onnx-reference" and b.level == "ir"
    assert [c.layer for c in b.checkpoints][:2] == ["dense", "dense"]
    assert b.first_divergence is None

    # A runtime that gets one layer wrong (as a runtime bug would) is named at that layer.
    real = bis.run_onnx

    def buggy(proto, feed, runtime, names, **options):
        out = real(proto, feed, runtime, names, **options)
        if runtime == "onnxruntime":
            out["dense_1"] = out["dense_1"] + 1.0
        return out

    monkeypatch.setattr(bis, "run_onnx", buggy)
    b = bisect(path, x)
    assert (b.first_divergence.layer, b.first_divergence.kind) == ("dense_1", "Dense")
    assert b.last_agreeing.node == "dense/activation"

    # Without seqc's map (a foreign model), ONNX nodes are the checkpoints.
    proto = onnx.load(path)
    del proto.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(proto, foreign)
    b = bisect(str(foreign), x)
    assert b.level == "onnx" and b.first_divergence.node == "dense_1/Gemm"


def test_layout_conversion():
    y = np.arange(24).reshape(2, 3, 4)  # (N, C, T) channels-first
    np.testing.assert_array_equal(to_ir_layout(y, "channels_first"), y.transpose(0, 2, 1))
    flat = np.array([[10, 20, 30]])  # feature j holds the IR's feature P[j]
    np.testing.assert_array_equal(to_ir_layout(flat, [2, 0, 1]), [[20, 30, 10]])
    assert to_ir_layout(flat, "channels_last") is flat


def test_value_map_metadata_format(tmp_path):
    path = export_model(cnn(), tmp_path / "m.onnx")
    proto = onnx.load(path)
    entries = json.loads({p.key: p.value for p in proto.metadata_props}[VALUES_KEY])
    by_value = {e["value"]: e for e in entries}
    produced = {o for n in proto.graph.node for o in n.output}
    assert all(e["onnx"] in produced for e in entries)
    assert "conv2d" not in by_value  # folded away
    assert by_value["batch_normalization"]["node"] == "conv2d"
    assert by_value["batch_normalization"]["layout"] == "channels_first"
    assert sorted(by_value["flatten"]["layout"]) == list(range(27))  # 3x3x3 permuted
    assert by_value["dense/activation"]["onnx"] == "output"
    assert by_value["dense"]["kind"] == "Dense" and by_value["dense/activation"]["layer"] == "dense"


# ---- tolerances per dtype ----

def test_tolerance_table():
    assert tolerance(None, None, np.float32) == TOLERANCES["float32"] == (1e-5, 1e-4)
    assert tolerance(None, None, np.float32, np.float16) == TOLERANCES["float16"]
    assert tolerance(None, None, np.float32, np.float32, "float16") == TOLERANCES["float16"]
    assert tolerance(None, None, np.int64, np.int64) == (0.0, 0.0)
    assert tolerance(None, None, np.int64, np.float32) == TOLERANCES["float32"]
    assert tolerance(1e-3, None, np.float16) == (1e-3, 1e-2)
    assert tolerance(None, 0.5, np.float32) == (1e-5, 0.5)


def float16_onnx(path_in, path_out):
    """The seqc MLP computing in float16 with float32 I/O (Casts at both ends), value names
    kept, as a float16 export variant would."""
    proto = onnx.load(path_in)
    for init in proto.graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(
                numpy_helper.to_array(init).astype(np.float16), init.name))
    for n in proto.graph.node:
        n.input[:] = ["input16" if i == "input" else i for i in n.input]
        n.output[:] = ["output16" if o == "output" else o for o in n.output]
    nodes = [helper.make_node("Cast", ["input"], ["input16"], to=TensorProto.FLOAT16),
             *proto.graph.node,
             helper.make_node("Cast", ["output16"], ["output"], to=TensorProto.FLOAT)]
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    # The map's "output" entry now lives in "output16" (the Cast only restores float32).
    props = {p.key: p.value for p in proto.metadata_props}
    entries = [{**e, "onnx": "output16" if e["onnx"] == "output" else e["onnx"]}
               for e in json.loads(props[VALUES_KEY])]
    helper.set_model_props(proto, {**props, VALUES_KEY: json.dumps(entries)})
    onnx.checker.check_model(proto)
    onnx.save(proto, path_out)


def test_float16_model_is_held_to_the_float16_tolerance(tmp_path):
    model = mlp()
    folder = write_build_dir(model, tmp_path / "b")
    onnx_path = os.path.join(folder, "model.onnx")
    float16_onnx(onnx_path, onnx_path)
    assert model_precision(onnx.load(onnx_path)) == "float16"
    x = inputs(model, rows=32)
    result = validate(folder, x, print_table=False)
    assert result.ok, result.format_table()
    row = result["onnxruntime"]
    assert (row.atol, row.rtol) == TOLERANCES["float16"] and row.max_abs_error > 1e-5
    table = result.format_table()
    assert ", atol 1e-05, rtol 0.0001" in table.splitlines()[0]  # the reference's dtype
    assert "onnxruntime: compared with atol 0.01, rtol 0.01 (the tolerance of the dtype" in table
    # The user's atol/rtol override the table: float32's fails, and the bisection (through
    # float16 intermediate values) blames the first layer, where rounding starts.
    strict = validate(folder, x, atol=1e-6, rtol=1e-6, print_table=False)
    assert not strict.ok and strict.atol == 1e-6
    assert strict["onnxruntime"].first_divergence["layer"] == "dense"
    # From the .onnx file alone, onnxruntime (float32 outputs) is the reference.
    alone = validate(onnx_path, x, print_table=False)
    assert alone.ok and alone["onnx-reference"].atol == TOLERANCES["float16"][0]


def test_cli_atol_overrides(tmp_path):
    folder = write_build_dir(mlp(), tmp_path / "b")
    corrupt(folder, "dense_2/bias", delta=1e-3)
    assert CliRunner().invoke(cli, ["validate", folder]).exit_code == 1
    r = CliRunner().invoke(cli, ["validate", folder, "--atol", "0.1"])
    assert r.exit_code == 0, r.output


# ---- several outputs: a table per output ----

def two_output_model(path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    probs = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 4])
    half = helper.make_tensor_value_info("half", TensorProto.FLOAT16, ["N", 4])
    w = numpy_helper.from_array(np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4), "w")
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]),
         helper.make_node("Softmax", ["h"], ["probs"], axis=-1),
         helper.make_node("Cast", ["h"], ["half"], to=TensorProto.FLOAT16)],
        "two", [x], [probs, half], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(m, path)
    return str(path)


def test_several_outputs_get_a_table_each(tmp_path, capsys):
    path = two_output_model(tmp_path / "two.onnx")
    x = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    result = validate(path, x)
    assert result.ok and result.output_names == ["probs", "half"]
    assert result.output_shapes == [(10, 4), (10, 4)]
    row = result["onnx-reference"]
    assert [o["ok"] for o in row.outputs] == [True, True]
    assert row.outputs[0]["argmax_agreement"] == 1.0
    # The float16 output is held to float16's tolerance; the model computes in float16 there.
    assert row.outputs[1]["atol"] == TOLERANCES["float16"][0]
    table = capsys.readouterr().out
    assert "output 0 'probs'" in table and "output 1 'half'" in table
    assert table.count("max abs err") == 2
    data = result.to_json()
    assert data["output_names"] == ["probs", "half"] and len(data["runtimes"][1]["outputs"]) == 2


def test_single_output_table_is_unchanged():
    result = validate(mlp(), inputs(mlp()), runtimes="numpy,onnxruntime", print_table=False)
    lines = result.format_table().splitlines()
    assert lines[0].startswith("validate ") and ", output (12, 3), reference numpy, " \
        "atol 1e-05, rtol 0.0001" in lines[0]
    assert lines[1].split() == ["runtime", "max", "abs", "err", "max", "rel", "err", "argmax",
                                "agree", "time", "(ms)", "result"]
    assert len(lines) == 6 and lines[-1] == "OK: all runtimes agree"
    assert result["onnxruntime"].outputs is None


def test_bisection_can_be_turned_off(tmp_path):
    folder = write_build_dir(mlp(), tmp_path / "b")
    corrupt(folder, "dense/kernel")
    result = validate(folder, inputs(mlp()), print_table=False, bisect_failures=False)
    assert not result.ok and result["onnxruntime"].first_divergence is None
    assert "first divergence" not in result.format_table()


def test_bisect_on_cuda(tmp_path):
    from seqc.runtime.runners import cuda_problem

    if cuda_problem():
        pytest.skip(f"no CUDA here: {cuda_problem()}")
    folder = write_build_dir(cnn(), tmp_path / "b")
    corrupt(folder, "dense/kernel")
    result = validate(folder, inputs(cnn()), runtimes="numpy,onnxruntime-cuda",
                      print_table=False)
    assert result["onnxruntime-cuda"].first_divergence["layer"] == "dense"


# ---- graphs: branches and merges, bisected in topological order ----

def diamond():
    """x -> [Conv1D(relu) -> Conv1D -> BN (folded)] and [Dense(tanh)], added to x, -> Dense."""
    from seqc.ir.build import NodeConfig, build_dag
    from seqc.ir.types import batched

    graph = build_dag("diamond", {"x": batched((6, 4))}, [
        NodeConfig("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "same",
                              "activation": "relu"}, "left", ["x"]),
        NodeConfig("Dense", {"units": 4, "activation": "tanh"}, "right", ["x"]),
        NodeConfig("Conv1D", {"filters": 4, "kernel_size": 1}, "left_2", ["left"]),
        NodeConfig("BatchNormalization", {}, "left_bn", ["left_2"]),
        NodeConfig("Add", {}, "join", ["left_bn", "right", "x"]),
        NodeConfig("Dense", {"units": 3}, "head", ["join"]),
    ], ["head"])
    m = seqc.Model(graph, seed=4)
    m.params["left_bn/moving_variance"] = np.full(4, 2.0, np.float32)
    m.params["left_bn/beta"] = np.full(4, 0.5, np.float32)
    return m


def dag_inputs():
    return np.random.default_rng(5).standard_normal((7, 6, 4)).astype(np.float32)


@pytest.mark.parametrize("init,layer,kind,folded,last", [
    ("right/kernel", "right", "Dense", [], None),  # one branch, reading the model's input
    ("left_2/kernel", "left_2", "Conv1D", ["left_bn"], "left/activation"),  # BN folded in
    ("head/bias", "head", "Dense", [], "join"),
])
def test_graph_bisects_to_the_diverging_branch_node(init, layer, kind, folded, last, tmp_path):
    model = diamond()
    folder = write_build_dir(model, tmp_path / "b")
    x = dag_inputs()
    clean = bisect(folder, x)
    assert clean.first_divergence is None
    assert {c.node for c in clean.checkpoints} >= {"left", "right", "left_2", "join", "head"}
    corrupt(folder, init)
    b = bisect(folder, x)
    div = b.first_divergence
    assert (div.layer, div.kind, div.folded) == (layer, kind, folded)
    # Every value not downstream of the corrupted node still agrees.
    agree = {c.node for c in b.checkpoints if c.ok}
    if layer == "right":
        assert {"left", "left/activation", "left_2"} <= agree
        assert b.last_agreeing is None and str(b).endswith("it reads only the model's input")
    elif layer == "left_2":
        assert {"right", "right/activation"} <= agree
    if last is not None:  # the value it reads, not the one before it in node order
        assert b.last_agreeing.node == last
        assert str(b).endswith(f"{b.last_agreeing.kind})")
    result = validate(folder, x, print_table=False)
    assert result["onnxruntime"].first_divergence["layer"] == layer
    assert result["onnx-reference"].first_divergence["layer"] == layer


def test_graph_merge_that_diverges_names_its_agreeing_inputs(tmp_path, monkeypatch):
    """A runtime wrong at the Add itself: the merge is named, and each of its inputs agrees."""
    import seqc.runtime.bisect as bis

    folder = write_build_dir(diamond(), tmp_path / "b")
    x = dag_inputs()
    entry = next(e for e in bis.value_map(bis.resolve(folder)) if e["value"] == "join")
    real = bis.run_onnx

    def buggy(proto, feed, runtime, names, **options):
        out = real(proto, feed, runtime, names, **options)
        if runtime == "onnxruntime":
            out[entry["onnx"]] = out[entry["onnx"]] + 1.0
        return out

    monkeypatch.setattr(bis, "run_onnx", buggy)
    b = bisect(folder, x)
    assert (b.first_divergence.node, b.first_divergence.kind) == ("join", "Add")
    assert [c.node for c in b.agreeing_inputs] == ["right/activation", "left_2"]
    div = b.divergence_json()
    assert [a["node"] for a in div["agreeing_inputs"]] == ["right/activation", "left_2"]
    assert str(b).endswith("its inputs agree: layer 'right' (node 'right/activation', "
                           "Activation), layer 'left_2' (Conv1D) with 'left_bn' folded in")


def test_cli_validate_names_the_graph_node(tmp_path):
    folder = write_build_dir(diamond(), tmp_path / "b")
    assert CliRunner().invoke(cli, ["validate", folder]).exit_code == 0
    corrupt(folder, "right/bias")
    r = CliRunner().invoke(cli, ["validate", folder])
    assert r.exit_code == 1, r.output
    assert "onnxruntime: first divergence: layer 'right' (Dense)" in r.output


def two_inputs():
    """Two inputs: a shared Dense encodes both, a Multiply joins them, a Dense reads that."""
    from seqc.ir.build import NodeConfig, build_dag
    from seqc.ir.types import batched

    graph = build_dag("pair", {"a": batched((5,)), "b": batched((5,))}, [
        NodeConfig("Dense", {"units": 4, "activation": "tanh"}, "enc", ["a"]),
        NodeConfig("Dense", {}, "enc_b", ["b"], shared_with="enc"),
        NodeConfig("Dense", {"units": 4}, "side", ["b"]),
        NodeConfig("Multiply", {}, "join", ["enc", "enc_b", "side"]),
        NodeConfig("Dense", {"units": 2}, "head", ["join"]),
    ], ["head"])
    return seqc.Model(graph, seed=6)


def test_graph_of_two_inputs_bisects_by_name_and_in_order(tmp_path):
    model = two_inputs()
    folder = write_build_dir(model, tmp_path / "b")
    rng = np.random.default_rng(8)
    a, b_ = (rng.standard_normal((6, 5)).astype(np.float32) for _ in range(2))
    assert bisect(folder, {"a": a, "b": b_}).first_divergence is None
    corrupt(folder, "side/kernel")
    for x in ({"b": b_, "a": a}, [a, b_]):
        b = bisect(folder, x, runtime="onnx-reference")
        assert (b.first_divergence.layer, b.last_agreeing) == ("side", None)
        assert {"enc", "enc_b"} <= {c.node for c in b.checkpoints if c.ok}
    with pytest.raises(seqc.errors.UsageError, match="inputs"):
        bisect(folder, a)
    with pytest.raises(seqc.errors.DataError, match="shape"):
        bisect(folder, {"a": a, "b": b_[:, :3]})
    # The .onnx file alone (no IR): its inputs by ONNX name, runtime against runtime.
    onnx_path = os.path.join(folder, "model.onnx")
    b = bisect(onnx_path, {"a": a, "b": b_})
    assert b.reference == "onnx-reference" and b.first_divergence is None
