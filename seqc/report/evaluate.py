"""The held-out evaluation report.html shows (NumPy only): for a classifier the confusion
matrix, per-class precision/recall/F1 and, for a binary one, the ROC curve; for a regressor
predicted against true values. `summary` is what report.json keeps ("holdout")."""

from __future__ import annotations

from typing import Any

import numpy as np

CLASSIFIER_LOSSES = ("binary_crossentropy", "categorical_crossentropy",
                     "sparse_categorical_crossentropy", "binary_focal_crossentropy",
                     "categorical_focal_crossentropy", "hinge", "squared_hinge",
                     "categorical_hinge")


def _loss(compile_cfg: dict | None) -> tuple[str | None, bool]:
    from ..config import split_spec

    loss = (compile_cfg or {}).get("loss")
    if loss is None or isinstance(loss, (list, tuple)) or (
            isinstance(loss, dict) and "type" not in loss and "class_name" not in loss):
        return None, False  # one loss per output: several outputs are not evaluated here
    name, kwargs = split_spec(loss)
    if not isinstance(name, str):
        return None, False
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return snake, bool(kwargs.get("from_logits", False))


def evaluate(model: Any, x: Any, y: Any, compile_cfg: dict | None) -> dict | None:
    """{"kind": "classifier"|"regressor", "summary": {...}, ...arrays for the charts}, or
    None when there is nothing to evaluate (no labels, several outputs, no loss)."""
    if y is None or isinstance(y, dict) or isinstance(x, dict) and len(x) != 1:
        return None
    loss, logits = _loss(compile_cfg)
    if loss is None:
        return None
    y_pred = np.asarray(model.predict(x), dtype=np.float64)
    y = np.asarray(y)
    if loss in CLASSIFIER_LOSSES:
        return _classifier(y, y_pred, loss, logits, list(model.class_names or []))
    t = y.astype(np.float64).reshape(-1)
    p = y_pred.reshape(-1)
    if t.size != p.size:
        return None
    err = p - t
    ss = float(np.sum((t - t.mean()) ** 2))
    summary = {"kind": "regressor", "rows": int(len(y)), "values": int(t.size),
               "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
               "r2": float(1 - np.sum(err ** 2) / ss) if ss > 0 else None}
    return {"kind": "regressor", "summary": summary, "y_true": t, "y_pred": p}


def _classifier(y: np.ndarray, p: np.ndarray, loss: str, logits: bool,
                names: list[str]) -> dict | None:
    c = p.shape[-1] if p.ndim > 1 else 1
    score = None
    if c == 1:  # one sigmoid unit: class 1 when p > 0.5 (logit > 0)
        s = p.reshape(-1)
        if logits:
            s = 1 / (1 + np.exp(-s))
        pred = (s > 0.5).astype(np.int64)
        true = y.reshape(-1)
        if true.size != pred.size:
            return None
        true = (true > 0.5).astype(np.int64)
        score, n_classes = s, 2
    else:
        flat = p.reshape(-1, c)
        pred = flat.argmax(axis=1)
        if y.shape == p.shape:  # one-hot labels
            true = y.reshape(-1, c).argmax(axis=1)
        else:
            true = y.reshape(-1).astype(np.int64)
        if true.size != pred.size:
            return None
        n_classes = c
        if c == 2:
            e = np.exp(flat - flat.max(axis=1, keepdims=True)) if logits else flat
            score = e[:, 1] / e.sum(axis=1) if logits else flat[:, 1]
    if len(names) != n_classes:
        names = [str(i) for i in range(n_classes)]
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    ok = (true >= 0) & (true < n_classes)
    np.add.at(cm, (true[ok], pred[ok]), 1)
    per_class = []
    for k in range(n_classes):
        tp = int(cm[k, k])
        col, row = int(cm[:, k].sum()), int(cm[k, :].sum())
        prec = tp / col if col else 0.0
        rec = tp / row if row else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class.append({"class": names[k], "precision": prec, "recall": rec, "f1": f1,
                          "support": row})
    summary: dict[str, Any] = {
        "kind": "classifier", "rows": int(len(y)), "values": int(cm.sum()),
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)), "class_names": names,
        "confusion_matrix": cm.tolist(), "per_class": per_class}
    out: dict[str, Any] = {"kind": "classifier", "summary": summary}
    if score is not None and 0 < int((true == 1).sum()) < len(true):
        fpr, tpr, auc = roc(true, score)
        summary["roc_auc"] = auc
        out["roc"] = (fpr, tpr, auc)
    return out


def roc(true: np.ndarray, score: np.ndarray) -> tuple[list[float], list[float], float]:
    """The ROC curve (one point per distinct score, ties together) and its area."""
    order = np.argsort(-score, kind="stable")
    s, t = score[order], true[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # the last row of each tie
    tp = np.cumsum(t)[last]
    fp = (last + 1) - tp
    tpr = np.r_[0, tp / max(t.sum(), 1)]
    fpr = np.r_[0, fp / max(len(t) - t.sum(), 1)]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return fpr.tolist(), tpr.tolist(), auc
