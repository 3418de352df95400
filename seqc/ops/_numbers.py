"""Attribute annotation for numeric constants given in a config: a number or a (nested) list.

Rescaling's `scale`/`offset` and Normalization's `mean`/`variance` accept either; the canonical
form is a float or nested tuples of floats, so Attrs stay hashable and round-trip through JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DefinitionError
from .base import FLOAT32_RANGE, float32_value


class Numbers:
    description = "a number or a list of numbers"

    @staticmethod
    def coerce(value: Any, name: str) -> Any:
        def bad(why: str = "") -> DefinitionError:
            return DefinitionError(f"'{name}' must be {Numbers.description}{why}", field=name,
                                   received=f"{name}={value!r}")

        def walk(v: Any) -> Any:
            if isinstance(v, bool):
                raise bad()
            if isinstance(v, (int, float, np.integer, np.floating)):
                f = float32_value(v)
                if f is None:
                    raise bad(f" {FLOAT32_RANGE}")
                return f
            if isinstance(v, (list, tuple)):
                return tuple(walk(x) for x in v)
            raise bad()

        out = walk(value)
        if isinstance(out, tuple):
            try:
                arr = np.asarray(out, dtype=np.float64)
            except ValueError:
                raise bad(" (nested lists must be rectangular)") from None
            if arr.size == 0:
                raise bad(" (an empty list has no values)")
            if not np.isfinite(arr).all():
                raise bad(" (finite values only)")
        elif not np.isfinite(out):
            raise bad(" (finite values only)")
        return out


def as_array(value: Any, dtype: Any) -> np.ndarray:
    """A canonical Numbers value as an array of the computation's dtype."""
    return np.asarray(value, dtype=dtype)
