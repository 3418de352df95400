"""Keras functional models that are one chain: `x = keras.Input(...)`, `y = Dense(...)(x)`,
..., `keras.Model(inputs, outputs)` (a Sequential called on a tensor counts as its layers).

A symbolic tensor remembers the chain of layer calls from its Input. The model is the chain
that leads from `inputs` to `outputs`; a side branch that does not reach the output is not
part of it (Keras drops it too). A layer called on several tensors (a merge), with
`training=`/`mask=`, or twice (shared weights), and arithmetic on a tensor, are refused with
their line: graphs with branches are the functional-graph issue's to read.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from ._pyscript_values import Layer, ModelVal, Opaque, bind_args


@dataclass(eq=False)
class KTensor:
    """The output of a layer call: the chain [(layer or model, call node), ...] from an
    Input."""

    chain: list
    node: ast.AST


def as_tensor(v: Any) -> KTensor | None:
    if isinstance(v, KTensor):
        return v
    if isinstance(v, Layer) and v.cls == "Input":  # keras.Input(...) is a tensor
        return KTensor([(v, v.node)], v.node)
    return None


class FunctionalReader:
    """Layer calls on tensors and keras.Model(inputs, outputs) (a mixin of
    `pyscript.Reader`)."""

    def apply_layer(self, layer: Any, args: list, kwargs: dict, node: ast.Call) -> Any:
        tensors = [as_tensor(a) for a in args]
        if len(args) > 1 or args and isinstance(args[0], (list, tuple)):
            return Opaque(node, f"{self.seg(node)} calls a layer on several tensors (a merge "
                                "or a branch), which seqc does not read yet", unsupported=True)
        if not args or tensors[0] is None:
            return Opaque(node, f"{self.seg(node)} calls a layer on a run-time value")
        extra = {k: v for k, v in kwargs.items() if not (k == "training" and v is None)}
        if extra:
            return Opaque(node, f"{self.seg(node)} passes {', '.join(extra)} to a layer call "
                                "(training=True keeps dropout on at inference)",
                          unsupported=True)
        t = tensors[0]
        if any(prev is layer for prev, _ in t.chain):
            return Opaque(node, f"{self.seg(node)} calls the same layer twice (shared weights)",
                          unsupported=True)
        if isinstance(layer, ModelVal):
            layer.consumed = True
        return KTensor([*t.chain, (layer, node)], node)

    def functional_model(self, args: list, kwargs: dict, node: ast.Call) -> ModelVal:
        bound = bind_args(["inputs", "outputs", "name", "trainable"], args, kwargs)
        if bound is None or "inputs" not in bound or "outputs" not in bound:
            raise self.error(node, "keras.Model() needs inputs and outputs (a subclassed "
                                   "model calls it without: see its class)", field="model",
                             received=self.seg(node))
        ins, outs = bound["inputs"], bound["outputs"]
        if isinstance(ins, (list, tuple)) and len(ins) == 1:
            ins = ins[0]
        if isinstance(outs, (list, tuple)) and len(outs) == 1:
            outs = outs[0]
        t_in, t_out = as_tensor(ins), as_tensor(outs)
        for v, what in ((ins, "inputs"), (outs, "outputs")):
            if isinstance(v, Opaque):
                raise self.opaque_error(v, f"keras.Model({what}=...)")
        if t_in is None or t_out is None:
            raise self.error(node, "keras.Model(inputs, outputs) with several inputs or "
                                   "outputs is a graph seqc does not read yet", field="model",
                             received=self.seg(node),
                             hint="one Input and one output chain are read")
        if len(t_in.chain) != 1 or t_out.chain[0][0] is not t_in.chain[0][0]:
            raise self.error(node, "the outputs do not come from these inputs by a chain of "
                                   "layer calls", field="model", received=self.seg(node))
        m = ModelVal("keras", node)
        self.models.append(m)
        for v, call in t_out.chain:
            m.append(None, v, call)
        if isinstance(bound.get("name"), str):
            m.name = bound["name"]
        if bound.get("trainable") is False:
            from ._pyscript_model import set_trainable

            set_trainable(m, False)
        return m
