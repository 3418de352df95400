"""Accuracy metrics (keras/src/metrics/accuracy_metrics.py): per-sample match values averaged
by MeanMetricWrapper, and Keras' rule for resolving "accuracy"/"acc"."""

from __future__ import annotations

import numpy as np

from ._metrics_base import Metric, same_rank, wrapper_class


def accuracy(y_true, y_pred):
    y_true, y_pred = same_rank(y_true.astype(y_pred.dtype), y_pred)
    return (y_true == y_pred).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1 where (y_pred > threshold) equals y_true; the comparison in y_pred's dtype."""
    y_true, y_pred = same_rank(y_true, y_pred)
    return (y_true == (y_pred > np.asarray(threshold, y_pred.dtype))).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    # The methods, not np.argmax: the same result without its wrapper's cost (every step).
    return (np.asarray(y_true).argmax(axis=-1) == np.asarray(y_pred).argmax(axis=-1)).astype(
        np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    y_true = y_true.astype(y_pred.dtype)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_true == np.argmax(y_pred, axis=-1)).astype(np.float32)


def _in_top_k(targets: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Keras' ops.in_top_k: the target's score is >= the k-th largest score (ties count).
    k beyond the class count means every class (where torch.topk would fail)."""
    pred = y_pred.reshape(-1, y_pred.shape[-1])
    k = min(int(k), pred.shape[-1])
    kth = -np.partition(-pred, k - 1, axis=-1)[:, k - 1]
    t = targets.reshape(-1).astype(np.int64)
    return np.take_along_axis(pred, t[:, None], axis=-1)[:, 0] >= kth


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    targets = np.argmax(y_true, axis=-1)
    return _in_top_k(targets, y_pred, k).astype(np.float32).reshape(targets.shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """`from_sorted_ids`: y_pred holds class ids sorted by score (the top-k ids first), as
    Keras' argument says; a match is the label among the first k."""
    shape = y_true.shape
    if from_sorted_ids:
        t = y_true.astype(y_pred.dtype).reshape(-1)
        pred = y_pred.reshape(-1, y_pred.shape[-1])
        matches = np.any(t[:, None] == pred[:, :k], axis=1)
    else:
        matches = _in_top_k(y_true.astype(np.int32), y_pred, k)
    return matches.astype(np.float32).reshape(shape)


Accuracy = wrapper_class(accuracy, "Accuracy", "accuracy", "up")
BinaryAccuracy = wrapper_class(binary_accuracy, "BinaryAccuracy", "binary_accuracy", "up",
                               "name, dtype, threshold")
CategoricalAccuracy = wrapper_class(categorical_accuracy, "CategoricalAccuracy",
                                    "categorical_accuracy", "up")
SparseCategoricalAccuracy = wrapper_class(sparse_categorical_accuracy,
                                          "SparseCategoricalAccuracy",
                                          "sparse_categorical_accuracy", "up")
TopKCategoricalAccuracy = wrapper_class(top_k_categorical_accuracy, "TopKCategoricalAccuracy",
                                        "top_k_categorical_accuracy", "up", "k, name, dtype")
SparseTopKCategoricalAccuracy = wrapper_class(
    sparse_top_k_categorical_accuracy, "SparseTopKCategoricalAccuracy",
    "sparse_top_k_categorical_accuracy", "up", "k, name, dtype, from_sorted_ids",
    omit=("from_sorted_ids",))

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
