"""Loss-head fusion: each output's loss value and gradient for backward, starting at the
logits with the stable `p - y` gradient when the output is an activation that the loss fuses
with (the kinds declare it: the `loss_fusion` facet of seqc.ops.base.OpDef)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import REGISTRY
from .checks import nth
from .compile_config import Head

__all__ = ["fused_activation", "fused_heads", "heads_loss_and_grad", "loss_and_grad"]


def heads_loss_and_grad(heads: list[Head], fused: list, ys: list, preds: list,
                         sws: list | None, masks: dict) -> tuple:
    """(total loss, [unweighted loss per output], dy, start) for backward: one output gives
    its gradient and start node (see loss_and_grad); several give {value: gradient}, the
    fused ones at their logits, weighted by loss_weights (Keras: sum of weight * loss)."""
    total, parts, dys = 0.0, [], {}
    for j, h in enumerate(heads):
        value, g, at = loss_and_grad(h.loss, fused[j], ys[j], preds[j], nth(sws, j),
                                     masks.get(h.value))
        parts.append(value)
        if h.weight != 1.0:
            value, g = value * h.weight, g * np.asarray(h.weight, g.dtype)
        total += value
        if len(heads) == 1:
            return total, parts, g, at
        key = h.value if at is None else at
        dys[key] = dys[key] + g if key in dys else g
    return total, parts, dys, None


def loss_and_grad(loss, fused, y, y_pred, sw, mask=None):
    """(loss value, gradient, backward start). The fused form is used when the loss
    supports the final activation; backward then starts below that activation node (a node
    index for a one-output graph, the logits' value name for several outputs). `mask` is
    the output's timestep mask: Keras leaves masked steps out of the loss. (Every loss is a
    `Loss`, so both value-and-gradient forms exist.)"""
    if fused is not None:
        act, start = fused
        out = loss.value_and_fused_grad(act, y, y_pred, sw, mask)
        if out is not None:
            return out[0], out[1], start
    value, g = loss.value_and_grad(y, y_pred, sw, mask)
    return value, g, None


def fused_heads(graph: Any, heads: list[Head], pen: Any) -> list:
    """Per output, what loss_and_grad fuses with: (activation, start node index) for a
    one-output graph, (activation, logits value) for each output of several; None where
    the output is not a last-axis softmax / sigmoid or an activity penalty reads it."""
    if len(heads) == 1:
        fused = fused_activation(graph)
        if fused is not None and pen.after(graph, fused[1]):
            fused = None  # an activity penalty reads the final activation's output
        return [fused]
    producer = {v: n for n in graph.nodes for v in n.outputs}
    penalised = {v for v, _ in pen.activity}
    out = []
    for h in heads:
        node = producer.get(h.value)
        act = None if node is None or h.value in penalised else \
            _activation_kind(node, graph.types[h.value].rank)
        out.append(None if act is None or node.inputs[0] in graph.inputs
                   else (act, node.inputs[0]))
    return out


def fused_activation(graph) -> tuple[str, int] | None:
    """("softmax" | "sigmoid", index of the node before) when the graph ends in such an
    activation applied to the previous node's output; else None."""
    if len(graph.nodes) < 2:
        return None
    last, prev = graph.nodes[-1], graph.nodes[-2]
    if last.outputs[0] != graph.outputs[0] or last.inputs[0] != prev.outputs[0]:
        return None
    act = _activation_kind(last, graph.output_type.rank)
    return None if act is None else (act, len(graph.nodes) - 2)


def _activation_kind(node: Any, rank: int) -> str | None:
    """"softmax" (over the last axis) or "sigmoid" when `node`'s kind says it computes one
    (the `loss_fusion` facet)."""
    loss_fusion = REGISTRY[node.op].loss_fusion
    return None if loss_fusion is None else loss_fusion(node.attrs, rank)
