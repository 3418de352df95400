"""Keras' call records in a model config, read without executing it: the keras tensor
references of `inbound_nodes` (Keras 3's `{"args", "kwargs"}` and Keras 2's nested lists),
the layers a call reads, operator nodes told from layers, and whether a Functional model is
one chain (`is_chain_model`, which picks the sequential reader or the graph reader,
_keras_json_graph).
"""

from __future__ import annotations

from typing import Any

from ._keras_json_model import weightless_sequential

MODEL_CLASSES = ("Sequential", "Functional", "Model")
# Keras 3 ops on two tensors -> seqc merge kinds.
BINARY_OPS = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply",
              "Maximum": "Maximum", "Minimum": "Minimum"}
MASK = "\0mask:"  # the value of a mask computation: never a graph value
# Op classes no Keras layer shares a name with.
UNARY_OPS = ("TrueDivide", "Divide", "Negative")


def is_chain_model(doc: dict) -> bool:
    """True for a model the sequential reader takes: Sequential, or a Functional one with
    one input, one output and one call per layer, each reading one layer, no nested model
    with weights and no operator node. Anything else is read as a graph."""
    if doc.get("class_name") not in ("Functional", "Model") or not isinstance(
            doc.get("config"), dict):
        return True
    cfg = doc["config"]
    layers = cfg.get("layers")
    if not isinstance(layers, list):
        return True  # the sequential reader reports it
    if len(tensor_refs(cfg.get("input_layers"))) != 1 or len(
            tensor_refs(cfg.get("output_layers"))) != 1:
        return False
    readers: dict[str, int] = {}
    for e in layers:
        if not isinstance(e, dict):
            return True
        if is_op(e) or (e.get("class_name") in MODEL_CLASSES
                        and weightless_sequential(e) is None):
            return False  # (a weightless nested Sequential the chain reader inlines)
        nodes = e.get("inbound_nodes") or []
        if len(nodes) > 1:
            return False
        for node in nodes:
            srcs = node_sources(node)
            if len(srcs) != 1:
                return False
            readers[srcs[0]] = readers.get(srcs[0], 0) + 1
    return all(n <= 1 for n in readers.values())


def is_op(e: dict, node: Any = None) -> bool:
    """A Keras 3 operator node: its `module` says so; a legacy .h5 drops `module`, and then
    an op is told from a layer of the same class name by its call (a layer takes one
    positional argument, `x + y` gives Add two)."""
    module = e.get("module")
    if module is not None:
        return str(module).startswith("keras.src.ops")
    cls = e.get("class_name")
    if cls in UNARY_OPS:
        return True
    nodes = [node] if node is not None else e.get("inbound_nodes") or []
    return cls in BINARY_OPS and any(isinstance(n, dict) and len(n.get("args") or []) != 1
                                     for n in nodes)


def node_sources(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        walk(node.get("args"), out)
        walk(node.get("kwargs"), out)
    elif isinstance(node, list):
        out = [t[0] for t in node if isinstance(t, list) and t and isinstance(t[0], str)]
    return out


def walk(obj: Any, out: list, depth: int = 0) -> None:
    if depth > 8:
        return
    if is_tensor(obj):
        out.append(obj["config"]["keras_history"][0])
    elif isinstance(obj, dict):
        for v in obj.values():
            walk(v, out, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            walk(v, out, depth + 1)


def is_tensor(obj: Any) -> bool:
    return (isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__"
            and isinstance(obj.get("config"), dict)
            and is_history(obj["config"].get("keras_history")))


def malformed_tensor(obj: Any, depth: int = 0) -> bool:
    """A `__keras_tensor__` object whose keras_history is not a tensor reference."""
    if depth > 8:
        return False
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__" and not is_tensor(obj):
            return True
        return any(malformed_tensor(v, depth + 1) for v in obj.values())
    if isinstance(obj, list):
        return any(malformed_tensor(v, depth + 1) for v in obj)
    return False


def is_history(h: Any) -> bool:
    """A keras tensor's `keras_history`: [layer name, node index, tensor index]."""
    return (isinstance(h, list) and len(h) == 3 and isinstance(h[0], str)
            and all(isinstance(j, int) and not isinstance(j, bool) for j in h[1:]))


def tensor_refs(v: Any) -> list:
    """input_layers/output_layers: [name, node, t], a list of them, or a dict of them."""
    if isinstance(v, dict):
        v = list(v.values())
    if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str):
        return [v]
    return [x for x in v if isinstance(x, list)] if isinstance(v, list) else []


def history(a: Any) -> Any:
    """A call argument: a keras tensor -> [layer, node, t]; a list of them -> a list of
    those; a number stays."""
    if is_tensor(a):
        return list(a["config"]["keras_history"])
    if isinstance(a, list):
        return [history(x) for x in a]
    return a


def flat_tensors(args: list) -> list:
    out = []
    for a in args:
        if isinstance(a, list) and len(a) == 3 and isinstance(a[0], str):
            out.append(a)
        elif isinstance(a, list):
            out.extend(flat_tensors(a))
    return out


def is_mask(v: str) -> bool:
    return v.startswith(MASK)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
