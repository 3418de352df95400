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
    rows: list[list[str]] = []
    by_layer: dict[str, list] = {}
    for node in graph.nodes:
        by_layer.setdefault(node.layer or node.name, []).append(node)
    for layer, nodes in by_layer.items():
        first = nodes[0]
        out = graph.types[nodes[-1].outputs[0]]
        n = 0
        for node in nodes:
            for p in () if node.shares else node.params:
                n += int(np.prod(graph.param_specs[node.param_key(p)].shape))
        shape = "(" + ", ".join("None" if d is None else str(d) for d in out.shape)
        shape += ",)" if len(out.shape) == 1 else ")"
        rows.append([f"{layer} ({first.op})", shape, f"{n:,}"])
    head = ["Layer (type)", "Output Shape", "Param #"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    widths = [max(widths[0], 27), max(widths[1], 22), max(widths[2], 13)]

    def row(r: list[str], bar: str) -> str:
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2])]
        return f"{bar} " + f" {bar} ".join(cells) + f" {bar}"

    def rule(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    lines = [f'Model: "{graph.name}"', rule("┏", "┳", "┓", "━"), row(head, "┃"),
             rule("┡", "╇", "┩", "━")]
    for i, r in enumerate(rows):
        if i:
            lines.append(rule("├", "┼", "┤", "─"))
        lines.append(row(r, "│"))
    counts = parameter_counts(graph)
    total, trainable, non_trainable = (counts[k] for k in ("total", "trainable",
                                                           "non_trainable"))
    lines += [rule("└", "┴", "┘", "─"),
              f" Total params: {total:,} ({_bytes(total)})",
              f" Trainable params: {trainable:,} ({_bytes(trainable)})",
              f" Non-trainable params: {non_trainable:,} ({_bytes(non_trainable)})"]
    return "\n".join(lines)


def _bytes(n_params: int) -> str:
    b = n_params * 4
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024
    return f"{b:.2f} GB"
