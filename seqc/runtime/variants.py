"""Run and score the export variants (export/variants.py builds them): each of model.fp16.onnx,
model.int8.onnx and model.opt.onnx runs on held-out rows next to the float32 ONNX model, is
compared with it (max abs error within a tolerance of the output scale) and scored on the
labels with the model's compiled loss and metrics, so a variant that loses accuracy is
reported before it ships. `make_variants` writes them and returns report.json's entry.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ..errors import UsageError
from ..export.variants import (
    FILES,
    LEVELS,
    check_model_path,
    cpu_float16_kernels,
    quantize_dynamic,
    quantize_static,
    rewrite_meta,
    save,
    save_optimized,
    set_meta,
    variant_meta,
)
from ..export.variants import float16 as to_float16  # (make_variants' argument is float16)

# Variant tolerances, as fractions of the output scale (max |y| of the float32 model on the
# evaluation rows), absolute, rtol 0. float16 rounds each weight and each node's output to a
# unit roundoff of 2**-11 (4.9e-4) relative: a few layers of that, with some cancellation in
# the sums, stay well under 1e-2 of the scale, while a broken conversion (a weight lost or
# clipped) is off by O(1). int8 steps are 1/255 of each tensor's range and add up over the
# layers: 1e-1 of the scale catches a broken quantization; the accuracy delta is the real test.
FP16_TOLERANCE = 1e-2
INT8_TOLERANCE = 1e-1
MAX_ACCURACY_DROP = 0.01  # one point of held-out accuracy


# ---------------------------------------------------------------- scoring and comparing

class _Onnx:
    """Runs an .onnx file on onnxruntime's CPU provider, taking and giving seqc's layout."""

    def __init__(self, path: str) -> None:
        import onnx
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        props = {p.key: p.value for p in onnx.load(path, load_external_data=False)
                 .metadata_props}
        self.cf_in = props.get("seqc.input_layout") == "channels_first"
        self.cf_out = props.get("seqc.output_layout") == "channels_first"
        self.name = self.sess.get_inputs()[0].name

    def onnx_x(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if self.cf_in and x.ndim >= 3 else x

    def __call__(self, x: np.ndarray, batch: int = 1024) -> np.ndarray:
        xs = self.onnx_x(x)
        y = np.concatenate([self.sess.run(None, {self.name: xs[i:i + batch]})[0]
                            for i in range(0, len(xs), batch)])
        return np.moveaxis(y, 1, -1) if self.cf_out and y.ndim >= 3 else y


def _compare(y: np.ndarray, ref: np.ndarray, atol: float) -> dict[str, Any]:
    diff = np.abs(y.astype(np.float64) - ref.astype(np.float64))
    diff = np.where(np.isnan(diff), np.inf, diff)
    rel = diff / np.maximum(np.abs(ref.astype(np.float64)), max(atol, 1e-12))
    agree = None
    if ref.ndim == 2 and ref.shape[1] > 1:
        agree = float(np.mean(np.argmax(y, axis=1) == np.argmax(ref, axis=1)))
    return {"max_abs_error": float(diff.max(initial=0.0)),
            "max_rel_error": float(rel.max(initial=0.0)), "argmax_agreement": agree,
            "atol": float(atol), "rtol": 0.0, "ok": bool(np.all(diff <= atol))}


def score(model: Any, y_true: Any, y_pred: np.ndarray,
          metric: Any = None) -> dict[str, float] | None:
    """Held-out scores of predictions: `metric` a callable (y_true, y_pred) -> float, a
    metric name or config (seqc.training.metrics.get), or None for the model's compiled loss
    and metrics (as model.evaluate) or, uncompiled, argmax accuracy for class scores.
    None when there are no labels."""
    if y_true is None:
        return None
    from ..training import metrics as metrics_mod

    cfg = getattr(model, "compiled", None)
    loss = getattr(cfg, "loss", None)
    y_pred = np.asarray(y_pred, dtype=np.float32)
    if callable(metric) and not isinstance(metric, (type, metrics_mod.Metric)):
        return {getattr(metric, "__name__", "metric"): float(metric(y_true, y_pred))}
    y = np.asarray(y_true)
    if model is not None and loss is not None:
        from ..training.checks import prepare_y

        y = prepare_y(model, loss, y, len(y_pred), "y_eval")
    if metric is not None:
        out_type = model.graph.output_type if model is not None else (None, *y_pred.shape[1:])
        m = metrics_mod.get(metric, loss, out_type, y.shape)
        m.update_state(y, y_pred)
        return {m.name: float(m.result())}
    if model is not None and cfg is not None and loss is not None:
        scores = {"loss": float(loss(y, y_pred))}
        for spec in [*cfg.metrics, *cfg.weighted_metrics]:
            m = metrics_mod.get(spec, loss, model.graph.output_type, y.shape)
            m.update_state(y, y_pred)
            scores[m.name] = float(m.result())
        return scores
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] == y_pred.shape[1] \
            else y.reshape(len(y))
        return {"accuracy": float(np.mean(y_pred.argmax(axis=1) == labels))}
    raise UsageError("no metric to score the variants with", field="metric",
                     received="an uncompiled model whose output is not class scores",
                     hint="compile the model, or pass metric=... (a name or a function)")


def _is_accuracy(name: str) -> bool:
    return "acc" in name.lower()


# ---------------------------------------------------------------- all variants

def _input_like(proto_path: str, channels_first: bool, rows: int = 64) -> np.ndarray:
    """Seeded normal rows in seqc's layout, for a model given without evaluation rows."""
    import onnx

    vi = onnx.load(proto_path, load_external_data=False).graph.input[0]
    dims = [d.dim_value or 8 for d in vi.type.tensor_type.shape.dim][1:]
    if vi.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise UsageError("pass x_eval: the model does not take float32 inputs", field="x_eval",
                         received="none")
    x = np.random.default_rng(0).standard_normal((rows, *dims)).astype(np.float32)
    return np.moveaxis(x, 1, -1) if channels_first and x.ndim >= 3 else x


def make_variants(model: Any, onnx_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                  float16: bool = False, int8: str | None = None, x_calib: Any = None,
                  x_eval: Any = None, y_eval: Any = None, metric: Any = None,
                  optimized: str | None = None, per_channel: bool = True,
                  preprocess: bool = True, max_accuracy_drop: float = MAX_ACCURACY_DROP,
                  fp16_tolerance: float = FP16_TOLERANCE,
                  int8_tolerance: float = INT8_TOLERANCE) -> dict[str, Any]:
    """Write the requested variants of the float32 `onnx_path` into `out_dir`
    (model.fp16.onnx, model.int8.onnx, model.opt.onnx), run each on `x_eval` (seqc's
    layout; held-out rows) and compare with the float32 ONNX model, and score each on
    (`x_eval`, `y_eval`) with `score(model, ..., metric)`.

    `model`: the seqc Model (its NumPy forward is compared with the float32 ONNX too, and its
    compiled loss/metrics score the variants) or None. `int8`: None, "dynamic" or "static"
    (calibrated on `x_calib`, the training inputs). `optimized`: None or an onnxruntime
    optimization level. A variant is "ok" when its max abs error is within its tolerance
    (fp16_tolerance / int8_tolerance of the output scale; the optimized model the float32
    1e-5 + 1e-4 of the scale) and no accuracy metric drops by more than `max_accuracy_drop`.
    Returns the report.json entry: {"float32": ..., "<variant>": {...}, "ok"}.
    """
    import onnx

    onnx_path = check_model_path(onnx_path)
    out_dir = os.fspath(out_dir)
    if int8 not in (None, "dynamic", "static"):
        raise UsageError("int8 must be None, 'dynamic' or 'static'", field="int8",
                         received=f"int8={int8!r}")
    if int8 == "static" and x_calib is None:
        raise UsageError("static int8 quantization needs calibration inputs", field="x_calib",
                         received="x_calib=None",
                         hint="pass the training inputs as x_calib, or use int8='dynamic'")
    if optimized is not None and optimized not in LEVELS:
        raise UsageError(f"optimized must be one of {', '.join(LEVELS)}", field="optimized",
                         received=f"optimized={optimized!r}")
    os.makedirs(out_dir, exist_ok=True)
    ref_run = _Onnx(onnx_path)
    x = _input_like(onnx_path, ref_run.cf_in) if x_eval is None else np.asarray(x_eval)
    y_ref = ref_run(x)
    scale = float(np.max(np.abs(y_ref), initial=0.0)) or 1.0
    base_scores = score(model, y_eval, y_ref, metric)
    base: dict[str, Any] = {"file": os.path.basename(onnx_path),
                            "bytes": os.path.getsize(onnx_path), "metrics": base_scores}
    if model is not None and hasattr(model, "predict"):
        base["numpy_max_abs_error"] = float(np.max(np.abs(
            np.asarray(model.predict(x), np.float64) - y_ref), initial=0.0))
    report: dict[str, Any] = {"eval_rows": int(len(x)), "labels": y_eval is not None,
                              "output_scale": scale, "max_accuracy_drop": max_accuracy_drop,
                              "float32": base}

    def finish(kind: str, path: str, atol: float, t0: float, **info: Any) -> None:
        y = _Onnx(path)(x)
        entry = {"file": os.path.basename(path), "bytes": os.path.getsize(path), **info,
                 "validation": _compare(y, y_ref, atol)}
        scores = score(model, y_eval, y, metric)
        entry["metrics"] = scores
        ok = entry["validation"]["ok"]
        if scores is not None and base_scores is not None:
            entry["delta"] = {k: scores[k] - base_scores[k] for k in scores}
            drops = {k: base_scores[k] - scores[k] for k in scores if _is_accuracy(k)}
            entry["accuracy_drop"] = max(drops.values()) if drops else None
            ok = ok and all(d <= max_accuracy_drop + 1e-12 for d in drops.values())
        entry["ok"] = bool(ok)
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        report[kind] = entry

    if float16:
        t0 = time.perf_counter()
        atol = fp16_tolerance * scale
        proto = onnx.load(onnx_path)
        fp = to_float16(proto)
        set_meta(fp, variant_meta("float16", onnx_path, atol))
        path = os.path.join(out_dir, FILES["float16"])
        save(fp, path)
        fp16_ops = {n.op_type for n in fp.graph.node if n.op_type != "Cast"}
        kernels = cpu_float16_kernels()
        finish("float16", path, atol, t0, keep_io_types=True,
               cpu_computes_in_float32=sorted(fp16_ops - kernels) if kernels else None)
    if int8 is not None:
        t0 = time.perf_counter()
        atol = int8_tolerance * scale
        path = os.path.join(out_dir, FILES["int8"])
        if int8 == "dynamic":
            info = quantize_dynamic(onnx_path, path, per_channel=per_channel,
                                    preprocess=preprocess)
        else:
            xc = ref_run.onnx_x(np.asarray(x_calib))
            info = quantize_static(onnx_path, path, xc, per_channel=per_channel,
                                   preprocess=preprocess)
        info.pop("path")
        rewrite_meta(path, variant_meta(f"int8-{int8}", onnx_path, atol))
        finish("int8", path, atol, t0, **info)
    if optimized is not None:
        t0 = time.perf_counter()
        path = os.path.join(out_dir, FILES["optimized"])
        save_optimized(onnx_path, path, optimized)
        finish("optimized", path, 1e-5 + 1e-4 * scale, t0, level=optimized)
    report["ok"] = all(report[k]["ok"] for k in FILES if k in report)
    return report


def format_variants(report: dict[str, Any]) -> str:
    """A table of the variants: file size, max abs error, argmax agreement, metric deltas."""
    lines = []
    base = report["float32"]
    lines.append(f"variants on {report['eval_rows']} held-out rows "
                 f"(output scale {report['output_scale']:.3g}):")
    lines.append(f"  float32    {base['bytes']:>10,} B  " + _fmt_scores(base["metrics"]))
    for kind in FILES:
        e = report.get(kind)
        if e is None:
            continue
        v = e["validation"]
        agree = "" if v["argmax_agreement"] is None else \
            f"  argmax {100 * v['argmax_agreement']:.1f}%"
        delta = "" if "delta" not in e else "  delta " + ", ".join(
            f"{k} {d:+.4f}" for k, d in e["delta"].items())
        lines.append(f"  {kind:<10} {e['bytes']:>10,} B  max abs err {v['max_abs_error']:.3g} "
                     f"(atol {v['atol']:.3g}){agree}{delta}  {'ok' if e['ok'] else 'FAIL'}")
    return "\n".join(lines)


def _fmt_scores(scores: dict[str, float] | None) -> str:
    return "" if not scores else ", ".join(f"{k} {v:.4f}" for k, v in scores.items())

