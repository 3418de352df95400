"""Validation: the same input on every runtime, each compared with a reference runtime.

A runtime passes when |y - ref| <= atol + rtol * |ref| everywhere (np.allclose's rule).
Reported per runtime and per output: max abs error, max rel error (|y - ref| /
max(|ref|, atol), so values near zero do not blow it up), argmax agreement for class scores,
and the run time. A failing ONNX runtime is bisected (seqc.runtime.bisect) to name the first
layer whose output diverges.

Tolerances per dtype (`TOLERANCES`, used when atol/rtol are not given) and the comparison
itself live in compare.py, shared with bisect.py and vectors.py.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ..errors import SeqcError, UsageError
from .compare import compare, model_precision, tolerance
from .runners import (
    ONNX_RUNTIMES,
    RUNTIMES,
    ModelSource,
    available_runtimes,
    check_input,
    get_runner,
    make_session,
    resolve,
    timed,
)
from .validation_result import RuntimeResult, ValidationResult

DEFAULT_ROWS = 16  # rows of random input when none is given
BISECT_ROWS = 64  # failing rows the bisection re-runs with every intermediate value exposed


def _load_inputs(x: Any) -> Any:
    """A path becomes its array (.npy, .npz or .csv, read as `seqc predict` reads it)."""
    if isinstance(x, (str, os.PathLike)):
        from .inputs import read_inputs

        return np.asarray(read_inputs(os.fspath(x)))
    return x


def random_inputs(t: Any, seed: int = 0, rows: int = DEFAULT_ROWS, *,
                  ids: bool = False, graph: Any = None) -> np.ndarray:
    """Seeded inputs of type `t`. Variable lengths get the smallest size every layer of
    `graph` accepts, at least 8 (`ir.lengths.synthetic_length`; 8 without a graph). Integer
    inputs are token ids, which only the caller can know the range of: with `ids=True` they
    are 0/1 (valid for any vocabulary), else a UsageError asks for real inputs."""
    from ..ir.lengths import concrete_shape, synthetic_length

    shape = (rows, *concrete_shape(t, synthetic_length(graph)))
    rng = np.random.default_rng(seed)
    if t.dtype.startswith("float") and _feeds_ids(t, graph):
        return rng.integers(0, 2, size=shape).astype(t.dtype)
    if not t.dtype.startswith("float"):
        if not ids:
            raise UsageError("this model takes token ids; pass inputs to validate with",
                             field="inputs", received="no inputs")
        return rng.integers(0, 2, size=shape).astype(t.dtype)
    return rng.standard_normal(shape).astype(t.dtype)


# Kinds whose input is token ids even when it arrives as floats (Keras casts it, as seqc does).
ID_KINDS = ("Embedding", "CategoryEncoding")


def _feeds_ids(t: Any, graph: Any) -> bool:
    """A float graph input of type `t` read directly by a kind that takes ids: normal draws
    would be refused as ids out of range, and 0/1 are valid for any vocabulary."""
    if graph is None:
        return False
    ins = {n for n in graph.inputs if graph.types[n] == t}
    return any(n.op in ID_KINDS and ins.intersection(n.inputs) for n in graph.nodes)


def embedded_inputs(src: Any) -> np.ndarray | None:
    """The test vectors' inputs stored in the source's model.onnx (`seqc build` embeds some),
    in the layout the source takes (the IR's when it has the IR); None without vectors."""
    path = src.onnx_model if isinstance(src.onnx_model, str) else None
    if path is None or not path.lower().endswith(".onnx") or not os.path.isfile(path):
        return None
    from .vectors import read_vectors

    vec = read_vectors(path)
    if vec is None:
        return None
    # Format 2 (several inputs or outputs) gives the inputs in order, the same for both.
    return vec.ir_arrays()[0] if src.has_ir or vec.named else vec.x


def validate(model: Any, x: Any = None, *, runtimes: list[str] | str | None = None,
             atol: float | None = None, rtol: float | None = None,
             reference: str | None = None, print_table: bool = True,
             bisect_failures: bool = True, **options: Any) -> ValidationResult:
    """Run `x` on several runtimes and compare each with the reference.

    `model`: a seqc Model, a build folder or an .onnx path. `runtimes`: names (default: every
    available one but the cross-checks "keras" and "torch", which run only when named).
    `reference`: "numpy" when the IR is available, else the first runtime.
    `x`: an array, a .npy/.npz path, or None: the test vectors embedded in the model's
    model.onnx when it has some (every `seqc build` does), else seeded random rows.
    `atol`/`rtol`: None takes `TOLERANCES` by the compared dtypes. A failing ONNX runtime is
    bisected (`bisect_failures`) and its row gets `first_divergence`.

    >>> import seqc, numpy as np
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> seqc.validate(m, np.ones((4, 3)), runtimes=["numpy", "onnxruntime"],
    ...               print_table=False).ok
    True
    """
    src = resolve(model)
    ir_note = src.attach_embedded_ir()
    if isinstance(runtimes, str):
        runtimes = [r.strip() for r in runtimes.split(",") if r.strip()]
    names = list(runtimes) if runtimes else [
        n for n in available_runtimes(src) if RUNTIMES[n].default]
    notes = [] if ir_note is None else [f"numpy: skipped, {ir_note}"]
    if not runtimes:
        for n, runner in RUNTIMES.items():
            if runner.default and n not in names and not (n == "numpy" and ir_note):
                why = runner.unavailable() or (
                    "it needs seqc's IR, which this .onnx file does not carry"
                    if runner.needs == "ir" and not src.has_ir else runner.cannot_run(src))
                notes.append(f"{n}: skipped, {why}")
    for n in names:
        runner = get_runner(n)
        why = runner.unavailable()
        if runner.needs == "ir" and not src.has_ir:
            why = "it needs seqc's IR (pass a build folder or a Model, not an .onnx file)"
        why = why or runner.cannot_run(src)
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
        if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float))
                                or not tol >= 0):
            raise UsageError(f"{label} must be a number >= 0", field=label,
                             received=f"{label}={tol!r}")

    from .named import check_named, input_types, read_named_arrays

    types = input_types(src)
    several_in = len(types) > 1
    if several_in:
        # One array per input: a dict by name, a list in order, or an .npz of named arrays.
        if isinstance(x, (str, os.PathLike)):
            x = read_named_arrays(os.fspath(x), list(types))
        if x is None:
            x = embedded_inputs(src)
        from ..ir.graph import zero_states

        x = {n: random_inputs(t, i, ids=True, graph=src.graph) for i, (n, t) in
             enumerate(types.items())} if x is None else check_named(
                 zero_states(src.graph, x), types)  # a state input not given: zeros
    else:
        in_type = src.input_type()
        x = _load_inputs(x)
        if x is not None and src.ir_embedded and src.onnx_layouts()[0] == "channels_first":
            # Inputs given for a lone .onnx file are in its own layout; the IR's is
            # channels-last (the ONNX runners convert back).
            x = np.moveaxis(np.asarray(x), 1, -1)
        if x is None:
            x = embedded_inputs(src)
        x = random_inputs(in_type, graph=src.graph) if x is None else check_input(
            x, in_type, src.token_ids())

    out_names, precision = _onnx_outputs(src)
    outputs: dict[str, list[np.ndarray]] = {}
    results = []
    for n in names:
        r = RuntimeResult(n, is_reference=(n == reference))
        try:
            if (len(out_names) > 1 or several_in) and n in ONNX_RUNTIMES:
                predict = _load_all_outputs(n, src, **options)
                t0 = time.perf_counter()
                ys = [np.asarray(y) for y in predict(x)]
                r.seconds = time.perf_counter() - t0
            else:
                y, r.seconds = timed(RUNTIMES[n].load(src, **options), x)
                ys = y if isinstance(y, list) else [y]
            outputs[n] = ys
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
        onnx_involved = r.runtime in ONNX_RUNTIMES or reference in ONNX_RUNTIMES
        _compare_runtime(r, outputs[r.runtime], ref, atol, rtol,
                         precision if onnx_involved else None)
    if bisect_failures and ref is not None:
        for r in results:
            if not r.ok and r.error is None and r.runtime in ONNX_RUNTIMES and (
                    reference == "numpy" or reference in ONNX_RUNTIMES):
                _bisect_into(r, src, x, outputs[r.runtime][0], ref[0], reference, atol, rtol,
                             options)
    # The header gives the tolerance of the reference's own dtype; a row held to another
    # (a float16 model) says so under the table.
    ref_tol = tolerance(atol, rtol, None if ref is None else ref[0].dtype)
    result = ValidationResult(
        src.label, reference, float(ref_tol[0]), float(ref_tol[1]),
        tuple(tuple(v.shape) for v in x.values()) if several_in else tuple(x.shape),
        None if ref is None else tuple(ref[0].shape), results,
        output_names=out_names if ref is None or len(ref) == len(out_names)
        else out_names[:len(ref)],
        output_shapes=[] if ref is None else [tuple(y.shape) for y in ref], notes=notes)
    if print_table:
        print(result.format_table())
    return result


def _onnx_outputs(src: ModelSource) -> tuple[list[str], str | None]:
    """The ONNX model's output names and float precision (`model_precision`). A model that
    seqc exports in memory has one output, "output"; an unreadable file counts as one output
    too, so its runtimes fail in their rows rather than here."""
    if src.onnx_model is None and src.has_ir:
        from ..export.onnx_export import onnx_output_names

        return onnx_output_names(src.graph), None
    try:
        proto = src.onnx_proto()
    except SeqcError:
        return ["output"], None
    return [o.name for o in proto.graph.output] or ["output"], model_precision(proto)


def _load_all_outputs(runtime: str, src: ModelSource, *, batch_size: int | None = None,
                      intra_op_num_threads: int | None = None, **_: Any) -> Any:
    """predict(x) -> every output of a model with several inputs or outputs, on an ONNX
    runtime (the runners return the first output only); x is an array or a dict by input
    name."""
    from .named import onnx_predict_all

    if runtime == "onnx-reference":
        from onnx.reference import ReferenceEvaluator

        ev = ReferenceEvaluator(src.onnx_proto())

        def run_once(feed: dict) -> list[np.ndarray]:
            with np.errstate(all="ignore"):  # see OnnxReferenceRunner
                return list(ev.run(None, feed))
    else:
        runner = RUNTIMES[runtime]
        sess = make_session(src, provider=runner.provider, optimization=runner.optimization,
                            intra_op_num_threads=intra_op_num_threads)

        def run_once(feed: dict) -> list[np.ndarray]:
            return list(sess.run(None, feed))

    return onnx_predict_all(src, run_once, batch_size)


def _compare_runtime(r: RuntimeResult, ys: list[np.ndarray], ref: list[np.ndarray],
                     atol: float | None, rtol: float | None, precision: str | None) -> None:
    """Fill `r` from output-by-output comparisons; several outputs also give `r.outputs`."""
    if len(ys) != len(ref):
        r.error = f"gives {len(ys)} output(s), the reference {len(ref)}"
        return
    rows = []
    for y, want in zip(ys, ref):
        a, t = tolerance(atol, rtol, y.dtype, want.dtype, precision)
        c = compare(y, want, a, t)
        rows.append({**c, "atol": a, "rtol": t})
    r.atol, r.rtol = rows[0]["atol"], rows[0]["rtol"]
    errors = [row.get("error") for row in rows if row.get("error")]
    if errors:
        r.error = errors[0]
    r.ok = all(row["ok"] for row in rows)
    figures = [row for row in rows if "error" not in row]
    if figures:
        r.max_abs_error = max(row["max_abs_error"] for row in figures)
        r.max_rel_error = max(row["max_rel_error"] for row in figures)
        agree = [row["argmax_agreement"] for row in figures
                 if row["argmax_agreement"] is not None]
        r.argmax_agreement = min(agree) if agree else None
    if len(rows) > 1:
        r.outputs = rows


def _bisect_into(r: RuntimeResult, src: ModelSource, x: Any, y: np.ndarray,
                 want: np.ndarray, reference: str, atol: float | None, rtol: float | None,
                 options: dict[str, Any]) -> None:
    """Bisect a failing runtime on (up to BISECT_ROWS of) the rows where it fails (of the
    first output); x is an array or a dict by input name."""
    from ..training.checks import n_samples, take
    from .bisect import bisect

    n = n_samples(x)
    rows = np.arange(n)
    if y.shape == want.shape and len(y) == n:
        y64, w64 = y.astype(np.float64), want.astype(np.float64)
        close = np.abs(y64 - w64) <= r.atol + r.rtol * np.abs(w64)
        bad = ~(close | (np.isnan(y64) & np.isnan(w64)))
        failing = np.flatnonzero(bad.reshape(len(y), -1).any(axis=1))
        if len(failing):
            rows = failing
    try:
        b = bisect(src, take(x, rows[:BISECT_ROWS]), r.runtime, atol, rtol, reference=reference,
                   **options)
    except Exception as e:  # noqa: BLE001 - a diagnosis that fails must not hide the finding
        r.bisect_note = f"bisection failed: {type(e).__name__}: {e}".splitlines()[0]
        return
    r.first_divergence = b.divergence_json()
    if r.first_divergence is None:
        r.bisect_note = f"bisection found no diverging layer: {b.note}"
