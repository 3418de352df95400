"""Structural checks of a graph: every value defined once before use, types present,
parameters declared. A failure here is a compiler bug (RuntimeError), not bad user input."""

from __future__ import annotations

from ..ops.base import REGISTRY
from .graph import Graph


def verify(graph: Graph) -> Graph:
    defined = set(graph.inputs)
    names = set()
    for node in graph.nodes:
        if node.op not in REGISTRY:
            raise RuntimeError(f"node {node.name}: unregistered op {node.op}")
        if node.name in names:
            raise RuntimeError(f"duplicate node name {node.name}")
        names.add(node.name)
        for v in node.inputs:
            if v not in defined:
                raise RuntimeError(f"node {node.name}: input %{v} used before definition")
        for v in node.outputs:
            if v in defined:
                raise RuntimeError(f"node {node.name}: value %{v} defined twice")
            if v not in graph.types:
                raise RuntimeError(f"node {node.name}: value %{v} has no type")
            defined.add(v)
        for p in node.params:
            if node.param_key(p) not in graph.param_specs:
                raise RuntimeError(f"node {node.name}: parameter {p} not declared")
    for v in graph.outputs:
        if v not in defined:
            raise RuntimeError(f"graph output %{v} is never defined")
    return graph
