"""Stateful metrics with Keras 3's names, defaults and formulas (reset_state/update_state/result).

The entry point: `get` (Keras' metrics.get plus compile_utils' "accuracy" rule), the name table
`NAMES` (keras/src/metrics/__init__.py's ALL_OBJECTS_DICT) and every metric class. The metrics
themselves live by concern:

- `_metrics_base`: Metric, Mean, MeanMetricWrapper and shared helpers;
- `_metrics_accuracy`: the accuracies and the "accuracy"/"acc" rule;
- `_metrics_regression`: regression, correlation, hinge and probabilistic metrics, RMSE,
  R2Score;
- `_metrics_confusion`: confusion counts, Precision, Recall, AUC, X-at-Y;
- `_metrics_iou`: IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU;
- `_metrics_fscore`: F1Score, FBetaScore.

Mean-type metrics keep `total = sum(per-sample value * weight)` and `count = sum(weight)` (or
the sample count), so an epoch's value is the average over samples, as Keras' `Mean` does.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import numpy as np

from ..config import split_spec
from ..errors import DefinitionError, did_you_mean
from ._metrics_accuracy import (
    ACCURACY_NAMES,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    resolve_accuracy,
)
from ._metrics_base import EPSILON, Mean, MeanMetricWrapper, Metric
from ._metrics_confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from ._metrics_fscore import F1Score, FBetaScore
from ._metrics_iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from ._metrics_regression import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    ConcordanceCorrelation,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    PearsonCorrelation,
    Poisson,
    R2Score,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)

CLASSES: dict[str, type[Metric]] = {c.__name__: c for c in (
    # regression
    MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError, R2Score,
    # classification
    AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall,
    RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives,
    TruePositives,
    # correlation, hinge, probabilistic
    ConcordanceCorrelation, PearsonCorrelation,
    Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy,
    # accuracy
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    # F-score, IoU
    F1Score, FBetaScore, IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU)}


__all__ = ["ACCURACY_NAMES", "CLASSES", "EPSILON", "NAMES", "Mean", "MeanMetricWrapper", "Metric",
           "check_loggable", "get", "resolve_accuracy", *CLASSES]


def _snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case ("BinaryIoU" -> "binary_io_u")."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# Keras' metrics.get table: class names, their snake_case, and the short aliases.
NAMES: dict[str, type[Metric]] = {**CLASSES, **{_snake(k): v for k, v in CLASSES.items()}}
NAMES.update({"bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
              "mse": MeanSquaredError, "MSE": MeanSquaredError,
              "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
              "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
              "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError})


def check_loggable(m: Metric) -> Metric:
    """Refuse a metric whose result is a vector (one value per class or threshold): a fit
    log, the history and EarlyStopping hold one number per metric."""
    if m.vector_valued:
        raise DefinitionError(
            f"metric '{m.name}' ({type(m).__name__}) gives one value per class or threshold, "
            "and training logs hold one number per metric", field="metrics",
            received=repr(m.get_config()),
            hint="average it (F1Score/FBetaScore average='macro', 'micro' or 'weighted'; "
                 "R2Score class_aggregation='uniform_average'), or give one threshold; use "
                 "the metric object directly (update_state/result) for the vector")
    return m


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
        _bind(spec, {}, spec.__name__)
        return spec()
    if isinstance(spec, str):
        if spec.lower() in ACCURACY_NAMES:
            shape = tuple(getattr(output_type, "shape", output_type) or (None, 2))
            loss_name = loss if isinstance(loss, str) else getattr(loss, "name", None)
            return resolve_accuracy(y_true_shape, shape, loss_name)(name=spec)
        cls = NAMES.get(spec)
        if cls is None:
            raise _unknown(spec)
        _bind(cls, {}, spec)
        # Keras names a metric given as a string after that string ("mse" logs as "mse").
        m = cls()
        m.name = spec
        return m
    if isinstance(spec, dict):
        kind, kw = split_spec(spec)
        if "index" in kw:  # a metric of y_true[index], y_pred[index]
            index = kw.pop("index")
            return Indexed(get({"type": kind, **kw}, loss, output_type, y_true_shape), index)
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
        _bind(cls, kw, spec)
        return cls(**kw)
    if callable(spec):
        return MeanMetricWrapper(spec, getattr(spec, "__name__", "metric"))
    raise DefinitionError("a metric must be a name, {\"type\": name, ...}, a Metric or a function",
                          field="metrics", received=repr(spec))


class Indexed(Metric):
    """A metric of `y_true[index]` and `y_pred[index]`: what Keras computes for a script's
    function metric `def last_time_step_mse(y_true, y_pred): return
    keras.metrics.mean_squared_error(y_true[:, -1], y_pred[:, -1])`, which compile wraps in a
    MeanMetricWrapper (the inner metric, e.g. MeanSquaredError, is that wrapper of the same
    function). `index` holds one entry per leading axis: null keeps the axis (`:`), an integer
    picks one position; the first (the batch) is kept."""

    def __init__(self, inner: Metric, index: Any) -> None:
        ok = isinstance(index, list) and len(index) >= 2 and index[0] is None and all(
            i is None or isinstance(i, int) and not isinstance(i, bool) for i in index)
        if not ok:
            raise DefinitionError(
                "a metric's index is a list with null (a whole axis) or an integer per axis, "
                "the first (the batch) null", field="index", received=f"index={index!r}",
                hint="e.g. \"index\": [null, -1] for y[:, -1] (the last time step)")
        self.inner, self.index = inner, list(index)
        self.key = tuple(slice(None) if i is None else i for i in index)
        self.name, self.dtype, self.direction = inner.name, inner.dtype, inner.direction

    def reset_state(self) -> None:
        if hasattr(self, "inner"):
            self.inner.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        from ..errors import DataError

        if mask is not None:
            raise DataError(f"metric '{self.name}' picks y[{self.index}] of a masked output, "
                            "which seqc does not model", field="metrics")
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if y_true.ndim < len(self.key) or y_pred.ndim < len(self.key):
            raise DataError(f"metric '{self.name}' indexes {len(self.key)} axes of the labels "
                            "and predictions", field="metrics",
                            received=f"labels {y_true.shape}, predictions {y_pred.shape}")
        try:
            y_true, y_pred = y_true[self.key], y_pred[self.key]
        except IndexError:
            raise DataError(f"metric '{self.name}': index {self.index} is outside the labels "
                            "or predictions", field="metrics",
                            received=f"labels {y_true.shape}, predictions {y_pred.shape}"
                            ) from None
        self.inner.update_state(y_true, y_pred, sample_weight)

    def result(self) -> Any:
        return self.inner.result()

    @property
    def vector_valued(self) -> bool:
        return self.inner.vector_valued

    def get_config(self) -> dict:
        return {**self.inner.get_config(), "index": list(self.index)}


def _bind(cls: type, kw: dict, spec: Any) -> None:
    """Keras' argument names, checked before construction: an unknown or missing one is a
    DefinitionError naming it."""
    params = inspect.signature(cls).parameters
    try:
        inspect.signature(cls).bind(**kw)
    except TypeError:
        bad = next((k for k in kw if k not in params), None)
        if bad is None:
            missing = [p for p, v in params.items() if v.default is inspect.Parameter.empty
                       and p not in kw]
            raise DefinitionError(
                f"metric {cls.__name__} needs {', '.join(missing)}", field=missing[0],
                received=repr(spec),
                hint=f"e.g. {{\"type\": \"{cls.__name__}\", \"{missing[0]}\": ...}}") from None
        raise DefinitionError(
            f"metric {cls.__name__} has no argument '{bad}'. Valid arguments: "
            f"{', '.join(params)}", field="metrics", received=repr(spec),
            hint=did_you_mean(str(bad), list(params))) from None


def _unknown(name: str) -> DefinitionError:
    choices = sorted({*NAMES, *ACCURACY_NAMES})
    return DefinitionError(f"unknown metric '{name}'", field="metrics", received=repr(name),
                           hint=did_you_mean(name, choices)
                           or "valid metrics: " + ", ".join(sorted(
                               {"accuracy", "auc", "precision", "recall", "mse", "mae",
                                *(_snake(c) for c in CLASSES)})))
