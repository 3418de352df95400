"""Losses with Keras 3's formulas, clipping and reduction, and their gradients w.r.t. y_pred.

Per sample: mean over the last axis of an element loss (crossentropies: sum over the class
axis); then Keras' `reduce_weighted_values`: loss = sum(values * sample_weight) / values.size
("sum_over_batch_size"). Probabilities are clipped to [eps, 1 - eps] (eps = 1e-7) in the input
dtype before the log, as Keras' torch backend does, so float32 values match Keras to ~1e-7.

    >>> import numpy as np, seqc
    >>> bce = seqc.losses.BinaryCrossentropy()
    >>> round(bce(np.array([[1.0], [0.0]]), np.array([[0.9], [0.2]])), 6)
    0.164252
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..config import split_spec
from ..errors import DataError, DefinitionError, UsageError, did_you_mean

EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
F64 = np.float64

# A loss facet returns per-sample values and a function mapping d(total)/d(values) to
# d(total)/d(y_pred); both in float64.
Back = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------- shape helpers (Keras' rules)


def squeeze_or_expand_to_same_rank(x1: np.ndarray, x2: np.ndarray, expand_rank_1: bool = True):
    """keras.src.losses.loss.squeeze_or_expand_to_same_rank, on NumPy arrays."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _sum_to_shape(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo broadcasting: sum `a` down to `shape` (the adjoint of np.broadcast_to)."""
    lead = a.ndim - len(shape)
    if lead:
        a = a.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and a.shape[i] != 1)
    return a.sum(axis=axes, keepdims=True) if axes else a


def _clip_bounds(dtype: np.dtype) -> tuple[Any, Any]:
    # Keras clips in the tensor's dtype: in float32, 1 - 1e-7 rounds to 0.99999988, and
    # log(1 - 0.99999988) differs from log(1e-7) by 0.18, so the bounds must be float32 too.
    eps = np.asarray(EPSILON, dtype)
    return eps, np.asarray(1, dtype) - eps


def _clip(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clipped probabilities (float64) and the mask where the clip passes gradients
    (torch.clamp's backward: min <= p <= max, inclusive)."""
    lo, hi = _clip_bounds(p.dtype)
    mask = (p >= lo) & (p <= hi)
    return np.clip(p, lo, hi).astype(F64), mask


def _axis(axis: int, ndim: int, field: str = "axis") -> int:
    if not -ndim <= axis < ndim:
        raise DataError(f"loss axis {axis} is outside y_pred's {ndim} axes", field=field,
                        received=f"axis={axis}, y_pred rank {ndim}")
    return axis % ndim


def _same_shape(yt: np.ndarray, yp: np.ndarray, loss: str) -> None:
    if yt.shape != yp.shape:
        raise DataError(
            f"{loss}: y_true and y_pred must have the same shape",
            field="y", received=f"y_true shape {yt.shape}, y_pred shape {yp.shape}",
            hint="for integer class labels use sparse_categorical_crossentropy; for one "
                 "output unit pass y as shape (N,) or (N, 1)")


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# ---------------------------------------------------------------- the base class


class Loss:
    """Base class: subclasses define `_values(y_true, y_pred)` -> (per-sample values, back).

    `name` is the canonical snake_case function name ("binary_crossentropy"); Keras' `name=`
    argument (a display name) is kept in `display_name` and in `get_config()`.
    """

    name: ClassVar[str]
    default_display_name: ClassVar[str]
    # The y_true dtype the loss works on: sparse losses take integer class ids.
    sparse: ClassVar[bool] = False

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None):
        if reduction not in REDUCTIONS:
            raise DefinitionError(
                f"invalid loss reduction; expected one of {', '.join(map(str, REDUCTIONS))}",
                field="reduction", received=f"reduction={reduction!r}",
                hint=did_you_mean(str(reduction), [r for r in REDUCTIONS if r]))
        if name is not None and not isinstance(name, str):
            raise DefinitionError("loss name must be a string", field="name",
                                  received=f"name={name!r}")
        self.reduction = reduction
        self.display_name = name or self.default_display_name

    # -- subclasses --
    def _values(self, yt: np.ndarray, yp: np.ndarray) -> tuple[np.ndarray, Back]:
        raise NotImplementedError

    def _kwargs(self) -> dict:
        return {}

    def _fused(self, activation: str, yt: np.ndarray, yp: np.ndarray):
        """(per-sample values, back to the pre-activation logits), or None."""
        return None

    # -- public API --
    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        yt, yp = self._prepare(y_true, y_pred)
        values, _ = self._values(yt, yp)
        if self.reduction in (None, "none"):
            return self._weighted_unreduced(values, sample_weight)
        loss, _ = _reduce(values, sample_weight, self._mask(yt, yp), self.reduction, False)
        return loss

    def grad(self, y_true, y_pred, sample_weight=None) -> np.ndarray:
        """d(reduced loss)/d(y_pred), shaped and typed like y_pred."""
        return self.value_and_grad(y_true, y_pred, sample_weight)[1]

    def value_and_grad(self, y_true, y_pred, sample_weight=None) -> tuple[float, np.ndarray]:
        """The loss and its gradient in one pass (what a training step needs)."""
        self._check_reducing()
        y_pred = _as_pred(y_pred)
        yt, yp = self._prepare(y_true, y_pred)
        values, back = self._values(yt, yp)
        loss, dv = _reduce(values, sample_weight, self._mask(yt, yp), self.reduction, True)
        return loss, back(dv).reshape(y_pred.shape).astype(y_pred.dtype, copy=False)

    def fused_grad(self, activation: str, y_true, y_pred, sample_weight=None):
        """Gradient w.r.t. the logits before a final `activation` whose output is `y_pred`,
        in the stable `p - y` form, or None when this loss does not fuse with it."""
        out = self.value_and_fused_grad(activation, y_true, y_pred, sample_weight)
        return None if out is None else out[1]

    def value_and_fused_grad(self, activation: str, y_true, y_pred, sample_weight=None):
        """(loss, fused gradient) or None; the loss value is Keras' clipped one."""
        if not isinstance(activation, str):
            return None
        self._check_reducing()
        y_pred = _as_pred(y_pred)
        yt, yp = self._prepare(y_true, y_pred)
        fused = self._fused(activation, yt, yp)
        if fused is None:
            return None
        values, back = self._values(yt, yp)[0], fused
        loss, dv = _reduce(values, sample_weight, self._mask(yt, yp), self.reduction, True)
        return loss, back(dv).reshape(y_pred.shape).astype(y_pred.dtype, copy=False)

    def get_config(self) -> dict:
        return {"type": type(self).__name__, **self._kwargs(), "reduction": self.reduction,
                "name": self.display_name}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs().items())
        return f"{type(self).__name__}({args})"

    # -- internals --
    def _check_reducing(self) -> None:
        if self.reduction in (None, "none"):
            raise UsageError("a loss with reduction=None has no scalar value to differentiate",
                             field="reduction", received="reduction=None",
                             hint="use reduction='sum_over_batch_size' for training")

    def _prepare(self, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
        yp = _as_pred(y_pred)
        yt = np.asarray(y_true)
        if not self.sparse:
            if not (np.issubdtype(yt.dtype, np.number) or yt.dtype == bool):
                raise DataError(f"{self.name}: y_true must be numeric", field="y",
                                received=f"dtype {yt.dtype}")
            # Keras casts y_true to y_pred's dtype before anything else.
            yt = yt.astype(yp.dtype, copy=False)
        # LossFunctionWrapper.call aligns ranks (e.g. y_true (N,) with y_pred (N, 1)).
        return squeeze_or_expand_to_same_rank(yt, yp)

    def _mask(self, yt: np.ndarray, yp: np.ndarray) -> np.ndarray | None:
        return None

    def _weighted_unreduced(self, values, sample_weight):
        if sample_weight is None:
            return values
        v, sw = _align_weights(values, _as_weights(sample_weight))
        return v * sw


def _as_pred(y_pred) -> np.ndarray:
    yp = np.asarray(y_pred)
    if not np.issubdtype(yp.dtype, np.floating):
        if not np.issubdtype(yp.dtype, np.number):
            raise DataError("y_pred must be numeric", field="y_pred", received=f"dtype {yp.dtype}")
        yp = yp.astype(np.float32)
    return yp


def _as_weights(sample_weight) -> np.ndarray:
    sw = np.asarray(sample_weight)
    if not np.issubdtype(sw.dtype, np.number) and sw.dtype != bool:
        raise DataError("sample_weight must be numeric", field="sample_weight",
                        received=f"dtype {sw.dtype}")
    return sw.astype(F64)


def _align_weights(values: np.ndarray, sw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v, w = squeeze_or_expand_to_same_rank(values, sw)
    # Keras would broadcast per-sample weights (N,) against per-timestep values (N, T) along
    # the wrong axis (or fail); weight each sample instead, which is what (N,) weights mean.
    if w.ndim < v.ndim and w.shape == v.shape[: w.ndim]:
        w = w.reshape(w.shape + (1,) * (v.ndim - w.ndim))
    try:
        np.broadcast_shapes(v.shape, w.shape)
    except ValueError:
        raise DataError("sample_weight does not match the per-sample losses",
                        field="sample_weight",
                        received=f"sample_weight shape {sw.shape}, losses shape {values.shape}",
                        hint="pass one weight per sample, shape (N,)") from None
    return v, w


def _reduce(values: np.ndarray, sample_weight, mask: np.ndarray | None, reduction: str,
            need_grad: bool) -> tuple[float, np.ndarray | None]:
    """keras.src.losses.loss.reduce_weighted_values (+ apply_mask), and d(loss)/d(values)."""
    sw = None if sample_weight is None else _as_weights(sample_weight)
    if mask is not None:
        if reduction in ("mean", "sum_over_batch_size"):
            # Valid entries weigh total/valid, so the mean runs over valid entries only.
            valid = mask.sum()
            float_mask = np.where(mask, mask.size / valid if valid else 0.0, 0.0)
        else:
            float_mask = mask.astype(F64)
        if sw is not None:
            float_mask, sw = squeeze_or_expand_to_same_rank(float_mask, sw)
            sw = sw * float_mask
        else:
            sw = float_mask
    if values.size == 0:
        return 0.0, np.zeros_like(values) if need_grad else None
    if sw is not None:
        v, w = _align_weights(values, sw)
        weighted = v * w
    else:
        v, w, weighted = values, None, values
    total = float(weighted.sum())
    if reduction == "sum":
        divisor = 1.0
    elif reduction == "mean_with_sample_weight" and w is not None:
        divisor = float(w.sum())
    else:
        divisor = float(weighted.size)
    loss = total / divisor if divisor else 0.0  # Keras' divide_no_nan
    if not need_grad:
        return loss, None
    scale = 1.0 / divisor if divisor else 0.0
    if w is None:
        dv = np.full(v.shape, scale)
    else:
        dv = _sum_to_shape(np.broadcast_to(w * scale, weighted.shape), v.shape)
    return loss, np.ascontiguousarray(dv).reshape(values.shape)


def _float_arg(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise DefinitionError(f"'{name}' must be a number", field=name,
                              received=f"{name}={value!r}")
    value = float(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise DefinitionError(f"'{name}' must be in [{lo}, {hi if hi is not None else 'inf'}]",
                              field=name, received=f"{name}={value!r}")
    return value


def _int_arg(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DefinitionError(f"'{name}' must be an integer", field=name,
                              received=f"{name}={value!r}")
    return int(value)


def _bool_arg(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise DefinitionError(f"'{name}' must be true or false", field=name,
                              received=f"{name}={value!r}")
    return bool(value)


# ---------------------------------------------------------------- regression losses


class _Elementwise(Loss):
    """mean over the last axis of f(y_pred - y_true); subclasses give f and f'."""

    def _f(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _values(self, yt, yp):
        _same_shape(yt, yp, self.name)
        d = yp.astype(F64) - yt
        e, de = self._f(d)
        n = yp.shape[-1] if yp.ndim else 1
        values = e.mean(axis=-1) if yp.ndim else e
        return values, lambda dv: np.expand_dims(dv, -1) * de * (1.0 / n)


class MeanSquaredError(_Elementwise):
    """mean((y_true - y_pred)**2, axis=-1)."""

    name = "mean_squared_error"
    default_display_name = "mean_squared_error"

    def _f(self, d):
        return d * d, 2.0 * d


class MeanAbsoluteError(_Elementwise):
    """mean(|y_true - y_pred|, axis=-1); gradient sign(d), 0 at d = 0 as torch's abs."""

    name = "mean_absolute_error"
    default_display_name = "mean_absolute_error"

    def _f(self, d):
        return np.abs(d), np.sign(d)


class Huber(_Elementwise):
    """0.5 d**2 where |d| <= delta, else delta |d| - 0.5 delta**2; mean over the last axis."""

    name = "huber"
    default_display_name = "huber_loss"

    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.delta = _float_arg(delta, "delta", lo=0.0)

    def _kwargs(self):
        return {"delta": self.delta}

    def _f(self, d):
        a = np.abs(d)
        quad = a <= self.delta
        e = np.where(quad, 0.5 * d * d, self.delta * a - 0.5 * self.delta**2)
        return e, np.where(quad, d, self.delta * np.sign(d))


class LogCosh(_Elementwise):
    """mean(log(cosh(d)), axis=-1), computed as d + softplus(-2d) - log 2 (no overflow)."""

    name = "log_cosh"
    default_display_name = "log_cosh"

    def _f(self, d):
        return d + np.logaddexp(0.0, -2.0 * d) - np.log(2.0), np.tanh(d)


# ---------------------------------------------------------------- crossentropies


class _SmoothedCrossentropy(Loss):
    """The arguments binary and categorical crossentropy share (Keras' signatures)."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.from_logits = _bool_arg(from_logits, "from_logits")
        self.label_smoothing = _float_arg(label_smoothing, "label_smoothing", 0.0, 1.0)
        self.axis = _int_arg(axis, "axis")

    def _kwargs(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class BinaryCrossentropy(_SmoothedCrossentropy):
    """mean(-(y log p + (1 - y) log(1 - p)), axis); p clipped to [eps, 1 - eps]; labels
    smoothed to y (1 - s) + s / 2. With from_logits, the stable form on the logits x:
    max(x, 0) - x y + log(1 + exp(-|x|))."""

    name = "binary_crossentropy"
    default_display_name = "binary_crossentropy"

    def _targets(self, yt, yp):
        _same_shape(yt, yp, self.name)
        t = yt.astype(F64)
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return t

    def _values(self, yt, yp):
        t = self._targets(yt, yp)
        axis = _axis(self.axis, max(yp.ndim, 1))
        n = yp.shape[axis] if yp.ndim else 1
        if self.from_logits:
            x = yp.astype(F64)
            e = np.maximum(x, 0.0) - x * t + np.log1p(np.exp(-np.abs(x)))

            def de():
                return _sigmoid(x) - t
        else:
            p, ok = _clip(yp)
            e = -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p))

            def de():
                return np.where(ok, (p - t) / (p * (1.0 - p)), 0.0)
        values = e.mean(axis=axis) if yp.ndim else e
        return values, lambda dv: _expand(dv, axis, yp.ndim) * de() * (1.0 / n)

    def _fused(self, activation, yt, yp):
        if activation != "sigmoid" or self.from_logits:
            return None
        t = self._targets(yt, yp)
        axis = _axis(self.axis, max(yp.ndim, 1))
        n = yp.shape[axis] if yp.ndim else 1
        # d/dx of BCE(sigmoid(x)) = p - y: no division by p (1 - p), stable when saturated.
        return lambda dv: _expand(dv, axis, yp.ndim) * (yp.astype(F64) - t) * (1.0 / n)


def _expand(dv: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    return np.expand_dims(dv, axis) if ndim else dv


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """-sum(y log p, axis), p = clip(y_pred / sum(y_pred, axis)) as Keras' torch backend;
    labels smoothed to y (1 - s) + s / C. With from_logits, -sum(y log_softmax(x))."""

    name = "categorical_crossentropy"
    default_display_name = "categorical_crossentropy"

    def _targets(self, yt, yp) -> np.ndarray:
        _same_shape(yt, yp, self.name)
        if yp.ndim < 1:
            raise DataError(f"{self.name}: y_pred must have a class axis", field="y_pred",
                            received=f"shape {yp.shape}")
        t = yt.astype(F64)
        if self.label_smoothing:
            # Keras divides by the size of the LAST axis, whatever `axis` is.
            t = t * (1.0 - self.label_smoothing) + self.label_smoothing / yp.shape[-1]
        return t

    def _values(self, yt, yp):
        return _cce(self._targets(yt, yp), yp, _axis(self.axis, yp.ndim), self.from_logits)

    def _fused(self, activation, yt, yp):
        if activation != "softmax" or self.from_logits or _axis(self.axis, yp.ndim) != yp.ndim - 1:
            return None
        return _softmax_fused(self._targets(yt, yp), yp, yp.ndim - 1)


def _cce(t: np.ndarray, yp: np.ndarray, axis: int, from_logits: bool):
    if from_logits:
        x = yp.astype(F64)
        logp = _log_softmax(x, axis)
        values = -(t * logp).sum(axis=axis)

        def back(dv):
            # d/dx of -sum(t log_softmax(x)) = softmax(x) sum(t) - t
            return np.expand_dims(dv, axis) * (
                np.exp(logp) * t.sum(axis=axis, keepdims=True) - t)
        return values, back
    # Keras renormalises in the input dtype, then clips; the gradient chains through both.
    s = yp.sum(axis=axis, keepdims=True)
    q, ok = _clip(yp / s)
    values = -(t * np.log(q)).sum(axis=axis)

    def back(dv):
        g = np.where(ok, -t / q, 0.0)  # d/dq
        s64 = s.astype(F64)
        # q_i = p_i / S: dL/dp_j = (g_j - sum_i g_i q_i) / S, with q unclipped
        qn = yp.astype(F64) / s64
        return np.expand_dims(dv, axis) * (g - (g * qn).sum(axis=axis, keepdims=True)) / s64
    return values, back


def _softmax_fused(t: np.ndarray, yp: np.ndarray, axis: int) -> Back:
    p = yp.astype(F64)
    # d/dx of -sum(t log softmax(x)) = p sum(t) - t ( = p - t for one-hot or smoothed t)
    return lambda dv: np.expand_dims(dv, axis) * (p * t.sum(axis=axis, keepdims=True) - t)


class SparseCategoricalCrossentropy(Loss):
    """categorical_crossentropy with integer class ids: -log p[y]; y (N,) or (N, 1).
    Entries equal to `ignore_class` count neither in the sum nor in the mean."""

    name = "sparse_categorical_crossentropy"
    default_display_name = "sparse_categorical_crossentropy"
    sparse = True

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None,
                 reduction="sum_over_batch_size", axis: int = -1, name=None):
        super().__init__(reduction, name)
        self.from_logits = _bool_arg(from_logits, "from_logits")
        self.ignore_class = None if ignore_class is None else _int_arg(ignore_class,
                                                                       "ignore_class")
        self.axis = _int_arg(axis, "axis")

    def _kwargs(self):
        return {"from_logits": self.from_logits, "ignore_class": self.ignore_class,
                "axis": self.axis}

    def _prepare(self, y_true, y_pred):
        yp = _as_pred(y_pred)
        yt = np.asarray(y_true)
        if yt.dtype == bool or not np.issubdtype(yt.dtype, np.number):
            raise DataError(f"{self.name}: y_true must hold integer class ids", field="y",
                            received=f"dtype {yt.dtype}")
        if not np.issubdtype(yt.dtype, np.integer):
            if not np.all(np.isfinite(yt)) or np.any(yt != np.round(yt)):
                raise DataError(f"{self.name}: y_true must hold integer class ids", field="y",
                                received=f"non-integer values, e.g. {yt[yt != np.round(yt)][:3]}",
                                hint="for one-hot or soft labels use categorical_crossentropy")
            yt = yt.astype(np.int64)
        yt, yp = squeeze_or_expand_to_same_rank(yt, yp)
        if yp.ndim < 1:
            raise DataError(f"{self.name}: y_pred must have a class axis", field="y_pred",
                            received=f"shape {yp.shape}")
        axis = _axis(self.axis, yp.ndim)
        if yt.ndim == yp.ndim and yt.shape[axis] == 1:
            yt = np.squeeze(yt, axis=axis)
        expected = yp.shape[:axis] + yp.shape[axis + 1:]
        if yt.shape != expected:
            raise DataError(
                f"{self.name}: y_true must hold one class id per sample", field="y",
                received=f"y_true shape {yt.shape}, y_pred shape {yp.shape}",
                hint="for one-hot labels use categorical_crossentropy")
        n_classes = yp.shape[axis]
        ids = yt.astype(np.int64, copy=False)
        valid = None if self.ignore_class is None else ids != self.ignore_class
        checked = ids if valid is None else ids[valid]
        if checked.size and (checked.min() < 0 or checked.max() >= n_classes):
            bad = checked[(checked < 0) | (checked >= n_classes)]
            raise DataError(f"{self.name}: class ids must be in [0, {n_classes})", field="y",
                            received=f"class id {int(bad.flat[0])} with {n_classes} classes",
                            hint="the last layer needs one unit per class")
        # Ignored entries become -1: masked out of the loss, its mean and its gradient.
        return (ids if valid is None else np.where(valid, ids, -1)), yp

    def _onehot(self, ids: np.ndarray, yp: np.ndarray) -> np.ndarray:
        axis = _axis(self.axis, yp.ndim)
        t = np.zeros(yp.shape, F64)
        valid = ids >= 0
        np.put_along_axis(t, np.expand_dims(np.where(valid, ids, 0), axis),
                          np.expand_dims(valid.astype(F64), axis), axis=axis)
        return t

    def _mask(self, yt, yp):
        # _prepare marks ignored entries with id -1 (only when ignore_class is set).
        return None if self.ignore_class is None else yt >= 0

    def _values(self, yt, yp):
        axis = _axis(self.axis, yp.ndim)
        values, back = _cce(self._onehot(yt, yp), yp, axis, self.from_logits)
        if self.ignore_class is not None:
            values = np.where(yt >= 0, values, 0.0)
        return values, back

    def _fused(self, activation, yt, yp):
        if activation != "softmax" or self.from_logits or _axis(self.axis, yp.ndim) != yp.ndim - 1:
            return None
        return _softmax_fused(self._onehot(yt, yp), yp, yp.ndim - 1)


# ---------------------------------------------------------------- lookup


LOSSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
                MeanSquaredError, MeanAbsoluteError, Huber, LogCosh)
}
# Keras' ALL_OBJECTS_DICT: class names, function names and the short aliases it accepts.
NAMES: dict[str, type[Loss]] = {
    **LOSSES,
    **{cls.name: cls for cls in LOSSES.values()},
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
}


def get(spec: Any) -> Loss:
    """A loss from a name ("mse", "BinaryCrossentropy"), a `{"type": name, **kwargs}` dict,
    a Keras-serialized `{"class_name": ..., "config": {...}}` dict, or a Loss instance."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, (str, dict)):
        name, kwargs = split_spec(spec)
    else:
        raise DefinitionError("a loss must be a name or {\"type\": name, ...}", field="loss",
                              received=f"loss={spec!r}")
    if not isinstance(name, str) or name not in NAMES:
        raise DefinitionError(
            f"unknown loss '{name}'", field="loss", received=f"loss={spec!r}",
            hint=did_you_mean(str(name), NAMES)
            or f"valid losses: {', '.join(sorted(cls.name for cls in LOSSES.values()))}")
    return construct(NAMES[name], kwargs, "loss")


def construct(cls: type, kwargs: dict, what: str) -> Any:
    """cls(**kwargs), with unknown argument names reported as DefinitionError."""
    params: list[str] = []
    for klass in cls.__mro__:  # **kwargs forwards to the base class: collect its names too
        if "__init__" not in vars(klass):
            continue
        sig = inspect.signature(klass.__init__).parameters.values()
        params += [p.name for p in sig if p.name != "self" and p.kind != p.VAR_KEYWORD
                   and p.name not in params]
        if not any(p.kind == p.VAR_KEYWORD for p in sig):
            break
    for k in kwargs:
        if k not in params:
            raise DefinitionError(
                f"{what} {cls.__name__} has no argument '{k}'; valid: {', '.join(params)}",
                field=k, received=f"{k}={kwargs[k]!r}", hint=did_you_mean(k, params))
    return cls(**kwargs)


__all__ = ["Loss", "get", *LOSSES]
