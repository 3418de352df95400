"""One line per node, for golden files and `--verbose`:

    %dense = Dense[units=32](%input) : f32[N,32]
"""

from __future__ import annotations

import dataclasses

from .graph import Graph, Node


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_fmt(x)}" for k, x in v.items()) + "}"
    if isinstance(v, tuple):
        return "(" + ",".join(_fmt(x) for x in v) + ")"
    return repr(v)


def _non_default_attrs(node: Node) -> str:
    parts = []
    for f in dataclasses.fields(node.attrs):
        v = getattr(node.attrs, f.name)
        default = f.default if f.default is not dataclasses.MISSING else object()
        if v != default:
            parts.append(f"{f.name}={_fmt(v)}")
    return ",".join(parts)


def format_node(node: Node, graph: Graph) -> str:
    attrs = _non_default_attrs(node)
    args = ", ".join(f"%{i}" for i in node.inputs)
    outs = ", ".join(f"%{o}" for o in node.outputs)
    types = ", ".join(str(graph.types[o]) for o in node.outputs)
    frozen = "" if node.trainable else " frozen"
    return f"{outs} = {node.op}{f'[{attrs}]' if attrs else ''}({args}) : {types}{frozen}"


def format_graph(graph: Graph) -> str:
    ins = ", ".join(f"%{i}: {graph.types[i]}" for i in graph.inputs)
    lines = [f"graph {graph.name}({ins}) {{"]
    lines += ["  " + format_node(n, graph) for n in graph.nodes]
    lines.append("  return " + ", ".join(f"%{o}" for o in graph.outputs))
    lines.append("}")
    return "\n".join(lines) + "\n"
