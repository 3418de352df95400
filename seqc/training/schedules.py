"""Learning-rate schedules with Keras 3's formulas, evaluated at the optimizer's `iterations`
(the number of updates already applied, so the first update uses step 0), rounded to float32
as Keras computes them.

ExponentialDecay: lr0 * rate ** (step / decay_steps) (floored when staircase);
PiecewiseConstantDecay: values[i] for boundaries[i-1] < step <= boundaries[i];
CosineDecay: optional linear warmup to warmup_target, then
lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha);
CosineDecayRestarts: the same cosine over periods growing t_mul times, restarting at m_mul
times the previous peak.

    >>> from seqc.training.schedules import ExponentialDecay
    >>> round(ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)(20), 6)
    0.025
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..config import split_spec
from ..errors import DefinitionError, did_you_mean
from .args import construct


class LearningRateSchedule:
    """Base class: `schedule(step) -> float`. Subclasses keep Keras' argument names."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = None  # type: ignore[assignment]


F32 = np.float32


def _f32(x: float) -> float:
    # Keras evaluates schedules in float32 tensors; rounding the result the same way keeps
    # the learning rate bit-identical to the one Keras feeds the update.
    return float(np.float32(x))


def _cosine(fraction: np.float32, alpha: float) -> np.float32:
    """(1 - alpha) 0.5 (1 + cos(pi fraction)) + alpha, in float32 as Keras computes it. The
    cosine itself is rounded from double: float32 cos differs by an ulp between libraries
    (torch's agrees with the rounded double cos 95% of the time, NumPy's 83%)."""
    cosine = F32(0.5) * (F32(1.0) + F32(math.cos(F32(math.pi) * fraction)))
    return F32(1.0 - alpha) * cosine + F32(alpha)


def _number(value: Any, name: str, *, positive: bool = False, nonneg: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DefinitionError(f"'{name}' must be a number", field=name,
                              received=f"{name}={value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise DefinitionError(f"'{name}' must be finite", field=name, received=f"{name}={value}")
    if positive and value <= 0:
        raise DefinitionError(f"'{name}' must be > 0", field=name, received=f"{name}={value}")
    if nonneg and value < 0:
        raise DefinitionError(f"'{name}' must be >= 0", field=name, received=f"{name}={value}")
    return value


def _keep_int(value: Any) -> Any:
    """Keep integral numbers as ints in configs (decay_steps=1000, not 1000.0)."""
    return int(value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
        else float(value)


class _RateDecay(LearningRateSchedule):
    """The arguments and config shared by ExponentialDecay and InverseTimeDecay; each keeps
    Keras' signature (and its own default name) and calls this."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool, name: str):
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        _number(decay_steps, "decay_steps", positive=True)
        self.decay_steps = _keep_int(decay_steps)
        self.decay_rate = _number(decay_rate, "decay_rate")
        self.staircase = bool(staircase)
        self.name = name

    def get_config(self) -> dict:
        return {"type": type(self).__name__, "initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """initial_learning_rate * decay_rate ** (step / decay_steps)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: int) -> float:
        p = float(np.float32(step) / np.float32(self.decay_steps))
        if self.staircase:
            p = math.floor(p)
        return _f32(np.float32(self.initial_learning_rate)
                    * np.power(np.float32(self.decay_rate), np.float32(p)))


class InverseTimeDecay(_RateDecay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return _f32(self.initial_learning_rate / (1.0 + self.decay_rate * p))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <=
    boundaries[i], values[-1] after the last boundary."""

    def __init__(self, boundaries: list, values: list, name: str = "PiecewiseConstant"):
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise DefinitionError("'boundaries' and 'values' must be lists", field="boundaries",
                                  received=f"boundaries={boundaries!r}, values={values!r}")
        if len(boundaries) != len(values) - 1:
            raise DefinitionError(
                "the length of boundaries should be 1 less than the length of values",
                field="boundaries",
                received=f"{len(boundaries)} boundaries and {len(values)} values")
        for b in boundaries:
            _number(b, "boundaries")
        self.boundaries = [_keep_int(b) for b in boundaries]
        self.values = [_number(v, "values") for v in values]
        self.name = name

    def __call__(self, step: int) -> float:
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return _f32(v)
        return _f32(self.values[-1])

    def get_config(self) -> dict:
        return {"type": "PiecewiseConstantDecay", "boundaries": list(self.boundaries),
                "values": list(self.values), "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(lr0 - end) * (1 - step / decay_steps) ** power + end; with cycle, decay_steps grows
    to the next multiple that covers step."""

    def __init__(self, initial_learning_rate: float, decay_steps: int,
                 end_learning_rate: float = 0.0001, power: float = 1.0, cycle: bool = False,
                 name: str = "PolynomialDecay"):
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        _number(decay_steps, "decay_steps", positive=True)
        self.decay_steps = _keep_int(decay_steps)
        self.end_learning_rate = _number(end_learning_rate, "end_learning_rate")
        self.power = _number(power, "power")
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step: int) -> float:
        steps = float(self.decay_steps)
        if self.cycle:
            steps *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, steps)
        p = step / steps
        return _f32((self.initial_learning_rate - self.end_learning_rate)
                    * (1.0 - p) ** self.power + self.end_learning_rate)

    def get_config(self) -> dict:
        return {"type": "PolynomialDecay", "initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from initial_learning_rate (or, with warmup_target, a linear warmup over
    warmup_steps from initial_learning_rate to warmup_target, then cosine decay from it)
    to alpha times that rate over decay_steps; constant afterwards."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: float | None = None,
                 warmup_steps: int = 0):
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        _number(decay_steps, "decay_steps", positive=True)
        self.decay_steps = _keep_int(decay_steps)
        self.alpha = _number(alpha, "alpha")
        self.name = name
        self.warmup_target = None if warmup_target is None else _number(warmup_target,
                                                                         "warmup_target")
        _number(warmup_steps, "warmup_steps", nonneg=True)
        self.warmup_steps = _keep_int(warmup_steps)

    def _decay(self, step: np.float32, start_lr: np.float32) -> float:
        return _f32(start_lr * _cosine(step / F32(self.decay_steps), self.alpha))

    def __call__(self, step: int) -> float:
        # float32 throughout, in Keras' order: near the end of the decay 1 + cos(pi t) is
        # small, and float64 arithmetic would differ from Keras' by several float32 steps.
        lr0, steps, step = F32(self.initial_learning_rate), F32(self.decay_steps), F32(step)
        if self.warmup_target is None:
            return self._decay(min(step, steps), lr0)
        target, warmup = F32(self.warmup_target), F32(self.warmup_steps)
        step = min(step, steps + warmup)
        if step < warmup:
            return _f32((target - lr0) * (step / warmup) + lr0)
        return self._decay(step - warmup, target)

    def get_config(self) -> dict:
        return {"type": "CosineDecay", "initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov and Hutter): the first period lasts
    first_decay_steps, each next one t_mul times longer, restarting at m_mul times the last
    restart's rate; within a period lr0 m_mul^i ((1 - alpha) 0.5 (1 + cos(pi t)) + alpha)."""

    def __init__(self, initial_learning_rate: float, first_decay_steps: int, t_mul: float = 2.0,
                 m_mul: float = 1.0, alpha: float = 0.0, name: str = "SGDRDecay"):
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        _number(first_decay_steps, "first_decay_steps", positive=True)
        self.first_decay_steps = _keep_int(first_decay_steps)
        self.t_mul = _number(t_mul, "t_mul", positive=True)
        self.m_mul = _number(m_mul, "m_mul")
        self.alpha = _number(alpha, "alpha")
        self.name = name

    def __call__(self, step: int) -> float:
        # float32 in Keras' order, logarithms rounded from double (see _cosine).
        t_mul, one = F32(self.t_mul), F32(1.0)
        fraction = F32(step) / F32(self.first_decay_steps)
        if t_mul == one:
            restart = np.floor(fraction)
            fraction -= restart
        else:
            restart = np.floor(F32(math.log(one - fraction * (one - t_mul)))
                               / F32(math.log(t_mul)))
            length = np.power(t_mul, restart)
            fraction = (fraction - (one - length) / (one - t_mul)) / length
        alpha = F32(self.alpha)
        cosine = F32(0.5) * np.power(F32(self.m_mul), restart) * (
            one + F32(math.cos(F32(math.pi) * fraction)))
        return _f32(F32(self.initial_learning_rate) * ((one - alpha) * cosine + alpha))

    def get_config(self) -> dict:
        return {"type": "CosineDecayRestarts",
                "initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


class StepLR(LearningRateSchedule):
    """seqc's, not Keras': PyTorch's `torch.optim.lr_scheduler.StepLR` stepped once per epoch,
    initial_learning_rate * gamma ** floor(epoch / step_size). The epoch comes from the
    optimizer step and the fit's steps per epoch, which fit sets (`steps_per_epoch`)."""

    def __init__(self, initial_learning_rate: float, step_size: int, gamma: float = 0.1,
                 name: str = "StepLR"):
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate")
        _number(step_size, "step_size", positive=True)
        self.step_size = _keep_int(step_size)
        self.gamma = _number(gamma, "gamma")
        self.name = name
        self.steps_per_epoch: int | None = None

    def __call__(self, step: int) -> float:
        if self.steps_per_epoch is None:
            raise DefinitionError("StepLR counts epochs, so it needs the fit's steps per epoch",
                                  field="learning_rate", received="StepLR outside fit")
        epoch = step // self.steps_per_epoch
        return _f32(self.initial_learning_rate * self.gamma ** (epoch // self.step_size))

    def get_config(self) -> dict:
        return {"type": "StepLR", "initial_learning_rate": self.initial_learning_rate,
                "step_size": self.step_size, "gamma": self.gamma, "name": self.name}


SCHEDULES: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls
    for cls in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay,
                CosineDecay, CosineDecayRestarts, StepLR)
}
# Schedules Keras has (the others are seqc's, for what PyTorch scripts use).
KERAS_SCHEDULES = ("ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay",
                   "PolynomialDecay", "CosineDecay", "CosineDecayRestarts")


def get(spec: Any) -> LearningRateSchedule:
    """A schedule from `{"type": "ExponentialDecay", ...}`, Keras' serialized
    `{"class_name": ..., "config": {...}}`, or an instance."""
    if isinstance(spec, LearningRateSchedule):
        return spec
    if not isinstance(spec, dict):
        raise DefinitionError("a learning-rate schedule must be {\"type\": name, ...}",
                              field="learning_rate", received=f"learning_rate={spec!r}")
    name, kwargs = split_spec(spec)
    if not isinstance(name, str) or name not in SCHEDULES:
        raise DefinitionError(
            f"unknown learning-rate schedule '{name}'", field="learning_rate",
            received=f"learning_rate={spec!r}",
            hint=did_you_mean(str(name), SCHEDULES) or f"valid: {', '.join(SCHEDULES)}")
    return construct(SCHEDULES[name], kwargs, "schedule")


__all__ = ["LearningRateSchedule", "get", *SCHEDULES]
