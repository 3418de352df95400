"""Re-running the test vectors a model carries (vectors.py stores and reads them): on
onnxruntime (`check_vectors`, what `seqc validate model.onnx` runs with no inputs) or through
a loaded model's NumPy forward (`check_on_load`, `seqc.load(..., check=True)`), compared with
the stored outputs within the stored tolerance."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, ValidationFailure
from .compare import compare
from .vectors import KEY, ONNX_FILE, Vectors, read_vectors, tolerance_value


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




def _result(ys: list, wants: list, v: Vectors, atol: float, rtol: float,
            runtime: str) -> VectorCheck:
    """One VectorCheck over every output: ok when all agree, the worst figures."""

    rs = [compare(np.asarray(y), want, atol, rtol) for y, want in zip(ys, wants)]
    if len(ys) != len(wants):
        rs.append({"ok": False, "error": f"{len(ys)} outputs, {len(wants)} stored"})
    figures = [r for r in rs if r.get("max_abs_error") is not None]
    agree = [r["argmax_agreement"] for r in figures if r.get("argmax_agreement") is not None]
    errors = [r["error"] for r in rs if r.get("error")]
    return VectorCheck(ok=all(bool(r["ok"]) for r in rs), rows=v.rows, atol=atol, rtol=rtol,
                       source=v.source, runtime=runtime,
                       max_abs_error=max((r["max_abs_error"] for r in figures), default=None),
                       max_rel_error=max((r["max_rel_error"] for r in figures), default=None),
                       argmax_agreement=min(agree) if agree else None,
                       error=errors[0] if errors else None)


def check_vectors(model: Any, *, provider: str = "cpu", atol: float | None = None,
                  rtol: float | None = None, folder: str | None = None) -> VectorCheck:
    """Run the stored inputs through onnxruntime and compare with the stored outputs using
    the stored tolerance (or `atol`/`rtol` when given). `model`: an .onnx path or ModelProto.
    What `seqc validate model.onnx` runs when given no inputs and the model carries vectors.

    >>> import seqc, numpy as np, tempfile, os
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> p = m.export(os.path.join(tempfile.mkdtemp(), "model.onnx"))
    >>> from seqc.runtime.vectors import embed_from_model
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
    atol = v.atol if atol is None else tolerance_value(atol, "atol")
    rtol = v.rtol if rtol is None else tolerance_value(rtol, "rtol")
    sess = make_session(model, provider=provider)
    runtime = f"onnxruntime {sess.get_providers()[0]}"
    if v.named:
        return _result(sess.run(None, v.x), list(v.y.values()), v, atol, rtol, runtime)
    y = sess.run(None, {sess.get_inputs()[0].name: v.x})[0]
    return _result([y], [v.y], v, atol, rtol, runtime)


def check_on_load(model: Any, vectors: Vectors) -> VectorCheck:
    """Run a loaded seqc model's NumPy forward on stored vectors; ValidationFailure when it
    disagrees (or the vectors do not fit the model), else the passing VectorCheck."""
    from .runners import check_input, prepare, resolve

    src = resolve(model)
    x, want = vectors.ir_arrays()
    try:
        if vectors.named:
            from .named import check_named, input_types

            types = input_types(src)
            x = check_named(x if isinstance(x, list) else [x], types)
        else:
            x = check_input(x, src.input_type())
    except (DataError, UsageError) as e:
        raise ValidationFailure("the stored test vectors do not fit the loaded model: "
                                + e.message, file=vectors.file, field="input",
                                received=e.received,
                                hint="the weights and the ONNX model come from different "
                                     "builds; rebuild the folder") from None
    ys = prepare("numpy", src)(x)
    ys = ys if isinstance(ys, list) else [ys]
    result = _result(ys, want if vectors.named else [want], vectors, vectors.atol,
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
    folder, whose model.onnx carries the vectors (check_build_folder), or such a model.onnx
    itself."""
    file = os.fspath(path)
    if os.path.isfile(file) and file.lower().endswith(".onnx"):
        vectors = read_vectors(file)
        if vectors is None:
            raise UsageError("check=True: the model carries no test vectors", file=file,
                             field="check", received="no seqc.test_vectors metadata",
                             hint="build it with `seqc build`, or load with check=False")
        if vectors.file is None:
            vectors.file = file
        return check_on_load(model, vectors)
    if not os.path.isdir(file):
        raise UsageError("check=True needs a build folder: its model.onnx carries the test "
                         "vectors a definition file lacks", field="check",
                         received=os.fspath(path),
                         hint="load the folder `seqc build` wrote, or drop check=True")
    return check_build_folder(model, path)
