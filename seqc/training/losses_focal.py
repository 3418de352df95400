"""Focal crossentropies (Lin et al., 2017) with Keras 3's formulas and their gradients.

binary_focal_crossentropy: mean over `axis` of w (1 - p_t)^gamma bce, where bce is the
clipped binary crossentropy, p_t = y p + (1 - y)(1 - p) on the unclipped p, and
w = y alpha + (1 - y)(1 - alpha) with apply_class_balancing (else 1).
categorical_focal_crossentropy: sum over `axis` of -alpha (1 - q)^gamma y log q, with
q = clip(p / sum(p)), as Keras renormalises and clips. Both smooth labels and take logits
(sigmoid / softmax first) as Keras does.

    >>> import numpy as np, seqc
    >>> loss = seqc.losses.BinaryFocalCrossentropy(gamma=2.0)
    >>> round(loss(np.array([[1.0], [0.0]]), np.array([[0.9], [0.2]])), 6)
    0.00499
"""

from __future__ import annotations

import numpy as np

from .args import bool_arg, float_arg
from .loss_base import (
    F64,
    _axis,
    _class_axis,
    _clip,
    _expand,
    _renormalized_back,
    _sigmoid,
    _SmoothedCrossentropy,
)


def _focal(base: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """base^gamma and its derivative, 0 for gamma = 0 as torch's pow backward."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.zeros_like(base) if gamma == 0 else gamma * base ** (gamma - 1.0)
    return base**gamma, d


class BinaryFocalCrossentropy(_SmoothedCrossentropy):
    """Binary crossentropy down-weighting easy examples by (1 - p_t)^gamma."""

    name = "binary_focal_crossentropy"
    default_display_name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25,
                 gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1, reduction="sum_over_batch_size", name=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name)
        self.apply_class_balancing = bool_arg(apply_class_balancing, "apply_class_balancing")
        self.alpha = float_arg(alpha, "alpha")
        self.gamma = float_arg(gamma, "gamma")

    def _kwargs(self):
        return {**super()._kwargs(), "apply_class_balancing": self.apply_class_balancing,
                "alpha": self.alpha, "gamma": self.gamma}

    def _values(self, yt, yp):
        t = self._smoothed(yt, yp, 2)
        axis = _axis(self.axis, max(yp.ndim, 1))
        n = yp.shape[axis] if yp.ndim else 1
        if self.from_logits:
            p = _sigmoid(yp.astype(F64))
            pc, ok = _clip(p.astype(yp.dtype))  # Keras clips its float32 sigmoid
        else:
            p = yp.astype(F64)
            pc, ok = _clip(yp)
        bce = -(t * np.log(pc) + (1.0 - t) * np.log(1.0 - pc))
        focal, dfocal = _focal(1.0 - (t * p + (1.0 - t) * (1.0 - p)), self.gamma)
        w = t * self.alpha + (1.0 - t) * (1.0 - self.alpha) if self.apply_class_balancing \
            else 1.0
        e = w * focal * bce
        values = e.mean(axis=axis) if yp.ndim else e

        def back(dv):
            # d(1 - p_t)/dp = 1 - 2t; d bce/dp as torch: (p - t) / (p (1 - p)) inside the clip
            dbce = np.where(ok, (pc - t) / (pc * (1.0 - pc)), 0.0)
            de = w * (dfocal * (1.0 - 2.0 * t) * bce + focal * dbce)
            if self.from_logits:
                de = de * p * (1.0 - p)
            return _expand(dv, axis, yp.ndim) * de * (1.0 / n)
        return values, back


class CategoricalFocalCrossentropy(_SmoothedCrossentropy):
    """Categorical crossentropy down-weighting confident classes by alpha (1 - q)^gamma."""

    name = "categorical_focal_crossentropy"
    default_display_name = "categorical_focal_crossentropy"

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1, reduction="sum_over_batch_size",
                 name=None):
        super().__init__(from_logits, label_smoothing, axis, reduction, name)
        self.alpha = float_arg(alpha, "alpha")
        self.gamma = float_arg(gamma, "gamma")

    def _kwargs(self):
        return {**super()._kwargs(), "alpha": self.alpha, "gamma": self.gamma}

    def _values(self, yt, yp):
        _class_axis(yp, self.name)
        # Keras divides by the size of the LAST axis, whatever `axis` is.
        t = self._smoothed(yt, yp, yp.shape[-1])
        axis = _axis(self.axis, yp.ndim)
        if self.from_logits:
            x = yp.astype(F64)
            e = np.exp(x - x.max(axis=axis, keepdims=True))
            soft = e / e.sum(axis=axis, keepdims=True)
            p = soft.astype(yp.dtype)  # Keras renormalises its float32 softmax
        else:
            p = yp
        s = p.sum(axis=axis, keepdims=True)
        q, ok = _clip(p / s)
        cce = -t * np.log(q)
        focal, dfocal = _focal(1.0 - q, self.gamma)
        values = (self.alpha * focal * cce).sum(axis=axis)

        def back(dv):
            g = np.where(ok, self.alpha * (-dfocal * cce - focal * t / q), 0.0)  # d/dq
            dp = np.expand_dims(dv, axis) * _renormalized_back(g, p, s, axis)
            if self.from_logits:  # through the softmax
                dp = soft * (dp - (dp * soft).sum(axis=axis, keepdims=True))
            return dp
        return values, back


FOCAL_LOSSES = (BinaryFocalCrossentropy, CategoricalFocalCrossentropy)
