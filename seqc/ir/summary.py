"""Keras-style `model.summary()` table: one row per user layer (a split-off activation is
folded into its layer's row), output shape, parameter count."""

from __future__ import annotations

import numpy as np

from .graph import Graph


def format_summary(graph: Graph, params: dict[str, np.ndarray] | None = None) -> str:
    rows: list[list[str]] = []
    by_layer: dict[str, list] = {}
    for node in graph.nodes:
        by_layer.setdefault(node.layer or node.name, []).append(node)
    trainable = non_trainable = 0
    for layer, nodes in by_layer.items():
        first = nodes[0]
        out = graph.types[nodes[-1].outputs[0]]
        n = 0
        for node in nodes:
            for p in node.params:
                spec = graph.param_specs[node.param_key(p)]
                size = int(np.prod(spec.shape))
                n += size
                if spec.trainable and node.trainable:
                    trainable += size
                else:
                    non_trainable += size
        shape = "(" + ", ".join("None" if d is None else str(d) for d in out.shape)
        shape += ",)" if len(out.shape) == 1 else ")"
        rows.append([f"{layer} ({first.op})", shape, f"{n:,}"])
    head = ["Layer (type)", "Output Shape", "Param #"]
    widths = [max(len(r[i]) for r in [head, *rows]) + 2 for i in range(3)]
    widths[0] = max(widths[0], 28)
    widths[1] = max(widths[1], 22)
    line = "─" * sum(widths)

    def fmt(r):
        return r[0].ljust(widths[0]) + r[1].ljust(widths[1]) + r[2].rjust(widths[2] - 2)

    total = trainable + non_trainable
    out_lines = [f'Model: "{graph.name}"', "┏" + line, fmt(head), "┡" + line]
    out_lines += [fmt(r) for r in rows]
    out_lines += ["└" + line,
                  f" Total params: {total:,} ({_bytes(total)})",
                  f" Trainable params: {trainable:,} ({_bytes(trainable)})",
                  f" Non-trainable params: {non_trainable:,} ({_bytes(non_trainable)})"]
    return "\n".join(out_lines)


def _bytes(n_params: int) -> str:
    b = n_params * 4
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024
    return f"{b:.2f} GB"
