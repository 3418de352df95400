"""Regression, correlation, hinge and probabilistic metrics
(keras/src/metrics/regression_metrics.py, correlation_metrics.py, hinge_metrics.py,
probabilistic_metrics.py): Keras' per-sample loss functions (as
keras/src/losses/losses.py computes them) averaged over samples, RootMeanSquaredError and
R2Score.

The per-sample functions live here rather than in losses.py, which computes losses with
their gradients; these are value-only and follow the metric functions' shape handling.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import DefinitionError
from ._metrics_base import (
    EPSILON,
    Mean,
    Metric,
    as_float,
    check_choice,
    same_rank,
    wrapper_class,
)
from .loss_base import _log_softmax


def _pair(y_true, y_pred):
    return same_rank(y_true.astype(y_pred.dtype), y_pred)


def _eps(y_pred):
    return np.asarray(EPSILON, y_pred.dtype)


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(np.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(np.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    diff = np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), _eps(y_pred)))
    return 100.0 * np.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    a = np.log(np.maximum(y_pred, _eps(y_pred)) + 1.0)
    b = np.log(np.maximum(y_true, _eps(y_pred)) + 1.0)
    return np.mean(np.square(a - b), axis=-1)


def _l2_normalize(x, axis):
    """Keras' ops.normalize(order=2): x * min(rsqrt(sum(x^2)), 1/epsilon)."""
    with np.errstate(divide="ignore"):
        inv = 1.0 / np.sqrt(np.sum(np.square(x), axis=axis, keepdims=True))
    return x * np.minimum(inv, np.asarray(1.0 / EPSILON, x.dtype))


def cosine_similarity(y_true, y_pred, axis=-1):
    y_true, y_pred = _pair(y_true, y_pred)
    return np.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def pearson_correlation(y_true, y_pred, axis=-1):
    """The correlation along `axis` (population standard deviations)."""
    y_true, y_pred = _pair(y_true, y_pred)
    t = y_true - y_true.mean(axis=axis, keepdims=True)
    p = y_pred - y_pred.mean(axis=axis, keepdims=True)
    t = t / t.std(axis=axis, keepdims=True)
    p = p / p.std(axis=axis, keepdims=True)
    return np.mean(t * p, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Keras' concordance_correlation as written, whose covariance term centres y_true on
    y_pred's mean."""
    y_true, y_pred = _pair(y_true, y_pred)
    t_mean = y_true.mean(axis=axis, keepdims=True)
    p_mean = y_pred.mean(axis=axis, keepdims=True)
    t_var = np.var(y_true - t_mean, axis=axis, keepdims=True)
    p_var = np.var(y_pred - p_mean, axis=axis, keepdims=True)
    covar = (y_true - p_mean) * (y_pred - p_mean)
    norm = t_var + p_var + np.square(t_mean - p_mean)
    return np.mean(2 * covar / (norm + _eps(y_pred)), axis=axis)


def log_cosh(y_true, y_pred):
    """mean(x + softplus(-2x) - log 2) with x = y_pred - y_true, stable for large |x|."""
    y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true
    return np.mean(x + np.logaddexp(0, -2.0 * x) - np.log(2.0).astype(x.dtype), axis=-1)


def _hinge_labels(y_true):
    """Keras' convert_binary_labels_to_hinge: {0, 1} labels become {-1, 1}; others stay."""
    return 2.0 * y_true - 1.0 if np.all((y_true == 0) | (y_true == 1)) else y_true


def hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(np.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(np.square(np.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    y_true = y_true.astype(y_pred.dtype)
    pos = np.sum(y_true * y_pred, axis=-1)
    neg = np.max((1.0 - y_true) * y_pred, axis=-1)
    return np.maximum(neg - pos + 1.0, 0.0)


def kl_divergence(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    y_true = np.clip(y_true, _eps(y_pred), 1)
    y_pred = np.clip(y_pred, _eps(y_pred), 1)
    return np.sum(y_true * np.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(y_pred - y_true * np.log(y_pred + _eps(y_pred)), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0):
    y_true, y_pred = _pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        z = y_pred  # log(1 + exp(z)) - y z, stable for large |z|
        return np.mean(np.logaddexp(0, z) - y_true * z, axis=-1)
    p = np.clip(y_pred, _eps(y_pred), 1 - _eps(y_pred))
    return np.mean(-(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)), axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0, axis=-1):
    y_true = y_true.astype(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    if from_logits:
        logp = _log_softmax(y_pred, axis)
    else:
        p = y_pred / y_pred.sum(axis=axis, keepdims=True)
        logp = np.log(np.clip(p, _eps(y_pred), 1 - _eps(y_pred)))
    return -np.sum(y_true * logp, axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    axis = axis % y_pred.ndim
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = np.squeeze(y_true, axis)
    ids = y_true.astype(np.int64)
    valid = None
    if ignore_class is not None:
        valid = y_true != ignore_class
        ids = np.where(valid, ids, 0)
    onehot = np.moveaxis(np.eye(y_pred.shape[axis], dtype=y_pred.dtype)[ids], -1, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = categorical_crossentropy(onehot, y_pred, from_logits, 0, axis)
    return res if valid is None else np.where(valid, res, 0.0)


_DOWN = "down"
MeanSquaredError = wrapper_class(mean_squared_error, "MeanSquaredError", "mean_squared_error",
                                 _DOWN)
MeanAbsoluteError = wrapper_class(mean_absolute_error, "MeanAbsoluteError",
                                  "mean_absolute_error", _DOWN)
MeanAbsolutePercentageError = wrapper_class(mean_absolute_percentage_error,
                                            "MeanAbsolutePercentageError",
                                            "mean_absolute_percentage_error", _DOWN)
MeanSquaredLogarithmicError = wrapper_class(mean_squared_logarithmic_error,
                                            "MeanSquaredLogarithmicError",
                                            "mean_squared_logarithmic_error", _DOWN)
CosineSimilarity = wrapper_class(cosine_similarity, "CosineSimilarity", "cosine_similarity",
                                 "up", "name, dtype, axis", omit=("axis",))
PearsonCorrelation = wrapper_class(pearson_correlation, "PearsonCorrelation",
                                   "pearson_correlation", "up", "name, dtype, axis")
ConcordanceCorrelation = wrapper_class(concordance_correlation, "ConcordanceCorrelation",
                                       "concordance_correlation", "up", "name, dtype, axis")
LogCoshError = wrapper_class(log_cosh, "LogCoshError", "logcosh", _DOWN)
Hinge = wrapper_class(hinge, "Hinge", "hinge", _DOWN)
SquaredHinge = wrapper_class(squared_hinge, "SquaredHinge", "squared_hinge", _DOWN)
CategoricalHinge = wrapper_class(categorical_hinge, "CategoricalHinge", "categorical_hinge",
                                 _DOWN)
KLDivergence = wrapper_class(kl_divergence, "KLDivergence", "kl_divergence", _DOWN)
Poisson = wrapper_class(poisson, "Poisson", "poisson", _DOWN)
BinaryCrossentropy = wrapper_class(binary_crossentropy, "BinaryCrossentropy",
                                   "binary_crossentropy", _DOWN,
                                   "name, dtype, from_logits, label_smoothing")
CategoricalCrossentropy = wrapper_class(categorical_crossentropy, "CategoricalCrossentropy",
                                        "categorical_crossentropy", _DOWN,
                                        "name, dtype, from_logits, label_smoothing, axis")
_SparseCCE = wrapper_class(sparse_categorical_crossentropy, "SparseCategoricalCrossentropy",
                           "sparse_categorical_crossentropy", _DOWN,
                           "name, dtype, from_logits, ignore_class, axis")


class SparseCategoricalCrossentropy(_SparseCCE):  # type: ignore[misc, valid-type]
    """Keras' SparseCategoricalCrossentropy metric. With `ignore_class`, ignored positions
    score 0; they still count in the mean unless sample weights are given, which Keras
    multiplies by the valid-position mask (reduce_to_samplewise_values)."""

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        ignore = self.fn_kwargs.get("ignore_class")
        if ignore is not None and sample_weight is not None:
            y_true, y_pred = np.asarray(y_true), as_float(y_pred)
            axis = self.fn_kwargs.get("axis", -1) % y_pred.ndim
            ids = np.squeeze(y_true, axis) if y_true.ndim == y_pred.ndim else y_true
            valid = (ids != ignore).astype(np.float64)
            sw = np.asarray(sample_weight, np.float64)
            sample_weight = sw.reshape(sw.shape + (1,) * (valid.ndim - sw.ndim)) * valid
        super().update_state(y_true, y_pred, sample_weight, mask)


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of squared errors over everything seen; the per-sample
    value is the mean of the sample's squared errors."""

    default_name = "root_mean_squared_error"
    direction = _DOWN

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_true, y_pred = _pair(np.asarray(y_true), as_float(y_pred))
        self.add_values(np.square(y_pred - y_true), sample_weight, mask)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class R2Score(Metric):
    """Keras' R2Score on (batch, outputs) inputs: per output 1 - SS_res / SS_tot from running
    sums, then aggregated ("uniform_average", "variance_weighted_average" or None for one
    value per output); `num_regressors` > 0 gives the adjusted score, with n the number of
    label entries seen, as Keras counts it."""

    default_name = "r2_score"

    def __init__(self, class_aggregation: str | None = "uniform_average",
                 num_regressors: int = 0, name: str = "r2_score", dtype: Any = None) -> None:
        check_choice("R2Score", "class_aggregation", class_aggregation,
                     (None, "uniform_average", "variance_weighted_average"))
        if not isinstance(num_regressors, int) or num_regressors < 0:
            raise DefinitionError("R2Score: num_regressors must be an integer >= 0",
                                  field="num_regressors",
                                  received=f"num_regressors={num_regressors!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self._keep(class_aggregation=class_aggregation, num_regressors=num_regressors)
        super().__init__(name, dtype)

    @property
    def vector_valued(self) -> bool:
        return self.class_aggregation is None

    def reset_state(self) -> None:
        self.sum = self.squared_sum = self.total_mse = self.count = None
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = same_rank(np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise DefinitionError(
                "R2Score expects 2D inputs with shape (batch_size, output_dim)", field="metrics",
                received=f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
        sw = np.asarray(1.0 if sample_weight is None else sample_weight, np.float64)
        if sw.ndim == 1:
            sw = sw[:, None]
        sw = np.broadcast_to(sw, y_true.shape)
        if self.sum is None:
            self.sum, self.squared_sum, self.total_mse, self.count = (
                np.zeros(y_pred.shape[-1]) for _ in range(4))
        wy = y_true * sw
        self.sum = self.sum + wy.sum(axis=0)
        self.squared_sum = self.squared_sum + (y_true * wy).sum(axis=0)
        self.total_mse = self.total_mse + ((y_true - y_pred) ** 2 * sw).sum(axis=0)
        self.count = self.count + sw.sum(axis=0)
        self.num_samples += y_true.size

    def result(self) -> Any:
        if self.sum is None:
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1 - self.total_mse / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = np.sum(total * raw) / np.sum(total)
        else:
            r2 = raw
        p, n = self.num_regressors, self.num_samples
        if p:
            if p > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 "
                              "score. Falling back to standard R2 score.", stacklevel=2)
            elif p == n - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard "
                              "R2 score.", stacklevel=2)
            else:
                r2 = 1.0 - (1.0 - r2) * (n - 1.0) / (n - p - 1.0)
        return float(r2) if np.ndim(r2) == 0 else np.asarray(r2)

