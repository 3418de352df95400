"""Layer attributes: parsing a config against an `Attrs` dataclass (the annotations are the
schema: `parse_attrs`, `coerce`), the annotation types beyond Python's (`UInt64`,
`Initializer`), hashable JSON values (`freeze`, `FrozenDict`, back with `to_json`), and the
Keras-style argument checks the kinds share (`positive_int`, `in_range`, `expect_rank`,
`known_axes`). Errors are `DefinitionError`s naming the field; the caller adds file and layer.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal

import numpy as np

from ..errors import DefinitionError, did_you_mean
from ..ir.types import TensorType

_MISSING = dataclasses.MISSING
_F32_MAX = float(np.finfo(np.float32).max)


def parse_attrs(cls: type, config: dict, aliases: dict[str, str] | None = None) -> Any:
    aliases = aliases or {}
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in config.items():
        name = aliases.get(key, key)
        if name not in fields:
            raise DefinitionError(
                f"unknown argument '{key}'. Valid arguments: {', '.join(fields)}",
                field=key,
                received=f"{key}={raw!r}",
                hint=did_you_mean(key, list(fields) + list(aliases)),
            )
        if name in values:
            raise DefinitionError(
                f"argument '{name}' given twice (once as its alias '{key}')", field=key,
                received=f"{key}={raw!r}, {name}={config.get(name)!r}",
            )
        values[name] = coerce(hints[name], raw, name)
    for name, f in fields.items():
        if name not in values and f.default is _MISSING and f.default_factory is _MISSING:
            raise DefinitionError(
                f"missing required argument '{name}'", field=name,
                received=f"arguments {sorted(config)}",
            )
    return cls(**values)


def coerce(tp: Any, value: Any, name: str) -> Any:
    """Check and normalise one value against a type annotation; errors name the field."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def bad(expected: str) -> DefinitionError:
        return DefinitionError(
            f"'{name}' must be {expected}", field=name, received=f"{name}={value!r}"
        )

    if tp is Any:
        return freeze(value)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(a, value, name)
            except DefinitionError as e:
                errors.append(e)
        raise bad(" or ".join(describe(a) for a in args))
    if origin is Literal:
        if value in args:
            return value
        hint = did_you_mean(value, [str(a) for a in args]) if isinstance(value, str) else None
        e = bad("one of " + ", ".join(repr(a) for a in args))
        e.hint = hint
        raise e
    if origin is tuple:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and args[-1] is ...:
            value = (value,)
        if not isinstance(value, (list, tuple)):
            raise bad(describe(tp))
        if args and args[-1] is ...:
            return tuple(coerce(args[0], v, name) for v in value)
        if len(value) != len(args):
            raise bad(describe(tp))
        return tuple(coerce(a, v, name) for a, v in zip(args, value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad("true or false")
    if tp is UInt64:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
                and 0 <= int(value) < 2**64:
            return int(value)
        raise bad(UInt64.description)
    if tp is int:
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, (int, np.integer)):
            # Every integer attribute ends up an ONNX int64 (a size, an axis, a seed).
            if not -(2**63) <= int(value) < 2**63:
                raise bad("an integer within int64's range")
            return int(value)
        raise bad("an integer")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise bad("a number")
        f = float32_value(value)
        if f is None:
            raise bad(f"a number {FLOAT32_RANGE}")
        return f
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad("a string")
    if isinstance(tp, type) and hasattr(tp, "coerce"):
        return tp.coerce(value, name)
    raise TypeError(f"unsupported attribute annotation {tp!r} for {name}")


FLOAT32_RANGE = f"(finite, within float32's range |x| <= {_F32_MAX:.4g})"


def float32_value(value: Any) -> float | None:
    """`value` as a float, or None when a float32 model cannot hold it: NaN, +-Infinity, or
    past float32's range (an int too large for a float raises OverflowError). Every float
    attribute ends up in a float32 model, so these are refused before anything runs."""
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) and abs(f) <= _F32_MAX else None


class UInt64(int):
    """An attribute type: an integer of uint64's range (Hashing's SipHash salt, a uint64 key
    as Keras gives it), where plain `int` attributes are int64's."""

    description = "an integer from 0 to 2**64 - 1"


def describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        a = typing.get_args(tp)
        if a and a[-1] is ...:
            return f"a list of {describe(a[0])}s"
        return f"a list of {len(a)} values"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            type(None): "null"}.get(
        tp, getattr(tp, "description", getattr(tp, "__name__", str(tp)))
    )


def freeze(v: Any) -> Any:
    """Make JSON-ish values hashable so Attrs stay frozen and comparable."""
    if isinstance(v, dict):
        return FrozenDict((k, freeze(x)) for k, x in v.items())
    if isinstance(v, list):
        return tuple(freeze(x) for x in v)
    return v


def to_json(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, tuple):
        return [to_json(x) for x in v]
    return v


class FrozenDict(dict):
    """A dict that can sit in a frozen dataclass (hashable, immutable by convention)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted((k, repr(v)) for k, v in self.items())))


class Initializer:
    """Annotation for initializer arguments: a name or `{"class_name"/"type": ..., "config"}`.

    Only the form is checked here; the trainer's initializer registry checks the name when the
    model is built, before any allocation.
    """

    description = "an initializer name or {\"type\": name, ...}"

    @staticmethod
    def coerce(value: Any, name: str) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and ("type" in value or "class_name" in value):
            return freeze(value)
        raise DefinitionError(
            f"'{name}' must be {Initializer.description}", field=name, received=f"{name}={value!r}"
        )



def positive_int(attrs: Any, name: str) -> None:
    v = getattr(attrs, name)
    if v <= 0:
        raise DefinitionError(
            f"'{name}' must be a positive integer", field=name, received=f"{name}={v}"
        )


def in_range(attrs: Any, name: str, lo: float, hi: float, *, hi_open: bool = True) -> None:
    v = getattr(attrs, name)
    ok = lo <= v < hi if hi_open else lo <= v <= hi
    if not ok:
        bracket = ")" if hi_open else "]"
        raise DefinitionError(
            f"'{name}' must be in [{lo}, {hi}{bracket}", field=name, received=f"{name}={v}"
        )


def expect_rank(in_type: TensorType, min_rank: int, what: str, max_rank: int | None = None):
    r = in_type.rank
    if r < min_rank or (max_rank is not None and r > max_rank):
        want = f"rank {min_rank}" if max_rank == min_rank else f"rank >= {min_rank}"
        if max_rank is not None and max_rank != min_rank:
            want = f"rank {min_rank} to {max_rank}"
        raise DefinitionError(
            f"{what} needs an input of {want} (batch included)",
            field="input",
            received=f"input {in_type}",
        )


def known_axes(axis: tuple[int, ...], x: TensorType, *, unique: bool = False) -> list[int]:
    """`axis` (Keras' per-axis argument, batch included, negatives allowed) as non-negative
    axes of `x`, each in range and of known size; with `unique`, no axis named twice."""
    r = x.rank
    received = f"axis={list(axis)}, input {x}"
    if any(not -r <= d < r for d in axis):
        raise DefinitionError(f"`axis` must be in [-{r}, {r}) for a rank-{r} input",
                              field="axis", received=received)
    axes = [d % r for d in axis]
    if unique and len(set(axes)) != len(axes):
        raise DefinitionError("`axis` names the same axis twice", field="axis",
                              received=received)
    unknown = [d for d in axes if x.shape[d] is None]
    if unknown:
        what = "the batch axis" if 0 in unknown else f"axis {unknown[0]}"
        raise DefinitionError(
            f"normalized axes need a known size, and {what} is unknown", field="axis",
            received=received,
            hint="the batch is axis 0; feature axes count from 1 (or use -1)"
            if 0 in unknown else None)
    return axes
