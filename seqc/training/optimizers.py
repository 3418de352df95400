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

import math
from typing import Any, ClassVar

import numpy as np

from ..config import split_spec
from ..errors import DefinitionError, UsageError, did_you_mean
from . import schedules
from .losses import construct
from .schedules import LearningRateSchedule

F32 = np.float32
Slots = dict[str, np.ndarray]


def _number(value: Any, name: str, lo: float | None = None, hi: float | None = None,
            *, hi_open: bool = False, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DefinitionError(f"'{name}' must be a number", field=name,
                              received=f"{name}={value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}" \
              f"{')' if hi_open or hi is None else ']'}"
        raise DefinitionError(f"'{name}' must be in {rng}", field=name,
                              received=f"{name}={value!r}")
    return value


def _optional(value: Any, name: str, **kw: Any) -> float | None:
    return None if value is None else _number(value, name, **kw)


class Optimizer:
    """Base class: clipping, weight decay, schedules, accumulation, EMA and `iterations`.
    Subclasses implement `_update(key, p, g, lr, step, slots, tmp)`."""

    # Slot name -> initial value; created lazily per parameter.
    slot_init: ClassVar[dict[str, float]] = {}

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, use_ema: bool = False,
                 ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
                 loss_scale_factor: float | None = None,
                 gradient_accumulation_steps: int | None = None, name: str | None = None):
        self.name = name or type(self).__name__.lower()
        self._learning_rate: float | LearningRateSchedule = 0.0
        self.learning_rate = learning_rate
        self.weight_decay = _optional(weight_decay, "weight_decay", lo=0.0)
        self.clipnorm = _optional(clipnorm, "clipnorm", lo=0.0)
        self.clipvalue = _optional(clipvalue, "clipvalue", lo=0.0)
        self.global_clipnorm = _optional(global_clipnorm, "global_clipnorm", lo=0.0)
        given = [k for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(given) > 1:
            raise DefinitionError(
                "only one of clipnorm, clipvalue and global_clipnorm can be set",
                field=given[1], received=", ".join(f"{k}={getattr(self, k)}" for k in given))
        if not isinstance(use_ema, (bool, np.bool_)):
            raise DefinitionError("'use_ema' must be true or false", field="use_ema",
                                  received=f"use_ema={use_ema!r}")
        self.use_ema = bool(use_ema)
        self.ema_momentum = _number(ema_momentum, "ema_momentum", 0.0, 1.0)
        self.ema_overwrite_frequency = _optional_int(ema_overwrite_frequency,
                                                     "ema_overwrite_frequency", 1)
        # Recorded for round-tripping Keras configs. seqc trains in float32, where scaling the
        # loss up and the gradients down by the same factor cancels, so it changes nothing.
        self.loss_scale_factor = _optional(loss_scale_factor, "loss_scale_factor", lo=0.0,
                                           lo_open=True)
        self.gradient_accumulation_steps = _optional_int(gradient_accumulation_steps,
                                                         "gradient_accumulation_steps", 2)
        self.iterations = 0
        self.slots: dict[str, Slots] = {}
        # Scratch buffers (one per parameter) so updates allocate nothing after the first step.
        self._tmp: dict[str, np.ndarray] = {}
        self._accumulated: dict[str, np.ndarray] = {}
        self._averages: dict[str, np.ndarray] = {}

    # ---- learning rate ----
    @property
    def learning_rate(self) -> float:
        """The rate the next update uses: the schedule at `iterations`, or the float32 value."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(F32(self._learning_rate(self.iterations)))
        return float(F32(self._learning_rate))

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(value, dict):
            value = schedules.get(value)
        if isinstance(value, LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise UsageError(
                "this optimizer was created with a learning-rate schedule, so its learning "
                "rate cannot be set", field="learning_rate", received=f"learning_rate={value!r}",
                hint="create the optimizer with a float learning_rate to change it during "
                     "training (ReduceLROnPlateau)")
        self._learning_rate = _number(value, "learning_rate", lo=0.0)

    @property
    def schedule(self) -> LearningRateSchedule | None:
        lr = self._learning_rate
        return lr if isinstance(lr, LearningRateSchedule) else None

    # ---- the step ----
    def apply(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update params[k] in place for every k in grads; iterations += 1."""
        grads = {k: g for k, g in grads.items() if g is not None}
        if not grads:
            return
        for k, g in grads.items():
            if k not in params:
                raise UsageError(f"gradient for unknown parameter '{k}'", field="grads",
                                 received=k, hint=did_you_mean(k, params))
            if g.shape != params[k].shape:
                raise UsageError(f"gradient for '{k}' has the wrong shape", field=k,
                                 received=f"{g.shape}, parameter {params[k].shape}")
        steps = self.gradient_accumulation_steps
        if steps:
            update_now = (self.iterations + 1) % steps == 0
            if update_now:
                grads = {k: (g + self._accumulator(k, params[k])) / F32(steps)
                         for k, g in grads.items()}
            else:
                for k, g in grads.items():
                    self._accumulator(k, params[k])[...] += g
        if not steps or update_now:
            self._step(params, grads)
            for k in grads:
                if k in self._accumulated:
                    self._accumulated[k].fill(0.0)
        if self.use_ema:
            self._update_ema(params, grads)
        self.iterations += 1

    def _step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        grads = self._clip(grads)
        lr = self.learning_rate
        if self.weight_decay is not None:
            decay = F32(1.0) - F32(self.weight_decay) * F32(lr)
            for k in grads:
                params[k] *= decay
        step = self.local_step
        self._begin_step(step)
        for k, g in grads.items():
            p = params[k]
            if g.dtype != p.dtype:
                g = g.astype(p.dtype)
            self._update(k, p, g, lr, step, self._slots(k, p), self._scratch(k, p))

    @property
    def local_step(self) -> int:
        """1-based count of real updates: Keras' `iterations + 1`, where with gradient
        accumulation `iterations` counts updates, not calls."""
        steps = self.gradient_accumulation_steps
        return (self.iterations // steps if steps else self.iterations) + 1

    def _begin_step(self, step: int) -> None:
        """Per-update state shared by all parameters (Nadam's momentum product)."""

    def _update(self, key: str, p: np.ndarray, g: np.ndarray, lr: float, step: int,
                s: Slots, tmp: np.ndarray) -> None:
        raise NotImplementedError

    # ---- clipping (keras.src.optimizers.base_optimizer._clip_gradients) ----
    def _clip(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.clipnorm:
            c = F32(self.clipnorm)
            out = {}
            for k, g in grads.items():
                norm = F32(math.sqrt(float(np.dot(g.ravel(), g.ravel()))))
                out[k] = (g * c) / max(norm, c)
            return out
        if self.global_clipnorm:
            c = self.global_clipnorm
            norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads.values()))
            # Keras: c * min(1/norm, 1/c); a zero norm gives 1/0 = inf, hence scale 1; a
            # non-finite norm makes the scale NaN, as Keras' `+ (norm - norm)` does.
            scale = c * min(1.0 / norm if norm else math.inf, 1.0 / c)
            if not math.isfinite(norm):
                scale = math.nan
            return {k: g * F32(scale) for k, g in grads.items()}
        if self.clipvalue:
            v = F32(self.clipvalue)
            return {k: np.clip(g, -v, v) for k, g in grads.items()}
        return grads

    # ---- state ----
    def _slots(self, key: str, p: np.ndarray) -> Slots:
        s = self.slots.get(key)
        if s is None:
            s = self.slots[key] = {name: np.full(p.shape, init, p.dtype)
                                   for name, init in self.slot_names().items()}
        elif s and next(iter(s.values())).shape != p.shape:
            raise UsageError(f"parameter '{key}' changed shape since the optimizer first saw it",
                             field=key, received=f"{p.shape}",
                             hint="create a new optimizer after changing the model")
        return s

    def slot_names(self) -> dict[str, float]:
        """The slots this configuration needs, with their initial values."""
        return dict(self.slot_init)

    def _scratch(self, key: str, p: np.ndarray) -> np.ndarray:
        t = self._tmp.get(key)
        if t is None or t.shape != p.shape or t.dtype != p.dtype:
            t = self._tmp[key] = np.empty_like(p)
        return t

    def _accumulator(self, key: str, p: np.ndarray) -> np.ndarray:
        a = self._accumulated.get(key)
        if a is None:
            a = self._accumulated[key] = np.zeros_like(p)
        return a

    # ---- exponential moving average of the weights (use_ema) ----
    def _update_ema(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        it = self.iterations // self.gradient_accumulation_steps \
            if self.gradient_accumulation_steps else self.iterations
        m = F32(self.ema_momentum if it != 0 else 0.0)
        for k in grads:
            avg = self._averages.get(k)
            if avg is None:
                avg = self._averages[k] = np.zeros_like(params[k])
            avg *= m
            avg += (F32(1.0) - m) * params[k]
        freq = self.ema_overwrite_frequency
        if freq and (it + 1) % freq == 0:
            self.finalize_variable_values(params)

    def finalize_variable_values(self, params: dict[str, np.ndarray]) -> None:
        """With use_ema, overwrite the weights with their moving averages (Keras calls this
        at the end of fit)."""
        if self.use_ema:
            for k, avg in self._averages.items():
                params[k][...] = avg

    # ---- config ----
    def _kwargs(self) -> dict:
        return {}

    def get_config(self) -> dict:
        lr = self._learning_rate
        return {"type": type(self).__name__, "name": self.name,
                "learning_rate": lr.get_config() if isinstance(lr, LearningRateSchedule) else lr,
                **self._kwargs(),
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    def __repr__(self) -> str:
        lr = self._learning_rate
        args = ", ".join(f"{k}={v!r}" for k, v in {"learning_rate": lr, **self._kwargs()}.items())
        return f"{type(self).__name__}({args})"


def _optional_int(value: Any, name: str, lo: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise DefinitionError(f"'{name}' must be an integer >= {lo} or null", field=name,
                              received=f"{name}={value!r}")
    return int(value)


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
        self.nesterov = _flag(nesterov, "nesterov")

    def slot_names(self):
        return {"momentum": 0.0} if self.momentum != 0 else {}

    def _kwargs(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, key, p, g, lr, step, s, tmp):
        lr = F32(lr)
        if self.momentum == 0:
            np.multiply(g, lr, out=tmp)
            p -= tmp
            return
        m, mom = s["momentum"], F32(self.momentum)
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
        self.amsgrad = _flag(amsgrad, "amsgrad")

    def slot_names(self):
        return {**self.slot_init, **({"velocity_hat": 0.0} if self.amsgrad else {})}

    def _kwargs(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}

    def _update(self, key, p, g, lr, step, s, tmp):
        t = F32(step)
        # Scalars in float32, as Keras computes them from float32 tensors.
        b1p, b2p = np.power(F32(self.beta_1), t), np.power(F32(self.beta_2), t)
        alpha = F32(lr) * np.sqrt(F32(1) - b2p) / (F32(1) - b1p)
        m, v = s["momentum"], s["velocity"]
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
        self.centered = _flag(centered, "centered")

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

    def _update(self, key, p, g, lr, step, s, tmp):
        v, rho = s["velocity"], F32(self.rho)
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


def _ema(m: np.ndarray, g: np.ndarray, beta: float, tmp: np.ndarray) -> None:
    """m = beta m + (1 - beta) g, in place. 1 - beta is taken in double and then rounded, as
    torch does with a Python scalar: float32(1) - float32(0.999) is off by 1.3e-5 relative."""
    m *= F32(beta)
    np.multiply(g, F32(1.0 - beta), out=tmp)
    m += tmp


def _ema_sq(v: np.ndarray, g: np.ndarray, beta: float, tmp: np.ndarray) -> None:
    """v = beta v + (1 - beta) g^2, in place."""
    v *= F32(beta)
    np.multiply(g, g, out=tmp)
    tmp *= F32(1.0 - beta)
    v += tmp


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise DefinitionError(f"'{name}' must be true or false", field=name,
                              received=f"{name}={value!r}")
    return bool(value)


for _cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, Nadam):
    _cls.__doc__ = f"{_cls.__doc__}\n\n{_BASE_DOC}"

OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, Nadam)
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
