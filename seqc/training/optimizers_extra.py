"""Keras 3's less common optimizers: Lion, Ftrl, Lamb and Adafactor, with its update rules as
its `update_step` computes them in float32 (scalars rounded to float32 as its tensors hold them).

Lion and Ftrl are elementwise; Lamb (a trust ratio from whole-parameter norms) and Adafactor
(second moments factored over a matrix's rows and columns) update one parameter at a time.
They take every base argument (clipping, schedules, weight_decay, EMA, accumulation).

    >>> import numpy as np, seqc
    >>> opt = seqc.optimizers.Lion(learning_rate=0.1)
    >>> p = {"w": np.ones(2, np.float32)}
    >>> opt.apply(p, {"w": np.array([0.5, -2.0], np.float32)})
    >>> p["w"].tolist()
    [0.8999999761581421, 1.100000023841858]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .args import bool_arg
from .optimizer_base import F32, Optimizer, Slots, _ema, _number


class Lion(Optimizer):
    """p -= lr sign(b1 m + (1 - b1) g); then m = b2 m + (1 - b2) g (Chen et al., 2023)."""

    slot_init = {"momentum": 0.0}

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.99,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        # Keras: beta_1 = 0 degenerates to SignSGD, so it is refused.
        self.beta_1 = _number(beta_1, "beta_1", 0.0, 1.0, lo_open=True)
        self.beta_2 = _number(beta_2, "beta_2", 0.0, 1.0)

    def _kwargs(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2}

    def _update(self, key, p, g, lr, step, s, tmp):
        m = s["momentum"]
        np.multiply(m, F32(self.beta_1), out=tmp)
        tmp += g * F32(1.0 - self.beta_1)
        np.sign(tmp, out=tmp)
        tmp *= F32(lr)
        p -= tmp
        _ema(m, g, self.beta_2, tmp)


class Ftrl(Optimizer):
    """Follow The Regularized Leader (McMahan et al., 2013), with Keras' l2 shrinkage and beta:
    n' = n + g^2; z += g + 2 l2s p - (n'^-lrp - n^-lrp) / lr p;
    p = (clip(z, -l1, l1) - z) / (n'^-lrp / lr + 2 (l2 + beta / (2 lr))); n = n'."""

    def __init__(self, learning_rate: Any = 0.001, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0,
                 l2_shrinkage_regularization_strength: float = 0.0, beta: float = 0.0,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_power = _number(learning_rate_power, "learning_rate_power", hi=0.0)
        self.initial_accumulator_value = _number(initial_accumulator_value,
                                                 "initial_accumulator_value", lo=0.0)
        self.l1_regularization_strength = _number(l1_regularization_strength,
                                                  "l1_regularization_strength", lo=0.0)
        self.l2_regularization_strength = _number(l2_regularization_strength,
                                                  "l2_regularization_strength", lo=0.0)
        self.l2_shrinkage_regularization_strength = _number(
            l2_shrinkage_regularization_strength, "l2_shrinkage_regularization_strength", lo=0.0)
        self.beta = _number(beta, "beta")

    def slot_names(self):
        return {"accumulator": self.initial_accumulator_value, "linear": 0.0}

    def _kwargs(self):
        return {"learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength":
                    self.l2_shrinkage_regularization_strength,
                "beta": self.beta}

    def _update(self, key, p, g, lr, step, s, tmp):
        lr, power = F32(lr), F32(-self.learning_rate_power)
        l2 = F32(self.l2_regularization_strength) + F32(self.beta) / (F32(2.0) * lr)
        acc, z = s["accumulator"], s["linear"]
        new_acc = acc + g * g
        new_pow = np.power(new_acc, power)
        # z += (g + 2 l2s p) - ((n'^-lrp - n^-lrp) / lr) p
        np.power(acc, power, out=tmp)
        np.subtract(new_pow, tmp, out=tmp)
        tmp /= lr
        tmp *= p
        np.subtract(g + F32(2.0 * self.l2_shrinkage_regularization_strength) * p, tmp, out=tmp)
        z += tmp
        new_pow /= lr
        new_pow += F32(2) * l2  # the quadratic term
        l1 = F32(self.l1_regularization_strength)
        np.clip(z, -l1, l1, out=tmp)
        tmp -= z
        np.divide(tmp, new_pow, out=p)
        acc[...] = new_acc


class Lamb(Optimizer):
    """Adam's step scaled per parameter by the trust ratio ||p|| / ||step|| (1 where either is
    0): m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    step = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps); p -= ratio lr step."""

    slot_init = {"momentum": 0.0, "velocity": 0.0}
    elementwise = False

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", 0.0, 1.0, hi_open=True)
        self.beta_2 = _number(beta_2, "beta_2", 0.0, 1.0, hi_open=True)
        self.epsilon = _number(epsilon, "epsilon", lo=0.0)

    def _kwargs(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}

    def _update(self, key, p, g, lr, step, s, tmp):
        t = F32(step)
        b1p, b2p = np.power(F32(self.beta_1), t), np.power(F32(self.beta_2), t)
        m, v = s["momentum"], s["velocity"]
        m += (g - m) * F32(1.0 - self.beta_1)
        v += (g * g - v) * F32(1.0 - self.beta_2)
        np.divide(v, F32(1) - b2p, out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp += F32(self.epsilon)
        np.divide(m / (F32(1) - b1p), tmp, out=tmp)  # the Adam step
        w_norm, u_norm = _norm(p), _norm(tmp)
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else F32(1.0)
        tmp *= F32(ratio) * F32(lr)
        p -= tmp


class Adafactor(Optimizer):
    """Adafactor (Shazeer and Stern, 2018) as Keras 3 computes it, at t = local step:
    rho = min(lr, 1/sqrt(t)) (lr itself capped so when relative_step and lr is not a schedule);
    alpha = max(epsilon_2, rms(p)) rho; q = g^2 + epsilon_1; b = 1 - t^beta_2_decay.
    Parameters of rank >= 2 factor the second moment over the last two axes:
    r = b r + (1 - b) mean(q, -1); c = b c + (1 - b) mean(q, -2); v = (r / mean(r)) c;
    vectors and scalars keep it whole: v = b v + (1 - b) q.
    u = g / sqrt(v); p -= alpha u / max(1, rms(u) / clip_threshold)."""

    elementwise = False

    def __init__(self, learning_rate: Any = 0.001, beta_2_decay: float = -0.8,
                 epsilon_1: float = 1e-30, epsilon_2: float = 1e-3, clip_threshold: float = 1.0,
                 relative_step: bool = True, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_2_decay = _number(beta_2_decay, "beta_2_decay")
        self.epsilon_1 = _number(epsilon_1, "epsilon_1", lo=0.0)
        self.epsilon_2 = _number(epsilon_2, "epsilon_2", lo=0.0)
        self.clip_threshold = _number(clip_threshold, "clip_threshold", lo=0.0, lo_open=True)
        self.relative_step = bool_arg(relative_step, "relative_step")

    def _new_slots(self, p: np.ndarray) -> Slots:
        s = {"velocity": np.zeros_like(p)}
        if p.ndim >= 2:
            s["r"] = np.zeros(p.shape[:-1], p.dtype)
            s["c"] = np.zeros(p.shape[:-2] + p.shape[-1:], p.dtype)
        return s

    def _kwargs(self):
        return {"beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}

    def _update(self, key, p, g, lr, step, s, tmp):
        t, one = F32(step), F32(1.0)
        lr, cap = F32(lr), one / np.sqrt(t)
        if self.relative_step and self.schedule is None:
            lr = min(lr, cap)
        alpha = max(F32(self.epsilon_2), _rms(p)) * min(lr, cap)
        q = g * g + F32(self.epsilon_1)
        b = one - np.power(t, F32(self.beta_2_decay))
        v = s["velocity"]
        if p.ndim >= 2:
            r, c = s["r"], s["c"]
            r[...] = b * r + (one - b) * q.mean(axis=-1)
            c[...] = b * c + (one - b) * q.mean(axis=-2)
            np.multiply((r / r.mean(axis=-1, keepdims=True))[..., None], c[..., None, :], out=v)
        else:
            v[...] = b * v + (one - b) * q
        np.sqrt(v, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp /= max(one, _rms(tmp) / F32(self.clip_threshold))
        tmp *= alpha
        p -= tmp


def _norm(x: np.ndarray) -> np.float32:
    return np.sqrt(np.sum(x * x, dtype=np.float32))


def _rms(x: np.ndarray) -> np.float32:
    return np.sqrt(np.mean(x * x, dtype=np.float32))


EXTRA_OPTIMIZERS = (Adafactor, Ftrl, Lion, Lamb)
