"""report.html: one self-contained page (inline CSS and SVG, no script, no network, no
font files) showing a build's report.json at a glance. `render` returns the page;
`write_report` is what `seqc build` calls on its staging folder.

Each section is a <section id="..."> the browser test looks for: model, training,
evaluation, validation, export, variants, vectors, build, about.
"""

from __future__ import annotations

import html
import os
import platform
from pathlib import Path
from typing import Any

SECTIONS = ("model", "training", "evaluation", "validation", "export", "variants", "vectors",
            "build", "about")

ABOUT = """\
<p>This page is one file: the styles, the charts and the model drawing are inside it, and it
loads nothing from the network, so it opens the same anywhere, offline, and can be archived
with the build.</p>
<ul>
<li><b>matplotlib</b> draws every chart and the model drawing, written as inline SVG with the
text kept as text (selectable, searchable). It is the plotting library Keras users already
plot <code>history</code> with, it is a wheel with no system libraries to install, and it
writes SVG and PNG with the same code, so <code>seqc plot</code> and this page draw the model
the same way.</li>
<li><b>The graph layout</b> is a small layered one in seqc (longest-path ranks, barycenter
ordering; <code>seqc/report/layout.py</code>). graphviz, which Keras' <code>plot_model</code>
uses, needs a system binary that pip cannot install; model graphs are DAGs of tens of layers,
where a layered layout is enough.</li>
<li><b>No JavaScript charting library</b>: the page has no script at all, so there is
nothing to vendor, update or audit, and it renders with scripts disabled.</li>
<li>The confusion matrix and the tables are HTML tables, readable by screen readers and
copyable into a spreadsheet.</li>
</ul>
<p>All of it is in the <code>report</code> extra (<code>pip install 'seqc[report]'</code>);
without it <code>seqc build</code> writes everything else and says once that this page was
skipped.</p>"""

CSS = """\
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
header{background:#263238;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85;font-size:13px}
nav{padding:6px 24px;background:#eceff1;font-size:13px}nav a{margin-right:12px;color:#1565c0}
main{padding:8px 24px 40px;max-width:1200px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 18px;margin:14px 0}
h2{font-size:18px;margin:6px 0 10px}h3{font-size:15px;margin:12px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f5f7}
td.ok{color:#2e7d32;font-weight:600}td.bad{color:#c62828;font-weight:600}
pre{font-size:12px;background:#f6f8fa;padding:8px;overflow-x:auto}
.figure{overflow-x:auto}.figure svg{max-width:100%;height:auto}
.drawing{max-height:900px;overflow:auto;border:1px solid #eee}

.row{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
table.confusion td{text-align:center;min-width:34px}
.note{color:#555;font-size:13px}
"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e-3 and v else f"{v:.{digits}f}"
    return _e(v)


def _table(head: list[str], rows: list[list[Any]], cls: str = "") -> str:
    out = [f'<table class="{cls}">' if cls else "<table>",
           "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        cells = []
        for c in r:
            if isinstance(c, tuple):  # (text, css class)
                cells.append(f'<td class="{c[1]}">{c[0]}</td>')
            else:
                cells.append(f"<td>{c if isinstance(c, str) else _num(c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join([*out, "</table>"])


def _ok(flag: Any) -> tuple[str, str]:
    return ("ok", "ok") if flag else ("FAILED", "bad")


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}">\n<h2>{_e(title)}</h2>\n{body}\n</section>'


def _svg(fig: Any, cls: str = "figure") -> str:
    from .draw import svg_text

    return f'<div class="{cls}">{svg_text(fig)}</div>'


def _model_section(report: dict, graph: Any) -> str:
    from ..ir.summary import format_summary
    from .draw import model_figure

    counts = report.get("parameters", {})
    parts = [f'<p>{_num(counts.get("total", 0))} parameters ({_num(counts.get("trainable", 0))}'
             f' trainable, {_num(counts.get("non_trainable", 0))} non-trainable).</p>']
    if graph is not None:
        parts.append(_svg(model_figure(graph, show_shapes=True, show_layer_names=True),
                          "figure drawing"))
        parts.append("<h3>Summary</h3><pre>" + _e(format_summary(graph)) + "</pre>")
    else:
        rows = [[_e(f'{r["name"]} ({r["type"]})'), _e(tuple(r["output_shape"])), r["params"]]
                for r in report.get("layers", [])]
        parts.append(_table(["Layer (type)", "Output shape", "Param #"], rows))
    return _section("model", "The model", "\n".join(parts))


def _training_section(report: dict) -> str:
    from .draw import history_figure

    hist = report.get("history") or {}
    events = report.get("training_events") or []
    if not hist:
        return _section("training", "Training",
                        '<p class="note">Not trained in this build (no data, no compile '
                        'settings, or --no-train): no curves.</p>')
    parts = [_svg(history_figure(hist, events))]
    if events:
        rows = []
        for ev in events:
            what = {"early_stopping": "EarlyStopping stopped training",
                    "restored_best": "EarlyStopping restored the best weights",
                    "reduce_lr": "ReduceLROnPlateau lowered the learning rate"}[ev["event"]]
            if ev["event"] == "reduce_lr":
                what += f' ({_num(ev["from"], 6)} → {_num(ev["to"], 6)})'
            rows.append([ev["epoch"] + 1, _e(what), _e(ev.get("monitor", ""))])
        parts.append("<h3>Callback events</h3>" + _table(["Epoch", "Event", "Monitor"], rows))
    fm = report.get("final_metrics") or {}
    parts.append("<h3>Last epoch</h3>" + _table(["Quantity", "Value"],
                                                [[_e(k), v] for k, v in fm.items()]))
    return _section("training", "Training", "\n".join(parts))


def _evaluation_section(report: dict, ev: dict | None) -> str:
    from .draw import regression_figure, roc_figure

    if ev is None:
        return _section("evaluation", "Held-out evaluation",
                        '<p class="note">Nothing to evaluate: no labelled rows, several outputs,'
                        ' or no loss.</p>')
    s = ev["summary"]
    rows_of = report.get("validation", {}).get("inputs", "held-out")
    intro = (f'<p>{_num(s["rows"])} {"held-out" if rows_of == "held-out" else "labelled"} '
             f'rows ({_num(s["values"])} predictions), NumPy reference forward.</p>')
    if s["kind"] == "regressor":
        body = intro + _svg(regression_figure(ev["y_true"], ev["y_pred"])) + _table(
            ["Quantity", "Value"], [["MAE", s["mae"]], ["RMSE", s["rmse"]], ["R²", s["r2"]]])
        return _section("evaluation", "Held-out evaluation (regression)", body)
    names, cm = s["class_names"], s["confusion_matrix"]
    peak = max(max(r) for r in cm) or 1
    head = ('<table class="confusion"><tr><th>true \\ predicted</th>'
            + "".join(f"<th>{_e(n)}</th>" for n in names) + "</tr>")
    lines = [head]
    for name, row in zip(names, cm):
        cells = []
        for v in row:
            a = 0.08 + 0.8 * v / peak if v else 0
            color = "#fff" if a > 0.5 else "#222"
            cells.append(f'<td class="cm-cell" data-count="{v}" style="background:'
                         f'rgba(21,101,192,{a:.2f});color:{color}">{v}</td>')
        lines.append(f"<tr><th>{_e(name)}</th>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    per = _table(["Class", "Precision", "Recall", "F1", "Support"],
                 [[_e(r["class"]), r["precision"], r["recall"], r["f1"], r["support"]]
                  for r in s["per_class"]])
    body = [intro, f'<p>Accuracy {_num(s["accuracy"])}</p>', '<div class="row"><div>',
            "<h3>Confusion matrix</h3>", "\n".join(lines), "</div><div>",
            "<h3>Per class</h3>", per, "</div>"]
    if "roc" in ev:
        body += ["<div><h3>ROC</h3>", _svg(roc_figure(*ev["roc"])), "</div>"]
    body.append("</div>")
    return _section("evaluation", "Held-out evaluation (classification)", "\n".join(body))


def _validation_section(report: dict) -> str:
    v = report.get("validation") or {}
    rows = [[_e(r["runtime"]) + (" (reference)" if r.get("is_reference") else ""),
             r.get("max_abs_error"), r.get("max_rel_error"),
             r.get("argmax_agreement"), r.get("seconds"),
             _ok(r.get("ok")) if not r.get("error") else (_e(r["error"])[:200], "bad")]
            for r in v.get("runtimes", [])]
    body = (f'<p>{_num(v.get("n_inputs"))} {_e(v.get("inputs", ""))} inputs, atol '
            f'{_num(v.get("atol"))}, rtol {_num(v.get("rtol"))}: '
            f'{"every runtime agrees" if v.get("ok") else "DISAGREEMENT"}.</p>'
            + _table(["Runtime", "Max abs error", "Max rel error", "Argmax agreement",
                      "Seconds", "Status"], rows))
    return _section("validation", "Validation across runtimes", body)


def _export_section(report: dict) -> str:
    info = report.get("onnx") or {}
    passes = []
    for name, changes in (info.get("passes") or {}).items():
        text = changes if isinstance(changes, str) else (
            "; ".join(changes) if changes else "nothing to do")
        passes.append([_e(name), _e(text)])
    nodes = info.get("nodes") or {}
    body = (f'<p>opset {_num(report.get("opset"))}, input layout '
            f'{_e(info.get("input_layout", ""))}.</p><h3>Passes</h3>'
            + _table(["Pass", "Result"], passes)
            + f"<h3>ONNX nodes per op type ({sum(nodes.values())})</h3>"
            + _table(["Op type", "Nodes"], [[_e(k), n] for k, n in nodes.items()]))
    return _section("export", "Export", body)


def _variants_section(report: dict) -> str:
    var = report.get("variants")
    if not var:
        return _section("variants", "Export variants",
                        '<p class="note">None asked for (--float16, --int8, '
                        '--save-optimized).</p>')
    rows = []
    for name, v in var.items():
        if not isinstance(v, dict) or "file" not in v:
            continue
        metrics = v.get("metrics") or {}
        delta = v.get("delta") or {}
        acc = metrics.get("accuracy")
        rows.append([_e(name), _e(v["file"]), v.get("bytes"), acc,
                     delta.get("accuracy"),
                     (v.get("validation") or {}).get("max_abs_error",
                                                     v.get("numpy_max_abs_error")),
                     _ok(v.get("ok", True))])
    body = (f'<p>Scored on {_num(var.get("eval_rows"))} held-out rows; a variant may lose at '
            f'most {_num(var.get("max_accuracy_drop"))} accuracy.</p>'
            + _table(["Variant", "File", "Bytes", "Accuracy", "Δ accuracy",
                      "Max abs error", "Status"], rows))
    return _section("variants", "Export variants", body)


def _vectors_section(report: dict) -> str:
    tv = report.get("test_vectors")
    if not tv:
        return _section("vectors", "Test vectors",
                        '<p class="note">No test vectors embedded (--test-vectors 0).</p>')
    body = _table(["Field", "Value"], [[_e(k), v if not isinstance(v, str) else _e(v)]
                                       for k, v in tv.items()])
    return _section("vectors", "Test vectors",
                    "<p>Held-out inputs and outputs stored with model.onnx, checked by "
                    "<code>seqc validate model.onnx</code>.</p>" + body)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("seqc", "numpy", "onnx", "onnxruntime", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _build_section(report: dict, model_sha256: str | None) -> str:
    timings = report.get("timings") or {}
    body = ("<h3>Timings</h3>" + _table(["Stage", "Seconds"],
                                        [[_e(k.removesuffix("_s")), v]
                                         for k, v in timings.items()])
            + "<h3>Versions</h3>" + _table(["Package", "Version"],
                                           [[_e(k), _e(v)] for k, v in _versions().items()])
            + "<h3>Hashes</h3>" + _table(["What", "SHA-256"], [
                ["source " + _e(os.path.basename(str(report.get("source", "")))),
                 _e(report.get("source_hash", ""))],
                ["model.onnx", _e(model_sha256 or "–")]]))
    return _section("build", "Build", body)


def render(report: dict, graph: Any = None, evaluation: dict | None = None,
           model_sha256: str | None = None) -> str:
    """The page for a report.json (and the model's graph, for the drawing and the summary;
    `evaluation` from seqc.report.evaluate for the held-out charts)."""
    import matplotlib

    name = report.get("name", "model")
    with matplotlib.rc_context({"font.family": "DejaVu Sans", "svg.fonttype": "none"}):
        sections = [_model_section(report, graph), _training_section(report),
                    _evaluation_section(report, evaluation), _validation_section(report),
                    _export_section(report), _variants_section(report),
                    _vectors_section(report), _build_section(report, model_sha256),
                    _section("about", "About this page", ABOUT)]
    nav = " ".join(f'<a href="#{s}">{s}</a>' for s in SECTIONS)
    trained = "trained" if report.get("trained") else "not trained"
    source = os.path.basename(str(report.get("source", "")))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>seqc build report: {_e(name)}</title>
<style>{CSS}</style></head>
<body><header><h1>{_e(name)}</h1>
<p>seqc {_e(report.get("seqc_version", ""))} · {_e(source)} · {trained} ·
validation {"passed" if (report.get("validation") or {}).get("ok") else "FAILED"}</p></header>
<nav>{nav}</nav>
<main>
{chr(10).join(sections)}
</main>
</body></html>
"""


def read_build_report(folder: str | Path) -> dict:
    """A build folder's report.json; a clear UsageError when `folder` is not one."""
    from ..errors import UsageError

    path = Path(folder) / "report.json"
    if not Path(folder).is_dir() or not path.is_file():
        raise UsageError("--history draws a build folder's training curves: give the folder "
                         "`seqc build` wrote (it holds report.json)", field="--history",
                         received=str(folder))
    try:
        import json

        report = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"report.json cannot be read: {e}", file=str(path)) from None
    if not isinstance(report, dict) or not isinstance(report.get("history", {}), dict):
        raise UsageError("report.json has no training history", file=str(path))
    return report


def write_report(folder: Path, report: dict, graph: Any, evaluation: dict | None) -> Path:
    """Write folder/report.html (atomically) for a build in `folder` (its staging folder)."""
    from ..fileio import atomic_write, sha256_file

    onnx = folder / "model.onnx"
    sha = sha256_file(onnx) if onnx.exists() else None
    path = folder / "report.html"
    atomic_write(path, render(report, graph, evaluation, sha).encode("utf-8"))
    return path
