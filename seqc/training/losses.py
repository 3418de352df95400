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

from typing import Any

import numpy as np

from ..config import split_spec
from ..errors import DataError, DefinitionError, did_you_mean
from .args import bool_arg, construct, float_arg, int_arg
from .loss_base import (
    EPSILON,
    F64,
    REDUCTIONS,
    Back,
    Loss,
    _as_pred,
    _axis,
    _class_axis,
    _clip,
    _clip_bounds,
    _expand,
    _log_softmax,
    _MeanLastAxis,
    _renormalized_back,
    _sigmoid,
    _SmoothedCrossentropy,
    squeeze_or_expand_to_same_rank,
    unsqueeze,
)

# The other Keras losses, re-exported here (seqc.losses.Dice).
from .loss_ctc import CTC as CTC
from .losses_extra import EXTRA_LOSSES
from .losses_extra import CategoricalHinge as CategoricalHinge
from .losses_extra import CosineSimilarity as CosineSimilarity
from .losses_extra import Dice as Dice
from .losses_extra import Hinge as Hinge
from .losses_extra import KLDivergence as KLDivergence
from .losses_extra import MeanAbsolutePercentageError as MeanAbsolutePercentageError
from .losses_extra import MeanSquaredLogarithmicError as MeanSquaredLogarithmicError
from .losses_extra import Poisson as Poisson
from .losses_extra import SquaredHinge as SquaredHinge
from .losses_extra import Tversky as Tversky
from .losses_focal import FOCAL_LOSSES
from .losses_focal import BinaryFocalCrossentropy as BinaryFocalCrossentropy
from .losses_focal import CategoricalFocalCrossentropy as CategoricalFocalCrossentropy

# ---------------------------------------------------------------- regression losses


class _Elementwise(_MeanLastAxis):
    """mean over the last axis of f(y_pred - y_true); subclasses give f and f' in `_fd`."""

    def _fd(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _f(self, yt, yp):
        return self._fd(yp.astype(F64) - yt)


class MeanSquaredError(_Elementwise):
    """mean((y_true - y_pred)**2, axis=-1)."""

    name = "mean_squared_error"
    default_display_name = "mean_squared_error"

    def _fd(self, d):
        return d * d, 2.0 * d


class MeanAbsoluteError(_Elementwise):
    """mean(|y_true - y_pred|, axis=-1); gradient sign(d), 0 at d = 0 as torch's abs."""

    name = "mean_absolute_error"
    default_display_name = "mean_absolute_error"

    def _fd(self, d):
        return np.abs(d), np.sign(d)


class Huber(_Elementwise):
    """0.5 d**2 where |d| <= delta, else delta |d| - 0.5 delta**2; mean over the last axis."""

    name = "huber"
    default_display_name = "huber_loss"

    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.delta = float_arg(delta, "delta", lo=0.0)

    def _kwargs(self):
        return {"delta": self.delta}

    def _fd(self, d):
        a = np.abs(d)
        quad = a <= self.delta
        e = np.where(quad, 0.5 * d * d, self.delta * a - 0.5 * self.delta**2)
        return e, np.where(quad, d, self.delta * np.sign(d))


class LogCosh(_Elementwise):
    """mean(log(cosh(d)), axis=-1), computed as d + softplus(-2d) - log 2 (no overflow)."""

    name = "log_cosh"
    default_display_name = "log_cosh"

    def _fd(self, d):
        return d + np.logaddexp(0.0, -2.0 * d) - np.log(2.0), np.tanh(d)


# ---------------------------------------------------------------- crossentropies


class BinaryCrossentropy(_SmoothedCrossentropy):
    """mean(-(y log p + (1 - y) log(1 - p)), axis); p clipped to [eps, 1 - eps]; labels
    smoothed to y (1 - s) + s / 2. With from_logits, the stable form on the logits x:
    max(x, 0) - x y + log(1 + exp(-|x|))."""

    name = "binary_crossentropy"
    default_display_name = "binary_crossentropy"

    def _targets(self, yt, yp):
        return self._smoothed(yt, yp, 2)

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


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """-sum(y log p, axis), p = clip(y_pred / sum(y_pred, axis)) as Keras' torch backend;
    labels smoothed to y (1 - s) + s / C. With from_logits, -sum(y log_softmax(x))."""

    name = "categorical_crossentropy"
    default_display_name = "categorical_crossentropy"

    def _targets(self, yt, yp) -> np.ndarray:
        _class_axis(yp, self.name)
        # Keras divides by the size of the LAST axis, whatever `axis` is.
        return self._smoothed(yt, yp, yp.shape[-1])

    def _values(self, yt, yp):
        return _cce(self._targets(yt, yp), yp, _axis(self.axis, yp.ndim), self.from_logits)

    def _fused(self, activation, yt, yp):
        if activation != "softmax" or self.from_logits or _axis(self.axis, yp.ndim) != yp.ndim - 1:
            return None
        return _softmax_fused(self._targets(yt, yp), yp, yp.ndim - 1)

    def value_and_fused_grad(self, activation, y_true, y_pred, sample_weight=None, mask=None):
        # The training step's usual head (softmax, no weights, no mask) in one pass of the
        # same operations as Loss.value_and_fused_grad over _cce, _reduce and _softmax_fused:
        # the targets made once, no clip mask (the fused gradient does not read it), the
        # uniform d(loss)/d(values) a scalar. 83 -> ~30 us a step at (128, 10).
        if (activation != "softmax" or sample_weight is not None or mask is not None
                or self.from_logits or self.reduction in (None, "none")):
            return super().value_and_fused_grad(activation, y_true, y_pred, sample_weight, mask)
        y_pred = _as_pred(y_pred)
        yt, yp = self._prepare(y_true, y_pred)
        if not yp.size or _axis(self.axis, yp.ndim) != yp.ndim - 1:
            return super().value_and_fused_grad(activation, y_true, y_pred, sample_weight, mask)
        t = self._targets(yt, yp)
        lo, hi = _clip_bounds(yp.dtype)
        q = (yp / yp.sum(axis=-1, keepdims=True)).clip(lo, hi).astype(F64)
        values = -(t * np.log(q)).sum(axis=-1)
        divisor = 1.0 if self.reduction == "sum" else float(values.size)
        scale = 1.0 / divisor
        g = (yp.astype(F64) * t.sum(axis=-1, keepdims=True) - t) * scale
        return (float(values.sum()) / divisor,
                g.reshape(y_pred.shape).astype(y_pred.dtype, copy=False))


def _cce(t: np.ndarray, yp: np.ndarray, axis: int, from_logits: bool):
    if from_logits:
        x = yp.astype(F64)
        logp = _log_softmax(x, axis)
        values = -(t * logp).sum(axis=axis)

        def back(dv):
            # d/dx of -sum(t log_softmax(x)) = softmax(x) sum(t) - t
            return unsqueeze(dv, axis) * (
                np.exp(logp) * t.sum(axis=axis, keepdims=True) - t)
        return values, back
    # Keras renormalises in the input dtype, then clips; the gradient chains through both.
    s = yp.sum(axis=axis, keepdims=True)
    q, ok = _clip(yp / s)
    values = -(t * np.log(q)).sum(axis=axis)

    def back(dv):
        g = np.where(ok, -t / q, 0.0)  # d/dq
        return unsqueeze(dv, axis) * _renormalized_back(g, yp, s, axis)
    return values, back


def _softmax_fused(t: np.ndarray, yp: np.ndarray, axis: int) -> Back:
    p = yp.astype(F64)
    # d/dx of -sum(t log softmax(x)) = p sum(t) - t ( = p - t for one-hot or smoothed t)
    return lambda dv: unsqueeze(dv, axis) * (p * t.sum(axis=axis, keepdims=True) - t)


class SparseCategoricalCrossentropy(Loss):
    """categorical_crossentropy with integer class ids: -log p[y]; y (N,) or (N, 1).
    Entries equal to `ignore_class` count neither in the sum nor in the mean."""

    name = "sparse_categorical_crossentropy"
    default_display_name = "sparse_categorical_crossentropy"
    sparse = True

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None,
                 reduction="sum_over_batch_size", axis: int = -1, name=None):
        super().__init__(reduction, name)
        self.from_logits = bool_arg(from_logits, "from_logits")
        self.ignore_class = None if ignore_class is None else int_arg(ignore_class,
                                                                       "ignore_class")
        self.axis = int_arg(axis, "axis")

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
        _class_axis(yp, self.name)
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
                MeanSquaredError, MeanAbsoluteError, Huber, LogCosh, *FOCAL_LOSSES,
                *EXTRA_LOSSES, CTC)
}
# Keras' ALL_OBJECTS_DICT: class names, function names and the short aliases it accepts.
NAMES: dict[str, type[Loss]] = {
    **LOSSES,
    **{cls.name: cls for cls in LOSSES.values()},
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "kld": KLDivergence, "KLD": KLDivergence,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
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


# EPSILON, REDUCTIONS, construct and squeeze_or_expand_to_same_rank stay importable from here.
__all__ = ["EPSILON", "REDUCTIONS", "Loss", "construct", "get",
           "squeeze_or_expand_to_same_rank", *LOSSES]
