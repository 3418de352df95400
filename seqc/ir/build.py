"""Layer configs -> a shape-checked Graph. Every frontend ends here, so every definition error
(unknown kind or argument, impossible shape) is reported before anything trains, located as
`file: layers[i] 'name' (Kind): ...`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import DefinitionError, SeqcError, did_you_mean, layer_label
from ..ops import REGISTRY, get_op
from ..ops._promote import promoted
from . import weight_args
from .graph import Graph, Node, in_masked
from .types import TensorType
from .verify import verify

NO_LAYERS_HINT = "add at least one layer, e.g. {\"type\": \"Dense\", \"units\": 1}"


@dataclass
class LayerConfig:
    """One user-written layer: Keras class name, Keras arguments, optional name."""

    type: str
    config: dict = field(default_factory=dict)
    name: str | None = None
    trainable: bool = True


def snake_case(kind: str) -> str:
    """Keras' default layer naming: Dense -> dense, LeakyReLU -> leaky_re_lu."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", kind)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def build_graph(
    name: str,
    input_type: TensorType,
    layers: list[LayerConfig],
    *,
    file: str | None = None,
    first_index: int = 0,
) -> Graph:
    """Build and shape-check a sequential graph. `first_index` offsets the `layers[i]` labels
    when the definition's list began with an InputLayer the frontend consumed."""
    if not layers:
        raise DefinitionError("the model has no layers", file=file, field="layers",
                              received="layers=[]", hint=NO_LAYERS_HINT)
    types: dict[str, TensorType] = {"input": input_type}
    nodes: list[Node] = []
    specs = {}
    counters: dict[str, int] = {}
    used: set[str] = {"input"}
    cur = "input"
    masked: set[str] = set()  # values carrying a timestep mask; checked here, located
    for i, lc in enumerate(layers):
        label = layer_label(i + first_index, lc.name, lc.type)
        try:
            op = get_op(lc.type)
            lname = lc.name or _auto_name(snake_case(op.kind), counters, used)
            label = layer_label(i + first_index, lname, lc.type)
            if lname in used:
                raise DefinitionError(f"layer name '{lname}' is used twice", field="name",
                                      received=f"name={lname!r}",
                                      hint="give every layer a unique name")
            used.add(lname)
            config, training_args = weight_args.split(op, lc.config)
            activation = config.pop("activation", None) if op.splits_activation else None
            attrs = op.parse_attrs(config)
            op.check(attrs)
            if op.multi_input:
                raise DefinitionError(
                    f"{op.kind} merges several inputs (Keras calls it on a list of tensors), "
                    "and a sequential model gives each layer one", field="type",
                    received=f"type={lc.type!r}",
                    hint="define a graph (the Keras functional API) whose entry names its "
                         "inputs")
            in_types = promoted(op, attrs, [types[cur]])  # Keras' int -> float32 (Dense)
            out_type, *more = op.infer(attrs, in_types)
            if more:
                raise DefinitionError(
                    f"{op.kind}(return_state=True) returns its output and its final state, "
                    "and a sequential model passes one tensor from layer to layer",
                    field="return_state", received="return_state=True",
                    hint="define a graph (the Keras functional API) and read the states "
                         "as outputs k of the layer (\"from\": [\"name:1\"])")
            if op.output_masked(attrs, in_masked(op, [cur], masked)):
                masked.add(lname)
            pspecs = op.params(attrs, in_types)
            _check_weight_dtype(op, in_types, out_type, pspecs)
            node = Node(op.kind, lname, (cur,), (lname,), attrs,
                        tuple(s.name for s in pspecs), layer=lname, trainable=lc.trainable,
                        training_args=training_args)
            for s in pspecs:
                specs[node.param_key(s.name)] = s
            nodes.append(node)
            types[lname] = out_type
            cur = lname
            if activation is not None:
                act_op = REGISTRY["Activation"]
                act_attrs = act_op.parse_attrs({"activation": activation})
                if act_attrs.activation != "linear":
                    act_op.infer(act_attrs, [out_type])
                    aname = f"{lname}/activation"
                    nodes.append(Node("Activation", aname, (cur,), (aname,), act_attrs,
                                      layer=lname))
                    types[aname] = out_type
                    if cur in masked:
                        masked.add(aname)
                    cur = aname
        except SeqcError as e:
            raise e.located(file=file, layer=label) from None
    return verify(Graph(name, ("input",), (cur,), tuple(nodes), types, specs))


def _check_weight_dtype(op, in_types: list[TensorType], out_type: TensorType,
                        pspecs: list) -> None:
    """A layer with float32 weights computes in float32: Keras casts a float64 input to the
    layer's dtype. seqc does not. A kind that passes float64 on would mix it with its float32
    weights: NumPy would compute in float64 and the ONNX export cannot (a Gemm of double and
    float fails onnx.checker). Refused here, naming the layer, before any training, rather
    than at export. (An integer input is another case: Keras' ops promote it to float32, and
    so does seqc for the kinds with `promotes_integers`, whose `in_types` here are promoted
    already; kinds that read integers themselves, such as Embedding, or cast them, such as
    Normalization, give a float output, and Discretization reads them as numbers.)"""
    if out_type.dtype != "float64" or not any(s.dtype == "float32" for s in pspecs):
        return
    odd = next((t for t in in_types if t.dtype == "float64"), None)
    if odd is None:
        return
    raise DefinitionError(
        f"{op.kind} computes in float32 with its float32 weights, and its input is "
        f"{odd.dtype}; seqc does not cast it", field="input", received=f"input {odd}",
        hint="give the model float32 inputs (input_dtype / the Input's dtype); Keras casts "
             "a float64 input to the layer's float32")


def _auto_name(base: str, counters: dict[str, int], used: set[str]) -> str:
    while True:
        n = counters.get(base, 0)
        counters[base] = n + 1
        cand = base if n == 0 else f"{base}_{n}"
        if cand not in used:
            return cand


@dataclass
class NodeConfig:
    """One layer call of a graph definition (seqc.ir.build.build_dag).

    `inputs` name the values it reads: graph inputs or earlier entries' names (an entry's
    name is its output value). `shared_with` names an earlier entry whose layer this one
    calls again (Keras: one layer object applied to two tensors): the node gets the same kind
    and attributes and reads that entry's parameters (table keys `shared/kernel`), so
    training sums both calls' gradients. A shared entry leaves `config` empty (or repeats the
    shared entry's config exactly)."""

    type: str
    config: dict = field(default_factory=dict)
    name: str | None = None
    inputs: list[str] = field(default_factory=list)
    trainable: bool = True
    shared_with: str | None = None


def build_dag(
    name: str,
    inputs: dict[str, TensorType],
    entries: list[NodeConfig],
    outputs: list[str],
    *,
    file: str | None = None,
    prune: bool = False,
) -> Graph:
    """Build and shape-check a graph of layer calls (the Keras functional API's model).

    `inputs` maps each graph input's name to its type, in the order the model takes them;
    `entries` are layer calls in an order where every entry reads only graph inputs and
    earlier entries; `outputs` names the values the model returns, in order. Names left out
    are Keras' (`dense`, `dense_1`, ...). Errors are located `file: layers[i] 'name' (Kind)`
    and name the node's inputs: a name defined later (a cycle) or nowhere (with a
    did-you-mean), shapes a merge cannot combine, a graph input nothing reads, an entry whose
    value nothing reads and that is not an output, a wrong number of inputs. Keras' functional
    Model accepts the last two (it drops layers off the paths to the outputs, and keeps an
    input nothing reads); `prune=True` does the same, for frontends reading Keras' models.
    A Keras `activation=` becomes its own node, as in `build_graph`; the entry's name then
    stands for the activation's output.

    >>> from seqc.ir.types import batched
    >>> g = build_dag("res", {"x": batched((4,))},
    ...               [NodeConfig("Dense", {"units": 4}, inputs=["x"]),
    ...                NodeConfig("Add", inputs=["dense", "x"])], ["add"])
    >>> [n.op for n in g.nodes], g.outputs
    (['Dense', 'Add'], ('add',))
    """
    if not entries:
        raise DefinitionError("the model has no layers", file=file, field="layers",
                              received="layers=[]", hint=NO_LAYERS_HINT)
    if not inputs:
        raise DefinitionError("the model has no inputs", file=file, field="inputs",
                              received="inputs=[]")
    types: dict[str, TensorType] = dict(inputs)
    value_of = {v: v for v in inputs}  # entry name -> the value it stands for
    defined_later = {e.name for e in entries if e.name}
    nodes: list[Node] = []
    specs: dict = {}
    counters: dict[str, int] = {}
    used: set[str] = set(inputs)
    read: set[str] = set()
    masked: set[str] = set()
    own: dict[str, Node] = {}  # entry name -> its main node (for shared_with), in order
    for i, nc in enumerate(entries):
        label = layer_label(i, nc.name, nc.type)
        try:
            op = get_op(nc.type)
            lname = nc.name or _auto_name(snake_case(op.kind), counters, used)
            label = layer_label(i, lname, nc.type)
            if lname in used:
                raise DefinitionError(f"layer name '{lname}' is used twice", field="name",
                                      received=f"name={lname!r}",
                                      hint="give every layer and input a unique name")
            used.add(lname)
            srcs = [_resolve(ref, value_of, defined_later, lname) for ref in nc.inputs]
            read.update(srcs)
            in_types = [types[v] for v in srcs]
            _check_arity(op, nc.inputs)
            config, training_args = weight_args.split(op, nc.config)
            activation = config.pop("activation", None) if op.splits_activation else None
            shares, trainable = "", nc.trainable
            if nc.shared_with is not None:
                owner = _shared_owner(nc, own, op)
                attrs, shares = owner.attrs, owner.shares or owner.name
                training_args, trainable = owner.training_args, owner.trainable
                act = next((n for n in nodes if n.name == f"{owner.name}/activation"), None)
                activation = act.attrs.activation if act is not None else None
            else:
                attrs = op.parse_attrs(config)
                op.check(attrs)
            # Keras' ops promote an integer input of float32 weights (Dense) to float32.
            computed = promoted(op, attrs, in_types)
            try:
                out_types = op.infer(attrs, computed)
            except DefinitionError as e:
                e.received = f"{e.received}; inputs {_describe_inputs(nc.inputs, in_types)}"
                raise
            if op.output_masked(attrs, in_masked(op, srcs, masked)):
                masked.add(lname)
            pspecs = op.params(attrs, computed)
            # Output k > 0 (a recurrent layer's returned states) is the value `name:k`.
            outs_k = (lname, *(f"{lname}:{k}" for k in range(1, len(out_types))))
            for v in outs_k[1:]:
                if v in used:
                    raise DefinitionError(f"the name '{v}' of output {v.rsplit(':', 1)[1]} "
                                          "of this layer is taken", field="name",
                                          received=f"name={lname!r}",
                                          hint="give every layer and input a unique name")
                used.add(v)
            _check_weight_dtype(op, computed, out_types[0], pspecs)
            node = Node(op.kind, lname, tuple(srcs), outs_k, attrs,
                        tuple(s.name for s in pspecs), layer=lname, trainable=trainable,
                        training_args=training_args, shares=shares)
            for s in pspecs:
                key = node.param_key(s.name)
                if shares and specs.get(key) != s:
                    raise DefinitionError(
                        f"shares the layer of '{nc.shared_with}', whose parameter "
                        f"'{s.name}' has shape {specs[key].shape if key in specs else None}; "
                        f"called on {_describe_inputs(nc.inputs, in_types)} it needs "
                        f"{s.shape}", field="inputs", received=f"inputs={nc.inputs}",
                        hint="a shared layer must be called on inputs of the same shape")
                specs[key] = s
            nodes.append(node)
            own[lname] = node
            for v, t in zip(outs_k, out_types):
                types[v] = t
                value_of[v] = v
            out_type = out_types[0]
            if activation is not None:
                act_op = REGISTRY["Activation"]
                act_attrs = act_op.parse_attrs({"activation": activation})
                if act_attrs.activation != "linear":
                    aname = f"{lname}/activation"
                    nodes.append(Node("Activation", aname, (lname,), (aname,), act_attrs,
                                      layer=lname))
                    types[aname] = out_type
                    if lname in masked:
                        masked.add(aname)
                    value_of[lname] = aname
        except SeqcError as e:
            raise e.located(file=file, layer=label) from None
    outs = []
    for j, ref in enumerate(outputs):
        if ref not in value_of:
            raise DefinitionError(
                f"output '{ref}' names no input or layer", file=file, field=f"outputs[{j}]",
                received=f"outputs={list(outputs)}",
                hint=did_you_mean(ref, value_of) or f"names defined: {', '.join(value_of)}")
        outs.append(value_of[ref])
    if not outs:
        raise DefinitionError("the model has no outputs", file=file, field="outputs",
                              received="outputs=[]")
    read.update(outs)
    if prune:
        return verify(_pruned(Graph(name, tuple(inputs), tuple(outs), tuple(nodes), types,
                                    specs)))
    for v in inputs:
        if v not in read:
            raise DefinitionError(
                f"graph input '{v}' is not used by any layer", file=file, field="inputs",
                received=f"inputs={list(inputs)}",
                hint="remove the input, or feed it to a layer")
    for i, (nc, lname) in enumerate(zip(entries, own)):
        if not read & {value_of[lname], *own[lname].outputs[1:]}:
            raise DefinitionError(
                f"the value of '{lname}' is never used: no layer reads it and it is not an "
                "output", file=file, layer=layer_label(i, lname, nc.type), field="outputs",
                received=f"outputs={list(outputs)}",
                hint="remove the layer, feed it to another, or list it in outputs")
    return verify(Graph(name, tuple(inputs), tuple(outs), tuple(nodes), types, specs))


def _pruned(graph: Graph) -> Graph:
    """`graph` without the nodes no output depends on (and their parameters)."""
    needed, kept = set(graph.outputs), []
    for n in reversed(graph.nodes):
        if needed & set(n.outputs):
            kept.append(n)
            needed.update(n.inputs)
    kept.reverse()
    keys = {n.param_key(p) for n in kept for p in n.params}
    values = set(graph.inputs) | {v for n in kept for v in n.outputs}
    return graph.replace(nodes=tuple(kept),
                         types={v: t for v, t in graph.types.items() if v in values},
                         param_specs={k: s for k, s in graph.param_specs.items() if k in keys})


def _resolve(ref: str, value_of: dict[str, str], later: set[str], me: str) -> str:
    if ref in value_of:
        return value_of[ref]
    if ref == me:
        raise DefinitionError(f"the layer reads its own output '{ref}' (a cycle)",
                              field="inputs", received=f"inputs include {ref!r}")
    if ref in later:
        raise DefinitionError(
            f"input '{ref}' is defined later in the list: a cycle, or entries out of order",
            field="inputs", received=f"inputs include {ref!r}",
            hint="list every layer after the layers it reads (graphs have no cycles)")
    raise DefinitionError(
        f"input '{ref}' names no graph input or earlier layer", field="inputs",
        received=f"inputs include {ref!r}",
        hint=did_you_mean(ref, value_of) or f"names defined so far: {', '.join(value_of)}")


def _check_arity(op, refs: list[str]) -> None:
    lo, hi = op.arity
    n = len(refs)
    if lo <= n and (hi is None or n <= hi):
        return
    want = (f"exactly {lo}" if lo == hi else f"at least {lo}" if hi is None
            else f"{lo} to {hi}")
    noun = "input" if want == "exactly 1" else "inputs"
    raise DefinitionError(f"{op.kind} takes {want} {noun}, and {n} are given", field="inputs",
                          received=f"inputs={list(refs)}")


def _shared_owner(nc: NodeConfig, own: dict[str, Node], op) -> Node:
    owner = own.get(nc.shared_with)
    if owner is None:
        raise DefinitionError(
            f"shared_with '{nc.shared_with}' names no earlier layer", field="shared_with",
            received=f"shared_with={nc.shared_with!r}", hint=did_you_mean(nc.shared_with, own))
    if owner.op != op.kind:
        raise DefinitionError(
            f"shared_with '{nc.shared_with}' is a {owner.op}, this entry a {op.kind}",
            field="shared_with", received=f"type={nc.type!r}")
    if nc.config:
        config, _ = weight_args.split(op, nc.config)
        config.pop("activation", None)
        if op.parse_attrs(config) != owner.attrs:
            raise DefinitionError(
                f"a layer shared with '{nc.shared_with}' takes its configuration; this entry "
                "gives a different one", field="config", received=f"config={nc.config!r}",
                hint="leave the shared entry's arguments out")
    return owner


def _describe_inputs(refs: list[str], in_types: list[TensorType]) -> str:
    return ", ".join(f"'{r}' {t}" for r, t in zip(refs, in_types))
