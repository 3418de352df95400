"""`seqc predict`: run a model (.onnx or build folder) on a file of inputs with onnxruntime.

Inputs: .npy (memory-mapped, so only one batch is in memory at a time), .npz (key `x`, or its
only array), .csv (header row; the optional target column is dropped). Output: .npy or .csv,
written atomically; a CSV gets a `label` column when the model carries class names.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..atomic import atomic_file
from ..errors import DataError, UsageError
from .runners import check_input, make_session, onnx_value_type, resolve


def read_inputs(path: str, *, target: str | None = None) -> np.ndarray:
    """An input file as an array (a read-only memory map for .npy)."""
    if not os.path.isfile(path):
        raise DataError("input file not found", file=path, field="INPUT", received=path,
                        hint="check the path; INPUT is a .npy, .npz or .csv file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "x" in z.files:
                    return z["x"]
                if len(z.files) == 1:
                    return z[z.files[0]]
                raise DataError("the .npz holds several arrays and none is named 'x'",
                                file=path, field="x", received=f"arrays {z.files}")
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read the file ({e})", file=path, field="INPUT",
                        received=path) from None
    if ext == ".csv":
        return _read_csv(path, target)
    raise UsageError("INPUT must be a .npy, .npz or .csv file", file=path, field="INPUT",
                     received=f"extension {ext or '(none)'}")


def _read_csv(path: str, target: str | None) -> np.ndarray:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise DataError("the CSV needs a header row and at least one data row", file=path,
                        field="rows", received=f"{len(rows)} rows")
    header, body = rows[0], rows[1:]
    keep = [i for i, h in enumerate(header) if h != target]
    out = np.empty((len(body), len(keep)), dtype=np.float32)
    for r, row in enumerate(body):
        if len(row) != len(header):
            raise DataError(f"row {r + 1} has {len(row)} cells; the header has {len(header)}",
                            file=path, field=f"row {r + 1}", received=",".join(row)[:80])
        for j, i in enumerate(keep):
            try:
                out[r, j] = float(row[i])
            except ValueError:
                raise DataError(f"row {r + 1}, column '{header[i]}' is not a number",
                                file=path, field=header[i], received=repr(row[i]),
                                hint="pass --target COLUMN to drop a label column"
                                if target is None else None) from None
    return out


def read_inputs_for(model: Any, inputs: str | None) -> np.ndarray | None:
    """Inputs for `seqc validate`: a file's contents, or None (validate draws random rows)."""
    return None if inputs is None else np.asarray(read_inputs(inputs))


def _class_names(src) -> list[str] | None:
    try:
        meta = {p.key: p.value for p in src.onnx_proto().metadata_props}
    except Exception:  # noqa: BLE001 - metadata is optional; predictions still work
        return None
    names = meta.get("seqc.class_names")
    return json.loads(names) if names else None


def predict_file(model: str, input_path: str, out_path: str, *, provider: str = "cpu",
                 batch_size: int = 1024, target: str | None = None,
                 log: Callable[[str], Any] | None = None) -> int:
    """Predict every row of `input_path` in batches; returns the number of rows written."""
    ext = os.path.splitext(out_path)[1].lower()
    if ext not in (".npy", ".csv"):
        raise UsageError("the output must be a .npy or .csv file", field="--out",
                         received=out_path)
    src = resolve(model)
    x = read_inputs(input_path, target=target)
    # The file feeds the ONNX session directly, so it is in the ONNX model's own layout
    # (channels-first for a model exported with --input-layout nchw).
    in_type = onnx_value_type(src.onnx_proto().graph.input[0])
    try:
        check_input(x[:1], in_type)  # shape and dtype errors before any work (one row)
    except DataError as e:
        e.received = f"array of shape {tuple(x.shape)} {x.dtype}"
        if (src.onnx_layouts()[0] == "channels_first" and x.ndim == in_type.rank
                and tuple(x.shape[1:]) == (*in_type.shape[2:], in_type.shape[1])):
            e.hint = ("this model was exported with --input-layout nchw: pass channels-first "
                      "input, e.g. np.moveaxis(x, -1, 1)")
        raise e.located(file=input_path) from None
    try:
        sess = make_session(src, provider=provider)
    except UsageError as e:
        if provider != "auto":
            raise
        if log:
            log(f"CUDA unavailable ({e.message}); falling back to CPU")
        sess = make_session(src, provider="cpu")
    if provider == "auto" and log:
        log(f"provider: {sess.get_providers()[0]}")
    name = sess.get_inputs()[0].name
    chunks = []
    for i in range(0, len(x), batch_size):
        xb = check_input(x[i:i + batch_size], in_type)
        chunks.append(sess.run(None, {name: xb})[0])
    y = np.concatenate(chunks) if chunks else np.empty((0,), np.float32)
    _write_atomic(out_path, y, _class_names(src) if ext == ".csv" else None)
    return len(y)


def _write_atomic(path: str, y: np.ndarray, class_names: list[str] | None) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_file(path) as f:
        if path.lower().endswith(".npy"):
            np.save(f, y)
        else:
            _write_csv(f, y, class_names)


def _write_csv(f, y: np.ndarray, class_names: list[str] | None) -> None:
    y2 = y.reshape(len(y), -1)
    cols = [f"output_{j}" for j in range(y2.shape[1])]
    labels = None
    if class_names:
        if y2.shape[1] == 1:  # sigmoid: class 1 above 0.5
            labels = [class_names[int(v > 0.5)] for v in y2[:, 0]]
        elif y2.shape[1] == len(class_names):
            labels = [class_names[i] for i in y2.argmax(1)]
    lines = [",".join(cols + (["label"] if labels else []))]
    for r in range(len(y2)):
        cells = [f"{v:.7g}" for v in y2[r]] + ([labels[r]] if labels else [])
        lines.append(",".join(cells))
    f.write(("\n".join(lines) + "\n").encode())
