"""Keras-style `model.summary()` table: one row per user layer (a split-off activation is
folded into its layer's row), output shape, parameter count."""

from __future__ import annotations

import numpy as np

from .graph import Graph


def parameter_counts(graph: Graph) -> dict[str, int]:
    """{"total", "trainable", "non_trainable"} as Keras counts them: a parameter is trainable
    when its spec is (BatchNormalization's moving statistics are not) and its layer is not
    frozen (`trainable=False`)."""
    trainable = non_trainable = 0
    for node in graph.nodes:
        for p in () if node.shares else node.params:  # a shared layer's are its owner's
            spec = graph.param_specs[node.param_key(p)]
            size = int(np.prod(spec.shape))
            if spec.trainable and node.trainable:
                trainable += size
            else:
                non_trainable += size
    return {"total": trainable + non_trainable, "trainable": trainable,
            "non_trainable": non_trainable}


def format_summary(graph: Graph, params: dict[str, np.ndarray] | None = None) -> str:
    """Keras' summary table: a chain as Keras prints a Sequential; any other graph in Keras'
    functional form, with a row per graph input and a "Connected to" column naming the
    values each layer call reads as `layer[call][tensor]` (a shared layer is one row whose
    calls are all listed)."""
    chain = graph.is_chain
    groups = _layer_groups(graph)
    rows: list[list[str]] = []
    listed: set[str] = set()
    for owner, calls in groups.items():
        if not chain:  # Keras lists an input just before the first layer that reads it
            for v in (v for call in calls for v in call[0].inputs):
                if v in graph.inputs and v not in listed:
                    listed.add(v)
                    rows.append([f"{v} (InputLayer)", _shape(graph.types[v]), "0", "-"])
        n = 0
        for node in (n for call in calls for n in call):
            for p in () if node.shares else node.params:
                n += int(np.prod(graph.param_specs[node.param_key(p)].shape))
        last = calls[-1][-1]
        shapes = [_shape(graph.types[v]) for v in last.outputs]  # Keras lists several
        row = [f"{owner} ({calls[0][0].op})",
               shapes[0] if len(shapes) == 1 else f"[{', '.join(shapes)}]",
               f"{n:,}"]
        if not chain:
            row.append(_connections(graph, groups, calls))
        rows.append(row)
    if not chain:
        rows[:0] = [[f"{v} (InputLayer)", _shape(graph.types[v]), "0", "-"]
                    for v in graph.inputs if v not in listed]
    head = ["Layer (type)", "Output Shape", "Param #", "Connected to"][:len(rows[0])]
    mins = [27, 22, 13] if chain else [29, 25, 16, CONNECTED_WIDTH]
    widths = [max(max(len(line) for r in [head, *rows] for line in r[i].split("\n")), m)
              for i, m in enumerate(mins)]

    def row(r: list[str], bar: str) -> list[str]:
        cells = [c.split("\n") for c in r]
        out = []
        for k in range(max(len(c) for c in cells)):
            parts = [c[k] if k < len(c) else "" for c in cells]
            parts = [p.rjust(w) if i == 2 else p.ljust(w)
                     for i, (p, w) in enumerate(zip(parts, widths))]
            out.append(f"{bar} " + f" {bar} ".join(parts) + f" {bar}")
        return out

    def rule(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    lines = [f'Model: "{graph.name}"', rule("┏", "┳", "┓", "━"), *row(head, "┃"),
             rule("┡", "╇", "┩", "━")]
    for i, r in enumerate(rows):
        if i:
            lines.append(rule("├", "┼", "┤", "─"))
        lines += row(r, "│")
    counts = parameter_counts(graph)
    total, trainable, non_trainable = (counts[k] for k in ("total", "trainable",
                                                           "non_trainable"))
    lines += [rule("└", "┴", "┘", "─"),
              f" Total params: {total:,} ({_bytes(total)})",
              f" Trainable params: {trainable:,} ({_bytes(trainable)})",
              f" Non-trainable params: {non_trainable:,} ({_bytes(non_trainable)})"]
    return "\n".join(lines)


CONNECTED_WIDTH = 26  # Keras' 108-column functional layout; longer lists wrap after a comma


def _shape(t) -> str:
    shape = "(" + ", ".join("None" if d is None else str(d) for d in t.shape)
    return shape + (",)" if len(t.shape) == 1 else ")")


def _layer_groups(graph: Graph) -> dict[str, list[list]]:
    """user layer -> its calls (the first its own, then each shared call), each call the
    nodes it became (a split-off activation follows its layer's node)."""
    owner = {n.layer or n.name: n.shares for n in graph.nodes if n.shares}
    groups: dict[str, list[list]] = {}
    calls: dict[str, list] = {}
    for node in graph.nodes:
        layer = node.layer or node.name
        if layer not in calls:
            calls[layer] = []
            groups.setdefault(owner.get(layer, layer), []).append(calls[layer])
        calls[layer].append(node)
    return groups


def _connections(graph: Graph, groups: dict[str, list[list]], calls: list[list]) -> str:
    where: dict[str, str] = {v: f"{v}[0][0]" for v in graph.inputs}
    for owner, cs in groups.items():
        for k, call in enumerate(cs):
            for node in call:
                for j, v in enumerate(node.outputs):
                    where[v] = f"{owner}[{k}][{j}]"
    refs = [where[v] for call in calls for v in call[0].inputs]
    if not refs:
        return "-"
    lines, cur = [], ""
    for i, ref in enumerate(refs):
        piece = ref + ("," if i < len(refs) - 1 else "")
        if cur and len(cur) + 1 + len(piece) > CONNECTED_WIDTH:
            lines.append(cur)
            cur = piece
        else:
            cur = f"{cur} {piece}" if cur else piece
    return "\n".join([*lines, cur])


def _bytes(n_params: int) -> str:
    b = n_params * 4
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024
    return f"{b:.2f} GB"
