"""`seqc.layers.Dense(32, activation="relu")` and friends: Keras-style constructors that
return layer configs. Generated from the registry, so every kind is here with Keras' own
positional order (the Attrs field order, with `activation` second where Keras has it).

    >>> import seqc
    >>> seqc.layers.Dense(4, activation="relu").config
    {'units': 4, 'activation': 'relu'}

A layer config is also callable on the symbolic tensors of Keras' functional API: `Input`
returns one, and calling a layer on one (or on a list, for a merge) returns the next; a layer
called twice is one shared layer (its weights serve both calls). `seqc.Model(inputs,
outputs)` traces the calls into a graph (seqc.ir.build.build_dag).

    >>> x = seqc.Input((4,), name="x")
    >>> h = seqc.layers.Dense(4, activation="relu")(x)
    >>> y = seqc.layers.Add()([h, x])
    >>> m = seqc.Model(inputs=x, outputs=y)
    >>> [n.op for n in m.graph.nodes], m.output_shape
    (['Dense', 'Activation', 'Add'], (None, 4))
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from .errors import DefinitionError, UsageError
from .ir.build import LayerConfig, NodeConfig, _auto_name, build_dag, snake_case
from .ir.types import TensorType, batched
from .ops import REGISTRY
from .ops.base import KIND_ALIASES, string_layer_error

_SERIAL = itertools.count()  # call order: a topological order of the traced graph


@dataclass(frozen=True, eq=False)
class InputSpec:
    """What `seqc.Input(shape)` returns: the model's input type, and the symbolic tensor a
    functional model starts from. Compared by identity, as Keras' tensors."""

    type: TensorType
    name: str | None = None

    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype


@dataclass(frozen=True, eq=False)
class KerasTensor:
    """The symbolic output of a layer call (`Dense(8)(x)`): the layer, what it was called on,
    and the call's place in the order of calls."""

    layer: Layer
    inputs: tuple
    serial: int
    # > 0: output k of the call that made inputs[0] (a recurrent layer's returned state)
    output: int = 0

    @property
    def shape(self) -> tuple:
        return _trace([*_sources(self)], [self], "shape").output_type.shape


Tensor = InputSpec | KerasTensor


def _arithmetic(kind: str, symbol: str):
    """`x + y`, `x - y`, `x * y` on symbolic tensors: Keras writes an operator node; the same
    arithmetic here is the merge layer of that name (broadcasting as Keras does)."""

    def op(self: Tensor, other: Any) -> KerasTensor:
        if not isinstance(other, InputSpec | KerasTensor):
            raise UsageError(
                f"'{symbol}' between a symbolic tensor and a constant is not modelled",
                field="inputs", received=f"{repr(other)[:60]} ({type(other).__name__})",
                hint="use a layer (e.g. seqc.layers.Rescaling for a constant scale or offset)")
        return _make(kind)()([self, other])

    return op


for _cls in (InputSpec, KerasTensor):
    _cls.__add__ = _arithmetic("Add", "+")
    _cls.__sub__ = _arithmetic("Subtract", "-")
    _cls.__mul__ = _arithmetic("Multiply", "*")


def Input(shape: tuple | list, dtype: str = "float32", name: str | None = None) -> InputSpec:  # noqa: N802
    """Keras' `keras.Input(shape=...)`: the per-sample shape, batch excluded."""
    if isinstance(shape, int):
        shape = (shape,)
    return InputSpec(batched(tuple(shape), dtype), name)


class Layer(LayerConfig):
    """A layer config made by `seqc.layers.<Kind>(...)`: a Sequential takes it as it is, and
    calling it on symbolic tensors builds a functional model."""

    def __call__(self, inputs: Any, initial_state: Any = None) -> Any:
        many = isinstance(inputs, list | tuple)
        xs = tuple(inputs) if many else (inputs,)
        states = getattr(REGISTRY.get(self.type), "n_states", 0)
        if initial_state is not None:
            if not states or many:
                raise UsageError(f"{self.type} takes no initial_state", field="initial_state",
                                 hint="SimpleRNN, GRU and LSTM called on one sequence do")
            xs += tuple(initial_state) if isinstance(initial_state, list | tuple) else (
                initial_state,)
        for x in xs:
            if not isinstance(x, InputSpec | KerasTensor):
                raise UsageError(
                    f"{self.type} is called on a {type(x).__name__}; in a functional model a "
                    "layer is called on symbolic tensors", field="inputs",
                    hint="start from x = seqc.Input(shape=...), then y = layer(x)")
        out = KerasTensor(self, xs, next(_SERIAL))
        if not (states and self.config.get("return_state")):
            return out
        # Keras: [output, h] ([output, h, c] for an LSTM)
        return [out, *(KerasTensor(self, (out,), out.serial, k) for k in range(1, states + 1))]


def _as_list(v: Any, what: str) -> list:
    items = list(v) if isinstance(v, list | tuple) else [v]
    if not items or not all(isinstance(t, InputSpec | KerasTensor) for t in items):
        raise UsageError(f"Model({what}=...) takes a symbolic tensor or a list of them",
                         field=what, received=repr(v)[:80],
                         hint="x = seqc.Input(shape=...); y = seqc.layers.Dense(1)(x); "
                              "seqc.Model(inputs=x, outputs=y)")
    return items


def _sources(t: Tensor):
    """The Inputs a tensor depends on, in order of first appearance."""
    seen: dict[int, InputSpec] = {}
    stack = [t]
    while stack:
        v = stack.pop()
        if isinstance(v, InputSpec):
            seen.setdefault(id(v), v)
        else:
            stack.extend(reversed(v.inputs))
    return seen.values()


def functional_graph(inputs: Any, outputs: Any, name: str = "functional"):
    """The graph of a functional model: the layer calls between `inputs` and `outputs`."""
    return _trace(_as_list(inputs, "inputs"), _as_list(outputs, "outputs"), name)


def _trace(inputs: list, outputs: list, name: str):
    for t in inputs:
        if not isinstance(t, InputSpec):
            raise UsageError("Model(inputs=...) takes the tensors made by seqc.Input",
                             field="inputs", received=f"the output of a {t.layer.type} layer")
    # Every layer call on a path to an output, in call order (so each reads earlier values).
    calls: dict[int, KerasTensor] = {}
    stack = list(outputs)
    while stack:
        v = stack.pop()
        if isinstance(v, KerasTensor) and v.output:  # a state: its call's main tensor
            stack.append(v.inputs[0])
        elif isinstance(v, KerasTensor) and id(v) not in calls:
            calls[id(v)] = v
            stack.extend(v.inputs)
        elif isinstance(v, InputSpec) and all(v is not t for t in inputs):
            raise UsageError(f"an output depends on the Input {v.name or v.shape}, which is "
                             "not among the model's inputs", field="inputs",
                             hint="list every Input the outputs are computed from")
    order = sorted(calls.values(), key=lambda c: c.serial)
    given = {t.name for t in inputs if t.name} | {c.layer.name for c in order if c.layer.name}
    counters: dict[str, int] = {}
    used = set(given)
    value: dict[int, str] = {}
    in_types = {}
    for t in inputs:
        nm = t.name or _auto_name("input_layer", counters, used)
        if nm in in_types:
            raise DefinitionError(f"two inputs are named '{nm}'", field="name",
                                  received=f"name={nm!r}")
        used.add(nm)
        value[id(t)] = nm
        in_types[nm] = t.type
    entries, layer_names = [], {}
    for c in order:
        owner = layer_names.get(id(c.layer))
        if owner is None:
            kind = REGISTRY[c.layer.type].kind
            nm = c.layer.name or _auto_name(snake_case(kind), counters, used)
            layer_names[id(c.layer)] = nm
            entry = NodeConfig(c.layer.type, dict(c.layer.config), nm, [], c.layer.trainable)
        else:  # the layer called again: a shared layer, its weights the first call's
            nm = _auto_name(owner, counters, used)
            entry = NodeConfig(c.layer.type, {}, nm, [], c.layer.trainable, shared_with=owner)
        used.add(nm)
        entry.inputs = [_ref(v, value) for v in c.inputs]
        value[id(c)] = nm
        entries.append(entry)
    if not entries:
        raise DefinitionError("the model has no layers between its inputs and outputs",
                              field="outputs", hint="call layers on the Input")
    return build_dag(name, in_types, entries, [_ref(t, value) for t in outputs])


def _ref(t: Tensor, value: dict[int, str]) -> str:
    """The graph value of a tensor: output k > 0 of a call is `name:k`."""
    if isinstance(t, KerasTensor) and t.output:
        return f"{value[id(t.inputs[0])]}:{t.output}"
    return value[id(t)]


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
             **kwargs: Any) -> Layer:
        pos = _positional(kind)
        if len(args) > len(pos):
            raise DefinitionError(f"{kind} takes at most {len(pos)} positional arguments",
                                  field="args", received=f"{len(args)} positional arguments")
        config = dict(zip(pos, args))
        for k, v in kwargs.items():
            if k in config:
                raise DefinitionError(f"{kind} got '{k}' both by position and by name", field=k)
            config[k] = v
        return Layer(kind, _jsonish(config), name, trainable)

    ctor.__name__ = ctor.__qualname__ = kind
    ctor.__doc__ = (f"{kind}: {REGISTRY[kind].summary} Returns a layer config for Sequential, "
                    "callable on symbolic tensors (the functional API).")
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
