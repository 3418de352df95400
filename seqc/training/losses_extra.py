"""Keras 3's regression, hinge, probabilistic and overlap losses, with their gradients w.r.t.
y_pred (float64 maths on float32 inputs; clip bounds and epsilons in the input dtype, as Keras'
torch backend applies them).

Per sample, over the last axis: hinge mean(max(1 - y p, 0)) (0/1 labels become -1/1),
squared_hinge mean(max(1 - y p, 0)^2), categorical_hinge max(max((1 - y) p) - sum(y p) + 1, 0),
kl_divergence sum(y log(y / p)) (both clipped to [eps, 1]), poisson mean(p - y log(p + eps)),
cosine_similarity -sum(l2_normalize(y) l2_normalize(p), axis), mean_absolute_percentage_error
100 mean(|y - p| / max(|y|, eps)), mean_squared_logarithmic_error
mean((log(max(p, eps) + 1) - log(max(y, eps) + 1))^2). Dice and Tversky sum over `axis`
(None: the whole batch, one value): 1 - 2 sum(y p) / (sum(y) + sum(p) + eps) and
1 - I / (I + alpha sum((1 - p) y) + beta sum(p (1 - y)) + eps), I = sum(y p).

    >>> import numpy as np, seqc
    >>> round(seqc.losses.get("kld")(np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])), 6)
    0.143841
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DefinitionError
from .args import float_arg, int_arg
from .loss_base import (
    EPSILON,
    F64,
    Loss,
    _above,
    _axis,
    _clip_bounds,
    _MeanLastAxis,
    _same_shape,
)

# ---------------------------------------------------------------- hinge losses


def _hinge_labels(yt: np.ndarray) -> np.ndarray:
    """keras.src.losses.losses.convert_binary_labels_to_hinge: labels that are all 0 or 1
    become -1 or 1; any other labels are used as they are."""
    t = yt.astype(F64)
    return 2.0 * t - 1.0 if np.all((t == 0) | (t == 1)) else t


class Hinge(_MeanLastAxis):
    """mean(maximum(1 - y_true * y_pred, 0), axis=-1), y_true in {-1, 1} (or {0, 1})."""

    name = "hinge"
    default_display_name = "hinge"

    def _f(self, yt, yp):
        t = _hinge_labels(yt)
        m = 1.0 - t * yp.astype(F64)
        return np.maximum(m, 0.0), -t * _above(m, 0.0)


class SquaredHinge(_MeanLastAxis):
    """mean(maximum(1 - y_true * y_pred, 0)**2, axis=-1)."""

    name = "squared_hinge"
    default_display_name = "squared_hinge"

    def _f(self, yt, yp):
        t = _hinge_labels(yt)
        h = np.maximum(1.0 - t * yp.astype(F64), 0.0)
        return h * h, -2.0 * h * t


class CategoricalHinge(Loss):
    """maximum(neg - pos + 1, 0), pos = sum(y_true y_pred), neg = max((1 - y_true) y_pred)
    over the last axis (a tie for the max shares the gradient, as torch's amax)."""

    name = "categorical_hinge"
    default_display_name = "categorical_hinge"

    def _values(self, yt, yp):
        _same_shape(yt, yp, self.name)
        t, p = yt.astype(F64), yp.astype(F64)
        z = (1.0 - t) * p
        neg = z.max(axis=-1)
        m = neg - (t * p).sum(axis=-1) + 1.0
        values = np.maximum(m, 0.0)

        def back(dv):
            at_max = z == neg[..., None]
            share = at_max / at_max.sum(axis=-1, keepdims=True)
            return (dv * _above(m, 0.0))[..., None] * ((1.0 - t) * share - t)
        return values, back


# ---------------------------------------------------------------- probabilistic


class KLDivergence(Loss):
    """sum(y log(y / p), axis=-1), y and p clipped to [eps, 1]."""

    name = "kl_divergence"
    default_display_name = "kl_divergence"

    def _values(self, yt, yp):
        _same_shape(yt, yp, self.name)
        lo, _ = _clip_bounds(yp.dtype)
        hi = np.asarray(1, yp.dtype)
        t = np.clip(yt, lo, hi).astype(F64)
        p = np.clip(yp, lo, hi).astype(F64)
        ok = (yp >= lo) & (yp <= hi)  # torch.clamp passes gradients inside, bounds included
        values = (t * np.log(t / p)).sum(axis=-1)
        return values, lambda dv: dv[..., None] * np.where(ok, -t / p, 0.0)


class Poisson(_MeanLastAxis):
    """mean(y_pred - y_true * log(y_pred + eps), axis=-1)."""

    name = "poisson"
    default_display_name = "poisson"

    def _f(self, yt, yp):
        q = (yp + np.asarray(EPSILON, yp.dtype)).astype(F64)
        t = yt.astype(F64)
        return yp.astype(F64) - t * np.log(q), 1.0 - t / q


# ---------------------------------------------------------------- regression


class MeanAbsolutePercentageError(_MeanLastAxis):
    """100 * mean(|(y_true - y_pred) / max(|y_true|, eps)|, axis=-1)."""

    name = "mean_absolute_percentage_error"
    default_display_name = "mean_absolute_percentage_error"

    def _f(self, yt, yp):
        scale = np.maximum(np.abs(yt), np.asarray(EPSILON, yp.dtype)).astype(F64)
        d = (yt.astype(F64) - yp) / scale
        return 100.0 * np.abs(d), -100.0 * np.sign(d) / scale


class MeanSquaredLogarithmicError(_MeanLastAxis):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))**2, axis=-1)."""

    name = "mean_squared_logarithmic_error"
    default_display_name = "mean_squared_logarithmic_error"

    def _f(self, yt, yp):
        eps = np.asarray(EPSILON, yp.dtype)
        p = np.maximum(yp, eps).astype(F64) + 1.0
        d = np.log(p) - np.log(np.maximum(yt, eps).astype(F64) + 1.0)
        return d * d, 2.0 * d / p * _above(yp, eps)


class CosineSimilarity(Loss):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis), where
    l2_normalize(x) = x * min(1 / sqrt(sum(x**2, axis)), 1 / eps). Where y_pred is all
    zeros along `axis`, Keras' gradient is NaN (0 * inf inside its rsqrt); seqc's is the capped
    branch's, -l2_normalize(y_true) / eps, as for any vector shorter than eps."""

    name = "cosine_similarity"
    default_display_name = "cosine_similarity"

    def __init__(self, axis: int = -1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.axis = int_arg(axis, "axis")

    def _kwargs(self):
        return {"axis": self.axis}

    def _values(self, yt, yp):
        _same_shape(yt, yp, self.name)
        if yp.ndim == 0:  # Keras normalizes a scalar as a vector of one
            yt, yp = yt[None], yp[None]
        axis = _axis(self.axis, yp.ndim)
        t_hat = _l2_normalize(yt.astype(F64), axis)[0]
        p = yp.astype(F64)
        p_hat, inv, capped = _l2_normalize(p, axis)
        values = -(t_hat * p_hat).sum(axis=axis)

        def back(dv):
            # d/dp of p * inv, inv = (sum p^2)^-1/2: inv - p (t_hat . p) inv^3 (t_hat . d/dp)
            tp = (t_hat * p).sum(axis=axis, keepdims=True)
            g = np.where(capped, t_hat / EPSILON, t_hat * inv - p * tp * inv**3)
            return -np.expand_dims(dv, axis) * g
        return values, back


def _l2_normalize(x: np.ndarray, axis: int):
    """keras.ops.normalize(order=2): (x * inv, inv, capped) with inv capped at 1 / eps."""
    with np.errstate(divide="ignore"):
        inv = 1.0 / np.sqrt((x * x).sum(axis=axis, keepdims=True))
    capped = inv >= 1.0 / EPSILON
    inv = np.minimum(inv, 1.0 / EPSILON)
    return x * inv, inv, capped


# ---------------------------------------------------------------- overlap (segmentation)


def _axes_arg(axis: Any) -> Any:
    """Keras' `axis` for Dice and Tversky: None (every axis), an int or a list of ints."""
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        return [int_arg(a, "axis") for a in axis]
    return int_arg(axis, "axis")


class _Overlap(Loss):
    """1 - a ratio of sums over `axis` (None: every axis, so the batch gives one value)."""

    def _axes(self, ndim: int) -> tuple[int, ...]:
        if self.axis is None:
            return tuple(range(ndim))
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        out = tuple(sorted({_axis(a, ndim) for a in axes}))
        if len(out) != len(axes):
            raise DefinitionError(f"{self.name}: axis names an axis twice", field="axis",
                                  received=f"axis={self.axis!r}")
        return out

    def _ratio(self, t: np.ndarray, p: np.ndarray, axes: tuple):
        """(numerator, denominator, d num/dp, d den/dp) as arrays shaped for broadcasting."""
        raise NotImplementedError

    def _values(self, yt, yp):
        _same_shape(yt, yp, self.name)
        axes = self._axes(yp.ndim)
        num, den, dnum, dden = self._ratio(yt.astype(F64), yp.astype(F64), axes)
        values = 1.0 - (num / den).squeeze(axis=axes)

        def back(dv):
            return -np.expand_dims(dv, axes) * (dnum * den - num * dden) / (den * den)
        return values, back


class Dice(_Overlap):
    """1 - 2 sum(y_true y_pred) / (sum(y_true) + sum(y_pred) + eps), sums over `axis`."""

    name = "dice"
    default_display_name = "dice"

    def __init__(self, reduction="sum_over_batch_size", name=None, axis: Any = None):
        super().__init__(reduction, name)
        self.axis = _axes_arg(axis)

    def _kwargs(self):
        return {"axis": self.axis}

    def _ratio(self, t, p, axes):
        num = 2.0 * (t * p).sum(axis=axes, keepdims=True)
        den = t.sum(axis=axes, keepdims=True) + p.sum(axis=axes, keepdims=True) + EPSILON
        return num, den, 2.0 * t, 1.0


class Tversky(_Overlap):
    """1 - I / (I + alpha sum((1 - y_pred) y_true) + beta sum(y_pred (1 - y_true)) + eps),
    I = sum(y_true y_pred), sums over `axis` (Keras' spelling: alpha weighs missed
    positives, beta false alarms)."""

    name = "tversky"
    default_display_name = "tversky"

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, reduction="sum_over_batch_size",
                 name=None, axis: Any = None):
        super().__init__(reduction, name)
        self.alpha = float_arg(alpha, "alpha")
        self.beta = float_arg(beta, "beta")
        self.axis = _axes_arg(axis)

    def _kwargs(self):
        return {"alpha": self.alpha, "beta": self.beta, "axis": self.axis}

    def _ratio(self, t, p, axes):
        inter = (t * p).sum(axis=axes, keepdims=True)
        missed = ((1.0 - p) * t).sum(axis=axes, keepdims=True)
        extra = (p * (1.0 - t)).sum(axis=axes, keepdims=True)
        den = inter + self.alpha * missed + self.beta * extra + EPSILON
        return inter, den, t, t - self.alpha * t + self.beta * (1.0 - t)


EXTRA_LOSSES = (Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson,
                MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity,
                Dice, Tversky)
