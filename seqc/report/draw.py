"""Figures with matplotlib (imported here, inside functions): the model drawing that
`seqc plot` and `Model.plot` write (keras.utils.plot_model's options), training curves, and
the held-out charts of report.html. Every function returns a matplotlib Figure made without
pyplot (no global state, no display needed); `save` writes it and `svg_text` inlines it.

In an SVG the model drawing's boxes are groups with ids `seqc-node-<i>` and its arrows
`seqc-edge-<i>`, so a reader (and the tests) can count them.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from typing import Any

from .layout import Box, layer_graph, ranks_and_order

FONT = "DejaVu Sans Mono"  # shipped with matplotlib: the same glyph widths everywhere
FONT_SIZE = 8.0
CHAR_W = FONT_SIZE * 0.62 / 72  # inches per character of DejaVu Sans Mono
LINE_H = FONT_SIZE * 1.35 / 72
TRAIN, VAL = "#1f77b4", "#ff7f0e"


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout=None)


def _shape(s: tuple) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in s) + ("," if len(s) == 1
                                                                          else "") + ")"


def _label(box: Box, show_shapes: bool, show_dtype: bool, show_layer_names: bool,
           show_trainable: bool, show_layer_activations: bool) -> list[str]:
    head = f"{box.key} ({box.kind})" if show_layer_names else box.kind
    if show_layer_activations and box.activation:
        head += f" + {box.activation}"
    lines = [head]
    if show_shapes:
        if box.kind != "InputLayer":
            shapes = [_shape(s) for s in box.input_shapes]
            ins = (f"{len(shapes)} x {shapes[0]}" if len(shapes) > 2 and len(set(shapes)) == 1
                   else ", ".join(shapes))
            lines.append(f"in: {ins}")
        lines.append(f"out: {_shape(box.output_shape)}")
    if show_dtype:
        lines.append(f"dtype: {box.dtype}")
    if box.kind != "InputLayer":
        lines.append(f"params: {box.params:,}")
    if show_trainable and box.kind != "InputLayer":
        lines.append("trainable" if box.trainable else "frozen")
    return lines


def model_figure(graph: Any, *, show_shapes: bool = False, show_dtype: bool = False,
                 show_layer_names: bool = False, rankdir: str = "TB",
                 show_layer_activations: bool = False, show_trainable: bool = False,
                 dpi: int = 200) -> Any:
    """The model's graph drawn like keras.utils.plot_model (Keras 3's defaults)."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from ..errors import UsageError

    if rankdir not in ("TB", "LR"):
        raise UsageError("rankdir is 'TB' (top to bottom) or 'LR' (left to right)",
                         field="rankdir", received=repr(rankdir))
    boxes, edges = layer_graph(graph)
    labels = [_label(b, show_shapes, show_dtype, show_layer_names, show_trainable,
                     show_layer_activations) for b in boxes]
    size = [(max(len(s) for s in lab) * CHAR_W + 0.24, len(lab) * LINE_H + 0.16)
            for lab in labels]
    rank, rows = ranks_and_order(len(boxes), edges)
    gap_across, gap_along = 0.3, 0.45
    # Position along the flow (rank) and across it (order in the rank), in inches.
    along_extent = [max(size[i][1 if rankdir == "TB" else 0] for i in row) for row in rows]
    along = []
    acc = 0.0
    for ext in along_extent:
        along.append(acc + ext / 2)
        acc += ext + gap_along
    total_along = acc - gap_along
    across_w = [sum(size[i][0 if rankdir == "TB" else 1] for i in row)
                + gap_across * (len(row) - 1) for row in rows]
    total_across = max(across_w)
    xy: dict[int, tuple[float, float]] = {}
    for r, row in enumerate(rows):
        c = (total_across - across_w[r]) / 2
        for i in row:
            ext = size[i][0 if rankdir == "TB" else 1]
            a, b = c + ext / 2, along[r]
            xy[i] = (a, total_along - b) if rankdir == "TB" else (b, total_across - a)
            c += ext + gap_across
    margin = 0.15
    skips = any(abs(rank[b] - rank[a]) > 1 for a, b in edges)
    side = margin + (0.25 if skips else 0.0)  # room for the skip edges' runs
    w, h = (total_across, total_along) if rankdir == "TB" else (total_along, total_across)
    fig = _figure(w + margin + (side if rankdir == "TB" else margin),
                  h + margin + (side if rankdir == "LR" else margin))
    fig.set_dpi(dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-margin, w + (side if rankdir == "TB" else margin))
    ax.set_ylim(-margin, h + (side if rankdir == "LR" else margin))
    ax.set_axis_off()
    for i, box in enumerate(boxes):
        bw, bh = size[i]
        x, y = xy[i]
        fill = "#e8f0fe" if box.kind == "InputLayer" else (
            "#ffffff" if box.trainable else "#eeeeee")
        patch = FancyBboxPatch((x - bw / 2, y - bh / 2), bw, bh,
                               boxstyle="round,pad=0,rounding_size=0.05", fc=fill,
                               ec="#333333", lw=0.8)
        patch.set_gid(f"seqc-node-{i}")
        ax.add_patch(patch)
        ax.text(x, y, "\n".join(labels[i]), ha="center", va="center", family=FONT,
                fontsize=FONT_SIZE, linespacing=1.25)
    for k, (a, b) in enumerate(edges):
        (xa, ya), (xb, yb) = xy[a], xy[b]
        style = "arc3"
        if abs(rank[b] - rank[a]) > 1:
            # An edge that skips ranks leaves by the side and runs outside the boxes between.
            if rankdir == "TB":
                start, end = (xa + size[a][0] / 2, ya), (xb + size[b][0] / 2, yb)
                beyond = max(xy[i][0] + size[i][0] / 2 for i in range(len(boxes))
                             if rank[a] < rank[i] < rank[b]) + 0.15
                arms = (beyond - start[0], beyond - end[0])
                angle = 0
            else:
                start, end = (xa, ya + size[a][1] / 2), (xb, yb + size[b][1] / 2)
                beyond = max(xy[i][1] + size[i][1] / 2 for i in range(len(boxes))
                             if rank[a] < rank[i] < rank[b]) + 0.15
                arms = (beyond - start[1], beyond - end[1])
                angle = 90
            style = (f"arc,angleA={angle},angleB={angle},armA={max(arms[0], 0.1) * 72:.1f},"
                     f"armB={max(arms[1], 0.1) * 72:.1f},rad=4")
        elif rankdir == "TB":
            start, end = (xa, ya - size[a][1] / 2), (xb, yb + size[b][1] / 2)
        else:
            start, end = (xa + size[a][0] / 2, ya), (xb - size[b][0] / 2, yb)
        arrow = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, lw=0.8,
                                color="#333333", shrinkA=0, shrinkB=0, connectionstyle=style)
        arrow.set_gid(f"seqc-edge-{k}")
        ax.add_patch(arrow)
    return fig


def _events(ax: Any, events: list[dict], n_epochs: int) -> None:
    styles = {"early_stopping": ("#d62728", "--"), "restored_best": ("#2ca02c", "-"),
              "reduce_lr": ("#9467bd", ":")}
    seen: set[str] = set()
    for ev in events:
        kind = ev.get("event")
        if kind not in styles or not 0 <= ev.get("epoch", -1) < n_epochs:
            continue
        color, style = styles[kind]
        label = {"early_stopping": "early stop", "restored_best": "restored best",
                 "reduce_lr": "LR reduced"}[kind]
        ax.axvline(ev["epoch"] + 1, color=color, ls=style, lw=1,
                   label=None if kind in seen else label)
        seen.add(kind)


def history_figure(history: dict[str, list[float]], events: list[dict] | None = None) -> Any:
    """One panel per quantity (loss, each metric, the learning rate when logged), training
    against validation per epoch, with EarlyStopping / ReduceLROnPlateau events marked."""
    from matplotlib.ticker import MaxNLocator

    events = events or []
    names = [k for k in history if not k.startswith("val_")]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in names]
    if not names:
        fig = _figure(4, 1)
        fig.text(0.5, 0.5, "no training history (the model was not trained)", ha="center")
        return fig
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = _figure(3.6 * cols, 2.6 * rows)
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        n = 0
        for key, color, label in ((name, TRAIN, "training"), ("val_" + name, VAL,
                                                              "validation")):
            vals = history.get(key)
            if vals:
                epochs = list(range(1, len(vals) + 1))
                ax.plot(epochs, vals, color=color, marker="o", ms=2.5, lw=1.2, label=label)
                n = max(n, len(vals))
        _events(ax, events, n)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, max(n, 1) + 0.5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        vals = [v for key in (name, "val_" + name) for v in history.get(key, [])]
        if name in ("loss", "learning_rate") and vals and min(vals) > 0 \
                and max(vals) / min(vals) > 30:  # a log scale only over decades
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _margins(fig, rows)
    return fig


def _margins(fig: Any, rows: int) -> None:
    """Fixed margins in inches around the panels (tight_layout would draw the figure once
    more just to measure it, doubling the time a page takes)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=0.75 / w, right=1 - 0.15 / w, bottom=0.5 / h, top=1 - 0.3 / h,
                        wspace=0.75 / (w / max(1, len(fig.axes) // rows)),
                        hspace=0.8 / (h / rows))


def roc_figure(fpr: list[float], tpr: list[float], auc: float) -> Any:
    fig = _figure(3.4, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(fpr, tpr, color=TRAIN, lw=1.5, label=f"ROC (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls="--", label="chance")
    ax.set_xlabel("false positive rate", fontsize=8)
    ax.set_ylabel("true positive rate", fontsize=8)
    ax.set_title("ROC on the held-out rows", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    _margins(fig, 1)
    return fig


def regression_figure(y_true: Any, y_pred: Any) -> Any:
    """Predicted against true (with the identity line) and the residuals' histogram."""
    import numpy as np

    t, p = np.ravel(y_true).astype(float), np.ravel(y_pred).astype(float)
    fig = _figure(7.2, 3.2)
    ax = fig.add_subplot(1, 2, 1)
    ax.scatter(t, p, s=6, color=TRAIN, alpha=0.6)
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="#999999", lw=0.8, ls="--")
    ax.set_xlabel("true", fontsize=8)
    ax.set_ylabel("predicted", fontsize=8)
    ax.set_title("predicted against true", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax = fig.add_subplot(1, 2, 2)
    ax.hist(p - t, bins=30, color=VAL)
    ax.set_xlabel("residual (predicted - true)", fontsize=8)
    ax.set_title("residuals", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    _margins(fig, 1)
    return fig


def svg_text(fig: Any) -> str:
    """The figure as an inline <svg> element (text kept as text, no metadata date)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "seqc"}), \
            warnings.catch_warnings():
        # Text stays text: the browser's fonts draw it, so matplotlib's "Glyph missing from
        # font" (a layer named in any script) is not the user's concern.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    # The RDF block (creator, format) is for files, not for an inline figure.
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


def save(fig: Any, path: str) -> str:
    """Write the figure to `path` (.png or .svg) atomically."""
    import matplotlib

    from ..errors import UsageError
    from ..fileio import atomic_write

    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".svg"):
        raise UsageError("the drawing is written as .png or .svg", field="-o",
                         received=repr(path), hint="name the output model.png or model.svg")
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "seqc"}):
        fig.savefig(buf, format=ext[1:],
                    metadata={"Date": None} if ext == ".svg" else {"Software": None})
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, buf.getvalue())
    return path
