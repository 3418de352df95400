"""Serialized activations and initializers (every Keras version's spelling) -> seqc's.

Keras 2's hard_sigmoid is clip(0.2x + 0.5, 0, 1), Keras 3's relu6(x + 3) / 6; Keras 2.0 wrote
glorot_uniform & co. as VarianceScaling, whose "normal" is a truncated normal (before Keras
2.2.5 without the 0.8796 stddev correction).
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import SeqcError, did_you_mean
from ..ops._activations import ACTIVATIONS, HARD_SIGMOID_KERAS2, canonical
from ._keras_json_version import Reader, short, snake

# Keras 0.87962566: stddev of a unit normal truncated to [-2, 2].
TRUNC_STD = 0.87962566103423978


def _given(fld: str, text: str) -> str:
    """`received` for a value at `fld`: its last key and the value."""
    return f"{fld.split('.')[-1]}={text}"


def activation(r: Reader, value: Any, label: str, fld: str) -> Any:
    if value is None:
        return "linear"
    if isinstance(value, dict):
        cls = value.get("class_name")
        inner = value.get("config")
        if cls == "function" and isinstance(inner, str):
            value = inner  # Keras 3's serialized built-in function
        elif cls in ("function", "__lambda__") or (
                cls is None and ("value" in value or "function" in value)):
            # Keras 3 writes a lambda as {"value": [marshalled bytecode, ...]}.
            raise r.err("the activation is a Python function (a lambda or custom "
                        "code); seqc never runs code from a model file", label, fld,
                        _given(fld, "<serialized Python function>"),
                        hint="use a built-in activation name")
        elif isinstance(cls, str) and canonical(snake(cls)) in ACTIVATIONS:
            value = {"type": canonical(snake(cls)),
                     **(inner if isinstance(inner, dict) else {})}
        elif "type" not in value:
            raise r.err("unknown serialized activation", label, fld,
                        _given(fld, short(value)), hint="use a built-in activation name")
    if isinstance(value, str):
        name = canonical(value)
        if name not in ACTIVATIONS:
            raise r.err(f"unknown activation '{value}'", label, fld, _given(fld, repr(value)),
                        hint=did_you_mean(value, ACTIVATIONS)
                        or f"valid activations: {', '.join(sorted(ACTIVATIONS))}")
        if name == "hard_sigmoid" and r.keras2:
            return dict(HARD_SIGMOID_KERAS2)  # clip(0.2x + 0.5, 0, 1)
        return name
    return value


def initializer(r: Reader, value: Any, label: str, fld: str) -> Any:
    """Any serialized initializer -> a seqc name (when at that initializer's defaults) or
    {"type": name, **arguments}; checked against seqc's initializer table."""
    from ..training import initializers as inits

    if isinstance(value, dict) and not isinstance(value.get("config") or {}, dict):
        raise r.err(f"'{fld}.config' must be an object", label, f"{fld}.config",
                    _given(fld, short(value)),
                    hint='e.g. {"class_name": "GlorotUniform", "config": {"seed": null}}')
    try:
        out = canonical_initializer(value, legacy_normal=r.legacy_normal)
    except (TypeError, ValueError) as e:  # a wrong-typed argument (scale, mode, ...)
        raise r.err(f"'{fld}' is not a valid initializer: {e}", label, fld,
                    _given(fld, short(value))) from None
    try:
        inits.get(out)
    except SeqcError as e:
        raise r.located(e, label, fld, _given(fld, short(value))) from None
    return out


def canonical_initializer(value: Any, *, legacy_normal: bool = False) -> Any:
    """Any spelling of an initializer (name, Keras 2 or 3 serialized dict, seqc's
    {"type": ...}) -> seqc's canonical form: the snake_case name when every argument is at
    that initializer's default, else {"type": name, **non-default arguments}. Seeds are
    dropped (seqc seeds each parameter itself); VarianceScaling with the arguments of a named
    initializer becomes that name (Keras 2.0 wrote glorot_uniform as VarianceScaling)."""
    from ..training.initializers import INITIALIZERS

    if isinstance(value, str):
        name = _INIT_ALIASES.get(snake(value), snake(value))
        return name if name in INITIALIZERS else value
    if isinstance(value, dict):
        if "class_name" in value:
            name = value["class_name"]
            cfg = dict(value.get("config") or {})
        else:
            name = value.get("type")
            cfg = {k: v for k, v in value.items() if k != "type"}
    else:
        return value
    if not isinstance(name, str):
        return value
    key = _INIT_ALIASES.get(snake(name), snake(name))
    cfg.pop("seed", None)
    for k in ("input_axes", "output_axes"):
        if cfg.get(k, 0) is None:
            cfg.pop(k)
    if cfg.get("dtype") in ("float32", None):
        cfg.pop("dtype", None)
    if key == "variance_scaling":
        if cfg.get("distribution") == "normal":
            cfg["distribution"] = "truncated_normal"
            if legacy_normal:
                cfg["scale"] = float(cfg.get("scale", 1.0)) * TRUNC_STD ** 2
        named = _NAMED_VARIANCE_SCALING.get((_num(cfg.get("scale", 1.0)),
                                             cfg.get("mode", "fan_in"),
                                             cfg.get("distribution", "truncated_normal")))
        if named and set(cfg) <= {"scale", "mode", "distribution"}:
            return named
    if key not in INITIALIZERS:
        return {"type": name, **cfg}
    defaults = {k: p.default for k, p in inspect.signature(INITIALIZERS[key]).parameters.items()
                if p.default is not inspect.Parameter.empty and k != "seed"}
    # Keras-only arguments at None are Keras' defaults (Keras 3.15's input_axes/output_axes:
    # the usual fans); any other value stays and is refused by the initializer table.
    cfg = {k: v for k, v in cfg.items() if v is not None or k in defaults}
    extra = {k: v for k, v in cfg.items() if k not in defaults or defaults[k] != v}
    return key if not extra else {"type": key, **extra}


# Keras' short names for the same initializers.
_INIT_ALIASES = {"uniform": "random_uniform", "normal": "random_normal", "zero": "zeros",
                 "one": "ones"}

_NAMED_VARIANCE_SCALING = {
    (1.0, "fan_avg", "uniform"): "glorot_uniform",
    (1.0, "fan_avg", "truncated_normal"): "glorot_normal",
    (2.0, "fan_in", "uniform"): "he_uniform",
    (2.0, "fan_in", "truncated_normal"): "he_normal",
    (1.0, "fan_in", "uniform"): "lecun_uniform",
    (1.0, "fan_in", "truncated_normal"): "lecun_normal",
}


def _num(v: Any) -> Any:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
