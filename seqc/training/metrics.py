"""Stateful metrics with Keras 3's names, defaults and formulas (reset_state/update_state/result).

Mean-type metrics keep `total = sum(per-sample value * weight)` and `count = sum(weight)` (or the
sample count), so an epoch's value is the average over samples, as Keras' `MeanMetricWrapper`.
Confusion metrics (AUC, Precision, Recall) keep true/false positive counts per threshold.
"accuracy"/"acc" resolve as keras/src/trainers/compile_utils.py `get_metric` does, from the
shapes of y_true and y_pred.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import split_spec
from ..errors import DataError, DefinitionError, did_you_mean

EPSILON = 1e-7  # Keras' backend.epsilon()


def _same_rank(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras' squeeze_or_expand_to_same_rank: (N,) against (N, 1) becomes (N, 1) for both."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        b = b[..., None]
    elif b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        a = a[..., None]
    return a, b


def _per_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 0:
        return np.full(n, float(sw))
    return sw.reshape(n, -1).mean(axis=1) if sw.ndim > 1 else sw


class Metric:
    """Base class. `direction` is "up" when larger is better (EarlyStopping's mode="auto")."""

    direction = "up"
    default_name = "metric"

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.default_name
        self.reset_state()

    def reset_state(self) -> None:
        raise NotImplementedError

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class MeanMetricWrapper(Metric):
    """Averages `fn(y_true, y_pred)` (one value per sample, or per element reduced per sample)."""

    fn: Callable[..., np.ndarray] | None = None

    def __init__(self, fn: Callable[..., np.ndarray] | None = None, name: str | None = None,
                 direction: str | None = None, **fn_kwargs: Any) -> None:
        if fn is not None:
            self.fn = fn
        if direction is not None:
            self.direction = direction
        self.fn_kwargs = fn_kwargs
        super().__init__(name or (getattr(fn, "__name__", None) if fn else None))

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        """`mask`: the prediction's timestep mask; as in Keras, masked steps do not count."""
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        try:
            values = np.asarray(self.fn(y_true, y_pred, **self.fn_kwargs))
        except ValueError:
            # Broadcasting failed: the labels' form does not suit this metric (e.g. "mae" on
            # integer class ids against a softmax output).
            raise DataError(
                f"metric '{self.name}' cannot compare the labels with the model output",
                field="metrics",
                received=f"labels of shape {y_true.shape}, predictions {y_pred.shape}",
                hint="use a metric that fits the labels (e.g. \"accuracy\"), or one-hot the "
                     "labels") from None
        n = values.shape[0] if values.ndim else 1
        if mask is not None and np.shape(mask) == values.shape:
            w = np.asarray(mask, np.float64)
            sw = _per_sample_weight(sample_weight, n)
            if sw is not None:
                w = w * sw.reshape(n, *([1] * (w.ndim - 1)))
            self.total += float((values * w).sum())
            self.count += float(w.sum())
            return
        values = values.reshape(n, -1).mean(axis=1, dtype=np.float64)
        sw = _per_sample_weight(sample_weight, n)
        if sw is None:
            self.total += float(values.sum())
            self.count += n
        else:
            self.total += float((values * sw).sum())
            self.count += float(sw.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


# ---- the per-sample functions (keras/src/metrics/*_metrics.py) ----

def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true, y_pred = _same_rank(y_true, y_pred)
    return (y_true == (y_pred > threshold)).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_true == np.argmax(y_pred, axis=-1)).astype(np.float32)


def accuracy(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    return (y_true == y_pred).astype(np.float32)


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    return np.mean(np.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    return np.mean(np.abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    diff = np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), EPSILON))
    return 100.0 * np.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _same_rank(y_true, y_pred)
    a = np.log(np.maximum(y_pred, EPSILON) + 1.0)
    b = np.log(np.maximum(y_true, EPSILON) + 1.0)
    return np.mean(np.square(a - b), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    y_true, y_pred = _same_rank(y_true, y_pred)
    if from_logits:
        # log(1 + exp(z)) - y z, stable for large |z|
        z = y_pred
        return np.mean(np.logaddexp(0, z) - y_true * z, axis=-1)
    p = np.clip(y_pred, EPSILON, 1 - EPSILON)
    return np.mean(-(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)), axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    if from_logits:
        z = y_pred - y_pred.max(axis=-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    else:
        p = y_pred / y_pred.sum(axis=-1, keepdims=True)
        logp = np.log(np.clip(p, EPSILON, 1 - EPSILON))
    return -np.sum(y_true * logp, axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    onehot = np.eye(y_pred.shape[-1], dtype=y_pred.dtype)[y_true.astype(np.int64)]
    return categorical_crossentropy(onehot, y_pred, from_logits)


def _wrapper(fn: Callable, default: str, direction: str = "up") -> type:
    """A Keras metric class around a per-sample function, named as Keras names it."""
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.name not in ("y_true", "y_pred")]

    def __init__(self, name: str | None = None, **kw: Any) -> None:  # noqa: N807
        for k in kw:
            if k not in {p.name for p in params}:
                raise DefinitionError(
                    f"metric {type(self).__name__} has no argument '{k}'", field=k,
                    received=f"{k}={kw[k]!r}", hint=did_you_mean(k, [p.name for p in params]))
        MeanMetricWrapper.__init__(self, None, name, **kw)

    return type(_class_name(default), (MeanMetricWrapper,), {
        "fn": staticmethod(fn), "default_name": default, "direction": direction,
        "__init__": __init__, "__doc__": f"Keras' {_class_name(default)}: mean of {default}."})


def _class_name(snake: str) -> str:
    return "".join(p.capitalize() for p in snake.split("_"))


BinaryAccuracy = _wrapper(binary_accuracy, "binary_accuracy")
CategoricalAccuracy = _wrapper(categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = _wrapper(sparse_categorical_accuracy, "sparse_categorical_accuracy")
Accuracy = _wrapper(accuracy, "accuracy")
MeanSquaredError = _wrapper(mean_squared_error, "mean_squared_error", "down")
MeanAbsoluteError = _wrapper(mean_absolute_error, "mean_absolute_error", "down")
MeanAbsolutePercentageError = _wrapper(
    mean_absolute_percentage_error, "mean_absolute_percentage_error", "down")
MeanSquaredLogarithmicError = _wrapper(
    mean_squared_logarithmic_error, "mean_squared_logarithmic_error", "down")
BinaryCrossentropy = _wrapper(binary_crossentropy, "binary_crossentropy", "down")
CategoricalCrossentropy = _wrapper(categorical_crossentropy, "categorical_crossentropy", "down")
SparseCategoricalCrossentropy = _wrapper(
    sparse_categorical_crossentropy, "sparse_categorical_crossentropy", "down")


class RootMeanSquaredError(MeanMetricWrapper):
    """sqrt of the (weighted) mean of squared errors over everything seen."""

    fn = staticmethod(mean_squared_error)
    default_name = "root_mean_squared_error"
    direction = "down"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(None, name)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


# ---- confusion-matrix metrics (keras/src/metrics/confusion_metrics.py, metrics_utils.py) ----

def _confusion_inputs(y_true, y_pred, sample_weight, class_id=None):
    """Flattened float labels, predictions and weights, broadcast as Keras does."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    y_pred, y_true = _same_rank(y_pred, y_true)
    if class_id is not None:
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
    if sample_weight is None:
        w = np.ones(y_pred.shape)
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        w = w.reshape(w.shape + (1,) * (y_pred.ndim - w.ndim))
        w = np.broadcast_to(w, y_pred.shape)
    return (y_true != 0).ravel(), y_pred.ravel(), w.ravel()


class _ThresholdMetric(Metric):
    """Precision/Recall: a prediction is positive when it is > the threshold."""

    def __init__(self, thresholds: float | None = None, top_k: int | None = None,
                 class_id: int | None = None, name: str | None = None) -> None:
        if top_k is not None:
            raise DefinitionError(f"{type(self).__name__}(top_k=...) is not supported",
                                  field="top_k", received=f"top_k={top_k}")
        if isinstance(thresholds, (list, tuple)):
            if len(thresholds) != 1:
                raise DefinitionError(
                    f"{type(self).__name__} supports a single threshold", field="thresholds",
                    received=f"thresholds={thresholds!r}")
            thresholds = thresholds[0]
        self.threshold = 0.5 if thresholds is None else float(thresholds)
        self.class_id = class_id
        super().__init__(name)

    def reset_state(self) -> None:
        self.tp = self.fp = self.fn = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        label, pred, w = _confusion_inputs(y_true, y_pred, sample_weight, self.class_id)
        pos = pred > self.threshold
        self.tp += float(w[label & pos].sum())
        self.fp += float(w[~label & pos].sum())
        self.fn += float(w[label & ~pos].sum())


class Precision(_ThresholdMetric):
    """tp / (tp + fp) at threshold 0.5 (0 when nothing was predicted positive)."""

    default_name = "precision"

    def result(self) -> float:
        d = self.tp + self.fp
        return self.tp / d if d else 0.0


class Recall(_ThresholdMetric):
    """tp / (tp + fn) at threshold 0.5 (0 when there is no positive label)."""

    default_name = "recall"

    def result(self) -> float:
        d = self.tp + self.fn
        return self.tp / d if d else 0.0


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Keras' divide_no_nan: 0 where the denominator is 0."""
    out = np.zeros(np.broadcast(a, b).shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


class AUC(Metric):
    """Area under the ROC (or PR) curve from confusion counts at `num_thresholds` thresholds.

    Thresholds are evenly spaced in (0, 1) plus -eps and 1+eps endpoints; a prediction is
    positive above a threshold. The area is a Riemann sum with trapezoid heights
    ("interpolation"), or Davis & Goadrich's interpolation for the PR curve, as in Keras.
    """

    default_name = "auc"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name: str | None = None,
                 thresholds: list[float] | None = None, multi_label: bool = False,
                 num_labels: int | None = None, label_weights: Any = None,
                 from_logits: bool = False) -> None:
        if multi_label or num_labels is not None or label_weights is not None:
            raise DefinitionError("AUC(multi_label=True / num_labels / label_weights) is not "
                                  "supported", field="multi_label",
                                  received=f"multi_label={multi_label}")
        curve = str(curve).upper()
        if curve not in ("ROC", "PR"):
            raise DefinitionError("AUC curve must be 'ROC' or 'PR'", field="curve",
                                  received=f"curve={curve!r}")
        summation_method = str(summation_method).lower()
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise DefinitionError(
                "AUC summation_method must be 'interpolation', 'minoring' or 'majoring'",
                field="summation_method", received=f"summation_method={summation_method!r}")
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.evenly = False
        else:
            if int(num_thresholds) <= 1:
                raise DefinitionError("AUC num_thresholds must be an integer > 1",
                                      field="num_thresholds",
                                      received=f"num_thresholds={num_thresholds}")
            n = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)]
            self.evenly = True
        self.thresholds = np.array([0.0 - EPSILON, *inner, 1.0 + EPSILON])
        self.num_thresholds = len(self.thresholds)
        self.curve = curve
        self.summation_method = summation_method
        self.from_logits = from_logits
        super().__init__(name)

    def reset_state(self) -> None:
        t = self.num_thresholds
        self.tp, self.fp, self.tn, self.fn = (np.zeros(t) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        label, pred, w = _confusion_inputs(y_true, y_pred, sample_weight)
        if self.from_logits:
            pred = 1.0 / (1.0 + np.exp(-pred))
        pos_w = np.where(label, w, 0.0)
        neg_w = np.where(label, 0.0, w)
        t = self.num_thresholds
        if self.evenly:
            # Keras' O(N + T) path: bucket = ceil(p * (T - 1)) - 1 (a prediction equal to a
            # threshold is not above it), the -eps endpoint taking every prediction in
            # [0, 1]; counts above each threshold are reverse cumulative sums. Computed in
            # float32 like Keras so predictions on a bucket edge land in the same bucket.
            p = np.clip(pred, 0.0, 1.0).astype(np.float32)
            b = np.maximum(np.ceil(p * np.float32(t - 1)) - 1, 0).astype(np.int64)
            tp = np.bincount(b, pos_w, minlength=t)[::-1].cumsum()[::-1]
            fp = np.bincount(b, neg_w, minlength=t)[::-1].cumsum()[::-1]
        else:
            above = pred[None, :] > self.thresholds[:, None]
            tp = above @ pos_w
            fp = above @ neg_w
        self.tp += tp
        self.fp += fp
        self.fn += pos_w.sum() - tp
        self.tn += neg_w.sum() - fp

    def result(self) -> float:
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr()
        recall = _div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _div(fp, fp + tn), recall
        else:
            x, y = recall, _div(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def _interpolate_pr(self) -> float:
        tp, fp, fn = self.tp, self.fp, self.fn
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _div(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _div(p[:-1], np.maximum(p[1:], 0)), 1.0)
        inc = _div(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return float(np.sum(inc))


# ---- lookup ----

CLASSES: dict[str, type[Metric]] = {c.__name__: c for c in (
    BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, Accuracy, MeanSquaredError,
    MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
    RootMeanSquaredError, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, AUC, Precision, Recall)}


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


# Keras' metrics.get table: class names, their snake_case, and the short aliases.
NAMES: dict[str, type[Metric]] = {**CLASSES, **{_snake(k): v for k, v in CLASSES.items()}}
NAMES.update({"bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
              "mse": MeanSquaredError, "MSE": MeanSquaredError,
              "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
              "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
              "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError})
ACCURACY_NAMES = ("accuracy", "acc")


def resolve_accuracy(y_true_shape: tuple | None, y_pred_shape: tuple,
                     loss_name: str | None = None) -> type[Metric]:
    """Keras' rule (compile_utils.get_metric): binary when y_pred's last dim is 1; sparse
    categorical when y_true has a lower rank than y_pred, or y_true's last dim is 1 while
    y_pred's is not; categorical otherwise. Without y_true's shape, the loss decides."""
    if y_true_shape is None:
        if y_pred_shape[-1] == 1 or (loss_name or "").startswith("binary"):
            return BinaryAccuracy
        return SparseCategoricalAccuracy if "sparse" in (loss_name or "") \
            else CategoricalAccuracy
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] != 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(spec: Any, loss: Any = None, output_type: Any = None,
        y_true_shape: tuple | None = None) -> Metric:
    """A fresh Metric from a name, `{"type": name, ...}`, a Metric or a function.

    `loss` (a Loss or its name) and `output_type` (a TensorType or shape) resolve "accuracy"
    as Keras does; `y_true_shape` (the labels' shape) makes that resolution exact.

    >>> get("acc", "binary_crossentropy", (None, 1)).name
    'acc'
    >>> get({"type": "AUC", "num_thresholds": 50}).name
    'auc'
    """
    if isinstance(spec, Metric):
        return spec
    if isinstance(spec, type) and issubclass(spec, Metric):
        return spec()
    if isinstance(spec, str):
        if spec.lower() in ACCURACY_NAMES:
            shape = tuple(getattr(output_type, "shape", output_type) or (None, 2))
            loss_name = loss if isinstance(loss, str) else getattr(loss, "name", None)
            return resolve_accuracy(y_true_shape, shape, loss_name)(name=spec)
        cls = NAMES.get(spec)
        if cls is None:
            raise _unknown(spec)
        # Keras names a metric given as a string after that string ("mse" logs as "mse").
        return cls(name=spec)
    if isinstance(spec, dict):
        kind, kw = split_spec(spec)
        if not isinstance(kind, str):
            raise DefinitionError("a metric given as a dict needs a 'type'", field="metrics",
                                  received=repr(spec))
        if kind.lower() in ACCURACY_NAMES:
            m = get(kind, loss, output_type, y_true_shape)
            m.name = kw.get("name", m.name)
            return m
        cls = NAMES.get(kind)
        if cls is None:
            raise _unknown(kind)
        try:
            inspect.signature(cls).bind(**kw)
        except TypeError:
            valid = list(inspect.signature(cls).parameters)
            bad = next((k for k in kw if k not in valid), None)
            raise DefinitionError(
                f"metric {cls.__name__} has no argument '{bad}'. Valid arguments: "
                f"{', '.join(valid)}", field="metrics", received=repr(spec),
                hint=did_you_mean(str(bad), valid)) from None
        return cls(**kw)
    if callable(spec):
        return MeanMetricWrapper(spec, getattr(spec, "__name__", "metric"))
    raise DefinitionError("a metric must be a name, {\"type\": name, ...}, a Metric or a function",
                          field="metrics", received=repr(spec))


def _unknown(name: str) -> DefinitionError:
    choices = sorted({*NAMES, *ACCURACY_NAMES})
    return DefinitionError(f"unknown metric '{name}'", field="metrics", received=repr(name),
                           hint=did_you_mean(name, choices)
                           or "valid metrics: " + ", ".join(sorted(
                               {"accuracy", "auc", "precision", "recall", "mse", "mae",
                                *(_snake(c) for c in CLASSES)})))
