"""F-scores (keras/src/metrics/f_score_metrics.py): running per-class (or, with
average="micro", overall) true positive, false positive and false negative weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DefinitionError
from ._metrics_base import EPSILON, Metric, check_choice


class FBetaScore(Metric):
    """(1 + beta^2) * precision * recall / (beta^2 * precision + recall), per class, then
    averaged: None (one value per class), "micro", "macro" or "weighted" (by label support).
    A prediction is positive when > `threshold`; without one, the top score of each row is
    (if it is not 0). Inputs are (batch, classes)."""

    default_name = "fbeta_score"

    def __init__(self, average: str | None = None, beta: float = 1.0,
                 threshold: float | None = None, name: str = "fbeta_score",
                 dtype: Any = None) -> None:
        owner = type(self).__name__
        check_choice(owner, "average", average, (None, "micro", "macro", "weighted"))
        if not isinstance(beta, float) or beta <= 0.0:
            raise DefinitionError(f"{owner}: beta must be a Python float > 0", field="beta",
                                  received=f"beta={beta!r}")
        if threshold is not None and (not isinstance(threshold, float)
                                      or not 0.0 < threshold <= 1.0):
            raise DefinitionError(f"{owner}: threshold must be a Python float in (0, 1]",
                                  field="threshold", received=f"threshold={threshold!r}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self._keep(average=average, beta=beta, threshold=threshold)
        super().__init__(name, dtype)

    @property
    def vector_valued(self) -> bool:
        return self.average is None

    def reset_state(self) -> None:
        self.tp = self.fp = self.fn = self.weights = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true = np.asarray(y_true, np.float32)
        y_pred = np.asarray(y_pred, np.float32)
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise DefinitionError(
                f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim)",
                field="metrics", received=f"y_true.shape={y_true.shape}, "
                                          f"y_pred.shape={y_pred.shape}")
        if self.threshold is None:
            pos = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            pos = y_pred > np.float32(self.threshold)
        p = pos.astype(np.float64)
        t = y_true.astype(np.float64)
        sw = None if sample_weight is None else \
            np.asarray(sample_weight, np.float64).reshape(-1)[:, None]
        axis = None if self.average == "micro" else 0

        def wsum(v: np.ndarray) -> np.ndarray:
            return np.sum(v if sw is None else v * sw, axis=axis)

        parts = (wsum(p * t), wsum(p * (1 - t)), wsum((1 - p) * t), wsum(t))
        if self.tp is None:
            self.tp, self.fp, self.fn, self.weights = parts
        else:
            self.tp, self.fp, self.fn, self.weights = (
                a + b for a, b in zip((self.tp, self.fp, self.fn, self.weights), parts))

    def result(self) -> Any:
        if self.tp is None:
            return 0.0
        precision = self.tp / (self.tp + self.fp + EPSILON)
        recall = self.tp / (self.tp + self.fn + EPSILON)
        b2 = self.beta ** 2
        f = precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)
        if self.average == "weighted":
            return float(np.sum(f * self.weights / (np.sum(self.weights) + EPSILON)))
        if self.average is not None:
            return float(np.mean(f))
        return np.asarray(f)


class F1Score(FBetaScore):
    """FBetaScore with beta = 1."""

    default_name = "f1_score"

    def __init__(self, average: str | None = None, threshold: float | None = None,
                 name: str = "f1_score", dtype: Any = None) -> None:
        super().__init__(average, 1.0, threshold, name, dtype)
        self._config.pop("beta")
