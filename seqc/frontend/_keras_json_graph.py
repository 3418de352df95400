"""A Keras functional model (Keras 3 `Functional`, Keras 2 `Model`) whose layers do not form one
chain -> seqc graph entries for `build_dag(..., prune=True)`.

Read from the config alone, never executed:
- `inbound_nodes` in Keras 3's layout (`{"args": [keras tensors], "kwargs": {...}}`, a tensor
  being `{"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node, t]}}`) and
  in Keras 2's (`[[[layer, node, t, kwargs], ...], ...]`), one entry per call of the layer;
- a layer called more than once is shared: its later calls become entries with
  `shared_with` its first call, reading the same weights;
- a nested Sequential or Functional model called as a layer is inlined (its layers become
  entries of the graph, with the nested model's name kept on their weight references); one
  called more than once is inlined once per call, its later calls' layers `shared_with` the
  first call's (named `<layer>_<call index>`), so all calls read one set of weights;
- Keras 3's operator nodes (`module` "keras.src.ops.*": Python arithmetic on tensors and
  `keras.ops` calls) map to merge kinds (Add, Subtract, Multiply, Maximum, Minimum,
  Concatenate) or, with a number for one operand, to Rescaling; the mask ops Keras records
  for `mask=` (NotEqual, LogicalOr, ...) become no node (seqc propagates masks itself, and
  checks it does here); any other op is refused by name. `training=False` call kwargs are
  dropped (the model's training flag overrides them in Keras).
Calls are taken in dependency order; a call reading a layer the model lacks, or values that
never become available (a cycle), is an error naming the node and its inputs. The call records
themselves (tensor references, operator nodes) are parsed in _keras_json_nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import did_you_mean, layer_label
from ..ir.build import NodeConfig
from ..ir.graph import in_masked
from ..ir.types import TensorType, batched
from ..ops import REGISTRY
from ._keras_json_layers import KerasLayerRef, entry, layer
from ._keras_json_model import input_layer
from ._keras_json_nodes import (
    BINARY_OPS,
    MASK,
    MODEL_CLASSES,
    flat_tensors,
    history,
    is_mask,
    is_number,
    is_op,
    malformed_tensor,
    tensor_refs,
)
from ._keras_json_version import Reader, short

STATE_LAYERS = ("SimpleRNN", "GRU", "LSTM")  # initial_state and return_state
# Ops Keras records when it computes and combines timestep masks (Embedding(mask_zero) and
# Masking compute_mask, merge layers' compute_mask).
MASK_OPS = ("NotEqual", "LogicalOr", "LogicalAnd", "Any", "All")


@dataclass
class KerasGraph:
    """What build_dag needs, plus the Keras layers holding weights (for the weight files)."""

    inputs: dict[str, TensorType]
    entries: list[NodeConfig]
    outputs: list[str]
    refs: list[KerasLayerRef] = field(default_factory=list)
    # (entry index, label) of the calls Keras gave a `mask=`: their input must carry seqc's
    # own propagated mask (checked on the built graph).
    masked_calls: list[tuple[int, str]] = field(default_factory=list)


class _Reader:
    """Walks one model's calls, inlining nested models, into one list of entries."""

    def __init__(self, r: Reader):
        self.r = r
        self.entries: list[NodeConfig] = []
        self.used: set[str] = set()
        self.first_call: dict[int, str] = {}  # id(layer entry) -> its first call's entry
        self.nested_call = 0  # which call of the nested model being inlined (names its copies)
        # (layer, call) -> the tensors of its `mask=` keyword (Keras 3 records the masks it
        # propagates); (entry index, label) of each call given one, checked after the build.
        self.call_masks: dict[tuple[str, int], list] = {}
        self.masked_calls: list[tuple[int, str]] = []

    def unique(self, name: str) -> str:
        cand, i = name, 1
        while cand in self.used:
            cand, i = f"{name}_{i}", i + 1
        self.used.add(cand)
        return cand

    # ------------------------------------------------------------ one model

    def model(self, doc: dict, args: list[str] | None, where: str,
              refs: list[KerasLayerRef]) -> tuple[list[str], dict[str, TensorType]]:
        """Read a Functional/Model (or Sequential) config whose inputs are `args` (None at the
        top: its InputLayers become graph inputs); returns its output values and, at the top,
        the graph inputs."""
        cls, cfg = doc.get("class_name"), doc.get("config")
        if cls == "Sequential":
            return self.sequential(doc, args, where, refs), {}
        if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
            raise self.r.err("the model config has no \"layers\" list", where, "config.layers",
                             short(cfg))
        layers = cfg["layers"]
        by_name: dict[str, dict] = {}
        for i, e in enumerate(layers):
            name = e.get("name") if isinstance(e, dict) else None
            if name is None and isinstance(e, dict) and isinstance(e.get("config"), dict):
                name = e["config"].get("name")
            if not isinstance(name, str):
                raise self.r.err("a Functional model's layer has no name",
                                 layer_label(i, None, None), "name", short(e))
            by_name[name] = e
        in_refs = tensor_refs(cfg.get("input_layers"))
        out_refs = tensor_refs(cfg.get("output_layers"))
        for key, refs_ in (("input_layers", in_refs), ("output_layers", out_refs)):
            for ref in refs_:
                if not (ref and isinstance(ref[0], str) and all(
                        isinstance(j, int) and not isinstance(j, bool) for j in ref[1:3])):
                    raise self.r.err(f"unreadable {key} entry: expected [layer name, node "
                                     "index, tensor index]", where, key, short(ref))
        if not in_refs or not out_refs:
            raise self.r.err("the Functional model names no inputs or no outputs", where,
                             "input_layers", f"input_layers={short(cfg.get('input_layers'))}, "
                             f"output_layers={short(cfg.get('output_layers'))}")
        values: dict[tuple, str] = {}
        mine: list[tuple[int, KerasLayerRef]] = []  # this model's layers, by config index
        graph_inputs: dict[str, TensorType] = {}
        for j, ref in enumerate(in_refs):
            lname = ref[0]
            e = by_name.get(lname)
            if e is None:
                raise self.r.err(f"input_layers[{j}] names no layer of the model", where,
                                 "input_layers", f"{lname!r}", hint=did_you_mean(lname, by_name))
            if args is None:
                _, lcfg = entry(self.r, e, layers.index(e))
                shape, dtype = input_layer(self.r, lcfg, layer_label(layers.index(e), lname,
                                                                     "InputLayer"))
                vname = self.unique(lname)
                graph_inputs[vname] = batched(tuple(shape), dtype)
                values[(lname, 0, 0)] = vname
            else:
                if len(args) != len(in_refs):
                    raise self.r.err(f"the nested model takes {len(in_refs)} input(s), and is "
                                     f"called on {len(args)}", where, "inbound_nodes",
                                     f"inputs {args}")
                values[(lname, 0, 0)] = args[j]
        pending = [(i, name, k, node) for i, (name, e) in enumerate(by_name.items())
                   if e.get("class_name") != "InputLayer"
                   for k, node in enumerate(e.get("inbound_nodes") or [])]
        while pending:
            progress, later = False, []
            for item in pending:
                i, name, k, node = item
                e = by_name[name]
                tensors = self.node_tensors(node, name, k, i, by_name)
                srcs = [values.get(tuple(t)) for t in
                        flat_tensors(tensors) + self.call_masks.get((name, k), [])]
                if any(s is None for s in srcs):
                    later.append(item)
                    continue
                progress = True
                before = len(refs)
                outs = self.call(e, name, k, i, tensors, values, node, refs, where)
                mine += [(i, ref) for ref in refs[before:]]
                del refs[before:]
                for t, v in enumerate(outs):
                    values[(name, k, t)] = v
            if not progress:
                i, name, k, node = later[0]
                wanted = [tuple(t) for t in flat_tensors(
                    self.node_tensors(node, name, k, i, by_name))
                    + self.call_masks.get((name, k), [])]
                missing = [f"{t[0]}[{t[1]}][{t[2]}]" for t in wanted if t not in values]
                raise self.r.err(
                    f"the call of layer '{name}' reads values that no layer produces before "
                    "it: the layers form a cycle, or a call reads an earlier layer's call that "
                    "does not exist", layer_label(i, name, by_name[name].get("class_name")),
                    "inbound_nodes", f"inputs {[f'{t[0]}[{t[1]}][{t[2]}]' for t in wanted]}, "
                    f"not available: {missing}")
            pending = later
        # Keras keys a weights file's groups by the model's layer order (the config's).
        refs += [ref for _, ref in sorted(mine, key=lambda x: x[0])]
        outs = []
        for j, ref in enumerate(out_refs):
            key = (ref[0], ref[1], ref[2]) if len(ref) >= 3 else (ref[0], 0, 0)
            if key not in values:
                raise self.r.err(f"output_layers[{j}] names a value no layer produces", where,
                                 "output_layers", f"{list(key)}",
                                 hint=did_you_mean(str(ref[0]), by_name))
            if is_mask(values[key]):
                raise self.r.err(f"output_layers[{j}] is a boolean mask computation", where,
                                 "output_layers", f"{list(key)}")
            outs.append(values[key])
        return outs, graph_inputs

    def sequential(self, doc: dict, args: list[str] | None, where: str,
                   refs: list[KerasLayerRef]) -> list[str]:
        cfg = doc.get("config")
        layers = cfg.get("layers") if isinstance(cfg, dict) else cfg
        if not isinstance(layers, list) or args is None or len(args) != 1:
            raise self.r.err("a nested Sequential model must be called on one tensor", where,
                             "inbound_nodes", f"inputs {args}")
        cur = args[0]
        for i, e in enumerate(layers):
            if isinstance(e, dict) and e.get("class_name") == "InputLayer":
                continue
            (cur,) = self.call(e, None, 0, i, [[None]], {}, None, refs, where, inputs=[cur])
        return [cur]

    # ------------------------------------------------------------ one call

    def node_tensors(self, node: Any, name: str, k: int, i: int, by_name: dict) -> list:
        """The tensors a call reads as [layer, node, t] (nested lists kept: a merge's list)."""
        label = layer_label(i, name, by_name[name].get("class_name"))
        if isinstance(node, dict):
            args = node.get("args") or []
            kwargs = node.get("kwargs") or {}
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise self.r.err("unreadable inbound node: \"args\" must be a list and "
                                 "\"kwargs\" an object", label, f"inbound_nodes[{k}]",
                                 short(node))
            kwargs = dict(kwargs)
            # Keras records `training=False` for calls made while building; a model's own
            # training flag overrides it whenever the model runs (Functional.call).
            if isinstance(kwargs.get("training"), bool):
                kwargs.pop("training")
            mask = kwargs.pop("mask", None)
            # A recurrent layer's initial_state (one tensor or a list): inputs after the
            # sequence, Keras' order ([h, c] for an LSTM), as seqc's recurrent node takes them.
            initial = kwargs.pop("initial_state", None)
            if initial is not None and by_name[name].get("class_name") not in STATE_LAYERS:
                raise self.r.err(f"call {k} of layer '{name}' passes initial_state, which "
                                 "seqc reads for SimpleRNN, GRU and LSTM", label,
                                 f"inbound_nodes[{k}].kwargs.initial_state", short(initial))
            if initial is not None:
                init = history(initial if isinstance(initial, list) else [initial])
                if not all(isinstance(t, list) and t and isinstance(t[0], str) for t in init):
                    raise self.r.err(f"call {k} of layer '{name}' passes an initial_state that "
                                     "is not a list of keras tensors", label,
                                     f"inbound_nodes[{k}].kwargs.initial_state",
                                     short(initial))
                args = [*args, *[{"class_name": "__keras_tensor__",
                                  "config": {"keras_history": t}} for t in init]]
            if mask is not None:
                self.call_masks[(name, k)] = flat_tensors([history(mask)])
                if not self.call_masks[(name, k)]:
                    raise self.r.err(f"call {k} of layer '{name}' passes a constant mask",
                                     label, f"inbound_nodes[{k}].kwargs.mask", short(mask))
            bad = {key: v for key, v in kwargs.items() if v is not None}
            if bad:
                raise self.r.err(f"call {k} of layer '{name}' passes keyword arguments seqc "
                                 "does not model", label, f"inbound_nodes[{k}].kwargs",
                                 short(bad))
            if malformed_tensor(args):
                raise self.r.err("unreadable keras tensor: its keras_history must be [layer "
                                 "name, node index, tensor index]", label,
                                 f"inbound_nodes[{k}].args", short(args))
            out = [history(a) for a in args]
        elif isinstance(node, list):
            out = []
            for t in node:
                if not (isinstance(t, list) and len(t) >= 3 and isinstance(t[0], str)):
                    raise self.r.err("unreadable inbound node", label,
                                     f"inbound_nodes[{k}]", short(node))
                if len(t) > 3 and t[3] and (not isinstance(t[3], dict) or any(
                        v is not None for v in t[3].values())):
                    raise self.r.err(f"call {k} of layer '{name}' passes keyword arguments "
                                     "seqc does not model", label, f"inbound_nodes[{k}]",
                                     short(t[3]))
                out.append([t[0], t[1], t[2]])
            if len(out) > 1:
                out = [out]  # a list of tensors: one argument, as Keras 3 writes it
        else:
            raise self.r.err("unreadable inbound node", label, f"inbound_nodes[{k}]",
                             short(node))
        for t in flat_tensors(out):
            if not all(isinstance(j, int) and not isinstance(j, bool) and j >= 0
                       for j in t[1:]):
                raise self.r.err("unreadable tensor reference: expected [layer name, node "
                                 "index, tensor index]", label, f"inbound_nodes[{k}]",
                                 short(t))
            if t[0] not in by_name:
                raise self.r.err(
                    f"call {k} of layer '{name}' reads layer '{t[0]}', which the model does "
                    "not have", label, f"inbound_nodes[{k}]",
                    f"inputs {[s[0] for s in flat_tensors(out)]}",
                    hint=did_you_mean(t[0], by_name))
        return out

    def call(self, e: dict, name: str | None, k: int, i: int, tensors: list,
             values: dict, node: Any, refs: list[KerasLayerRef], where: str,
             inputs: list[str] | None = None) -> list[str]:
        """Entries for one call; returns the values it produces."""
        srcs = inputs if inputs is not None else [values[tuple(t)] for t in
                                                  flat_tensors(tensors)]
        cls = e.get("class_name") if isinstance(e, dict) else None
        if isinstance(e, dict) and is_op(e, node):
            return [self.op(e, i, tensors, srcs)]
        lab = layer_label(i, name, cls)
        masks = [values[tuple(t)] for t in self.call_masks.get((name, k), [])]
        if any(not is_mask(m) for m in masks):
            raise self.r.err(f"call {k} of layer '{name}' passes a mask that is not one Keras "
                             "propagates (an explicit mask tensor)", lab,
                             f"inbound_nodes[{k}].kwargs.mask", f"mask from {masks}")
        if any(is_mask(v) for v in srcs):
            raise self.r.err(f"call {k} of layer '{name}' reads a boolean mask computation "
                             "as data", lab, f"inbound_nodes[{k}]",
                             f"inputs {[v.lstrip(MASK) for v in srcs]}")
        if cls in MODEL_CLASSES:
            inner_name = (e.get("config") or {}).get("name") if isinstance(
                e.get("config"), dict) else None
            label = layer_label(i, inner_name, cls)
            # Each call inlines the nested model again. Its layers' first reading makes
            # their entries (and weight refs); a later call's reading of the same layer
            # configs finds them in `first_call` and makes entries `shared_with` them, so
            # every call reads one set of weights, as Keras shares them.
            ref = KerasLayerRef(inner_name or cls.lower(), cls)
            first, outer = len(self.entries), self.nested_call
            self.nested_call = k
            outs, _ = self.model(e, srcs, label, ref.members)
            self.nested_call = outer
            if id(e) not in self.first_call:
                self.first_call[id(e)] = inner_name or cls.lower()
                refs.append(ref)
            if e["config"].get("trainable", True) is False:  # a frozen nested model
                for nc in self.entries[first:]:
                    nc.trainable = False
            return outs
        kcls, cfg = entry(self.r, e, i)
        lname = cfg.get("name") if isinstance(cfg.get("name"), str) else name
        label = layer_label(i, lname, kcls)
        if masks:
            self.masked_calls.append((len(self.entries), label))
        spec, ref = layer(self.r, kcls, cfg, label)
        spec = dict(spec)
        kind = spec.pop("type")
        spec.pop("name", None)
        trainable = spec.pop("trainable", True)
        first = self.first_call
        if id(e) not in first:  # the first call read (not always node 0: order of inputs)
            vname = self.unique(lname or kind)
            first[id(e)] = vname
            ref.seqc_name = vname
            refs.append(ref)
            self.entries.append(NodeConfig(kind, spec, vname, list(srcs), trainable))
        else:
            vname = self.unique(f"{first[id(e)]}_{k or self.nested_call}")
            self.entries.append(NodeConfig(kind, {}, vname, list(srcs), trainable,
                                           shared_with=first[id(e)]))
        # return_state: output k > 0 is the value `name:k` (seqc.ir.build.build_dag)
        more = REGISTRY[kind].n_states if kind in STATE_LAYERS and spec.get("return_state") \
            else 0
        return [vname, *(f"{vname}:{j}" for j in range(1, more + 1))]

    def op(self, e: dict, i: int, tensors: list, srcs: list[str]) -> str:
        """A Keras 3 operator node -> one entry."""
        cls = e.get("class_name")
        cfg = e.get("config") if isinstance(e.get("config"), dict) else {}
        name = cfg.get("name") if isinstance(cfg.get("name"), str) else str(cls).lower()
        label = layer_label(i, name, f"{e.get('module')}.{cls}")
        extra = {k: v for k, v in cfg.items() if k not in ("name", "axis")}
        if extra:
            raise self.r.err(f"operator {cls} has arguments seqc does not model", label,
                             "config", short(extra))
        args = tensors  # positional args: tensor refs ([l, n, t]), lists of them, numbers
        vname = self.unique(name)
        if cls in MASK_OPS and (cls != "NotEqual" or any(is_number(a) for a in args)):
            # Keras' own mask computations (Embedding/Masking compute_mask, merges combining
            # masks): seqc propagates masks itself; a layer may read them only as `mask=`.
            return MASK + vname
        if any(is_mask(v) for v in srcs):
            raise self.r.err(f"operator {cls} reads a boolean mask computation", label,
                             "inbound_nodes", f"inputs {[v.lstrip(MASK) for v in srcs]}")
        if cls == "Concatenate":
            if len(args) != 1 or not isinstance(args[0], list) or not all(
                    isinstance(t, list) for t in args[0]):
                raise self.r.err("keras.ops.concatenate must be called on a list of tensors",
                                 label, "inbound_nodes", short(args))
            axis = cfg.get("axis", 0)
            self.entries.append(NodeConfig("Concatenate", {"axis": axis}, vname, list(srcs)))
            return vname
        if cls in BINARY_OPS or cls in ("TrueDivide", "Divide", "Negative"):
            nums = [a for a in args if not isinstance(a, list)]
            if cls == "Negative" and len(args) == 1 and not nums:
                self.entries.append(NodeConfig("Rescaling", {"scale": -1.0, "offset": 0.0},
                                               vname, list(srcs)))
                return vname
            if len(args) == 2 and not nums and cls in BINARY_OPS:
                self.entries.append(NodeConfig(BINARY_OPS[cls], {}, vname, list(srcs)))
                return vname
            if len(args) == 2 and len(nums) == 1 and is_number(nums[0]):
                c = float(nums[0])
                tensor_first = isinstance(args[0], list)
                scale, offset = {
                    "Add": (1.0, c), "Multiply": (c, 0.0),
                    "Subtract": (1.0, -c) if tensor_first else (-1.0, c),
                }.get(cls, (None, None))
                if cls in ("TrueDivide", "Divide") and tensor_first and c != 0:
                    scale, offset = 1.0 / c, 0.0
                if scale is not None:
                    self.entries.append(NodeConfig("Rescaling",
                                                   {"scale": scale, "offset": offset},
                                                   vname, list(srcs)))
                    return vname
        raise self.r.err(
            f"the operator node {e.get('module')}.{cls} is not modelled by seqc",
            label, "class_name", f"{cls} on {short(args)}",
            hint="seqc reads +, -, *, keras.ops.maximum/minimum of two tensors (merge kinds), a "
                 "tensor +, -, *, / a number (Rescaling), unary minus and "
                 "keras.ops.concatenate; use Keras layers for anything else")


def check_masks(r: Reader, kg: KerasGraph, graph: Any) -> None:
    """Each call Keras gave a `mask=` reads a value that carries seqc's propagated mask, so
    the mask Keras recorded is the one seqc computes (an explicit mask tensor is refused)."""
    from ..ops import REGISTRY

    masked: set[str] = set()
    by_name = {}
    for n in graph.nodes:
        op = REGISTRY[n.op]
        by_name[n.name] = n
        if op.output_masked(n.attrs, in_masked(op, n.inputs, masked)):
            masked.add(n.outputs[0])
    for index, label in kg.masked_calls:
        node = by_name.get(kg.entries[index].name)
        if node is not None and not any(v in masked for v in node.inputs):
            raise r.err("the call is given a mask (mask=...) but its input carries none in "
                        "seqc: an explicit mask tensor, which seqc does not model", label,
                        "inbound_nodes.kwargs.mask", f"inputs {list(node.inputs)}",
                        hint="mask with Embedding(mask_zero=True) or a Masking layer")


def read_graph(r: Reader, doc: dict) -> KerasGraph:
    """A Functional/Model config -> the graph's inputs, entries, outputs and weight refs."""
    reader = _Reader(r)
    refs: list[KerasLayerRef] = []
    outs, inputs = reader.model(doc, None, None, refs)
    if not reader.entries:
        raise r.err("the Keras model has no layers besides its inputs", None, "layers",
                    "InputLayer only")
    return KerasGraph(inputs, reader.entries, outs, refs, reader.masked_calls)


__all__ = ["KerasGraph", "check_masks", "read_graph"]
