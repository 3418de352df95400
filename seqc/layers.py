"""`seqc.layers.Dense(32, activation="relu")` and friends: Keras-style constructors that
return layer configs. Generated from the registry, so every kind is here with Keras' own
positional order (the Attrs field order, with `activation` second where Keras has it).

    >>> import seqc
    >>> seqc.layers.Dense(4, activation="relu").config
    {'units': 4, 'activation': 'relu'}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import DefinitionError
from .ir.build import LayerConfig
from .ir.types import TensorType, batched
from .ops import REGISTRY
from .ops.base import KIND_ALIASES, string_layer_error


@dataclass(frozen=True)
class InputSpec:
    """What `seqc.layers.Input(shape)` returns: the model's input type."""

    type: TensorType


def Input(shape: tuple | list, dtype: str = "float32", name: str | None = None) -> InputSpec:  # noqa: N802
    """Keras' `keras.Input(shape=...)`: the per-sample shape, batch excluded."""
    if isinstance(shape, int):
        shape = (shape,)
    return InputSpec(batched(tuple(shape), dtype))


def _positional(kind: str) -> list[str]:
    op = REGISTRY[kind]
    names = [f.name for f in dataclasses.fields(op.Attrs)]
    if op.weight_args:
        # Keras puts the regularizer/constraint arguments (not attrs: seqc.ir.weight_args)
        # right after the initializers; positions past them would shift, so they must be named.
        last = max((i for i, n in enumerate(names)
                    if n.endswith("_initializer") or n == "unit_forget_bias"), default=None)
        if last is not None:
            names = names[:last + 1]
    if op.splits_activation:
        names.insert(op.activation_index, "activation")
    return names


def _make(kind: str):
    def ctor(*args: Any, name: str | None = None, trainable: bool = True,
             **kwargs: Any) -> LayerConfig:
        pos = _positional(kind)
        if len(args) > len(pos):
            raise DefinitionError(f"{kind} takes at most {len(pos)} positional arguments",
                                  field="args", received=f"{len(args)} positional arguments")
        config = dict(zip(pos, args))
        for k, v in kwargs.items():
            if k in config:
                raise DefinitionError(f"{kind} got '{k}' both by position and by name", field=k)
            config[k] = v
        return LayerConfig(kind, _jsonish(config), name, trainable)

    ctor.__name__ = ctor.__qualname__ = kind
    ctor.__doc__ = f"{kind}: {REGISTRY[kind].summary} Returns a layer config for Sequential."
    return ctor


def _jsonish(v: Any) -> Any:
    if isinstance(v, LayerConfig):  # a wrapped layer: Bidirectional(LSTM(8))
        return {"type": v.type, **_jsonish(v.config)}
    if isinstance(v, tuple):
        return [_jsonish(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonish(x) for k, x in v.items()}
    return v


def __getattr__(name: str):
    kind = KIND_ALIASES.get(name, name)  # seqc.layers.MaxPool2D is MaxPooling2D, as in Keras
    if kind in REGISTRY and kind != "InputLayer":
        return _make(kind)
    refusal = string_layer_error(name)
    if refusal is not None:
        raise AttributeError(f"seqc.layers has no layer '{name}': {refusal.message} "
                             f"({refusal.hint})")
    raise AttributeError(f"seqc.layers has no layer '{name}'")


def __dir__() -> list[str]:
    return sorted([*REGISTRY, *KIND_ALIASES, "Input"])
