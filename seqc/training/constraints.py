"""Keras 3's weight constraints (keras/src/constraints/constraints.py): a projection applied to
a trainable weight right after each optimizer update (after the EMA update, as Keras'
`BaseOptimizer.apply` does), never to a frozen layer's weights.

    MaxNorm(max_value=2, axis=0):  w * clip(n, 0, max_value) / (eps + n)
    MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0):
        w * (rate * clip(n, min_value, max_value) + (1 - rate) * n) / (eps + n)
    UnitNorm(axis=0):  w / (eps + n)        NonNeg():  max(w, 0)
with n = sqrt(sum(w**2, axis, keepdims)) and eps = 1e-7 (keras.backend.epsilon()).

>>> MaxNorm(1.0)(np.array([[3.0], [4.0]], np.float32)).round(3).tolist()
[[0.6], [0.8]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DefinitionError
from .args import float_arg
from .regularizers import KerasObject, resolve

EPSILON = 1e-7


class Constraint(KerasObject):
    """`c(w) -> projected w` (same shape and dtype)."""

    keras_module = "keras.constraints"

    def __call__(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def validate(self, shape: tuple[int, ...], field: str) -> None:
        """Raise DefinitionError (naming `field`) when a weight of `shape` cannot take it."""


def _axis(axis: Any) -> int | tuple[int, ...]:
    if isinstance(axis, (list, tuple)):
        if not axis or any(isinstance(a, bool) or not isinstance(a, (int, np.integer))
                           for a in axis):
            raise DefinitionError("'axis' must be an integer or a list of integers",
                                  field="axis", received=f"axis={axis!r}")
        return tuple(int(a) for a in axis)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise DefinitionError("'axis' must be an integer or a list of integers", field="axis",
                              received=f"axis={axis!r}")
    return int(axis)


def _json_axis(axis: int | tuple[int, ...]) -> int | list[int]:
    return list(axis) if isinstance(axis, tuple) else axis


def _number(value: Any, name: str) -> int | float:
    float_arg(value, name)
    return value  # kept as given: Keras' get_config returns the int 2 as 2


class _Norm(Constraint):
    def __init__(self, axis: Any = 0):
        self.axis = _axis(axis)

    def validate(self, shape: tuple[int, ...], field: str) -> None:
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        r = len(shape)
        if any(not -r <= a < r for a in axes):
            raise DefinitionError(
                f"the constraint's axis is out of range for a weight of rank {r}", field=field,
                received=f"{field}.axis={_json_axis(self.axis)}, weight shape {tuple(shape)}")

    def _norms(self, w: np.ndarray) -> np.ndarray:
        return np.sqrt(np.square(w).sum(axis=self.axis, keepdims=True))

    def _scale(self, w: np.ndarray, desired: Any, norms: np.ndarray) -> np.ndarray:
        return (w * (desired / (EPSILON + norms))).astype(w.dtype)


class MaxNorm(_Norm):
    def __init__(self, max_value: float = 2, axis: Any = 0):
        super().__init__(axis)
        self.max_value = _number(max_value, "max_value")

    def __call__(self, w: np.ndarray) -> np.ndarray:
        w64 = np.asarray(w, np.float64)
        norms = self._norms(w64)
        return self._scale(w, np.clip(norms, 0, self.max_value), norms)

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": _json_axis(self.axis)}


class MinMaxNorm(_Norm):
    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: Any = 0):
        super().__init__(axis)
        self.min_value = _number(min_value, "min_value")
        self.max_value = _number(max_value, "max_value")
        self.rate = _number(rate, "rate")

    def __call__(self, w: np.ndarray) -> np.ndarray:
        norms = self._norms(np.asarray(w, np.float64))
        desired = (self.rate * np.clip(norms, self.min_value, self.max_value)
                   + (1 - self.rate) * norms)
        return self._scale(w, desired, norms)

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": _json_axis(self.axis)}


class UnitNorm(_Norm):
    def __call__(self, w: np.ndarray) -> np.ndarray:
        norms = self._norms(np.asarray(w, np.float64))
        return self._scale(w, 1.0, norms)

    def get_config(self) -> dict:
        return {"axis": _json_axis(self.axis)}


class NonNeg(Constraint):
    def __call__(self, w: np.ndarray) -> np.ndarray:
        return np.maximum(w, 0).astype(w.dtype)


CLASSES: dict[str, type[Constraint]] = {
    cls.__name__: cls for cls in (MaxNorm, MinMaxNorm, NonNeg, UnitNorm)}
# Keras' ALL_OBJECTS_DICT: class names and their snake-case names.
NAMES: dict[str, Any] = {**CLASSES, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm,
                         "non_neg": NonNeg, "unit_norm": UnitNorm}


def get(spec: Any, field: str = "constraint") -> Constraint | None:
    """A Constraint from a name ("non_neg"), `{"type": "max_norm", "max_value": 3}`, Keras'
    serialized `{"class_name": "MaxNorm", "config": {...}}`, an instance, or None."""
    return resolve(spec, field, "constraint", CLASSES, NAMES, Constraint)


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get", "max_norm",
           "min_max_norm", "non_neg", "unit_norm"]
