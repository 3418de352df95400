"""Validation: the same input on every runtime, each compared with a reference runtime.

A runtime passes when |y - ref| <= atol + rtol * |ref| everywhere (np.allclose's rule).
Reported per runtime: max abs error, max rel error (|y - ref| / max(|ref|, atol), so values
near zero do not blow it up), argmax agreement for class scores, and the run time.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, SeqcError, UsageError
from .runners import RUNTIMES, available_runtimes, check_input, get_runner, resolve, timed

DEFAULT_ROWS = 16  # rows of random input when none is given


@dataclass
class RuntimeResult:
    runtime: str
    seconds: float | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    argmax_agreement: float | None = None  # fraction of rows; None when not a class score
    ok: bool = False
    is_reference: bool = False
    error: str | None = None  # the runtime failed to load or run


@dataclass
class ValidationResult:
    """What `seqc.validate` returns; `.ok` is True when every runtime agrees."""

    model: str
    reference: str
    atol: float
    rtol: float
    input_shape: tuple
    output_shape: tuple | None
    results: list[RuntimeResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def __getitem__(self, runtime: str) -> RuntimeResult:
        for r in self.results:
            if r.runtime == runtime:
                return r
        raise KeyError(runtime)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "model": self.model, "reference": self.reference,
                "atol": self.atol, "rtol": self.rtol, "input_shape": list(self.input_shape),
                "output_shape": None if self.output_shape is None else list(self.output_shape),
                "runtimes": [asdict(r) for r in self.results]}

    def format_table(self) -> str:
        head = ["runtime", "max abs err", "max rel err", "argmax agree", "time (ms)", "result"]
        rows = []
        for r in self.results:
            if r.error is not None:
                rows.append([r.runtime, "-", "-", "-", "-", "ERROR"])
                continue
            agree = "-" if r.argmax_agreement is None else f"{100 * r.argmax_agreement:.1f}%"
            rows.append([r.runtime,
                         "(reference)" if r.is_reference else f"{r.max_abs_error:.3g}",
                         "" if r.is_reference else f"{r.max_rel_error:.3g}",
                         "" if r.is_reference else agree,
                         f"{1000 * r.seconds:.2f}",
                         "-" if r.is_reference else ("ok" if r.ok else "FAIL")])
        widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]

        def line(cells: list[str]) -> str:
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        out = [f"validate {self.model}: input {self.input_shape}, output {self.output_shape}, "
               f"reference {self.reference}, atol {self.atol:g}, rtol {self.rtol:g}",
               line(head), line(["-" * w for w in widths]), *map(line, rows)]
        out += [f"{r.runtime}: {r.error}" for r in self.results if r.error]
        out.append("OK: all runtimes agree" if self.ok else "FAILED: runtimes disagree")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.format_table()


def compare(y: np.ndarray, ref: np.ndarray, atol: float, rtol: float) -> dict[str, Any]:
    """Errors of `y` against `ref`; ok as np.allclose (NaN only matches NaN)."""
    if y.shape != ref.shape:
        return {"ok": False, "error": f"output shape {y.shape} differs from the reference's "
                                      f"{ref.shape}"}
    y64, r64 = y.astype(np.float64), ref.astype(np.float64)
    diff = np.abs(y64 - r64)
    both_nan = np.isnan(y64) & np.isnan(r64)
    diff = np.where(both_nan, 0.0, diff)
    diff = np.where(np.isnan(diff), np.inf, diff)  # NaN on one side only is a mismatch
    rel = diff / np.maximum(np.abs(r64), atol) if atol > 0 else diff / np.abs(r64)
    ok = bool(np.all(diff <= atol + rtol * np.abs(np.nan_to_num(r64))))
    agree = None
    if ref.ndim == 2 and ref.shape[1] > 1:
        agree = float(np.mean(np.argmax(y, axis=1) == np.argmax(ref, axis=1)))
    return {"ok": ok, "max_abs_error": float(diff.max(initial=0.0)),
            "max_rel_error": float(np.nan_to_num(rel, nan=0.0).max(initial=0.0)),
            "argmax_agreement": agree}


def _load_inputs(x: Any) -> Any:
    if isinstance(x, (str, os.PathLike)):
        path = os.fspath(x)
        if not os.path.isfile(path):
            raise DataError("input file not found", field="inputs", received=path)
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read inputs ({e})", field="inputs", received=path,
                            hint="pass a .npy array, or an .npz holding 'x'") from None
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                if "x" not in data.files:
                    raise DataError("the .npz has no array 'x'", field="inputs", received=path)
                return data["x"]
        return data
    return x


def random_inputs(t: Any, seed: int = 0, rows: int = DEFAULT_ROWS, *,
                  ids: bool = False) -> np.ndarray:
    """Seeded inputs of type `t` (variable lengths become 8). Integer inputs are token ids,
    which only the caller can know the range of: with `ids=True` they are 0/1 (valid for any
    vocabulary), else a UsageError asks for real inputs."""
    shape = (rows, *(8 if d is None else d for d in t.shape[1:]))
    rng = np.random.default_rng(seed)
    if not t.dtype.startswith("float"):
        if not ids:
            raise UsageError("this model takes token ids; pass inputs to validate with",
                             field="inputs", received="no inputs")
        return rng.integers(0, 2, size=shape).astype(t.dtype)
    return rng.standard_normal(shape).astype(t.dtype)


def validate(model: Any, x: Any = None, *, runtimes: list[str] | str | None = None,
             atol: float = 1e-5, rtol: float = 1e-4, reference: str | None = None,
             print_table: bool = True, **options: Any) -> ValidationResult:
    """Run `x` on several runtimes and compare each with the reference.

    `model`: a seqc Model, a build folder or an .onnx path. `runtimes`: names (default: every
    available one but the cross-checks "keras" and "torch", which run only when named).
    `reference`: "numpy" when the IR is available, else the first runtime.
    `x`: an array, a .npy/.npz path, or None for seeded random rows.

    >>> import seqc, numpy as np
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> seqc.validate(m, np.ones((4, 3)), runtimes=["numpy", "onnxruntime"],
    ...               print_table=False).ok
    True
    """
    src = resolve(model)
    if isinstance(runtimes, str):
        runtimes = [r.strip() for r in runtimes.split(",") if r.strip()]
    names = list(runtimes) if runtimes else [
        n for n in available_runtimes(src) if RUNTIMES[n].default]
    for n in names:
        runner = get_runner(n)
        why = runner.unavailable()
        if runner.needs == "ir" and not src.has_ir:
            why = "it needs seqc's IR (pass a build folder or a Model, not an .onnx file)"
        if why:
            raise UsageError(f"runtime '{n}' cannot run here: {why}", field="runtimes",
                             received=",".join(names),
                             hint=f"available: {', '.join(available_runtimes(src))}")
    if reference is None:
        reference = "numpy" if "numpy" in names else names[0]
    elif reference not in names:
        names.insert(0, get_runner(reference).name)
    names = [reference] + [n for n in dict.fromkeys(names) if n != reference]
    for tol, label in ((atol, "atol"), (rtol, "rtol")):
        if not isinstance(tol, (int, float)) or tol < 0:
            raise UsageError(f"{label} must be a number >= 0", field=label,
                             received=f"{label}={tol!r}")

    in_type = src.input_type()
    x = _load_inputs(x)
    x = random_inputs(in_type) if x is None else check_input(x, in_type)

    outputs: dict[str, np.ndarray] = {}
    results = []
    for n in names:
        r = RuntimeResult(n, is_reference=(n == reference))
        try:
            y, r.seconds = timed(RUNTIMES[n].load(src, **options), x)
            outputs[n] = y
        except SeqcError:
            raise
        except Exception as e:  # noqa: BLE001 - a crashing runtime is a finding, not a crash
            r.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        results.append(r)

    ref = outputs.get(reference)
    for r in results:
        if r.error is not None:
            continue
        if ref is None:
            r.error = f"no reference output ({reference} failed)"
            continue
        c = compare(outputs[r.runtime], ref, atol, rtol)
        r.error = c.pop("error", None)
        for k, v in c.items():
            setattr(r, k, v)
    result = ValidationResult(src.label, reference, float(atol), float(rtol), tuple(x.shape),
                              None if ref is None else tuple(ref.shape), results)
    if print_table:
        print(result.format_table())
    return result

