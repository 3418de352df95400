"""Strategies for data files (CSV, .npy, .npz) and ONNX models read by `predict`, `validate`,
`bench` and `build --data` (issue 16): ragged rows, text in number columns, wrong dtypes and
shapes, damaged .npy headers and declared sizes, damaged ONNX protos and a Loop with a huge
trip count."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import strategies as st

from ._frontends import build_folder_seed
from ._harness import Case
from ._mutate import mutate_bytes

SPEC = {"name": "d", "input_shape": [3], "layers": [
    {"type": "Dense", "units": 4, "activation": "relu"},
    {"type": "Dense", "units": 2, "activation": "softmax"}],
    "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
    "fit": {"epochs": 1, "batch_size": 4}}

NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 1e38, 3.4e39]))


@st.composite
def csv_bytes(draw: Any) -> bytes:
    """A CSV with a header (x0..x2, label): ragged rows, text in number columns, NaN, huge
    values, zero rows, odd encodings, null bytes."""
    header = draw(st.sampled_from(["x0,x1,x2,label"] * 4 + [
        "x0,x1,label", "", "label", "x0;x1;x2;label", "\ufeffx0,x1,x2,label",
        "x0,x0,x2,label"]))
    width = len(header.split(","))
    rows = []
    ragged = draw(st.integers(0, 3)) == 0
    for _ in range(draw(st.integers(0, 12))):
        n = draw(st.integers(1, 6)) if ragged else width
        cells = [draw(st.one_of(
            st.integers(0, 1).map(str), st.floats(-3, 3).map(lambda v: f"{v:.3f}"),
            NUMBERS.map(str), st.sampled_from(["", "nan", "inf", "abc", '"1,2"', "\x00",
                                               "1e999", "0x10", "--1", " 1 "])))
            for _ in range(n)]
        rows.append(",".join(cells))
    raw = "\n".join([header, *rows]).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 3)) == 0:
        raw = draw(mutate_bytes(raw, max_edits=2))
    return raw


@st.composite
def npy_bytes(draw: Any) -> bytes:
    """An .npy of the wrong dtype, shape, values, or with a damaged header."""
    import numpy as np

    kind = draw(st.sampled_from(["ok", "dtype", "shape", "values", "header", "bytes"]))
    rows = draw(st.integers(0, 5))
    a = np.ones((rows, 3), np.float32)
    if kind == "dtype":
        a = a.astype(draw(st.sampled_from(["complex64", "U3", "bool", "int8", "float16",
                                           "datetime64[s]", "V4"])))
    elif kind == "shape":
        a = np.ones(draw(st.sampled_from([(), (0,), (3,), (2, 3, 1), (2, 0), (1, 1, 1, 1, 1)])),
                    np.float32)
    elif kind == "values":
        a = np.full((max(rows, 1), 3), draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e38])),
                    np.float32)
    buf = io.BytesIO()
    np.save(buf, a)
    raw = buf.getvalue()
    if kind == "header":  # a declared shape or dtype the data does not hold
        raw = raw.replace(b"'shape': (", draw(st.sampled_from(
            [b"'shape': (10000000000, ", b"'shape': (-1, ", b"'shape': ('a', "])), 1)
        raw = raw.replace(b"'descr': '<f4'", draw(st.sampled_from(
            [b"'descr': '<f4'", b"'descr': '|O'", b"'descr': 'xx'", b"'descr': [1]"])), 1)
    elif kind == "bytes":
        raw = draw(mutate_bytes(raw))
    return raw


@st.composite
def npz_bytes(draw: Any) -> bytes:
    import zipfile

    import numpy as np

    members = {"x": draw(npy_bytes()), "y": draw(st.sampled_from([
        b"", _npy(np.zeros(2, np.int64)), _npy(np.array([0, 1, 5, -1])), _npy(np.ones((2, 2)))]))}
    if draw(st.booleans()):
        members.pop(draw(st.sampled_from(["x", "y"])))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in members.items():
            zf.writestr(f"{k}.npy", v)
    raw = buf.getvalue()
    return draw(mutate_bytes(raw)) if draw(st.booleans()) else raw


def _npy(a: Any) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@st.composite
def onnx_bytes(draw: Any, src: bytes) -> bytes:
    """model.onnx damaged as bytes, or as a proto: a node's op, inputs or attributes, an
    initializer's dims or data, the opset, a Loop with a huge trip count."""
    import onnx
    from onnx import helper

    how = draw(st.sampled_from(["bytes", "proto", "proto", "loop"]))
    if how == "bytes":
        return draw(mutate_bytes(src))
    m = onnx.load_from_string(src)
    g = m.graph
    if how == "loop":  # the output plus a Loop-carried 0.0 that runs 2**62 times
        f, b, i64 = onnx.TensorProto.FLOAT, onnx.TensorProto.BOOL, onnx.TensorProto.INT64
        body = helper.make_graph(
            [helper.make_node("Identity", ["c"], ["c_out"]),
             helper.make_node("Identity", ["v"], ["v_out"])], "body",
            [helper.make_tensor_value_info("i", i64, []), helper.make_tensor_value_info(
                "c", b, []), helper.make_tensor_value_info("v", f, [])],
            [helper.make_tensor_value_info("c_out", b, []),
             helper.make_tensor_value_info("v_out", f, [])])
        g.initializer.extend([
            helper.make_tensor("trip", i64, [], [draw(st.sampled_from([2**62, 10**12]))]),
            helper.make_tensor("cond", b, [], [True]), helper.make_tensor("v0", f, [], [0.0])])
        out = g.output[0].name
        last = next(n for n in g.node if out in n.output)
        last.output[list(last.output).index(out)] = "pre_loop"
        g.node.extend([helper.make_node("Loop", ["trip", "cond", "v0"], ["v_end"], body=body),
                       helper.make_node("Add", ["pre_loop", "v_end"], [out])])
        return m.SerializeToString()
    op = draw(st.sampled_from(["op", "input", "attr", "dims", "data", "opset", "output"]))
    node = g.node[draw(st.integers(0, len(g.node) - 1))]
    if op == "op":
        node.op_type = draw(st.sampled_from(["Relu", "Conv", "NoSuch", "Loop", "Gemm", ""]))
    elif op == "input" and node.input:
        node.input[0] = draw(st.sampled_from(["", "nosuch", g.output[0].name]))
    elif op == "attr":
        node.attribute.append(helper.make_attribute(
            draw(st.sampled_from(["alpha", "transB", "axis", "x"])),
            draw(st.sampled_from([1, -5, 1e30, "s", [1, 2]]))))
    elif op == "dims" and g.initializer:
        t = g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
        t.dims[:] = draw(st.sampled_from([[], [0], [10**9, 10**9], [1, 2, 3]]))
    elif op == "data" and g.initializer:
        t = g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
        t.raw_data = draw(st.binary(max_size=16))
    elif op == "opset":
        m.opset_import[0].version = draw(st.sampled_from([0, 1, 99, -1]))
    elif op == "output":
        g.output[0].type.tensor_type.elem_type = draw(st.sampled_from([0, 8, 11, 99]))
    return m.SerializeToString()


@st.composite
def data_onnx_cases(draw: Any) -> Case:
    import numpy as np

    folder = dict(build_folder_seed())
    files = {f"b/{k}": v for k, v in folder.items()}
    kind = draw(st.sampled_from(["csv", "npy", "npz", "onnx", "onnx", "build-csv",
                                 "build-npz"]))
    if kind == "onnx":
        files["m.onnx"] = draw(onnx_bytes(folder["model.onnx"]))
        files["x.npy"] = _npy(np.ones((2, 3), np.float32))
        argv = draw(st.sampled_from([
            ["predict", "{dir}/m.onnx", "{dir}/x.npy", "-o", "{out}"],
            ["validate", "{dir}/m.onnx"],
            ["bench", "{dir}/m.onnx", "--batch-sizes", "1", "--min-time", "0",
             "--iterations", "1"]]))
        return Case("onnx", files, "m.onnx", argv, out="y.npy" if "predict" in argv else None)
    if kind.startswith("build"):
        ext = kind.split("-")[1]
        files[f"data.{ext}"] = draw(csv_bytes() if ext == "csv" else npz_bytes())
        files["s.json"] = json.dumps(SPEC).encode()
        argv = ["build", "{dir}/s.json", "--data", "{input}", "-q", "--test-vectors", "0",
                "-o", "{out}"] + (["--target", "label"] if ext == "csv" else [])
        return Case("training-data", files, f"data.{ext}", argv, out="out")
    name = f"in.{kind}"
    files[name] = draw({"csv": csv_bytes, "npy": npy_bytes, "npz": npz_bytes}[kind]())
    argv = draw(st.sampled_from([["predict", "{dir}/b", "{input}", "-o", "{out}"],
                                 ["validate", "{dir}/b", "--inputs", "{input}"]]))
    return Case("predict-inputs", files, name, argv, out="y.npy" if "predict" in argv else None)


# Not yet in the default run (see test_fuzz_data_onnx.py); benchmarks/fuzz.py runs them.
PENDING_FRONTENDS = {"data-onnx": data_onnx_cases}
