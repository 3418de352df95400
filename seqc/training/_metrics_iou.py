"""Intersection-over-union metrics (keras/src/metrics/iou_metrics.py): a running confusion
matrix of class ids, IoU = tp / (tp + fp + fn) per target class, averaged over the classes
that occurred.

As in Keras, the matrix has an integer dtype by default (`dtype=None`): class ids and sample
weights are truncated to integers (Keras warns about float weights, and so does seqc when the
truncation changes one); `dtype="float32"` keeps fractional weights.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import DefinitionError
from ._metrics_base import EPSILON, Metric

_INT_DTYPES = (None, "int", "int32", "int64")


class _IoUBase(Metric):
    dtypes = (*_INT_DTYPES, "float32")
    default_dtype = "int32"

    def __init__(self, num_classes: int, name: str | None = None, dtype: Any = None,
                 ignore_class: int | None = None, sparse_y_true: bool = True,
                 sparse_y_pred: bool = True, axis: int = -1) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise DefinitionError(f"{type(self).__name__}: num_classes must be a positive "
                                  "integer", field="num_classes",
                                  received=f"num_classes={num_classes!r}")
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        super().__init__(name, dtype)

    def reset_state(self) -> None:
        self.total_cm = np.zeros((self.num_classes, self.num_classes))

    def _ids(self, y: Any, sparse: bool) -> np.ndarray:
        y = np.asarray(y)
        if not sparse:
            y = np.argmax(y, axis=self.axis)
        # Keras casts to the metric's dtype: an integer one truncates toward zero.
        return np.trunc(y.astype(np.float64)) if self.dtype in _INT_DTYPES else y

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true = self._ids(y_true, self.sparse_y_true)
        y_pred = self._ids(y_pred, self.sparse_y_pred)
        shape = y_true.shape
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
        if y_true.shape != y_pred.shape:
            raise DefinitionError(f"{type(self).__name__} needs as many predicted class ids as "
                                  "labels", field="metrics",
                                  received=f"{y_true.size} labels, {y_pred.size} predictions")
        if sample_weight is None:
            w = np.ones(y_true.shape)
        else:
            w = np.asarray(sample_weight, np.float64)
            if w.ndim == 1 and len(shape) > 1 and w.shape[0] == shape[0]:
                w = np.broadcast_to(w.reshape(-1, *([1] * (len(shape) - 1))), shape)
            w = np.broadcast_to(w.reshape(-1) if w.ndim > 1 else w, y_true.shape)
            if self.dtype in _INT_DTYPES and np.any(w != np.trunc(w)):
                warnings.warn("You are passing weight as `float`, but dtype is `int`. This may "
                              "result in an incorrect weight due to type casting Consider "
                              "using integer weights.", stacklevel=2)
                w = np.trunc(w)
        n = self.num_classes
        ok = (y_true >= 0) & (y_true < n) & (y_pred >= 0) & (y_pred < n)
        if self.ignore_class is not None:
            ok &= y_true != self.ignore_class
        t = np.where(ok, y_true, 0).astype(np.int64)
        p = np.where(ok, y_pred, 0).astype(np.int64)
        self.total_cm += np.bincount(t * n + p, np.where(ok, w, 0.0),
                                     minlength=n * n).reshape(n, n)

    def _iou(self, target_class_ids: list[int]) -> float:
        cm = self.total_cm
        tp = np.diag(cm)
        denom = (cm.sum(axis=0) + cm.sum(axis=1) - tp)[target_class_ids]
        tp = tp[target_class_ids]
        valid = denom > 1e-9
        iou = np.where(valid, tp / (denom + EPSILON), 0.0)
        return float(np.sum(iou) / (np.sum(valid) + EPSILON))


class IoU(_IoUBase):
    """IoU averaged over `target_class_ids` (the classes among them that occurred)."""

    default_name = "io_u"

    def __init__(self, num_classes: int, target_class_ids: Any, name: str | None = None,
                 dtype: Any = None, ignore_class: int | None = None, sparse_y_true: bool = True,
                 sparse_y_pred: bool = True, axis: int = -1) -> None:
        ids = [int(i) for i in target_class_ids]
        if not ids or max(ids) >= num_classes or min(ids) < 0:
            raise DefinitionError(f"{type(self).__name__}: target class ids must be in "
                                  f"[0, {num_classes})", field="target_class_ids",
                                  received=f"target_class_ids={list(target_class_ids)!r}")
        self.target_class_ids = ids
        super().__init__(num_classes, name, dtype, ignore_class, sparse_y_true, sparse_y_pred,
                         axis)
        self._keep(num_classes=num_classes, target_class_ids=ids, ignore_class=ignore_class,
                   sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def result(self) -> float:
        return self._iou(self.target_class_ids)


class BinaryIoU(IoU):
    """IoU of a binary segmentation: a prediction is class 1 when >= `threshold`."""

    default_name = "binary_io_u"

    def __init__(self, target_class_ids: Any = (0, 1), threshold: float = 0.5,
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(2, target_class_ids, name, dtype)
        self.threshold = threshold
        self._config = {"target_class_ids": self.target_class_ids, "threshold": threshold}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = np.asarray(y_pred, np.float32) >= np.float32(self.threshold)
        super().update_state(y_true, y_pred.astype(np.float64), sample_weight)


class MeanIoU(IoU):
    """IoU averaged over all `num_classes` classes that occurred."""

    default_name = "mean_io_u"

    def __init__(self, num_classes: int, name: str | None = None, dtype: Any = None,
                 ignore_class: int | None = None, sparse_y_true: bool = True,
                 sparse_y_pred: bool = True, axis: int = -1) -> None:
        super().__init__(num_classes, list(range(num_classes)), name, dtype, ignore_class,
                         sparse_y_true, sparse_y_pred, axis)
        self._config.pop("target_class_ids")


class OneHotIoU(IoU):
    """IoU with one-hot labels (and, unless `sparse_y_pred`, class scores)."""

    default_name = "one_hot_io_u"

    def __init__(self, num_classes: int, target_class_ids: Any, name: str | None = None,
                 dtype: Any = None, ignore_class: int | None = None, sparse_y_pred: bool = False,
                 axis: int = -1) -> None:
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False,
                         sparse_y_pred, axis)
        self._config.pop("sparse_y_true")


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot labels (and, unless `sparse_y_pred`, class scores)."""

    default_name = "one_hot_mean_io_u"

    def __init__(self, num_classes: int, name: str | None = None, dtype: Any = None,
                 ignore_class: int | None = None, sparse_y_pred: bool = False,
                 axis: int = -1) -> None:
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)
        self._config.pop("sparse_y_true")
