"""Keras 3's weight regularizers (keras/src/regularizers/regularizers.py): a penalty computed
from a tensor and added to the training loss, with its gradient.

    L1(l1=0.01):   l1 * sum(|x|)               L2(l2=0.01): l2 * sum(x**2)
    L1L2(l1=0, l2=0): both (a zero factor adds nothing)
    OrthogonalRegularizer(factor=0.01, mode="rows"): factor * 0.5 * sum|N N^T off-diagonal|
        / (n (n - 1) / 2), N the L2-normalised rows (or columns) of a rank-2 tensor

Where they act (seqc.training.penalties): `<x>_regularizer` on the weights a layer declares
(`OpDef.weight_args`), only while the layer is trainable (Keras sums the regularizers of
`trainable_weights`); `activity_regularizer` on a layer's output, divided by the batch size.

>>> L2(0.5)(np.ones((2, 2), np.float32))
2.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import split_spec
from ..errors import DefinitionError, did_you_mean
from .args import construct, float_arg

EPSILON = 1e-7  # keras.backend.epsilon(), the floor of OrthogonalRegularizer's normalisation


class KerasObject:
    """What regularizers and constraints share: Keras' serialized form, equality by config."""

    keras_module = ""  # "keras.regularizers" / "keras.constraints"

    def get_config(self) -> dict:
        raise NotImplementedError

    def keras_config(self) -> dict:
        """Keras 3's serialized form (what `keras.<module>.serialize` writes)."""
        return {"module": self.keras_module, "class_name": type(self).__name__,
                "config": self.get_config(), "registered_name": None}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Regularizer(KerasObject):
    """A penalty: `reg(x) -> float` and `reg.grad(x) -> d penalty / d x`."""

    keras_module = "keras.regularizers"

    def __call__(self, x: np.ndarray) -> float:
        raise NotImplementedError

    def grad(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    def validate(self, shape: tuple[int, ...], field: str) -> None:
        """Raise DefinitionError (naming `field`) when a weight of `shape` cannot take it."""


def _factor(value: Any, name: str, default: float) -> float:
    # Keras: None means the default; a factor must be a finite non-negative number.
    value = default if value is None else value
    value = float_arg(value, name, lo=0.0)
    if not np.isfinite(value):
        raise DefinitionError(f"'{name}' must be a finite non-negative number", field=name,
                              received=f"{name}={value!r}")
    return value


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x**2). Keras 3 defaults both factors to 0."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor(l1, "l1", 0.0)
        self.l2 = _factor(l2, "l2", 0.0)

    def __call__(self, x: np.ndarray) -> float:
        x = np.asarray(x, np.float64)
        out = 0.0
        if self.l1:
            out += self.l1 * float(np.abs(x).sum())
        if self.l2:
            out += self.l2 * float(np.square(x).sum())
        return out

    def grad(self, x: np.ndarray) -> np.ndarray:
        g = np.zeros(np.shape(x), np.float64)
        if self.l1:
            g += self.l1 * np.sign(x)  # |x|' at 0 is 0, as torch and TensorFlow take it
        if self.l2:
            g += 2.0 * self.l2 * np.asarray(x, np.float64)
        return g.astype(np.asarray(x).dtype)

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 * sum(|x|)."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=_factor(l1, "l1", 0.01))

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    """l2 * sum(x**2)."""

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=_factor(l2, "l2", 0.01))

    def get_config(self) -> dict:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Keeps the rows (or columns) of a rank-2 weight near-orthogonal."""

    def __init__(self, factor: float = 0.01, mode: str = "rows"):
        self.factor = _factor(factor, "factor", 0.01)
        if mode not in ("rows", "columns"):
            raise DefinitionError("'mode' must be one of 'rows', 'columns'", field="mode",
                                  received=f"mode={mode!r}")
        self.mode = mode

    def validate(self, shape: tuple[int, ...], field: str) -> None:
        if len(shape) != 2:
            raise DefinitionError(
                "OrthogonalRegularizer needs a rank-2 weight (a Dense kernel)", field=field,
                received=f"{field}=OrthogonalRegularizer on a weight of shape {tuple(shape)}")

    def _rows(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return x if self.mode == "rows" else x.T

    def _parts(self, x: np.ndarray):
        v = self._rows(x)
        # keras.ops.normalize(order=2): x * min(rsqrt(sum(x**2)), 1 / epsilon).
        ss = np.square(v).sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            raw = 1.0 / np.sqrt(ss)
        inv = np.minimum(raw, 1.0 / EPSILON)
        n = v * inv
        size = v.shape[0]
        off = 1.0 - np.eye(size)
        coef = self.factor * 0.5 / (size * (size - 1.0) / 2.0)
        return v, inv, raw <= 1.0 / EPSILON, n, (n @ n.T) * off, off, coef

    def __call__(self, x: np.ndarray) -> float:
        *_, p, _, coef = self._parts(x)
        return float(coef * np.abs(p).sum())

    def grad(self, x: np.ndarray) -> np.ndarray:
        v, inv, live, n, p, off, coef = self._parts(x)
        gp = coef * np.sign(p) * off
        dn = (gp + gp.T) @ n
        # Through n = v * r with r = ss**-1/2 (dr/dv = -v r**3) where the floor is not hit.
        dv = dn * inv - np.where(live, v * inv ** 3 * (dn * v).sum(axis=1, keepdims=True), 0.0)
        out = dv if self.mode == "rows" else dv.T
        return out.astype(np.asarray(x).dtype)

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


CLASSES: dict[str, type[Regularizer]] = {
    cls.__name__: cls for cls in (L1, L2, L1L2, OrthogonalRegularizer)}
# Keras' ALL_OBJECTS_DICT also holds each class under its snake-case name ("l1l2" is L1L2()
# with both factors 0); `keras.regularizers.l1_l2` is the L1L2 class too.
NAMES: dict[str, type[Regularizer]] = {
    **CLASSES, "l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": L1L2,
    "orthogonal_regularizer": OrthogonalRegularizer}


def is_custom(spec: Any) -> bool:
    """A serialized object Keras registered from user code (`Custom>Name`, a non-keras
    module): seqc has no code for it."""
    if not isinstance(spec, dict):
        return False
    reg = spec.get("registered_name")
    module = spec.get("module")
    return (isinstance(reg, str) and ">" in reg) or (
        isinstance(module, str) and not module.startswith(("keras", "tensorflow", "tf_keras")))


def resolve(spec: Any, field: str, what: str, classes: dict, names: dict,
            base: type) -> Any:
    """`get` for regularizers and constraints: an instance, a name, `{"type": name, **args}`
    or Keras' `{"class_name", "config"}`; errors name the layer argument `field`."""
    if spec is None or isinstance(spec, base):
        return spec
    if not isinstance(spec, (str, dict)):
        raise DefinitionError(f"'{field}' must be a {what} name or {{\"type\": name, ...}}",
                              field=field, received=f"{field}={spec!r}")
    name, kwargs = split_spec(spec)
    if is_custom(spec):
        raise DefinitionError(
            f"'{field}' is a custom {what} ({name!r}); seqc has no code for it and never runs "
            "code from a model file", field=field, received=f"{field}={_short(spec)}",
            hint=f"use one of Keras' built-in {what}s: {', '.join(classes)}")
    if isinstance(name, str) and name not in names:
        raise DefinitionError(
            f"unknown {what} '{name}' (a custom class seqc has no code for, or a typo)",
            field=field, received=f"{field}={_short(spec)}",
            hint=did_you_mean(name, names)
            or f"use one of Keras' built-in {what}s: {', '.join(classes)}")
    if not isinstance(name, str):
        raise DefinitionError(f"'{field}' needs a \"type\" (or \"class_name\")", field=field,
                              received=f"{field}={_short(spec)}")
    try:
        return construct(names[name], kwargs, what)
    except DefinitionError as e:
        e.field = f"{field}.{e.field}" if e.field else field
        raise


def _short(spec: Any) -> str:
    text = repr(spec)
    return text if len(text) <= 120 else text[:117] + "..."


def get(spec: Any, field: str = "regularizer") -> Regularizer | None:
    """A Regularizer from a name ("l2"), `{"type": "l2", "l2": 0.001}`, Keras' serialized
    `{"class_name": "L2", "config": {"l2": 0.001}}`, an instance, or None."""
    if spec == "l1_l2":
        # tf.keras' string identifier (its deserialize special-cases it): 0.01 each.
        return L1L2(0.01, 0.01)
    return resolve(spec, field, "regularizer", CLASSES, NAMES, Regularizer)


def l1(l1: float = 0.01) -> L1:  # noqa: E743 - Keras' own spelling
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    return L2(l2)


def l1_l2(l1: float = 0.0, l2: float = 0.0) -> L1L2:
    """Keras 3's `keras.regularizers.l1_l2` is the L1L2 class (both factors default to 0)."""
    return L1L2(l1, l2)


__all__ = ["L1", "L1L2", "L2", "OrthogonalRegularizer", "Regularizer", "get", "l1", "l1_l2",
           "l2"]
