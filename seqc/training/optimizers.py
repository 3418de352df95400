"""Optimizers with Keras 3's update rules and defaults (as its torch backend runs them).

Each `apply(params, grads)`: accumulate (gradient_accumulation_steps) -> clip (clipnorm |
global_clipnorm | clipvalue) -> decoupled weight decay p *= 1 - wd * lr -> the optimizer's
update with lr evaluated at `iterations` -> EMA -> iterations += 1. Updates run in place, in
float32, with NumPy `out=` buffers; slots are created on first use, keyed by parameter name.

    >>> import numpy as np, seqc
    >>> opt = seqc.optimizers.SGD(learning_rate=0.1)
    >>> p = {"w": np.ones(2, np.float32)}
    >>> opt.apply(p, {"w": np.array([1.0, -2.0], np.float32)})
    >>> p["w"].tolist(), opt.iterations
    ([0.8999999761581421, 1.2000000476837158], 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import split_spec
from ..errors import DefinitionError, did_you_mean
from . import _fused, schedules
from .args import bool_arg, construct
from .optimizer_base import F32, Optimizer, _ema, _ema_sq, _number
from .optimizer_base import Slots as Slots  # re-exported, as before the split
from .optimizers_extra import Adafactor, Ftrl, Lamb, Lion
from .schedules import LearningRateSchedule as LearningRateSchedule

_BASE_DOC = """Base arguments (all optimizers): weight_decay, clipnorm, clipvalue,
global_clipnorm (at most one clip), use_ema, ema_momentum, ema_overwrite_frequency,
loss_scale_factor, gradient_accumulation_steps, name."""


# ---------------------------------------------------------------- the optimizers


class SGD(Optimizer):
    """m = momentum * m - lr * g; p += m (nesterov: p += momentum * m - lr * g);
    without momentum p -= lr * g."""

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number(momentum, "momentum", 0.0, 1.0)
        self.nesterov = bool_arg(nesterov, "nesterov")

    def slot_names(self):
        return {"momentum": 0.0} if self.momentum != 0 else {}

    def _kwargs(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    @property
    def fused_kernel(self):
        return None if self.momentum == 0 else "sgd_momentum"

    def _update(self, key, p, g, lr, step, s, tmp):
        lr = F32(lr)
        if self.momentum == 0:
            np.multiply(g, lr, out=tmp)
            p -= tmp
            return
        m, mom = s["momentum"], F32(self.momentum)
        if _fused.run("sgd_momentum", (p, g, m), (mom, lr, float(self.nesterov))):
            return  # one compiled pass, the same numbers (seqc/training/_fused.py)
        m *= mom
        np.multiply(g, lr, out=tmp)
        m -= tmp
        if self.nesterov:
            p -= tmp
            np.multiply(m, mom, out=tmp)
            p += tmp
        else:
            p += m


class Adam(Optimizer):
    """m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); (amsgrad: v = max(v_hat, v));
    p -= m * alpha / (sqrt(v) + eps), alpha = lr sqrt(1 - b2^t) / (1 - b1^t): Keras'
    "epsilon hat" form, eps added to sqrt(v) without bias correction."""

    slot_init = {"momentum": 0.0, "velocity": 0.0}

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", 0.0, 1.0, hi_open=True)
        self.beta_2 = _number(beta_2, "beta_2", 0.0, 1.0, hi_open=True)
        self.epsilon = _number(epsilon, "epsilon", lo=0.0)
        self.amsgrad = bool_arg(amsgrad, "amsgrad")

    def slot_names(self):
        return {**self.slot_init, **({"velocity_hat": 0.0} if self.amsgrad else {})}

    @property
    def fused_kernel(self):
        return None if self.amsgrad else "adam"

    def _kwargs(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}

    def _alpha(self, lr, step):
        """lr sqrt(1 - b2^t) / (1 - b1^t) in float32, as Keras computes it from float32
        tensors; made once per step (every parameter's update reads it)."""
        key = (lr, step, self.beta_1, self.beta_2)
        cached = self.__dict__.get("_alpha_at")
        if cached is not None and cached[0] == key:
            return cached[1]
        t = F32(step)
        b1p, b2p = np.power(F32(self.beta_1), t), np.power(F32(self.beta_2), t)
        alpha = F32(lr) * np.sqrt(F32(1) - b2p) / (F32(1) - b1p)
        self._alpha_at = (key, alpha)
        return alpha

    def _update(self, key, p, g, lr, step, s, tmp):
        alpha = self._alpha(lr, step)
        m, v = s["momentum"], s["velocity"]
        if self.fused_kernel and _fused.run(
                "adam", (p, g, m, v), (self.beta_1, 1.0 - self.beta_1, self.beta_2,
                                       1.0 - self.beta_2, self.epsilon, alpha)):
            return  # one compiled pass, the same numbers (seqc/training/_fused.py)
        _ema(m, g, self.beta_1, tmp)
        _ema_sq(v, g, self.beta_2, tmp)
        if self.amsgrad:
            np.maximum(s["velocity_hat"], v, out=s["velocity_hat"])
            v = s["velocity_hat"]
        np.sqrt(v, out=tmp)
        tmp += F32(self.epsilon)
        np.divide(m, tmp, out=tmp)
        tmp *= alpha
        p -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004): p *= 1 - weight_decay * lr before
    the Adam step, as Keras' base optimizer applies it."""

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, **kwargs: Any):
        if weight_decay is None:
            raise DefinitionError("AdamW's weight_decay must be a number", field="weight_decay",
                                  received="weight_decay=None", hint="use Adam for no decay")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad,
                         weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """v = rho v + (1 - rho) g^2; (centered: a = rho a + (1 - rho) g, v - a^2);
    inc = lr g / sqrt(v + eps) (eps inside the sqrt, as Keras 3); momentum: m = mu m + inc,
    p -= m; else p -= inc."""

    slot_init = {"velocity": 0.0}

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho = _number(rho, "rho", 0.0, 1.0)
        self.momentum = _number(momentum, "momentum", 0.0, 1.0)
        self.epsilon = _number(epsilon, "epsilon", lo=0.0)
        self.centered = bool_arg(centered, "centered")

    def slot_names(self):
        names = dict(self.slot_init)
        if self.momentum > 0:
            names["momentum"] = 0.0
        if self.centered:
            names["average_gradient"] = 0.0
        return names

    def _kwargs(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}

    @property
    def fused_kernel(self):
        return None if self.centered or self.momentum > 0 else "rmsprop"

    def _update(self, key, p, g, lr, step, s, tmp):
        v, rho = s["velocity"], F32(self.rho)
        if self.fused_kernel and _fused.run(
                "rmsprop", (p, g, v), (self.rho, 1.0 - self.rho, self.epsilon, lr)):
            return  # one compiled pass, the same numbers (seqc/training/_fused.py)
        v *= rho
        np.multiply(g, g, out=tmp)
        tmp *= F32(1.0 - self.rho)
        v += tmp
        if self.centered:
            a = s["average_gradient"]
            a *= rho
            np.multiply(g, F32(1.0 - self.rho), out=tmp)
            a += tmp
            np.multiply(a, a, out=tmp)
            np.subtract(v, tmp, out=tmp)
            tmp += F32(self.epsilon)
        else:
            np.add(v, F32(self.epsilon), out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)  # Keras: (g * lr) / denom; the same up to one rounding
        tmp *= F32(lr)
        if self.momentum > 0:
            m = s["momentum"]
            m *= F32(self.momentum)
            m += tmp
            p -= m
        else:
            p -= tmp


class Adagrad(Optimizer):
    """acc += g^2 (acc starts at initial_accumulator_value); p -= lr g / sqrt(acc + eps)."""

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _number(initial_accumulator_value,
                                                 "initial_accumulator_value", lo=0.0)
        self.epsilon = _number(epsilon, "epsilon", lo=0.0)

    def slot_names(self):
        return {"accumulator": self.initial_accumulator_value}

    def _kwargs(self):
        return {"initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}

    def _update(self, key, p, g, lr, step, s, tmp):
        acc = s["accumulator"]
        np.multiply(g, g, out=tmp)
        acc += tmp
        np.add(acc, F32(self.epsilon), out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= F32(lr)
        p -= tmp


class Adadelta(Optimizer):
    """Keras 3: a = rho a + (1 - rho) g^2; d = -sqrt(ad + eps) / sqrt(a + eps) g;
    ad = rho ad + (1 - rho) d^2; p += lr d. (Keras 3's default learning rate is 0.001; Keras 2
    and the original paper used 1.0.)"""

    slot_init = {"accumulated_grad": 0.0, "accumulated_delta_var": 0.0}

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho = _number(rho, "rho", 0.0, 1.0)
        self.epsilon = _number(epsilon, "epsilon", lo=0.0)

    def _kwargs(self):
        return {"rho": self.rho, "epsilon": self.epsilon}

    def _update(self, key, p, g, lr, step, s, tmp):
        rho, eps = F32(self.rho), F32(self.epsilon)
        acc, acc_d = s["accumulated_grad"], s["accumulated_delta_var"]
        acc *= rho
        np.multiply(g, g, out=tmp)
        tmp *= F32(1.0) - rho
        acc += tmp
        # d = -sqrt(acc_d + eps) * g / sqrt(acc + eps), in the order Keras computes it
        np.add(acc_d, eps, out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp *= g
        tmp /= np.sqrt(acc + eps)
        np.negative(tmp, out=tmp)
        acc_d *= rho
        acc_d += (F32(1.0) - rho) * (tmp * tmp)
        tmp *= F32(lr)
        p += tmp


class Adamax(Optimizer):
    """m += (g - m)(1 - b1); u = max(b2 u, |g|); p -= lr m / ((1 - b1^t)(u + eps))."""

    slot_init = {"momentum": 0.0, "norm": 0.0}

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", 0.0, 1.0, hi_open=True)
        self.beta_2 = _number(beta_2, "beta_2", 0.0, 1.0)
        self.epsilon = _number(epsilon, "epsilon", lo=0.0)

    def _kwargs(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}

    def _update(self, key, p, g, lr, step, s, tmp):
        b1p = np.power(F32(self.beta_1), F32(step))
        m, u = s["momentum"], s["norm"]
        _ema(m, g, self.beta_1, tmp)
        u *= F32(self.beta_2)
        np.abs(g, out=tmp)
        np.maximum(u, tmp, out=u)
        np.add(u, F32(self.epsilon), out=tmp)
        tmp *= F32(1) - b1p
        np.divide(m, tmp, out=tmp)
        tmp *= F32(lr)
        p -= tmp


class Nadam(Optimizer):
    """Adam with Nesterov momentum and Keras' momentum schedule
    u_t = b1 (1 - 0.5 * 0.96^t): m_hat = u_{t+1} m / (1 - prod u_1..u_{t+1})
    + (1 - u_t) g / (1 - prod u_1..u_t); v_hat = v / (1 - b2^t);
    p -= lr m_hat / (sqrt(v_hat) + eps)."""

    slot_init = {"momentum": 0.0, "velocity": 0.0}

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", 0.0, 1.0, hi_open=True)
        self.beta_2 = _number(beta_2, "beta_2", 0.0, 1.0, hi_open=True)
        self.epsilon = _number(epsilon, "epsilon", lo=0.0)
        self.u_product = F32(1.0)  # prod of u_1..u_t over the updates so far
        self._coef: tuple = ()

    def _kwargs(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}

    def _begin_step(self, step):
        t, b1, decay = F32(step), F32(self.beta_1), F32(0.96)
        u_t = b1 * (F32(1) - F32(0.5) * np.power(decay, t))
        u_t1 = b1 * (F32(1) - F32(0.5) * np.power(decay, t + F32(1)))
        self.u_product = u_prod = F32(self.u_product * u_t)
        u_prod_next = u_prod * u_t1
        b2p = np.power(F32(self.beta_2), t)
        self._coef = (u_t1 / (F32(1) - u_prod_next), (F32(1) - u_t) / (F32(1) - u_prod),
                      F32(1) - b2p)

    def _update(self, key, p, g, lr, step, s, tmp):
        c_m, c_g, bias2 = self._coef
        m, v = s["momentum"], s["velocity"]
        _ema(m, g, self.beta_1, tmp)
        _ema_sq(v, g, self.beta_2, tmp)
        # denominator: sqrt(v / (1 - b2^t)) + eps, built in tmp
        np.divide(v, bias2, out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp += F32(self.epsilon)
        num = m * c_m
        num += c_g * g
        num *= F32(lr)
        np.divide(num, tmp, out=tmp)
        p -= tmp


for _cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Adafactor, Ftrl,
             Lion, Lamb):
    _cls.__doc__ = f"{_cls.__doc__}\n\n{_BASE_DOC}"

OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax,
                                          Nadam, Adafactor, Ftrl, Lion, Lamb)
}


def get(spec: Any) -> Optimizer:
    """An optimizer from a name ("adam", "RMSprop"; case-insensitive as Keras), a
    `{"type": name, **kwargs}` dict (learning_rate may be a schedule dict), Keras'
    serialized `{"class_name": ..., "config": {...}}`, or an Optimizer instance."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, (str, dict)):
        name, kwargs = split_spec(spec)
    else:
        raise DefinitionError("an optimizer must be a name or {\"type\": name, ...}",
                              field="optimizer", received=f"optimizer={spec!r}")
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise DefinitionError(
            f"unknown optimizer '{name}'", field="optimizer", received=f"optimizer={spec!r}",
            hint=did_you_mean(str(name).lower(), OPTIMIZERS)
            or f"valid optimizers: {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[name.lower()]
    if isinstance(kwargs.get("learning_rate"), dict):
        kwargs["learning_rate"] = schedules.get(kwargs["learning_rate"])
    return construct(cls, kwargs, "optimizer")


__all__ = ["Optimizer", "get", "schedules", *(c.__name__ for c in OPTIMIZERS.values())]
