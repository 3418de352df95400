"""The Loss base class and Keras' reduction: per-sample values -> weighted, masked scalar.

`reduce_weighted_values`: loss = sum(values * sample_weight) / values.size
("sum_over_batch_size"), with d(loss)/d(values) for the backward pass; ranks of y_true,
y_pred and sample_weight are aligned by Keras' squeeze-or-expand rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..errors import DataError, DefinitionError, UsageError, did_you_mean
from .args import bool_arg, float_arg, int_arg

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
    bounds = _CLIP_BOUNDS.get(dtype)
    if bounds is None:
        eps = np.asarray(EPSILON, dtype)
        bounds = _CLIP_BOUNDS[dtype] = (eps, np.asarray(1, dtype) - eps)
    return bounds


_CLIP_BOUNDS: dict = {}  # per dtype, made once (each training step clips)


def _clip(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clipped probabilities (float64) and the mask where the clip passes gradients
    (torch.clamp's backward: min <= p <= max, inclusive)."""
    lo, hi = _clip_bounds(p.dtype)
    mask = (p >= lo) & (p <= hi)
    return p.clip(lo, hi).astype(F64), mask


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


def _class_axis(yp: np.ndarray, loss: str) -> None:
    if yp.ndim < 1:
        raise DataError(f"{loss}: y_pred must have a class axis", field="y_pred",
                        received=f"shape {yp.shape}")


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _expand(dv: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    return unsqueeze(dv, axis) if ndim else dv


def unsqueeze(a: Any, axis: int) -> np.ndarray:
    """np.expand_dims(a, axis) for one axis, as a reshape (the same view, without
    expand_dims' per-call cost, which a training step's loss pays several times)."""
    a = np.asanyarray(a)
    n = a.ndim + 1
    if not -n <= axis < n:
        return np.expand_dims(a, axis)  # its AxisError
    axis %= n
    return a.reshape(a.shape[:axis] + (1,) + a.shape[axis:])


def _above(x: np.ndarray, bound: Any) -> np.ndarray:
    """d maximum(x, bound) / dx as torch computes it: 1 above, 0 below, 1/2 at a tie."""
    return np.where(x > bound, 1.0, np.where(x == bound, 0.5, 0.0))


def _renormalized_back(g: np.ndarray, yp: np.ndarray, s: np.ndarray, axis: int) -> np.ndarray:
    """d/dp of a function of q = p / sum(p, axis), given g = its gradient w.r.t. q:
    (g_j - sum_i g_i q_i) / S, with q unclipped (S = sum(p) as computed in the input dtype)."""
    s64 = s.astype(F64)
    q = yp.astype(F64) / s64
    return (g - (g * q).sum(axis=axis, keepdims=True)) / s64


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
    def __call__(self, y_true, y_pred, sample_weight=None, mask=None) -> float:
        """`mask`: the prediction's timestep mask (bool (N, T)); masked entries do not count,
        as in Keras when the model's output carries a mask."""
        yt, yp = self._prepare(y_true, y_pred)
        values, _ = self._values(yt, yp)
        if self.reduction in (None, "none"):
            return self._weighted_unreduced(values, sample_weight)
        loss, _ = _reduce(values, sample_weight, self._masks(yt, yp, mask), self.reduction,
                          False)
        return loss

    def grad(self, y_true, y_pred, sample_weight=None, mask=None) -> np.ndarray:
        """d(reduced loss)/d(y_pred), shaped and typed like y_pred."""
        return self.value_and_grad(y_true, y_pred, sample_weight, mask)[1]

    def value_and_grad(self, y_true, y_pred, sample_weight=None,
                       mask=None) -> tuple[float, np.ndarray]:
        """The loss and its gradient in one pass (what a training step needs)."""
        self._check_reducing()
        y_pred = _as_pred(y_pred)
        yt, yp = self._prepare(y_true, y_pred)
        values, back = self._values(yt, yp)
        loss, dv = _reduce(values, sample_weight, self._masks(yt, yp, mask), self.reduction,
                           True)
        return loss, back(dv).reshape(y_pred.shape).astype(y_pred.dtype, copy=False)

    def fused_grad(self, activation: str, y_true, y_pred, sample_weight=None, mask=None):
        """Gradient w.r.t. the logits before a final `activation` whose output is `y_pred`,
        in the stable `p - y` form, or None when this loss does not fuse with it."""
        out = self.value_and_fused_grad(activation, y_true, y_pred, sample_weight, mask)
        return None if out is None else out[1]

    def value_and_fused_grad(self, activation: str, y_true, y_pred, sample_weight=None,
                             mask=None):
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
        loss, dv = _reduce(values, sample_weight, self._masks(yt, yp, mask), self.reduction,
                           True)
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
            if yt.dtype.kind not in "fiucmb":  # numeric (timedelta is, to NumPy) or bool
                raise DataError(f"{self.name}: y_true must be numeric", field="y",
                                received=f"dtype {yt.dtype}")
            # Keras casts y_true to y_pred's dtype before anything else.
            yt = yt.astype(yp.dtype, copy=False)
        # LossFunctionWrapper.call aligns ranks (e.g. y_true (N,) with y_pred (N, 1)).
        return squeeze_or_expand_to_same_rank(yt, yp)

    def _mask(self, yt: np.ndarray, yp: np.ndarray) -> np.ndarray | None:
        return None

    def _masks(self, yt, yp, mask) -> np.ndarray | None:
        """The loss's own mask (ignore_class) and the prediction's, combined as Keras does."""
        own = self._mask(yt, yp)
        if mask is None:
            return own
        mask = np.asarray(mask, bool)
        if own is None:
            return mask
        own, mask = squeeze_or_expand_to_same_rank(own, mask)
        return own & mask

    def _weighted_unreduced(self, values, sample_weight):
        if sample_weight is None:
            return values
        v, sw = _align_weights(values, _as_weights(sample_weight))
        return v * sw


class _MeanLastAxis(Loss):
    """mean over the last axis of an element loss e(y_true, y_pred); subclasses give e and
    de/dy_pred (float64) in `_f`."""

    def _f(self, yt: np.ndarray, yp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _values(self, yt, yp):
        _same_shape(yt, yp, self.name)
        e, de = self._f(yt, yp)
        n = yp.shape[-1] if yp.ndim else 1
        values = e.mean(axis=-1) if yp.ndim else e
        return values, lambda dv: _expand(dv, -1, yp.ndim) * de * (1.0 / n)


class _SmoothedCrossentropy(Loss):
    """The arguments the crossentropies share (Keras' signatures)."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.from_logits = bool_arg(from_logits, "from_logits")
        self.label_smoothing = float_arg(label_smoothing, "label_smoothing", 0.0, 1.0)
        self.axis = int_arg(axis, "axis")

    def _kwargs(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}

    def _smoothed(self, yt: np.ndarray, yp: np.ndarray, classes: int) -> np.ndarray:
        """y_true as float64, smoothed to y (1 - s) + s / classes."""
        _same_shape(yt, yp, self.name)
        t = yt.astype(F64)
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        return t


def _as_pred(y_pred) -> np.ndarray:
    yp = np.asarray(y_pred)
    if yp.dtype.kind != "f":  # np.issubdtype(.., np.floating), without its per-call cost
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
