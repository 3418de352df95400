"""Confusion-matrix metrics (keras/src/metrics/confusion_metrics.py and metrics_utils.py):
TruePositives ... FalseNegatives, Precision, Recall, AUC and the X-at-Y metrics.

A prediction is positive at a threshold when it is greater than it (`>`), compared in float32
as Keras' float32 variables make it. Evenly spaced thresholds take Keras' bucket path
(bucket = ceil(p * (T - 1)) - 1 on predictions clipped to [0, 1]) so that a prediction on a
bucket edge lands where Keras puts it; other thresholds compare directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DefinitionError
from ._metrics_base import EPSILON, Metric, check_choice, check_range, div_no_nan, same_rank
from .loss_base import _sigmoid

NEG_INF = -1e10  # metrics_utils.NEG_INF: the threshold used with top_k


def parse_thresholds(owner: str, thresholds: Any, default: float) -> list[float]:
    """metrics_utils.parse_init_thresholds: a number or a list, each in [0, 1]."""
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
    if not values:
        raise DefinitionError(f"{owner}: thresholds is empty", field="thresholds",
                              received="thresholds=[]")
    for t in values:
        check_range(owner, "thresholds", t, 0.0, 1.0)
    return [float(t) for t in values]


def evenly_spaced(thresholds: list[float]) -> bool:
    """metrics_utils.is_evenly_distributed_thresholds."""
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1),
                                       atol=EPSILON))


def _filter_top_k(x: np.ndarray, k: int) -> np.ndarray:
    """metrics_utils._filter_top_k: the k largest values along the last axis stay, the others
    become NEG_INF (ties go to the first occurrence)."""
    idx = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, dtype=x.dtype)
    np.put_along_axis(keep, idx, 1, axis=-1)
    return x * keep + np.asarray(NEG_INF, x.dtype) * (1 - keep)


def confusion_counts(y_true: Any, y_pred: Any, thresholds: list[float], *,
                     evenly: bool = False, sample_weight: Any = None, top_k: int | None = None,
                     class_id: int | None = None, multi_label: bool = False,
                     label_weights: Any = None) -> tuple[np.ndarray, ...]:
    """(tp, fp, tn, fn) per threshold, shape (T,), or (T, labels) with multi_label: Keras'
    update_confusion_matrix_variables. Weights sum in float64."""
    y_true = np.asarray(y_true, np.float32)
    y_pred = np.asarray(y_pred, np.float32)
    y_pred, y_true = same_rank(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise DefinitionError("confusion metrics need labels shaped like the predictions",
                              field="metrics",
                              received=f"labels {y_true.shape}, predictions {y_pred.shape}")
    sw = None
    if sample_weight is not None:
        sw = np.asarray(sample_weight, np.float64)[..., None]
        _, sw = same_rank(y_true, sw, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise DefinitionError("class_id needs predictions of shape (samples, classes)",
                                  field="class_id", received=f"predictions {y_pred.shape}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    if sw is not None and sw.ndim < y_pred.ndim:
        # Per-sample weights against (samples, steps, ...) predictions weight each sample's
        # entries (Keras' right-aligned broadcast would fail there).
        sw = sw.reshape(sw.shape + (1,) * (y_pred.ndim - sw.ndim))
    w = np.ones(y_pred.shape) if sw is None else np.broadcast_to(sw, y_pred.shape)
    if label_weights is not None and not multi_label:
        w = w * np.broadcast_to(np.asarray(label_weights, np.float64)[None], y_pred.shape)
    label = y_true != 0
    if not multi_label:
        label, y_pred, w = label.reshape(-1, 1), y_pred.reshape(-1, 1), w.reshape(-1, 1)
    pos_w, neg_w = np.where(label, w, 0.0), np.where(label, 0.0, w)
    t = len(thresholds)
    if evenly:
        with_eps = thresholds[0] < 0.0 or thresholds[-1] > 1.0
        p = np.clip(y_pred, 0.0, 1.0)
        b = np.ceil(p * np.float32(t - 1)) - 1
        if with_eps:
            b = np.maximum(b, 0)
        b = b.astype(np.int64)
        cols = b.shape[1]
        keep = b >= 0  # bucket -1: at or below the lowest threshold, counted nowhere
        flat = (b + t * np.arange(cols))[keep]

        def above(weights: np.ndarray) -> np.ndarray:
            buckets = np.bincount(flat, weights[keep], minlength=t * cols).reshape(cols, t).T
            return buckets[::-1].cumsum(axis=0)[::-1]

        tp, fp = above(pos_w), above(neg_w)
    else:
        thr = np.asarray(thresholds, np.float32).reshape(t, 1, 1)
        is_pos = y_pred[None] > thr
        tp = np.where(is_pos, pos_w[None], 0.0).sum(axis=1)
        fp = np.where(is_pos, neg_w[None], 0.0).sum(axis=1)
    fn = pos_w.sum(axis=0) - tp
    tn = neg_w.sum(axis=0) - fp
    if not multi_label:
        tp, fp, tn, fn = tp[:, 0], fp[:, 0], tn[:, 0], fn[:, 0]
    return tp, fp, tn, fn


class _Thresholded(Metric):
    """Counts tp/fp/tn/fn per threshold; result() is a number for one threshold, else one
    value per threshold (as Keras returns)."""

    top_k = class_id = None

    def _setup(self, thresholds: list[float]) -> None:
        self.thresholds = thresholds
        self._evenly = evenly_spaced(thresholds)

    @property
    def vector_valued(self) -> bool:
        return len(self.thresholds) > 1

    def reset_state(self) -> None:
        self.tp, self.fp, self.tn, self.fn = (np.zeros(len(self.thresholds)) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        tp, fp, tn, fn = confusion_counts(y_true, y_pred, self.thresholds, evenly=self._evenly,
                                          sample_weight=sample_weight, top_k=self.top_k,
                                          class_id=self.class_id)
        self.tp += tp
        self.fp += fp
        self.tn += tn
        self.fn += fn

    def _out(self, values: np.ndarray) -> Any:
        return float(values[0]) if len(self.thresholds) == 1 else np.asarray(values)


class _ConfusionCount(_Thresholded):
    field = "tp"

    def __init__(self, thresholds: Any = None, name: str | None = None,
                 dtype: Any = None) -> None:
        self._setup(parse_thresholds(type(self).__name__, thresholds, 0.5))
        self._keep(thresholds=thresholds)
        super().__init__(name, dtype)

    def result(self) -> Any:
        return self._out(getattr(self, self.field))


def _count_class(name: str, field: str, default: str, direction: str | None) -> type:
    return type(name, (_ConfusionCount,), {
        "field": field, "default_name": default, "direction": direction,
        "__doc__": f"Keras' {name}: the weighted count of {default.replace('_', ' ')} at each "
                   "threshold (default 0.5)."})


# Keras gives the counts no direction: EarlyStopping(mode="auto") on one is an error there.
TruePositives = _count_class("TruePositives", "tp", "true_positives", None)
FalsePositives = _count_class("FalsePositives", "fp", "false_positives", None)
TrueNegatives = _count_class("TrueNegatives", "tn", "true_negatives", None)
FalseNegatives = _count_class("FalseNegatives", "fn", "false_negatives", None)


class _PrecisionRecall(_Thresholded):
    def __init__(self, thresholds: Any = None, top_k: int | None = None,
                 class_id: int | None = None, name: str | None = None, dtype: Any = None) -> None:
        owner = type(self).__name__
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise DefinitionError(f"{owner}: top_k must be a positive integer", field="top_k",
                                  received=f"top_k={top_k!r}")
        self._setup(parse_thresholds(owner, thresholds, 0.5 if top_k is None else NEG_INF))
        self.top_k, self.class_id = top_k, class_id
        self._keep(thresholds=thresholds, top_k=top_k, class_id=class_id)
        super().__init__(name, dtype)


class Precision(_PrecisionRecall):
    """tp / (tp + fp) per threshold (default 0.5); 0 when nothing was predicted positive.
    `top_k`: only the k highest predictions of each sample can be positive; `class_id`: one
    column of the predictions."""

    default_name = "precision"

    def result(self) -> Any:
        return self._out(div_no_nan(self.tp, self.tp + self.fp))


class Recall(_PrecisionRecall):
    """tp / (tp + fn) per threshold (default 0.5); 0 when there is no positive label."""

    default_name = "recall"

    def result(self) -> Any:
        return self._out(div_no_nan(self.tp, self.tp + self.fn))


class _AtValue(_Thresholded):
    """SensitivitySpecificityBase: counts at `num_thresholds` thresholds 0, 1/(n-1), ..., 1
    (0.5 alone when num_thresholds is 1); result() is the best `dependent` value among the
    thresholds where `constrained` >= the target value (0 when none)."""

    target = wanted = "value"

    def __init__(self, value: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        owner = type(self).__name__
        check_range(owner, self.target, value, 0.0, 1.0)
        if not isinstance(num_thresholds, int) or num_thresholds <= 0:
            raise DefinitionError(f"{owner}: num_thresholds must be an integer > 0",
                                  field="num_thresholds",
                                  received=f"num_thresholds={num_thresholds!r}")
        self.value, self.num_thresholds, self.class_id = float(value), num_thresholds, class_id
        if num_thresholds == 1:
            self.thresholds, self._evenly = [0.5], False
        else:
            n = num_thresholds
            self.thresholds = [0.0, *((i + 1) * 1.0 / (n - 1) for i in range(n - 2)), 1.0]
            self._evenly = True
        self._keep(**{self.target: value}, num_thresholds=num_thresholds, class_id=class_id)
        super().__init__(name, dtype)

    @property
    def vector_valued(self) -> bool:
        return False

    def _rates(self) -> dict[str, np.ndarray]:
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        return {"sensitivity": div_no_nan(tp, tp + fn), "specificity": div_no_nan(tn, tn + fp),
                "recall": div_no_nan(tp, tp + fn), "precision": div_no_nan(tp, tp + fp)}

    def result(self) -> float:
        r = self._rates()
        feasible = r[self.target] >= self.value
        return float(np.max(np.where(feasible, r[self.wanted], 0.0), initial=0.0))


class SensitivityAtSpecificity(_AtValue):
    """The best sensitivity (recall) among thresholds where specificity >= `specificity`."""

    target, wanted, default_name = "specificity", "sensitivity", "sensitivity_at_specificity"

    def __init__(self, specificity: float, num_thresholds: int = 200,
                 class_id: int | None = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtValue):
    """The best specificity among thresholds where sensitivity >= `sensitivity`."""

    target, wanted, default_name = "sensitivity", "specificity", "specificity_at_sensitivity"

    def __init__(self, sensitivity: float, num_thresholds: int = 200,
                 class_id: int | None = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtValue):
    """The best precision among thresholds where recall >= `recall`."""

    target, wanted, default_name = "recall", "precision", "precision_at_recall"

    def __init__(self, recall: float, num_thresholds: int = 200, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtValue):
    """The best recall among thresholds where precision >= `precision`."""

    target, wanted, default_name = "precision", "recall", "recall_at_precision"

    def __init__(self, precision: float, num_thresholds: int = 200,
                 class_id: int | None = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(precision, num_thresholds, class_id, name, dtype)


class AUC(Metric):
    """Area under the ROC, PR (or PRGAIN) curve from confusion counts at `num_thresholds`
    thresholds: evenly spaced in (0, 1) plus -eps and 1+eps endpoints, or `thresholds`
    between those endpoints. A Riemann sum with trapezoid ("interpolation"), "minoring" or
    "majoring" heights; the PR curve with interpolation uses Davis & Goadrich's
    interpolation. `multi_label`: one curve per label column, averaged (weighted by
    `label_weights`); otherwise every entry is one prediction (weighted by `label_weights`
    per column)."""

    default_name = "auc"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name: str | None = None,
                 dtype: Any = None, thresholds: list[float] | None = None,
                 multi_label: bool = False, num_labels: int | None = None,
                 label_weights: Any = None, from_logits: bool = False) -> None:
        curves = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
        check_choice("AUC", "curve", curve, ("ROC", "PR", "PRGAIN", "roc", "pr", "prgain"))
        check_choice("AUC", "summation_method", summation_method,
                     ("interpolation", "majoring", "minoring", "Interpolation", "Majoring",
                      "Minoring"))
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
            self._evenly = evenly_spaced([0.0, *inner, 1.0])
        else:
            if not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise DefinitionError("AUC: num_thresholds must be an integer > 1",
                                      field="num_thresholds",
                                      received=f"num_thresholds={num_thresholds!r}")
            n = num_thresholds
            inner = [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)]
            self.num_thresholds = n
            self._evenly = True
        self.thresholds = [0.0 - EPSILON, *inner, 1.0 + EPSILON]
        self.curve = curves[curve.lower()]
        self.summation_method = summation_method.lower()
        if num_labels is not None and not multi_label:
            raise DefinitionError("AUC: num_labels is needed only when multi_label is True",
                                  field="num_labels", received=f"num_labels={num_labels!r}")
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else \
            np.asarray(label_weights, np.float64)
        self.from_logits = bool(from_logits)
        self._keep(num_thresholds=self.num_thresholds, curve=self.curve,
                   summation_method=self.summation_method, multi_label=self.multi_label,
                   num_labels=num_labels, label_weights=label_weights,
                   from_logits=self.from_logits)
        if self._init_from_thresholds:
            self._keep(thresholds=inner)
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        shape = (self.num_thresholds,)
        if self.multi_label:
            shape = None if self.num_labels is None else (self.num_thresholds, self.num_labels)
        self.tp = self.fp = self.tn = self.fn = None
        if shape is not None:
            self.tp, self.fp, self.tn, self.fn = (np.zeros(shape) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = np.asarray(y_pred, np.float32)
        if self.multi_label and y_pred.ndim != 2:
            raise DefinitionError("AUC(multi_label=True) needs predictions of rank 2",
                                  field="multi_label", received=f"predictions {y_pred.shape}")
        if self.tp is None:
            self.tp, self.fp, self.tn, self.fn = (
                np.zeros((self.num_thresholds, y_pred.shape[1])) for _ in range(4))
        if self.from_logits:
            y_pred = _sigmoid(y_pred).astype(np.float32)
        counts = confusion_counts(
            y_true, y_pred, self.thresholds, evenly=self._evenly, sample_weight=sample_weight,
            multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights)
        self.tp += counts[0]
        self.fp += counts[1]
        self.tn += counts[2]
        self.fn += counts[3]

    def _reduce(self, terms: np.ndarray) -> float:
        if not self.multi_label:
            return float(np.sum(terms))
        by_label = np.sum(terms, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(div_no_nan(np.sum(by_label * self.label_weights),
                                np.sum(self.label_weights)))

    def result(self) -> float:
        if self.tp is None:
            return 0.0
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr()
        recall = div_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = div_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, div_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scale = div_no_nan(tp + fn, tn + fp)
            x = np.maximum(np.where(tp == 0, 0.0, 1.0 - scale * div_no_nan(fn, tp)), 0.0)
            y = np.where(tp == 0, 1.0, 1.0 - scale * div_no_nan(fp, tp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._reduce((x[:-1] - x[1:]) * heights)

    def _interpolate_pr(self) -> float:
        tp, fp, fn = self.tp, self.fp, self.fn
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = div_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), div_no_nan(p[:-1], np.maximum(p[1:], 0)),
                         1.0)
        inc = div_no_nan(slope * (dtp + intercept * np.log(ratio)),
                         np.maximum(tp[1:] + fn[1:], 0))
        return self._reduce(inc)
