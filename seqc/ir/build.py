"""Layer configs -> a shape-checked Graph. Every frontend ends here, so every definition error
(unknown kind or argument, impossible shape) is reported before anything trains, located as
`file: layers[i] 'name' (Kind): ...`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import DefinitionError, SeqcError, layer_label
from ..ops import REGISTRY, get_op
from . import weight_args
from .graph import Graph, Node
from .types import TensorType
from .verify import verify


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
        raise DefinitionError(
            "the model has no layers", file=file, field="layers", received="layers=[]",
            hint="add at least one layer, e.g. {\"type\": \"Dense\", \"units\": 1}")
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
            (out_type,) = op.infer(attrs, [types[cur]])
            if op.output_masked(attrs, cur in masked):
                masked.add(lname)
            pspecs = op.params(attrs, [types[cur]])
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


def _auto_name(base: str, counters: dict[str, int], used: set[str]) -> str:
    while True:
        n = counters.get(base, 0)
        counters[base] = n + 1
        cand = base if n == 0 else f"{base}_{n}"
        if cand not in used:
            return cand
