"""Test vectors embedded in an ONNX model: a few inputs, the outputs seqc's NumPy forward gave
for them, and the tolerance, so `seqc validate model.onnx` re-checks a model with no other file.

Stored under the metadata key "seqc.test_vectors" as JSON (format 1)::

    {"format": 1, "rows": 8, "atol": 1e-05, "rtol": 0.0001, "bytes": 1234,
     "input":  {"dtype": "float32", "shape": [8, 3, 5, 5], "layout": "channels_first"},
     "output": {"dtype": "float32", "shape": [8, 2], "layout": "channels_last"},
     "sha256": "<hex>",                 # over x, y (dtype, shape, bytes) and atol, rtol
     "npz_base64": "<np.savez bytes>"}  # inline, or instead:
     "sidecar": {"file": "model.onnx.vectors.npz", "sha256": "<hex of the file>"}

The .npz holds `x` and `y` only (plain numeric arrays: read with allow_pickle=False), in the
ONNX model's own layout (channels-first input when exported with input_layout
"channels_first"), so onnxruntime takes them as they are. Large vectors go to the sidecar file
next to the model; its name and hash are in the metadata, so a missing or edited sidecar is a
clear error rather than a silent pass.

A model with several inputs or outputs stores format 2: the .npz holds `x.<input>` per ONNX
input and `y.<output>` per ONNX output, and the metadata lists them under "inputs" and
"outputs" ({name: {"dtype", "shape"}}, in the model's order) instead of "input" / "output".
Such models are channels-last (see named.py), so no layout is recorded. Re-running them:
vector_checks.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from ..fileio import atomic_write, sha256_file

KEY = "seqc.test_vectors"
FORMAT = 1
FORMAT_NAMED = 2  # several inputs or outputs
SIDECAR_SUFFIX = ".vectors.npz"
DEFAULT_ROWS = 8
MAX_INLINE_BYTES = 256 * 1024  # base64 text in the metadata; beyond it, a sidecar file
ONNX_FILE = "model.onnx"


# ---- data ----

@dataclass
class Vectors:
    """Stored test vectors, in the ONNX model's layout (see `ir_arrays` for seqc's). For a
    model with several inputs or outputs (format 2) x and y are dicts by ONNX name, in the
    model's order."""

    x: Any
    y: Any
    atol: float
    rtol: float
    source: str  # "inline" or "sidecar"
    input_layout: str = "channels_last"
    output_layout: str = "channels_last"
    file: str | None = None  # the sidecar's path when source == "sidecar"
    # (inputs, outputs) holding a PyTorch recurrent state, batch on axis 1 (Graph.states)
    states: tuple = (frozenset(), frozenset())
    folds: dict = field(default_factory=dict)  # outputs in (N * T, ...) rows

    @property
    def rows(self) -> int:
        return int(len(next(iter(self.x.values())) if self.named else self.x))

    @property
    def named(self) -> bool:
        return isinstance(self.x, dict)

    def ir_arrays(self) -> tuple[Any, Any]:
        """(x, y) in seqc's IR layout (channels-last), for the NumPy forward. Format 2 gives
        x as a list in input order (the array itself for one input) and y as a list in output
        order."""
        if self.named:
            from .named import swap_states, unfold

            xs = list(swap_states(self.x, self.states[0]).values())
            return (xs[0] if len(xs) == 1 else xs), list(unfold(swap_states(
                self.y, self.states[1]), self.folds).values())
        x = np.moveaxis(self.x, 1, -1) if self.input_layout == "channels_first" else self.x
        y = np.moveaxis(self.y, 1, -1) if self.output_layout == "channels_first" else self.y
        return np.ascontiguousarray(x), np.ascontiguousarray(y)


# ---- helpers ----

def _digest(x: np.ndarray, y: np.ndarray, atol: float, rtol: float) -> str:
    return _digest_arrays([("x", x), ("y", y)], atol, rtol)


def _digest_arrays(arrays: list[tuple[str, np.ndarray]], atol: float, rtol: float) -> str:
    h = hashlib.sha256()
    for name, a in arrays:
        h.update(f"{name}:{a.dtype.str}:{list(a.shape)}\n".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(f"atol={float(atol)!r};rtol={float(rtol)!r}".encode())
    return h.hexdigest()


def _npz_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    return _npz_arrays({"x": x, "y": y})


def _npz_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _read_npz_arrays(data: bytes | str, where: str, keys: list[str]) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data) if isinstance(data, bytes) else data,
                     allow_pickle=False) as z:
            if sorted(z.files) != sorted(keys):
                raise DataError(f"the test vectors must hold exactly the arrays {keys}",
                                file=where, field=KEY, received=f"arrays {sorted(z.files)}")
            return {k: z[k] for k in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"the test vectors cannot be read ({e})", file=where, field=KEY,
                        received=type(e).__name__,
                        hint="rebuild the model with `seqc build`") from None


def sidecar_path(onnx_path: str | os.PathLike) -> str:
    """Where `embed_vectors` puts large vectors: `<model>.onnx.vectors.npz`."""
    return os.fspath(onnx_path) + SIDECAR_SUFFIX


def _load_proto(path: str) -> Any:
    from .source import load_onnx_checked

    if not os.path.isfile(path):
        raise UsageError("ONNX model file not found", field="model", received=path)
    # External weights stay where they are: only the metadata is rewritten.
    return load_onnx_checked(path, load_external_data=False)


def _props(proto: Any) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


def _layouts(props: dict[str, str]) -> tuple[str, str]:
    # The same metadata ModelSource.onnx_layouts reads.
    return (props.get("seqc.input_layout", "channels_last"),
            props.get("seqc.output_layout", "channels_last"))


def tolerance_value(value: Any, name: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value < 0):
        raise UsageError(f"{name} must be a finite number >= 0", field=name,
                         received=f"{name}={value!r}")
    return float(value)


def pick_rows(x: np.ndarray, n: int = DEFAULT_ROWS) -> np.ndarray:
    """`n` rows spread evenly over `x` (all of them when it has fewer): held-out data is
    often sorted or grouped, so the first rows alone may all be one class."""
    x = np.asarray(x)
    if len(x) <= n:
        return np.array(x)
    return np.array(x[np.linspace(0, len(x) - 1, n).round().astype(int)])


# ---- write ----

def embed_vectors(onnx_path: str | os.PathLike, x: Any, y: Any, *, atol: float, rtol: float,
                  max_inline_bytes: int = MAX_INLINE_BYTES,
                  layout: str = "ir") -> dict[str, Any]:
    """Store test vectors in the model file (rewritten atomically), or in a sidecar
    `<model>.onnx.vectors.npz` when their base64 text exceeds `max_inline_bytes`.

    `x`, `y`: inputs and the expected outputs (seqc's NumPy forward of them). With
    `layout="ir"` they are in seqc's channels-last layout and are converted to the model's
    (channels-first for a model exported with input_layout="channels_first"); with
    `layout="onnx"` they are already in the ONNX model's layout. Returns a summary for
    report.json: {"rows", "bytes", "stored", "file", "atol", "rtol", "sha256"}.

    >>> import seqc, numpy as np, tempfile, os
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> p = m.export(os.path.join(tempfile.mkdtemp(), "model.onnx"))
    >>> x = np.ones((4, 3), np.float32)
    >>> embed_vectors(p, x, m.predict(x), atol=1e-5, rtol=1e-4)["stored"]
    'inline'
    """
    from .runners import check_input, onnx_value_type

    path = os.fspath(onnx_path)
    atol, rtol = tolerance_value(atol, "atol"), tolerance_value(rtol, "rtol")
    if layout not in ("ir", "onnx"):
        raise UsageError("layout must be 'ir' or 'onnx'", field="layout",
                         received=f"layout={layout!r}")
    if not isinstance(max_inline_bytes, int) or max_inline_bytes < 0:
        raise UsageError("max_inline_bytes must be an int >= 0", field="max_inline_bytes",
                         received=f"max_inline_bytes={max_inline_bytes!r}")
    proto = _load_proto(path)
    in_layout, out_layout = _layouts(_props(proto))
    x, y = np.asarray(x), np.asarray(y)
    if layout == "ir":
        if in_layout == "channels_first" and x.ndim >= 3:
            x = np.moveaxis(x, -1, 1)
        if out_layout == "channels_first" and y.ndim >= 3:
            y = np.moveaxis(y, -1, 1)
    x = check_input(x, onnx_value_type(proto.graph.input[0]))  # the ONNX input's dtype too
    out_type = onnx_value_type(proto.graph.output[0])
    if y.dtype.kind not in "biuf" or not out_type.matches(y) or len(y) != len(x):
        raise DataError(f"the expected outputs must have the model's output shape "
                        f"{tuple(out_type.shape)} with one row per input ({len(x)})",
                        file=path, field="y", received=f"array of shape {y.shape} {y.dtype}")
    y = np.ascontiguousarray(y)

    data = _npz_bytes(x, y)
    doc: dict[str, Any] = {
        "format": FORMAT, "rows": int(len(x)), "atol": atol, "rtol": rtol, "bytes": len(data),
        "input": {"dtype": x.dtype.name, "shape": list(x.shape), "layout": in_layout},
        "output": {"dtype": y.dtype.name, "shape": list(y.shape), "layout": out_layout},
        "sha256": _digest(x, y, atol, rtol),
    }
    return _store(path, proto, doc, data, max_inline_bytes)


def _store(path: str, proto: Any, doc: dict[str, Any], data: bytes,
           max_inline_bytes: int) -> dict[str, Any]:
    """Write `doc` (with the .npz bytes inline, or in the sidecar) into the model's metadata."""
    text = base64.b64encode(data).decode("ascii")
    side = sidecar_path(path)
    if len(text) <= max_inline_bytes:
        doc["npz_base64"] = text
    else:
        # The sidecar first: a model whose metadata names a sidecar never exists without it.
        atomic_write(side, data)
        doc["sidecar"] = {"file": os.path.basename(side),
                          "sha256": hashlib.sha256(data).hexdigest()}
    for i in reversed(range(len(proto.metadata_props))):
        if proto.metadata_props[i].key == KEY:
            del proto.metadata_props[i]
    entry = proto.metadata_props.add()
    entry.key, entry.value = KEY, json.dumps(doc, separators=(",", ":"))
    if proto.ByteSize() >= 2**31:
        raise DataError("the model with its test vectors would exceed 2 GiB", file=path,
                        field=KEY, received=f"{proto.ByteSize():,} bytes",
                        hint="store fewer rows, or a smaller max_inline_bytes")
    atomic_write(path, proto.SerializeToString())
    if "sidecar" not in doc and os.path.isfile(side):
        os.unlink(side)  # a previous embedding's sidecar, no longer referenced
    return {"rows": doc["rows"], "bytes": len(data),
            "stored": "sidecar" if "sidecar" in doc else "inline",
            "file": doc["sidecar"]["file"] if "sidecar" in doc else None,
            "atol": doc["atol"], "rtol": doc["rtol"], "sha256": doc["sha256"]}


def embed_named_vectors(onnx_path: str | os.PathLike, x: dict[str, np.ndarray],
                        y: dict[str, np.ndarray], *, atol: float, rtol: float,
                        max_inline_bytes: int = MAX_INLINE_BYTES) -> dict[str, Any]:
    """Format 2 (several inputs or outputs): `x` by ONNX input name, `y` by ONNX output name,
    every name of the model present, channels-last."""
    from .runners import check_input, onnx_value_type

    path = os.fspath(onnx_path)
    atol, rtol = tolerance_value(atol, "atol"), tolerance_value(rtol, "rtol")
    proto = _load_proto(path)
    ins = {i.name: onnx_value_type(i) for i in proto.graph.input}
    outs = {o.name: onnx_value_type(o) for o in proto.graph.output}
    from .named import fold_names, state_names

    st_in, st_out = state_names(_props(proto))  # batch on axis 1: PyTorch's state layout
    folds = fold_names(_props(proto))  # (N * T, ...) rows: T rows per input
    if list(x) != list(ins) or list(y) != list(outs):
        raise DataError("the test vectors must name every input and output of the model, in "
                        "order", file=path, field="x",
                        received=f"inputs {list(x)}, outputs {list(y)}; the model's "
                                 f"{list(ins)}, {list(outs)}")
    x = {n: check_input(v, ins[n]) if n not in st_in else np.asarray(v) for n, v in x.items()}
    rows = len(next(iter(x.values())))
    for n, v in y.items():
        v = np.asarray(v)
        if v.dtype.kind not in "biuf" or not outs[n].matches(v) or (
                v.shape[1] if n in st_out else len(v) // folds.get(n, 1)) != rows:
            raise DataError(f"the expected output '{n}' must have the model's output shape "
                            f"{tuple(outs[n].shape)} with one row per input ({rows})",
                            file=path, field=n, received=f"array of shape {v.shape} {v.dtype}")
    y = {n: np.ascontiguousarray(v) for n, v in y.items()}
    arrays = [*((f"x.{n}", v) for n, v in x.items()), *((f"y.{n}", v) for n, v in y.items())]
    data = _npz_arrays(dict(arrays))
    doc: dict[str, Any] = {
        "format": FORMAT_NAMED, "rows": rows, "atol": atol, "rtol": rtol, "bytes": len(data),
        "inputs": {n: {"dtype": v.dtype.name, "shape": list(v.shape)} for n, v in x.items()},
        "outputs": {n: {"dtype": v.dtype.name, "shape": list(v.shape)} for n, v in y.items()},
        "sha256": _digest_arrays(arrays, atol, rtol),
    }
    return _store(path, proto, doc, data, max_inline_bytes)


def embed_from_model(model: Any, onnx_path: str | os.PathLike, x: Any, *,
                     rows: int = DEFAULT_ROWS, atol: float, rtol: float,
                     max_inline_bytes: int = MAX_INLINE_BYTES) -> dict[str, Any]:
    """`embed_vectors` with `rows` rows picked from `x` (seqc's layout) and their expected
    outputs computed by the model's NumPy forward. What `seqc build` calls after export."""
    from .named import check_named, input_types, output_names, several_io
    from .runners import check_input, prepare, resolve

    src = resolve(model)
    if several_io(src):  # format 2, by ONNX names; x an array (one input) or a dict by name
        from ..ir.graph import zero_states
        from .named import fold, fold_names, state_names, swap_states

        types = input_types(src)
        x = zero_states(src.graph, x)  # a recurrent state input not given: zeros
        x = x if isinstance(x, dict) else {next(iter(types)): x}
        xs = check_named({n: pick_rows(v, rows) for n, v in x.items()}, types)
        ys = prepare("numpy", src)(xs)
        ys = ys if isinstance(ys, list) else [ys]
        proto = _load_proto(os.fspath(onnx_path))
        onnx_in = [i.name for i in proto.graph.input]
        st_in, st_out = state_names(_props(proto))  # stored in the ONNX model's layout
        return embed_named_vectors(onnx_path, swap_states(dict(zip(onnx_in, xs.values())),
                                                          st_in),
                                   fold(swap_states(dict(zip(output_names(src), ys)), st_out),
                                        fold_names(_props(proto))),
                                   atol=atol, rtol=rtol, max_inline_bytes=max_inline_bytes)
    xs = check_input(pick_rows(x, rows), src.input_type())
    y = prepare("numpy", src)(xs)
    return embed_vectors(onnx_path, xs, y, atol=atol, rtol=rtol,
                         max_inline_bytes=max_inline_bytes, layout="ir")


# ---- read ----

def _bad(where: str, what: str, received: Any) -> DataError:
    return DataError(f"the model's test vectors are malformed: {what}", file=where, field=KEY,
                     received=received, hint="rebuild the model with `seqc build`")


def read_vectors(model: Any, *, folder: str | None = None) -> Vectors | None:
    """The test vectors of an .onnx path or ModelProto; None when it carries none.

    A sidecar is looked up in the model's folder (`folder` for a ModelProto). A missing
    sidecar, or one whose bytes or arrays do not match the recorded sha256, is a DataError
    naming the file.
    """
    if isinstance(model, (str, os.PathLike)):
        where = os.fspath(model)
        proto = _load_proto(where)
        folder = folder or os.path.dirname(os.path.abspath(where))
    elif type(model).__name__ == "ModelProto":
        proto, where = model, model.graph.name or "ModelProto"
    else:
        raise UsageError("read_vectors takes an .onnx path or an onnx.ModelProto",
                         field="model", received=type(model).__name__)
    props = _props(proto)
    if KEY not in props:
        return None
    try:
        doc = json.loads(props[KEY])
    except ValueError as e:  # JSONDecodeError, or UnicodeDecodeError on damaged bytes
        raise _bad(where, f"{KEY} is not JSON", str(e)) from None
    if not isinstance(doc, dict) or doc.get("format") not in (FORMAT, FORMAT_NAMED):
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise _bad(where, f"unknown format (this seqc reads formats {FORMAT} and "
                          f"{FORMAT_NAMED})", f"format={got!r}")
    named = doc["format"] == FORMAT_NAMED
    try:
        atol, rtol = tolerance_value(doc["atol"], "atol"), tolerance_value(doc["rtol"], "rtol")
        sha = str(doc["sha256"])
        if named:
            in_layout = out_layout = "channels_last"
            want = {f"{side}.{n}": (list(v["shape"]), str(v["dtype"]))
                    for side, group in (("x", doc["inputs"]), ("y", doc["outputs"]))
                    for n, v in dict(group).items()}
            keys = list(want)
        else:
            in_layout, out_layout = str(doc["input"]["layout"]), str(doc["output"]["layout"])
            shapes = (list(doc["input"]["shape"]), list(doc["output"]["shape"]))
            dtypes = (str(doc["input"]["dtype"]), str(doc["output"]["dtype"]))
            keys = ["x", "y"]
    except (KeyError, TypeError, AttributeError, UsageError) as e:
        raise _bad(where, "a field is missing or has the wrong type", repr(e)) from None

    file = None
    if "npz_base64" in doc:
        source = "inline"
        try:
            data = base64.b64decode(str(doc["npz_base64"]), validate=True)
        except (binascii.Error, ValueError) as e:
            raise _bad(where, "npz_base64 is not base64", str(e)) from None
        arrays = _read_npz_arrays(data, where, keys)
    elif isinstance(doc.get("sidecar"), dict):
        source = "sidecar"
        name = str(doc["sidecar"].get("file", ""))
        if os.path.basename(name) != name or not name:
            raise _bad(where, "the sidecar name must be a plain file name", repr(name))
        if folder is None:
            raise UsageError("the test vectors are in a sidecar file, and a ModelProto has no "
                             "folder to find it in", field="folder", received=name,
                             hint="pass folder=<the model's folder>, or the .onnx path")
        file = os.path.join(folder, name)
        if not os.path.isfile(file):
            raise DataError(f"the model's test vectors are in a sidecar file that is missing: "
                            f"{name}", file=file, field=KEY, received=f"no file {file}",
                            hint=f"keep {name} next to the model file")
        if sha256_file(file) != doc["sidecar"].get("sha256"):
            raise DataError(f"the sidecar {name} has changed since the vectors were stored "
                            "(sha256 mismatch)", file=file, field="sha256",
                            received=f"sha256 {sha256_file(file)[:16]}..., recorded "
                                     f"{str(doc['sidecar'].get('sha256'))[:16]}...",
                            hint="restore the sidecar written with the model, or rebuild")
        arrays = _read_npz_arrays(file, file, keys)
    else:
        raise _bad(where, "neither npz_base64 nor sidecar is present", sorted(doc))
    if named:
        got_named = {k: (list(a.shape), a.dtype.name) for k, a in arrays.items()}
        if got_named != want or _digest_arrays(list(arrays.items()), atol, rtol) != sha:
            raise DataError("the test vectors do not match their recorded sha256 (the "
                            "metadata or the arrays were edited)", file=file or where,
                            field="sha256", received=", ".join(
                                f"{k} {a.dtype.name}{list(a.shape)}" for k, a in arrays.items()),
                            hint="rebuild the model with `seqc build`")
        x = {k[2:]: a for k, a in arrays.items() if k.startswith("x.")}
        y = {k[2:]: a for k, a in arrays.items() if k.startswith("y.")}
        from .named import fold_names, state_names

        return Vectors(x, y, atol, rtol, source, in_layout, out_layout, file,
                       state_names(props), fold_names(props))
    x, y = arrays["x"], arrays["y"]

    got = ([list(x.shape), list(y.shape)], [x.dtype.name, y.dtype.name])
    if got != ([*shapes], [*dtypes]) or _digest(x, y, atol, rtol) != sha:
        raise DataError("the test vectors do not match their recorded sha256 (the metadata or "
                        "the arrays were edited)", file=file or where, field="sha256",
                        received=f"x {x.dtype.name}{list(x.shape)}, y {y.dtype.name}"
                                 f"{list(y.shape)}, atol {atol:g}, rtol {rtol:g}",
                        hint="rebuild the model with `seqc build`")
    return Vectors(x, y, atol, rtol, source, in_layout, out_layout, file)
