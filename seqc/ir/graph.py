"""The model as data: nodes in topological order over named values, plus a parameter table.

A sequential model is the straight-line case, but nothing here forbids branches. Parameter
`dense/kernel` belongs to node `dense`, local name `kernel`; `Graph.param_specs` keeps them in
Keras' order (layer by layer, each layer's own order), which is `get_weights()` order. For a
subclassed Keras model read from a script that is the order `__init__` assigns the layers, not
the nodes' order (seqc.frontend._pyscript_weight_order.reorder_weights).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .types import ParamSpec, TensorType


@dataclass(frozen=True)
class Node:
    op: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Any
    params: tuple[str, ...] = ()  # local parameter names; the table key is f"{name}/{local}"
    # The user-written layer this node came from: Dense(activation="relu") gives nodes `dense`
    # and `dense/activation`, both with layer "dense". Summaries and errors speak of layers.
    layer: str = ""
    trainable: bool = True
    # Training-only Keras arguments of the layer (`kernel_regularizer`, `bias_constraint`,
    # `activity_regularizer`; `layer.kernel_regularizer` for a wrapped layer's) as written:
    # they change training, never the forward maths (seqc.ir.weight_args says what each acts
    # on; seqc.training.penalties applies them).
    training_args: Any = None
    # A shared layer (Keras: one layer object called on several values): the node whose
    # parameters this node reads, or "" for its own. Its parameter table keys are then the
    # owner's (`owner/kernel`), so training sums both calls' gradients into one table entry.
    shares: str = ""

    def param_key(self, local: str) -> str:
        return f"{self.shares or self.name}/{local}"

    def replace(self, **changes: Any) -> Node:
        return dataclasses.replace(self, **changes)


def in_masked(op: Any, inputs: tuple[str, ...] | list[str], masked: Any) -> Any:
    """What `OpDef.output_masked` receives: whether the input carries a mask (one-input
    kinds), or a tuple of one bool per input (kinds with `multi_input`)."""
    if op.multi_input:
        return tuple(v in masked for v in inputs)
    return inputs[0] in masked


def node_masks(op: Any, inputs: tuple[str, ...] | list[str], masks: dict) -> Any:
    """The mask(s) a node reads from `masks` (value -> mask, any representation): the first
    input's (or None) for one-input kinds, a list of one per input for `multi_input` kinds."""
    if op.multi_input:
        return [masks.get(v) for v in inputs]
    return masks.get(inputs[0])


@dataclass(frozen=True)
class Graph:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    types: dict[str, TensorType]
    param_specs: dict[str, ParamSpec] = field(default_factory=dict)
    # A PyTorch forward(x, hidden) -> (out, hidden): each recurrent state input with the
    # output that gives its next value (h0 -> hn). Both hold (N, layers, hidden) here, batch
    # first as every IR value; the ONNX model has PyTorch's (layers, N, hidden) at its
    # boundary, and an input not given is zeros (frontend/_pyscript_torch_state.py).
    states: dict[str, str] = field(default_factory=dict)
    # A PyTorch forward folding an RNN's (N, T, H) output into (N * T, H) rows before
    # per-step layers (`out.view(-1, H)` -> Linear): the outputs so folded. They hold (N, T,
    # ...) here, keeping the batch on axis 0 for fit's row slices and validation's row
    # comparisons (the same numbers: PyTorch's row n * T + t is [n, t]); the ONNX model
    # reshapes them to PyTorch's (N * T, ...) at its boundary (boundary_type).
    folds: tuple[str, ...] = ()

    @property
    def input_type(self) -> TensorType:
        return self.types[self.inputs[0]]

    @property
    def output_type(self) -> TensorType:
        return self.types[self.outputs[0]]

    def boundary_type(self, value: str) -> TensorType:
        """A value's type as the exported model holds it: a folded output's (N * T, ...) as
        (None, ...) (Graph.folds), any other value's IR type."""
        t = self.types[value]
        return TensorType((None, *t.shape[2:]), t.dtype) if value in self.folds else t

    @property
    def output_names(self) -> list[str]:
        """Keras' names of the outputs: the name of the layer computing each output (a
        Dense(activation=...)'s split-off activation counts as the Dense), made unique with
        `_j` where two outputs come from one layer. Losses, metrics and log keys of a model
        with several outputs, and its ONNX outputs, use them."""
        layer_of = {v: n.layer or n.name for n in self.nodes for v in n.outputs}
        names = [layer_of.get(v, v) for v in self.outputs]
        return [n if names.count(n) == 1 else f"{n}_{j}" for j, n in enumerate(names)]

    @cached_property
    def masked(self) -> frozenset[str]:
        """The values that carry a timestep mask (see `OpDef.output_masked`)."""
        from ..ops import REGISTRY

        out: set[str] = set()
        for n in self.nodes:
            if REGISTRY[n.op].output_masked(n.attrs, in_masked(REGISTRY[n.op], n.inputs, out)):
                out.add(n.outputs[0])  # a recurrent layer's returned states carry none
        return frozenset(out)

    @property
    def is_chain(self) -> bool:
        """True for a Sequential's graph: one input, one output, each node reading the one
        value before it (what writers of Sequential forms, like the .keras writer, need)."""
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            return False
        cur = self.inputs[0]
        for n in self.nodes:
            if n.inputs != (cur,) or len(n.outputs) != 1:
                return False
            cur = n.outputs[0]
        return cur == self.outputs[0]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def count_params(self) -> int:
        total = 0
        for spec in self.param_specs.values():
            n = 1
            for d in spec.shape:
                n *= d
            total += n
        return total

    def replace(self, **changes: Any) -> Graph:
        return dataclasses.replace(self, **changes)


def zero_states(graph: Any, x: Any) -> Any:
    """x with each recurrent state input it does not give (Graph.states: a PyTorch
    forward(x, hidden)) as zeros, the scripts' `init_hidden`: an array for the one other
    input becomes a dict by name. Anything else is returned as it is."""
    import numpy as np

    if graph is None or not getattr(graph, "states", None) or x is None:
        return x
    data = [n for n in graph.inputs if n not in graph.states]
    if not isinstance(x, dict):
        if len(data) != 1 or isinstance(x, (list, tuple)):
            return x
        x = {data[0]: x}
    if any(n not in x for n in data):
        return x
    rows = len(next(iter(x.values())))
    out = {}
    for n in graph.inputs:
        t = graph.types[n]
        out[n] = x[n] if n in x else np.zeros((rows, *t.shape[1:]), t.dtype)
    return out

