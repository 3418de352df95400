"""Checks for the constructor arguments of losses, optimizers and schedules.

Each returns the value normalised (float, int, bool) or raises a DefinitionError naming the
argument; `construct` builds `cls(**kwargs)` and reports unknown argument names.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..errors import DefinitionError, did_you_mean


def float_arg(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise DefinitionError(f"'{name}' must be a number", field=name,
                              received=f"{name}={value!r}")
    value = float(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise DefinitionError(f"'{name}' must be in [{lo}, {hi if hi is not None else 'inf'}]",
                              field=name, received=f"{name}={value!r}")
    return value


def int_arg(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DefinitionError(f"'{name}' must be an integer", field=name,
                              received=f"{name}={value!r}")
    return int(value)


def bool_arg(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise DefinitionError(f"'{name}' must be true or false", field=name,
                              received=f"{name}={value!r}")
    return bool(value)


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
