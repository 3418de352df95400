"""The order of a subclassed Keras model's weights: Keras' tracker meets its layers in the
order __init__ assigns them, not the order call() uses them, and the parameter table is put
in that order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import DefinitionError
from ._pyscript_subclass import read_instance
from ._pyscript_values import Instance, Layer, ModelVal

if TYPE_CHECKING:
    from .pyscript import Reader


def _registered(r: Reader, v: Any, out: dict[int, int], seen: set[int]) -> None:
    """Layers in the order Keras' tracker meets them: attributes in assignment order, a list's
    items in order, a nested Sequential's layers, a nested subclassed model's attributes."""
    if id(v) in seen:
        return
    seen.add(id(v))
    if isinstance(v, Layer):
        out.setdefault(id(v), len(out))
    elif isinstance(v, (list, tuple)):
        for x in v:
            _registered(r, x, out, seen)
    elif isinstance(v, dict):
        for x in v.values():
            _registered(r, x, out, seen)
    elif isinstance(v, Instance) and v.cls.kind == "keras_model":
        _registered(r, read_instance(r, v), out, seen)
    elif isinstance(v, ModelVal) and (v.attrs or v.graph is None):
        for x in v.attrs.values() if v.attrs else [x for _, x, _ in v.items]:
            _registered(r, x, out, seen)
    elif isinstance(v, ModelVal):  # a functional model: its layers in graph order
        from ._pyscript_ktensor import graph_tensors

        for t in graph_tensors(v.graph[1]):
            _registered(r, t.layer, out, seen)


def weight_order(r: Reader, model: ModelVal, doc: dict) -> list[int] | None:
    """A subclassed Keras model's `model.weights` follow the order its layers were assigned
    in __init__ (Keras' tracker), not the order call() uses them: the indices of doc["layers"]
    in that order (None where it is the layers' own order: a Sequential, a functional model).
    An entry made from no registered layer (a Lambda's steps) stays after the one before it.
    A subclassed model nested in a Sequential or a functional graph keeps its own order."""
    if model.framework != "keras":
        return None
    ranks: dict[int, int] = {}
    _registered(r, model, ranks, set())
    made = r.__dict__.get("_doc_layers", {})
    key: list[int] = []
    for d in doc["layers"]:
        v = made[id(d)][1] if made.get(id(d), (None,))[0] is d else None
        key.append(ranks.get(id(v), key[-1] if key else -1))
    order = sorted(range(len(key)), key=lambda i: (key[i], i))
    return order if order != sorted(order) else None


def reorder_weights(graph: Any, doc: dict, order: list[int]) -> Any:
    """`graph` with its parameter table in `weight_order`'s order (only the order changes)."""
    layers = doc["layers"]
    if all("name" in d for d in layers):  # a graph doc: its entries are named
        names = [d["name"] for d in layers]
    else:  # a chain: one layer name per entry, an InputLayer entry consumed
        names = list(dict.fromkeys(n.layer or n.name for n in graph.nodes))
        if layers and layers[0]["type"] == "InputLayer":
            names = [""] + names
        if len(names) != len(layers):
            raise DefinitionError("seqc cannot tell which layer each weight of the subclassed "
                                  "model belongs to, so cannot give Keras' weight order",
                                  field="layers", received=f"{len(layers)} layers")
    pos = {names[i]: k for k, i in enumerate(order)}
    owner = {n.param_key(p): n.shares or n.layer or n.name for n in graph.nodes
             for p in n.params}
    keys = list(graph.param_specs)
    keys.sort(key=lambda k: pos.get(owner.get(k, ""), len(pos)))
    return graph.replace(param_specs={k: graph.param_specs[k] for k in keys})
