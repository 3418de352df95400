"""`seqc build`'s export step: model.onnx with its metadata and test vectors, weights.npz and
model.ir.json, validation against NumPy, the export variants, report.json and report.html,
all written into the staging folder."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .build_options import BuildOptions, say

__all__ = ["export_and_validate", "format_export_info", "source_metadata"]


def source_metadata(defn: Any) -> dict[str, str]:
    """The ONNX metadata naming the definition a model came from, and for a model trained on
    data.timeseries windows that windowing (seqc predict cuts a raw series with it)."""
    meta = {"seqc.source_hash": defn.source_hash,
            "seqc.source": os.path.basename(str(defn.path))}
    ts = (defn.data or {}).get("timeseries")
    if ts is not None:
        from .runtime.windows import timeseries_metadata

        meta.update(timeseries_metadata(ts, ts["columns"]))
    return meta


def export_and_validate(model, defn, staging: Path, data, opts: BuildOptions, timings,
                         history, final_metrics, trained, t0, events=(),
                         warned=()) -> dict[str, Any]:
    """Export, validate, and write everything but model.onnx's move into `staging`. `data` is
    (held-out inputs, their labels or None, training inputs or None)."""
    holdout_x, holdout_y, train_x = data
    from ._version import __version__
    from .export import export_model
    from .ir.serialize import dumps, params_to_npz_bytes
    from .ir.summary import parameter_counts
    from .runtime import ModelSource, validate
    from .training.checks import n_samples

    metadata = source_metadata(defn)
    if final_metrics:
        metadata["seqc.metrics"] = json.dumps(final_metrics)
    # Read back by seqc.load("model.onnx"), which compiles with it; settings that are
    # objects, not JSON, are left out (the file then loads uncompiled).
    with contextlib.suppress(TypeError, ValueError):
        if defn.compile:
            metadata["seqc.compile"] = json.dumps(defn.compile)
    t = time.perf_counter()
    export_info: dict[str, Any] = {}
    export_model(model, str(staging / "model.onnx"), opset=opts.opset, metadata=metadata,
                 input_layout=opts.input_layout, fold_batchnorm=opts.fold_batchnorm,
                 fold_preprocessing=opts.fold_preprocessing, report=export_info)
    timings["export_s"] = time.perf_counter() - t
    if opts.cleanup:
        from .export.cleanup import cleanup_file

        export_info["cleanup"] = cleanup_file(staging / "model.onnx")
    vectors = None
    several_io = len(model.graph.inputs) > 1 or len(model.graph.outputs) > 1
    # A model typed with a fixed batch (a stateful one's) runs exactly one batch of it.
    fixed = None if several_io else model.graph.types[model.graph.inputs[0]].shape[0]
    if fixed and holdout_x is not None and n_samples(holdout_x) > fixed:
        holdout_x = holdout_x[:fixed]
    if opts.test_vectors:
        from .runtime.vectors import embed_from_model

        # Embedded before validation, so validation runs on the very file that ships.
        vectors = embed_from_model(model, str(staging / "model.onnx"), holdout_x,
                                   rows=fixed or opts.test_vectors, atol=opts.atol,
                                   rtol=opts.rtol)
    if opts.verbose >= 2:
        say(opts, format_export_info(export_info))
    (staging / "weights.npz").write_bytes(params_to_npz_bytes(model.params))
    (staging / "model.ir.json").write_text(dumps(model.graph))

    t = time.perf_counter()
    # Validate the very file that will be shipped, not a fresh in-memory export.
    src = ModelSource(model.graph, model.params, str(staging / "model.onnx"), label=model.name)
    result = validate(src, holdout_x, runtimes=["numpy", *opts.runtimes], atol=opts.atol,
                      rtol=opts.rtol, print_table=False)
    timings["validate_s"] = time.perf_counter() - t
    say(opts, result.format_table())
    variants = None
    if result.ok and (opts.float16 or opts.int8 or opts.save_optimized):
        from .runtime.variants import format_variants, make_variants

        t = time.perf_counter()
        variants = make_variants(model, staging / "model.onnx", staging, float16=opts.float16,
                                 int8=opts.int8, x_calib=train_x, x_eval=holdout_x,
                                 y_eval=holdout_y, optimized=opts.save_optimized)
        timings["variants_s"] = time.perf_counter() - t
        say(opts, format_variants(variants))
    evaluation = None
    if _report_extra(opts):
        from .report.evaluate import evaluate

        evaluation = evaluate(model, holdout_x, holdout_y, defn.compile)
    timings["total_s"] = time.perf_counter() - t0

    report = {
        "seqc_version": __version__,
        "name": model.name,
        "source": str(defn.path),
        "source_hash": defn.source_hash,
        "input": {"shape": list(model.graph.input_type.shape),
                  "dtype": model.graph.input_type.dtype},
        "output": {"shape": list(model.graph.output_type.shape)},
        **({"inputs": {n: {"shape": list(model.graph.types[n].shape),
                           "dtype": model.graph.types[n].dtype} for n in model.graph.inputs},
            "outputs": {k: {"shape": list(model.graph.types[v].shape)}
                        for k, v in zip(model.graph.output_names, model.graph.outputs)}}
           if several_io else {}),
        "layers": _layers(model),
        "parameters": parameter_counts(model.graph),
        "trained": trained,
        "compile": _jsonable(defn.compile),
        # An ImageDataGenerator's transforms run while training, and what the data given
        # replaced (a generator), from the script reader (_pyscript_generators).
        "augmentation": (defn.fit or {}).get("augmentation"),
        "data_binding": (defn.extra.get("python") or {}).get("data_binding"),
        "history": history,
        "training_events": list(events),
        **({"stages": defn.extra["stages_run"]} if "stages_run" in defn.extra else {}),
        "warnings": list(warned),
        "final_metrics": final_metrics,
        "class_names": model.class_names,
        "opset": opts.opset,
        "onnx": {"input_layout": opts.input_layout, **export_info},
        "validation": {**result.to_json(), "n_inputs": int(n_samples(holdout_x)),
                       "inputs": "held-out" if trained else "data or synthetic"},
        "test_vectors": vectors,
        "variants": variants,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    if evaluation is not None:
        report["holdout"] = evaluation["summary"]
    if _report_extra(opts):
        from .report.html import write_report

        t = time.perf_counter()
        try:
            write_report(staging, report, model.graph, evaluation)
            report["timings"]["report_s"] = round(time.perf_counter() - t, 4)
        except Exception as e:  # noqa: BLE001 - the page is a view: a bug in it keeps the build
            say(opts, f"report.html not written ({type(e).__name__}: {e}); the build is "
                      "complete without it (a bug in seqc's report: please report it)")
    (staging / "report.json").write_text(json.dumps(report, indent=1))
    return report


_SKIP_SAID: list[bool] = []


def _report_extra(opts: BuildOptions) -> bool:
    """Whether report.html can be drawn (matplotlib, the `report` extra, is installed); when
    not, says so once per process."""
    from .report import EXTRA_HINT, have_matplotlib

    if not opts.report:
        return False
    if have_matplotlib():
        return True
    if not _SKIP_SAID:
        _SKIP_SAID.append(True)
        say(opts, f"report.html skipped: {EXTRA_HINT}")
    return False


def format_export_info(info: dict[str, Any]) -> str:
    """The export's pass results and ONNX node counts per op type, for --verbose."""
    lines = []
    for name, changes in info.get("passes", {}).items():
        if isinstance(changes, str):
            lines.append(f"pass {name}: {changes}")
        else:
            lines.append(f"pass {name}: " + ("; ".join(changes) if changes else "nothing to do"))
    nodes = info.get("nodes", {})
    lines.append(f"ONNX nodes ({sum(nodes.values())}): "
                 + ", ".join(f"{op} {n}" for op, n in nodes.items()))
    return "\n".join(lines)


def _layers(model) -> list[dict]:
    g = model.graph
    rows = []
    for node in g.nodes:
        n = sum(int(np.prod(g.param_specs[node.param_key(p)].shape)) for p in node.params)
        rows.append({"name": node.name, "type": node.op, "layer": node.layer,
                     "output_shape": list(g.types[node.outputs[0]].shape), "params": n})
    return rows


def _jsonable(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except TypeError:
        return repr(v)
