"""The model as Keras' plot_model draws it: one box per input and per user layer (a split-off
activation stays in its layer's box, a shared layer is one box with an edge per call), one
edge per (producer layer, consumer layer) pair; then a layered layout for it.

The layout is a small Sugiyama-style one written here (longest-path ranks, a few barycenter
sweeps to order each rank): graphviz would need a system binary that pip cannot install, and
model graphs are DAGs of tens of boxes, where this is enough. Pure Python, no imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Box:
    key: str  # the layer's (or input's) name
    kind: str  # Keras class name, "InputLayer" for an input
    input_shapes: list[tuple] = field(default_factory=list)
    output_shape: tuple = ()
    dtype: str = "float32"
    params: int = 0
    trainable: bool = True
    activation: str | None = None


def layer_graph(graph: Any) -> tuple[list[Box], list[tuple[int, int]]]:
    """(boxes, edges as (from index, to index)) of a seqc.ir.Graph, inputs first."""
    import numpy as np

    from ..ir.summary import _layer_groups

    boxes: list[Box] = []
    index: dict[str, int] = {}
    producer: dict[str, int] = {}  # value -> box
    for v in graph.inputs:
        t = graph.types[v]
        index[v] = len(boxes)
        producer[v] = len(boxes)
        boxes.append(Box(v, "InputLayer", [tuple(t.shape)], tuple(t.shape), t.dtype))
    groups = _layer_groups(graph)
    for owner, calls in groups.items():
        i = len(boxes)
        first = calls[0]
        n = 0
        for node in (n for call in calls for n in call):
            for p in () if node.shares else node.params:
                n += int(np.prod(graph.param_specs[node.param_key(p)].shape))
        last = calls[-1][-1]
        # A split-off activation: Dense(activation="relu") -> nodes Dense, Activation(relu).
        act = (getattr(first[1].attrs, "activation", None) or first[1].op) if len(first) > 1 \
            else None
        boxes.append(Box(owner, first[0].op,
                         [tuple(graph.types[v].shape) for v in first[0].inputs],
                         tuple(graph.types[last.outputs[0]].shape),
                         graph.types[last.outputs[0]].dtype, n,
                         all(node.trainable for node in first), act))
        index[owner] = i
        for call in calls:
            for node in call:
                for v in node.outputs:
                    producer[v] = i
    edges: list[tuple[int, int]] = []
    for owner, calls in groups.items():
        for call in calls:
            inside = {v for node in call for v in node.outputs}
            for node in call:
                for v in node.inputs:
                    if v in inside:
                        continue
                    e = (producer[v], index[owner])
                    if e not in edges:
                        edges.append(e)
    return boxes, edges


def ranks_and_order(n: int, edges: list[tuple[int, int]]) -> tuple[list[int], list[list[int]]]:
    """Each box's rank (longest path from a source) and the boxes of each rank in drawing
    order (barycenter of the neighbours' positions, sweeping down and up a few times)."""
    rank = [0] * n
    for a, b in sorted(edges, key=lambda e: e[1]):  # boxes are in topological order
        rank[b] = max(rank[b], rank[a] + 1)
    # A source drawn next to what reads it (an input read only late sits beside its reader).
    for i in range(n):
        outs = [rank[b] for a, b in edges if a == i]
        if outs and not any(b == i for _, b in edges):
            rank[i] = min(outs) - 1
    rows: list[list[int]] = [[] for _ in range(max(rank, default=0) + 1)]
    for i in range(n):
        rows[rank[i]].append(i)
    parents = {i: [a for a, b in edges if b == i] for i in range(n)}
    children = {i: [b for a, b in edges if a == i] for i in range(n)}
    for sweep in range(4):
        pos = {i: k for row in rows for k, i in enumerate(row)}
        seq = range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1)
        for r in seq:
            near = parents if sweep % 2 == 0 else children

            def center(i: int, near=near, pos=pos) -> float:
                ps = [pos[j] for j in near[i]]
                return sum(ps) / len(ps) if ps else pos[i]

            rows[r].sort(key=lambda i: (center(i), pos[i]))
            pos.update({i: k for k, i in enumerate(rows[r])})
    return rank, rows
