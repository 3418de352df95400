"""The metric and log plumbing of fit and evaluate: fresh metric objects per output, their
updates per batch, and the epoch's log dict under Keras' key names."""

from __future__ import annotations

import copy
from typing import Any

from . import metrics as metrics_mod
from .checks import nth
from .compile_config import CompileConfig, Head

__all__ = ["flat_metrics", "log_dict", "resolve_metrics", "update_metrics"]


def flat_metrics(metrics: list[list]) -> list:
    return [m for ms in metrics for m in ms]


def update_metrics(heads: list[Head], metrics: list[list], ys: list, preds: list,
                    sws: list | None, masks: dict) -> None:
    for j, h in enumerate(heads):
        y, y_pred, sw, mask = ys[j], preds[j], nth(sws, j), masks.get(h.value)
        for m in metrics[j]:
            w = sw if getattr(m, "_weighted", False) else None
            if mask is not None and isinstance(m, metrics_mod.MeanMetricWrapper):
                m.update_state(y, y_pred, w, mask=mask)  # Keras counts valid steps only
            else:
                m.update_state(y, y_pred, w)


def log_dict(heads: list[Head], loss_value: float, head_losses: Any, metrics: list[list]) -> dict:
    """Keras' log keys: `loss`, then `<output>_loss` per output when there are several,
    then the metrics (`<output>_<metric>` when there are several outputs)."""
    logs = {"loss": float(loss_value)}
    if len(heads) > 1:
        for h, v in zip(heads, head_losses):
            logs[f"{h.name}_loss"] = float(v)
    for m in flat_metrics(metrics):
        logs[m.name] = float(m.result())
    return logs


def resolve_metrics(cfg: CompileConfig, ys: list, model: Any) -> list[list]:
    """Fresh metric objects per output (compiled metrics, then weighted ones); with several
    outputs each is named `<output>_<metric>`, as Keras names them."""
    out = []
    for h, y in zip(cfg.heads, ys):
        ms = []
        for specs, weighted in ((h.metrics, False), (h.weighted, True)):
            for s in specs:
                m = metrics_mod.get(copy.deepcopy(s) if isinstance(s, metrics_mod.Metric) else s,
                                    h.loss, model.graph.types[h.value], y.shape)
                if len(cfg.heads) > 1:
                    m.name = f"{h.name}_{m.name}"
                if weighted:
                    m._weighted = True
                ms.append(m)
        out.append(ms)
    cfg.resolved_metrics = flat_metrics(out)
    return out
