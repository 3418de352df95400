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
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, ValidationFailure
from ..fileio import atomic_write, sha256_file

KEY = "seqc.test_vectors"
FORMAT = 1
SIDECAR_SUFFIX = ".vectors.npz"
DEFAULT_ROWS = 8
MAX_INLINE_BYTES = 256 * 1024  # base64 text in the metadata; beyond it, a sidecar file
ONNX_FILE = "model.onnx"


# ---- data ----

@dataclass
class Vectors:
    """Stored test vectors, in the ONNX model's layout (see `ir_arrays` for seqc's)."""

    x: np.ndarray
    y: np.ndarray
    atol: float
    rtol: float
    source: str  # "inline" or "sidecar"
    input_layout: str = "channels_last"
    output_layout: str = "channels_last"
    file: str | None = None  # the sidecar's path when source == "sidecar"

    @property
    def rows(self) -> int:
        return int(len(self.x))

    def ir_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in seqc's IR layout (channels-last), for the NumPy forward."""
        x = np.moveaxis(self.x, 1, -1) if self.input_layout == "channels_first" else self.x
        y = np.moveaxis(self.y, 1, -1) if self.output_layout == "channels_first" else self.y
        return np.ascontiguousarray(x), np.ascontiguousarray(y)


@dataclass
class VectorCheck:
    """The result of re-running stored test vectors; `.ok` when within the tolerance."""

    ok: bool
    rows: int
    atol: float
    rtol: float
    source: str
    runtime: str
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    argmax_agreement: float | None = None
    error: str | None = None  # e.g. an output shape that differs from the stored one

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        head = (f"test vectors ({self.rows} rows, {self.source}) on {self.runtime}, "
                f"atol {self.atol:g}, rtol {self.rtol:g}: ")
        if self.error:
            return head + f"FAILED: {self.error}"
        text = f"max abs err {self.max_abs_error:.3g}, max rel err {self.max_rel_error:.3g}"
        if self.argmax_agreement is not None:
            text += f", argmax agree {100 * self.argmax_agreement:.1f}%"
        return head + text + (": OK" if self.ok else ": FAILED")

    def __str__(self) -> str:
        return self.summary()


# ---- helpers ----

def _digest(x: np.ndarray, y: np.ndarray, atol: float, rtol: float) -> str:
    h = hashlib.sha256()
    for name, a in (("x", x), ("y", y)):
        h.update(f"{name}:{a.dtype.str}:{list(a.shape)}\n".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(f"atol={float(atol)!r};rtol={float(rtol)!r}".encode())
    return h.hexdigest()


def _npz_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=x, y=y)
    return buf.getvalue()


def _read_npz(data: bytes | str, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(io.BytesIO(data) if isinstance(data, bytes) else data,
                     allow_pickle=False) as z:
            if sorted(z.files) != ["x", "y"]:
                raise DataError("the test vectors must hold exactly the arrays x and y",
                                file=where, field=KEY, received=f"arrays {sorted(z.files)}")
            return z["x"], z["y"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"the test vectors cannot be read ({e})", file=where, field=KEY,
                        received=type(e).__name__,
                        hint="rebuild the model with `seqc build`") from None


def sidecar_path(onnx_path: str | os.PathLike) -> str:
    """Where `embed_vectors` puts large vectors: `<model>.onnx.vectors.npz`."""
    return os.fspath(onnx_path) + SIDECAR_SUFFIX


def _load_proto(path: str) -> Any:
    import onnx

    if not os.path.isfile(path):
        raise UsageError("ONNX model file not found", field="model", received=path)
    try:
        # External weights stay where they are: only the metadata is rewritten.
        return onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises several kinds
        raise DataError(f"not a readable ONNX model ({type(e).__name__})", file=path,
                        field="model", received=path) from None


def _props(proto: Any) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


def _layouts(props: dict[str, str]) -> tuple[str, str]:
    # The same metadata ModelSource.onnx_layouts reads.
    return (props.get("seqc.input_layout", "channels_last"),
            props.get("seqc.output_layout", "channels_last"))


def _tolerance(value: Any, name: str) -> float:
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
    atol, rtol = _tolerance(atol, "atol"), _tolerance(rtol, "rtol")
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
    text = base64.b64encode(data).decode("ascii")
    doc: dict[str, Any] = {
        "format": FORMAT, "rows": int(len(x)), "atol": atol, "rtol": rtol, "bytes": len(data),
        "input": {"dtype": x.dtype.name, "shape": list(x.shape), "layout": in_layout},
        "output": {"dtype": y.dtype.name, "shape": list(y.shape), "layout": out_layout},
        "sha256": _digest(x, y, atol, rtol),
    }
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
            "atol": atol, "rtol": rtol, "sha256": doc["sha256"]}


def embed_from_model(model: Any, onnx_path: str | os.PathLike, x: Any, *,
                     rows: int = DEFAULT_ROWS, atol: float, rtol: float,
                     max_inline_bytes: int = MAX_INLINE_BYTES) -> dict[str, Any]:
    """`embed_vectors` with `rows` rows picked from `x` (seqc's layout) and their expected
    outputs computed by the model's NumPy forward. What `seqc build` calls after export."""
    from .runners import check_input, prepare, resolve

    src = resolve(model)
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
    except json.JSONDecodeError as e:
        raise _bad(where, f"{KEY} is not JSON", str(e)) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise _bad(where, f"unknown format (this seqc reads format {FORMAT})", f"format={got!r}")
    try:
        atol, rtol = _tolerance(doc["atol"], "atol"), _tolerance(doc["rtol"], "rtol")
        sha = str(doc["sha256"])
        in_layout, out_layout = str(doc["input"]["layout"]), str(doc["output"]["layout"])
        shapes = (list(doc["input"]["shape"]), list(doc["output"]["shape"]))
        dtypes = (str(doc["input"]["dtype"]), str(doc["output"]["dtype"]))
    except (KeyError, TypeError, UsageError) as e:
        raise _bad(where, "a field is missing or has the wrong type", repr(e)) from None

    file = None
    if "npz_base64" in doc:
        source = "inline"
        try:
            data = base64.b64decode(str(doc["npz_base64"]), validate=True)
        except (binascii.Error, ValueError) as e:
            raise _bad(where, "npz_base64 is not base64", str(e)) from None
        x, y = _read_npz(data, where)
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
        x, y = _read_npz(file, file)
    else:
        raise _bad(where, "neither npz_base64 nor sidecar is present", sorted(doc))

    got = ([list(x.shape), list(y.shape)], [x.dtype.name, y.dtype.name])
    if got != ([*shapes], [*dtypes]) or _digest(x, y, atol, rtol) != sha:
        raise DataError("the test vectors do not match their recorded sha256 (the metadata or "
                        "the arrays were edited)", file=file or where, field="sha256",
                        received=f"x {x.dtype.name}{list(x.shape)}, y {y.dtype.name}"
                                 f"{list(y.shape)}, atol {atol:g}, rtol {rtol:g}",
                        hint="rebuild the model with `seqc build`")
    return Vectors(x, y, atol, rtol, source, in_layout, out_layout, file)


# ---- check ----

def _result(y: np.ndarray, v: Vectors, atol: float, rtol: float, runtime: str) -> VectorCheck:
    from .validate import compare

    r = compare(np.asarray(y), v.y, atol, rtol)
    return VectorCheck(ok=bool(r["ok"]), rows=v.rows, atol=atol, rtol=rtol, source=v.source,
                       runtime=runtime, max_abs_error=r.get("max_abs_error"),
                       max_rel_error=r.get("max_rel_error"),
                       argmax_agreement=r.get("argmax_agreement"), error=r.get("error"))


def check_vectors(model: Any, *, provider: str = "cpu", atol: float | None = None,
                  rtol: float | None = None, folder: str | None = None) -> VectorCheck:
    """Run the stored inputs through onnxruntime and compare with the stored outputs using
    the stored tolerance (or `atol`/`rtol` when given). `model`: an .onnx path or ModelProto.
    What `seqc validate model.onnx` runs when given no inputs and the model carries vectors.

    >>> import seqc, numpy as np, tempfile, os
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> p = m.export(os.path.join(tempfile.mkdtemp(), "model.onnx"))
    >>> _ = embed_from_model(m, p, np.ones((4, 3), np.float32), atol=1e-5, rtol=1e-4)
    >>> check_vectors(p).ok
    True
    """
    from .runners import make_session

    v = read_vectors(model, folder=folder)
    if v is None:
        raise UsageError("the model carries no test vectors", field="model",
                         received=os.fspath(model) if isinstance(model, (str, os.PathLike))
                         else "ModelProto",
                         hint="pass inputs to validate with (--inputs FILE), or rebuild it "
                              "with `seqc build`, which embeds them")
    atol = v.atol if atol is None else _tolerance(atol, "atol")
    rtol = v.rtol if rtol is None else _tolerance(rtol, "rtol")
    sess = make_session(model, provider=provider)
    y = sess.run(None, {sess.get_inputs()[0].name: v.x})[0]
    return _result(y, v, atol, rtol, f"onnxruntime {sess.get_providers()[0]}")


def check_on_load(model: Any, vectors: Vectors) -> VectorCheck:
    """Run a loaded seqc model's NumPy forward on stored vectors; ValidationFailure when it
    disagrees (or the vectors do not fit the model), else the passing VectorCheck."""
    from .runners import check_input, prepare, resolve

    src = resolve(model)
    x, want = vectors.ir_arrays()
    try:
        x = check_input(x, src.input_type())
    except DataError as e:
        raise ValidationFailure("the stored test vectors do not fit the loaded model: "
                                + e.message, file=vectors.file, field="input",
                                received=e.received,
                                hint="the weights and the ONNX model come from different "
                                     "builds; rebuild the folder") from None
    result = _result(prepare("numpy", src)(x), Vectors(x, want, vectors.atol, vectors.rtol,
                                                       vectors.source), vectors.atol,
                     vectors.rtol, "numpy")
    if not result.ok:
        raise ValidationFailure("the loaded model disagrees with its stored test vectors",
                                file=vectors.file, field=KEY, received=result.summary(),
                                hint="the weights changed since the build; rebuild, or "
                                     "load with check=False")
    return result


def check_build_folder(model: Any, folder: str | os.PathLike) -> VectorCheck:
    """`seqc.load(folder, check=True)`: the vectors of `folder/model.onnx` against the
    loaded model's NumPy forward (see check_on_load)."""
    path = os.path.join(os.fspath(folder), ONNX_FILE)
    if not os.path.isfile(path):
        raise UsageError(f"check=True needs the build folder's {ONNX_FILE}, which carries the "
                         "test vectors", field="check", received=f"no {path}",
                         hint="rebuild with `seqc build`, or load with check=False")
    vectors = read_vectors(path)
    if vectors is None:
        raise UsageError(f"check=True: {ONNX_FILE} carries no test vectors", file=path,
                         field="check", received="no seqc.test_vectors metadata",
                         hint="rebuild with this seqc's `seqc build`, or load with check=False")
    if vectors.file is None:
        vectors.file = path
    return check_on_load(model, vectors)


def check_loaded(model: Any, path: str | os.PathLike) -> VectorCheck:
    """What `seqc.load(path, check=True)` runs on the model it loaded: `path` must be a build
    folder, whose model.onnx carries the vectors (check_build_folder)."""
    if not os.path.isdir(os.fspath(path)):
        raise UsageError("check=True needs a build folder: its model.onnx carries the test "
                         "vectors a definition file lacks", field="check",
                         received=os.fspath(path),
                         hint="load the folder `seqc build` wrote, or drop check=True")
    return check_build_folder(model, path)
