"""Regularizers and constraints of a graph, applied as Keras 3 applies them in `fit`:

- the loss of a step is compile loss + the weight penalties of the trainable weights (Keras'
  `Layer._get_regularization_losses` reads `trainable_weights`, so a frozen layer adds none)
  + every activity penalty, regularizer(layer output) / batch size (`Layer.__call__`), also in
  evaluate and validation (Keras' `test_step` calls the same `compute_loss`);
- the penalties' gradients join the parameter gradients (before clipping), and an activity
  penalty's gradient flows back from the layer's output;
- after each optimizer update (EMA included) every constraint projects its trainable weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SeqcError, layer_label
from ..ir.weight_args import ACTIVITY, weight_settings
from ..ops import REGISTRY
from . import constraints as constraints_mod
from . import regularizers as regularizers_mod


@dataclass
class Penalties:
    regularizers: list[tuple[str, Any]] = field(default_factory=list)  # (param key, reg)
    activity: list[tuple[str, Any]] = field(default_factory=list)  # (value name, reg)
    constraints: list[tuple[str, Any]] = field(default_factory=list)  # (param key, constraint)

    def __bool__(self) -> bool:
        return bool(self.regularizers or self.activity or self.constraints)

    @property
    def activity_values(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.activity)

    def weight_loss(self, params: dict[str, np.ndarray]) -> float:
        return float(sum(reg(params[k]) for k, reg in self.regularizers))

    def add_weight_grads(self, params: dict[str, np.ndarray],
                         grads: dict[str, np.ndarray]) -> None:
        for k, reg in self.regularizers:
            if k in grads:
                grads[k] = grads[k] + reg.grad(params[k]).astype(grads[k].dtype)

    def activity_loss(self, values: dict[str, np.ndarray], *,
                      grads: bool) -> tuple[float, dict[str, np.ndarray]]:
        """(sum of regularizer(output) / batch size, d that / d output per value)."""
        total, out = 0.0, {}
        for v, reg in self.activity:
            y = values[v]
            n = y.shape[0] if y.ndim else 1
            if n == 0:
                continue  # Keras' divide_no_nan
            total += reg(y) / n
            if grads:
                g = (reg.grad(y) / n).astype(y.dtype)
                out[v] = out[v] + g if v in out else g
        return total, out

    def constrain(self, params: dict[str, np.ndarray], updated: Any) -> None:
        for k, c in self.constraints:
            if k in updated:
                params[k] = c(params[k])

    def after(self, graph: Any, index: int) -> bool:
        """Whether an activity penalty reads a value computed after node `index` (backward
        must then start at the graph output)."""
        late = {v for node in graph.nodes[index + 1:] for v in node.outputs}
        return any(v in late for v, _ in self.activity)


def collect(graph: Any, file: str | None = None) -> Penalties:
    """The graph's penalties and constraints, resolved; a bad spec is a DefinitionError
    naming the layer and the argument."""
    out = Penalties()
    last_of_layer = {node.layer or node.name: node.outputs[0] for node in graph.nodes}
    for node in graph.nodes:
        # Named, not numbered: node indices count split-off activations, not spec layers.
        label = layer_label(None, node.layer or node.name, node.op)
        try:
            _collect_node(graph, node, out, last_of_layer)
        except SeqcError as e:
            raise e.located(file=file, layer=label) from None
    return out


def _collect_node(graph: Any, node: Any, out: Penalties, last_of_layer: dict) -> None:
    op = REGISTRY[node.op]
    args = node.training_args or {}
    spec = args.get(ACTIVITY)
    if spec is None and op.activity_penalty is not None:
        spec = op.activity_penalty(node.attrs)
    if spec is not None:
        reg = regularizers_mod.get(spec, ACTIVITY)
        if reg is not None:
            out.activity.append((last_of_layer[node.layer or node.name], reg))
    # A shared layer's weights are regularised and constrained once, at their owner (Keras
    # adds a layer's weight penalties once however often it is called).
    for local, role, arg, spec in [] if node.shares else weight_settings(node):
        key = node.param_key(local)
        pspec = graph.param_specs[key]
        if role == "regularizer":
            obj = regularizers_mod.get(spec, arg)
        else:
            obj = constraints_mod.get(spec, arg)
        obj.validate(pspec.shape, arg)
        if node.trainable and pspec.trainable:
            (out.regularizers if role == "regularizer" else out.constraints).append((key, obj))


def check(graph: Any, file: str | None = None) -> None:
    """Definition-time check of every regularizer and constraint (names, arguments, and
    that each fits its weight's shape)."""
    collect(graph, file)
