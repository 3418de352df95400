"""Keras' training-only layer arguments: `<x>_regularizer` and `<x>_constraint` for the weights
a kind declares (`OpDef.weight_args`), and the base Layer's `activity_regularizer`.

They never change the forward maths, so they are not attrs: `split` takes them out of a layer
config before its attrs are parsed, into `Node.training_args` ({Keras argument: spec as
written}; a wrapped layer's as "layer.kernel_regularizer"). `weight_settings` says which
parameter each acts on; seqc.training.penalties checks the specs and applies them. A null
value is Keras' "none" and is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import DefinitionError
from ..ops.attrs import FrozenDict, freeze
from ..ops.base import OpDef, get_op

ROLES = ("regularizer", "constraint")
ACTIVITY = "activity_regularizer"


def split(op: OpDef, config: dict) -> tuple[dict, FrozenDict | None]:
    """(config without its training-only arguments, those arguments or None)."""
    config = dict(config)
    found: dict[str, Any] = {}
    _take(op, config, "", found, activity=True)
    for key, (_, default_from) in op.wrapped_weights.items():
        inner = config.get(key)
        if not isinstance(inner, dict):
            if inner is None and default_from is not None:
                found.update({f"{key}.{k[len(default_from) + 1:]}": v for k, v in found.items()
                              if k.startswith(default_from + ".")})
            continue
        keras_form = isinstance(inner.get("class_name"), str)
        kind = inner["class_name"] if keras_form else inner.get("type")
        body = inner.get("config") if keras_form else {k: v for k, v in inner.items()
                                                        if k != "type"}
        if not isinstance(body, dict) or not isinstance(kind, str):
            continue  # the wrapper's own attr check reports the bad form
        body = dict(body)
        _take(get_op(kind), body, key + ".", found, activity=False)
        config[key] = {**inner, "config": body} if keras_form else {"type": kind, **body}
    return config, (FrozenDict((k, freeze(v)) for k, v in found.items()) or None)


def arg_names(op: OpDef) -> list[str]:
    """The training-only arguments the kind takes (Keras' names)."""
    names = [f"{x}_{role}" for x in op.weight_args for role in ROLES]
    if op.activity_penalty is None and op.kind != "InputLayer":
        names.append(ACTIVITY)
    return names


def _take(op: OpDef, config: dict, prefix: str, found: dict, *, activity: bool) -> None:
    for name in arg_names(op):
        if name not in config:
            continue
        value = config.pop(name)
        if value is None:
            continue
        if name == ACTIVITY and not activity:
            raise DefinitionError(
                "a wrapped layer's activity_regularizer is not supported", field=prefix + name,
                received=f"{prefix}{name}={value!r}",
                hint="put activity_regularizer on the wrapper instead")
        found[prefix + name] = _spec_form(value, prefix + name)


def _spec_form(value: Any, field: str) -> Any:
    """A name, a `{"type"/"class_name": ...}` dict, or a seqc regularizer/constraint object
    (stored as Keras' serialized form); the names are checked by seqc.training.penalties."""
    keras_config = getattr(value, "keras_config", None)
    if callable(keras_config):
        return keras_config()
    if isinstance(value, str) or (isinstance(value, dict)
                                  and ("type" in value or "class_name" in value)):
        return value
    raise DefinitionError(f"'{field}' must be a name or {{\"type\": name, ...}}", field=field,
                          received=f"{field}={value!r}")


def weight_settings(node: Any) -> Iterator[tuple[str, str, str, Any]]:
    """(local parameter, "regularizer" | "constraint", Keras argument, spec) for every weight
    setting of the node whose parameter exists (a bias_regularizer with use_bias=False acts on
    nothing, as in Keras)."""
    if not node.training_args:
        return
    op = get_op(node.op)
    for arg, spec in node.training_args.items():
        if arg == ACTIVITY:
            continue
        wrapper_key, _, name = arg.rpartition(".")
        target, prefix = op, ""
        if wrapper_key:
            prefix = op.wrapped_weights[wrapper_key][0]
            target = get_op(getattr(node.attrs, wrapper_key)["class_name"])
        x, _, role = name.rpartition("_")
        local = prefix + target.weight_args[x]
        if local in node.params:
            yield local, role, arg, spec


def keras_args(node: Any) -> dict[str, dict]:
    """Node.training_args grouped for writing a Keras config: {"": the layer's own,
    "layer": the wrapped layer's, ...}."""
    out: dict[str, dict] = {}
    for arg, spec in (node.training_args or {}).items():
        wrapper_key, _, name = arg.rpartition(".")
        out.setdefault(wrapper_key, {})[name] = spec
    return out
