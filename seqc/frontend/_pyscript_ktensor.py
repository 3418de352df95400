"""Keras symbolic tensors of a script (a layer call and the tensors it read), walked in
graph order, and the tables of Keras' merge functions and keras.ops arithmetic. A leaf: the
functional reader (_pyscript_functional), a call()'s walker (_pyscript_forward_merge) and
the subclassed-model reader (_pyscript_subclass) share these.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

# keras.layers' merge functions: `layers.add([x, y])` is `layers.Add()([x, y])`
MERGE_FUNCTIONS = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply",
                   "average": "Average", "maximum": "Maximum", "minimum": "Minimum",
                   "concatenate": "Concatenate", "dot": "Dot"}
# keras.ops / tf functions on symbolic tensors: the operator they are
_OPS = {"add": ast.Add(), "subtract": ast.Sub(), "multiply": ast.Mult()}
_OPS_MODULES = ("keras.ops.", "keras.ops.numpy.", "tensorflow.", "tensorflow.math.")


@dataclass(eq=False)
class KTensor:
    """The output of a layer call: the layer (an Input's Layer for a model input) and the
    tensors the call read."""

    layer: Any
    inputs: list
    node: ast.AST
    _chain: list | None = field(default=None, repr=False)

    @property
    def chain(self) -> list | None:
        """[(layer, call node), ...] from an Input when this tensor comes from one by
        one-tensor calls; None for a graph."""
        if self._chain is None:
            if not self.inputs:
                self._chain = [(self.layer, self.node)]
            elif len(self.inputs) == 1 and self.inputs[0].chain is not None:
                self._chain = [*self.inputs[0].chain, (self.layer, self.node)]
            else:
                self._chain = []
        return self._chain or None


@dataclass(eq=False)
class KOut(KTensor):
    """Output `index` > 0 of a layer call that returns several (a recurrent layer's states
    with return_state=True): reads the call's main tensor `base`, and names `base:index`."""

    base: Any = None
    index: int = 0

    @property
    def chain(self) -> list | None:
        return None  # a layer's second output is never a chain


def graph_tensors(outs: list[KTensor]) -> list[KTensor]:
    """The tensors the outputs depend on, each after the tensors it reads."""
    seen: set[int] = set()
    order: list[KTensor] = []
    stack: list[tuple[KTensor, bool]] = [(t, False) for t in reversed(outs)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        stack.extend((s, False) for s in reversed(t.inputs))
    return order
