"""Keras functional models: `x = keras.Input(...)`, `y = Dense(...)(x)`, ...,
`keras.Model(inputs, outputs)`, as chains or as graphs.

A symbolic tensor remembers the layer call that made it and the tensors that call read. The
model is what leads from `inputs` to `outputs`; a side branch that reaches no output is not
part of it (Keras drops it too). A model with one input and one output reached by a chain of
one-tensor calls is a chain (a Sequential called on a tensor counts as its layers); anything
else is a graph (`seqc.ir.build.build_dag`):
- merges: a merge layer called on a list (`layers.Add()([x, y])`, `layers.add([x, y])`,
  `layers.concatenate([a, b], axis=-1)`) and arithmetic on two tensors (`x + y`, `x - y`,
  `x * y`: Add, Subtract, Multiply, as Keras' operator nodes compute them);
- a tensor and a number: `x * 2.0`, `x + 1`, `x / 4`, `x - 1` are Rescaling(scale, offset);
  other arithmetic on a tensor is refused with its line;
- a layer object called twice shares its weights (`NodeConfig(shared_with=...)`);
- several inputs and outputs (`keras.Model(inputs=[a, b], outputs=[c, d])`).
Helper functions that build blocks and loops with constant bounds need nothing here: the
reader follows the calls and unrolls the loops, and each call makes its own layers.
A layer call with `training=`/`mask=`, a nested graph model called as a layer, or a layer
kind that does not merge called on a list are refused with their line.
"""

from __future__ import annotations

import ast
from typing import Any

from ..ops import REGISTRY
from ._keras_json_graph import STATE_LAYERS
from ._pyscript_ktensor import _OPS, _OPS_MODULES, KOut, KTensor, graph_tensors
from ._pyscript_values import Layer, ModelVal, Opaque, bind_args

_ARITH_MERGES = {ast.Add: "Add", ast.Sub: "Subtract", ast.Mult: "Multiply"}


def as_tensor(v: Any) -> KTensor | None:
    if isinstance(v, KTensor):
        return v
    if isinstance(v, Layer) and v.cls == "Input":  # keras.Input(...) is a tensor
        if getattr(v, "tensor", None) is None:
            v.tensor = KTensor(v, [], v.node)
        return v.tensor
    return None


def _tensor_list(v: Any) -> list | None:
    """A list/tuple of symbolic tensors (the inputs of a merge, a model's inputs)."""
    if not isinstance(v, (list, tuple)):
        t = as_tensor(v)
        return None if t is None else [t]
    ts = [as_tensor(x) for x in v]
    return ts if ts and all(t is not None for t in ts) else None


class FunctionalReader:
    """Layer calls on tensors and keras.Model(inputs, outputs) (a mixin of
    `pyscript.Reader`)."""

    def apply_layer(self, layer: Any, args: list, kwargs: dict, node: ast.Call) -> Any:
        states = REGISTRY[layer.cls].n_states if isinstance(layer, Layer) and (
            layer.cls in STATE_LAYERS) else None  # h (and c): the states a layer takes
        extra = {k: v for k, v in kwargs.items() if not (k == "training" and v is None)
                 and not (k == "initial_state" and states)}
        if extra:
            return Opaque(node, f"{self.seg(node)} passes {', '.join(extra)} to a layer call "
                                "(training=True keeps dropout on at inference)",
                          unsupported=True)
        if len(args) != 1:
            return Opaque(node, f"{self.seg(node)} calls a layer on several arguments; Keras "
                                "takes one tensor or a list of tensors", unsupported=True)
        if isinstance(args[0], (list, tuple)):
            ts = _tensor_list(args[0])
            hidden = next((a for a in args[0] if isinstance(a, Opaque)), None)
            if hidden is not None:
                return hidden
            if ts is None:
                return Opaque(node, f"{self.seg(node)} calls a layer on a list that is not of "
                                    "symbolic tensors")
            if isinstance(layer, ModelVal):
                return Opaque(node, f"{self.seg(node)} calls a model on several tensors, which "
                                    "seqc does not read", unsupported=True)
            return KTensor(layer, ts, node)
        t = as_tensor(args[0])
        if isinstance(args[0], Opaque):
            return args[0]  # x ** 2, a name never set: the reason it was not read
        if t is None:
            return Opaque(node, f"{self.seg(node)} calls a layer on a run-time value")
        if isinstance(layer, ModelVal):
            if layer.graph is not None:
                return Opaque(node, f"{self.seg(node)} calls a functional graph model as a "
                                    "layer, which seqc does not read", unsupported=True)
            layer.consumed = True
        if states:
            return self._recurrent_call(layer, t, kwargs.get("initial_state"), states, node)
        return KTensor(layer, [t], node)

    def _recurrent_call(self, layer: Any, t: KTensor, initial: Any, states: int,
                        node: ast.Call) -> Any:
        """A SimpleRNN/GRU/LSTM call: `initial_state=[h, c]` (or one tensor) are inputs
        after the sequence; with return_state=True the call is the list [out, h(, c)]."""
        inputs = [t]
        if initial is not None:
            if isinstance(initial, Opaque):
                return initial
            ts = _tensor_list(initial)
            if ts is None:
                return Opaque(node, f"{self.seg(node)} passes an initial_state that is not "
                                    "symbolic tensors", unsupported=True)
            inputs += ts
        out = KTensor(layer, inputs, node)
        rs = layer.kwargs.get("return_state", False)
        if not isinstance(rs, bool):
            return Opaque(node, f"{self.seg(node)}: return_state is not a constant True or "
                                "False", unsupported=True)
        if not rs:
            return out
        return [out, *(KOut(layer, [out], node, base=out, index=k)
                       for k in range(1, states + 1))]

    def merge_function(self, kind: str, args: list, kwargs: dict, node: ast.Call) -> Any:
        """`layers.add([x, y])`, `layers.concatenate([a, b], axis=1)`: the merge layer made
        and called at once (Keras' functional forms)."""
        names = ["inputs", "axes", "normalize"] if kind == "Dot" else ["inputs"]
        bound = bind_args(names, args[:len(names)], {})
        if bound is None or "inputs" not in bound and "inputs" not in kwargs:
            return Opaque(node, f"{self.seg(node)} has no list of tensors to merge")
        inputs = bound.pop("inputs", None) if "inputs" in bound else kwargs.pop("inputs")
        lay = Layer(kind, [], {**bound, **kwargs}, node, auto_name=self.auto_name(kind))
        return self.apply_layer(lay, [inputs], {}, node)

    def tensor_op(self, path: str, args: list, kwargs: dict, node: ast.Call) -> Any:
        """`keras.ops.add(x, y)`, `tf.multiply(x, 2.0)`, `keras.ops.concatenate([a, b],
        axis=-1)`, `tf.concat([a, b], -1)` on symbolic tensors (None when no tensor is
        involved or the path is not one of them)."""
        mod, _, name = path.rpartition(".")
        if mod + "." not in _OPS_MODULES:
            return None
        if name in _OPS:
            if len(args) != 2 or kwargs or not any(as_tensor(a) for a in args):
                return None
            return self.tensor_binop(_OPS[name], args[0], args[1], node)
        if name in ("concatenate", "concat"):
            bound = bind_args(["xs", "axis"] if name == "concatenate" else ["values", "axis"],
                              args, kwargs)
            seq = (bound or {}).get("xs", (bound or {}).get("values"))
            ts = _tensor_list(seq) if isinstance(seq, (list, tuple)) else None
            if ts is None:
                return None
            axis = bound.get("axis", 0 if name == "concatenate" else None)
            if not isinstance(axis, int) or isinstance(axis, bool) or axis == 0:
                return Opaque(node, f"{self.seg(node)}: concatenation along axis {axis!r} "
                                    "(keras.ops.concatenate's default 0 is the batch axis); "
                                    "seqc reads a non-batch axis given as an integer",
                              unsupported=True)
            lay = Layer("Concatenate", [], {"axis": axis}, node,
                        auto_name=self.auto_name("Concatenate"))
            return KTensor(lay, ts, node)
        return None

    def tensor_binop(self, op: ast.operator, a: Any, b: Any, node: ast.AST) -> Any:
        """Arithmetic with a symbolic tensor on either side (None when neither is one)."""
        ta, tb = as_tensor(a), as_tensor(b)
        if ta is None and tb is None:
            return None
        if ta is not None and tb is not None:
            kind = _ARITH_MERGES.get(type(op))
            if kind is None:
                return Opaque(node, f"{self.seg(node)}: this arithmetic on two tensors has no "
                                    "seqc layer (+, - and * do: Add, Subtract, Multiply)",
                              unsupported=True)
            lay = Layer(kind, [], {}, node, auto_name=self.auto_name(kind))
            return KTensor(lay, [ta, tb], node)
        t, c = (ta, b) if ta is not None else (tb, a)
        num = isinstance(c, (int, float)) and not isinstance(c, bool)
        scale_offset = None
        if num and isinstance(op, ast.Mult):
            scale_offset = (float(c), 0.0)
        elif num and isinstance(op, ast.Add):
            scale_offset = (1.0, float(c))
        elif num and isinstance(op, ast.Sub):
            scale_offset = (1.0, -float(c)) if ta is not None else (-1.0, float(c))
        elif num and isinstance(op, ast.Div) and ta is not None and c != 0:
            scale_offset = (1.0 / float(c), 0.0)
        if scale_offset is None:
            return Opaque(node, f"{self.seg(node)}: arithmetic of a tensor and "
                                f"{'a number' if num else 'a value'} that seqc has no layer "
                                "for (x * c, x + c, x - c, c - x and x / c with a number c are "
                                "read as Rescaling)", unsupported=True)
        lay = Layer("Rescaling", [], {"scale": scale_offset[0], "offset": scale_offset[1]},
                    node, auto_name=self.auto_name("Rescaling"))
        return KTensor(lay, [t], node)

    def functional_model(self, args: list, kwargs: dict, node: ast.Call) -> ModelVal:
        bound = bind_args(["inputs", "outputs", "name", "trainable"], args, kwargs)
        if bound is None or "inputs" not in bound or "outputs" not in bound:
            raise self.error(node, "keras.Model() needs inputs and outputs (a subclassed "
                                   "model calls it without: see its class)", field="model",
                             received=self.seg(node))
        ins, outs = bound["inputs"], bound["outputs"]
        for v, what in ((ins, "inputs"), (outs, "outputs")):
            hidden = v if isinstance(v, Opaque) else next(
                (x for x in v if isinstance(x, Opaque)), None) if isinstance(
                v, (list, tuple)) else None
            if hidden is not None:
                raise self.opaque_error(hidden, f"keras.Model({what}=...)")
        t_ins, t_outs = _tensor_list(ins), _tensor_list(outs)
        if t_ins is None or t_outs is None:
            raise self.error(node, "keras.Model(inputs, outputs) takes symbolic tensors (a "
                                   "tensor or a list of them)", field="model",
                             received=self.seg(node),
                             hint="dicts of inputs or outputs are not read")
        m = ModelVal("keras", node, functional=True)
        self.models.append(m)
        chain = t_outs[0].chain if len(t_ins) == len(t_outs) == 1 else None
        if chain is not None and chain[0][0] is t_ins[0].layer and len(
                {id(v) for v, _ in chain}) == len(chain):
            for v, call in chain:
                m.append(None, v, call)
        else:
            self.check_graph(t_ins, t_outs, node)
            m.graph = (t_ins, t_outs)
            seen: set[int] = set()
            for t in graph_tensors(t_outs):
                if id(t.layer) not in seen:
                    seen.add(id(t.layer))
                    m.append(None, t.layer, t.node)
        if isinstance(bound.get("name"), str):
            m.name = bound["name"]
        if bound.get("trainable") is False:
            from ._pyscript_model import set_trainable

            set_trainable(m, False)
        return m

    def check_graph(self, t_ins: list, t_outs: list, node: ast.Call) -> None:
        """Keras' own checks: the outputs come from the inputs given; every input is read."""
        given = {id(t) for t in t_ins}
        reached = set()
        for t in graph_tensors(t_outs):
            if not t.inputs:
                if id(t) not in given:
                    raise self.error(t.node, f"the outputs read the input {self.seg(t.node)}, "
                                             "which is not in the model's inputs",
                                     field="inputs", received=self.seg(node),
                                     hint="add it to keras.Model(inputs=[...])")
                reached.add(id(t))
        for t in t_ins:
            if id(t) not in reached:
                raise self.error(t.node, f"the model's input {self.seg(t.node)} is not used "
                                         "by any layer that leads to the outputs",
                                 field="inputs", received=self.seg(node),
                                 hint="remove the input, or feed it to a layer")

    # -- the graph, as the graph form of the seqc spec (seqc.frontend.spec_graph) --
    def graph_doc(self, model: ModelVal) -> tuple[dict, list[ast.AST]]:
        """(doc, nodes) of a functional graph: a spec with `inputs`, named `layers` entries
        reading what their `from` names (`share` for a layer called again) and `outputs`;
        `nodes` are the entries' script lines (errors name `layers[i]`)."""
        from ..errors import SeqcError
        from ._pyscript_keras_lambda import lambda_layers
        from .spec import _input_layer

        t_ins, t_outs = model.graph
        if not t_ins[0].layer.kwargs:  # a subclassed Keras model's call(): no Input yet
            first = next((t.layer for t in graph_tensors(t_outs) if t.inputs), None)
            self.subclass_input(model, first)
        names: dict[int, str] = {}
        inputs: dict = {}
        for i, t in enumerate(t_ins):
            d = self.input_layer(t.layer, override=False)
            name = t.layer.kwargs.get("name")
            name = name if isinstance(name, str) else "input_layer" + (f"_{i}" if i else "")
            try:
                shape, dtype, _ = _input_layer(d, self.where(t.node), f"input '{name}'")
            except SeqcError as e:
                raise e.located(file=self.where(t.node)) from None
            inputs[name] = {"shape": list(shape), "dtype": dtype or "float32"}
            names[id(t)] = name
        layers: list[dict] = []
        nodes: list[ast.AST] = []
        owners: dict[int, dict] = {}  # layer object -> its first call's entry
        used = set(inputs)

        def entry(v: Any, node: ast.AST, srcs: list[str]) -> str:
            if not isinstance(v, Layer):
                raise self.not_a_layer(v, node, "keras")
            if v.cls in ("Input", "InputLayer", "<last_step>"):
                raise self.error(node, f"{self.seg(node)} cannot be read inside a functional "
                                       "graph", field="type", received=self.seg(node))
            owner = owners.get(id(v))
            if owner is not None:  # the same layer object called again: shared weights
                k = 1
                while f"{owner['name']}_call{k}" in used:
                    k += 1
                d = {"type": owner["type"], "name": f"{owner['name']}_call{k}",
                     "share": owner["name"]}
            else:
                d = dict(self.keras_layer(v, first=False, override=False))
                d["name"] = d.get("name") or v.auto_name
                owners[id(v)] = d
            d["from"] = srcs
            self.__dict__.setdefault("_doc_layers", {})[id(d)] = (d, v)  # _pyscript_subclass
            used.add(d["name"])
            layers.append(d)
            nodes.append(node)
            return d["name"]

        for t in graph_tensors(t_outs):
            if isinstance(t, KOut):  # a returned state: output k of its call's entry
                names[id(t)] = f"{names[id(t.base)]}:{t.index}"
                continue
            if not t.inputs:
                continue
            srcs = [names[id(s)] for s in t.inputs]
            lay = t.layer
            if isinstance(lay, ModelVal):  # a Sequential called on a tensor: its layers
                items = self.keras_items(lay)
                if items and isinstance(items[0][0], Layer) and items[0][0].cls in (
                        "Input", "InputLayer"):
                    items = items[1:]
                cur = srcs
                for v, node in items:
                    cur = [entry(v, t.node if node is None else node, cur)]
                names[id(t)] = cur[0]
            elif isinstance(lay, Layer) and lay.cls == "Lambda":
                cur = srcs
                for v in lambda_layers(self, lay):
                    cur = [entry(v, t.node, cur)]
                names[id(t)] = cur[0]
            else:
                names[id(t)] = entry(lay, t.node, srcs)
        return {"inputs": inputs, "layers": layers,
                "outputs": [names[id(t)] for t in t_outs]}, nodes
