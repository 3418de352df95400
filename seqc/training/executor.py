"""Runs a graph: forward in node order, backward in reverse, summing gradients where a value
fans out. Parameters are looked up as `node/param` in the model's table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SeqcError, UsageError, layer_label
from ..ir.graph import Graph, node_masks
from ..ops import REGISTRY
from ..ops._promote import cast_inputs, is_integer
from ..ops.base import RunContext
from .heap import keep_heap


@dataclass
class Tape:
    """What backward needs: each node's cache, in forward order."""

    caches: list[Any] = field(default_factory=list)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    # Which values a gradient flows to (see _values_needing_grad); computed once per forward.
    grad_of: dict[str, bool] = field(default_factory=dict)
    # Timestep masks of the masked values (graph.masked), bool (N, T); the loss reads the
    # output's, as Keras weights a masked output's loss.
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    plan: Any = None  # the forward's _Plan, so backward need not look it up again


def node_params(node, params: dict[str, np.ndarray], keys: Any = None) -> dict[str, np.ndarray]:
    """{local name: array}; `keys` the node's (local name, table key) pairs when known."""
    if keys is None:
        return {p: params[node.param_key(p)] for p in node.params}
    return {p: params[k] for p, k in keys}


def graph_inputs(graph: Graph, x: Any) -> dict[str, np.ndarray]:
    """{input name: array} from what a caller passes: one array (a one-input graph), a list or
    tuple in `graph.inputs` order, or a dict by input name."""
    names = graph.inputs
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        extra = [k for k in x if k not in names]
        if missing or extra:
            raise UsageError(
                f"the model's inputs are {list(names)}", field="x",
                received=f"keys {sorted(map(str, x))}",
                hint=f"missing {missing}" if missing else f"unknown {extra}")
        return {n: x[n] for n in names}
    if len(names) == 1 and not (isinstance(x, (list, tuple)) and len(x) == 1
                                and isinstance(x[0], np.ndarray)):
        return {names[0]: x}  # one input: the array itself (unchanged behaviour)
    if isinstance(x, (list, tuple)):
        if len(x) != len(names):
            raise UsageError(f"the model takes {len(names)} inputs {list(names)}", field="x",
                             received=f"{len(x)} arrays")
        return dict(zip(names, x))
    if len(names) != 1:
        raise UsageError(f"the model takes {len(names)} inputs {list(names)}", field="x",
                         received="one array",
                         hint="pass a list in that order, or a dict by input name")
    return {names[0]: x}


def node_inputs(op: Any, node: Any, env: dict[str, Any]) -> list:
    """A node's input values from `env` as its kind computes on them: an integer input cast
    to float32 where the kind promotes it, as Keras' ops do (seqc/ops/_promote.py). Every
    node runner reads its inputs here. No gradient flows back into the integer value: it is
    a graph input or the output of a kind making integers, which needs none."""
    return cast_inputs(op, node.attrs, [env[v] for v in node.inputs])


def forward_node(op: Any, node: Any, params: dict[str, np.ndarray], env: dict[str, Any],
                 masks: dict[str, np.ndarray], masked: Any, ctx: RunContext,
                 keys: Any = None) -> tuple[list, Any]:
    """One node's forward, as every node-by-node runner does it (this module's `forward`, the
    contract tests' harness): its inputs read from `env`, the timestep masks its inputs carry
    given in `ctx.mask`/`ctx.masks`, and its output's mask computed into `masks` when the
    output is one of the graph's masked values (`masked`). Returns (ys, cache)."""
    ctx.mask = masks.get(node.inputs[0])
    ctx.masks = [masks.get(v) for v in node.inputs]
    xs = node_inputs(op, node, env)
    ys, cache = op.forward(node.attrs, node_params(node, params, keys), xs, ctx)
    if node.outputs[0] in masked:
        masks[node.outputs[0]] = op.compute_mask(node.attrs, xs,
                                                 node_masks(op, node.inputs, masks))
    return ys, cache


def forward(
    graph: Graph,
    params: dict[str, np.ndarray],
    x: Any,
    ctx: RunContext | None = None,
    *,
    keep: tuple[str, ...] = (),
) -> tuple[Any, Tape]:
    """Run every node. `x` is one array for a one-input graph, else a list in `graph.inputs`
    order or a dict by input name (`graph_inputs`). Returns the output (a list of one array
    per output when the graph has several) and the tape. `keep` names intermediate values to
    return in `tape.values` (the graph outputs are always there)."""
    keep_heap()
    ctx = ctx or RunContext()
    env = graph_inputs(graph, x)
    plan = _plan(graph)
    tape = Tape(grad_of=dict(plan.grad_of), plan=plan)
    last_use = plan.last_use
    masked, masks = graph.masked, tape.masks
    pair = None  # the relu's cache, when the Dense before it ran both (see _fused_pairs)
    for i, node in enumerate(graph.nodes):
        op = REGISTRY[node.op]
        ctx.input_grad = plan.input_grad[i]
        # A shared layer's state updates (BatchNormalization's moving statistics) go to the
        # parameters it reads: its owner's.
        ctx.scope, ctx.node_trainable = node.shares or node.name, node.trainable
        try:
            if pair is not None:
                cache, pair = pair, None
            elif i in plan.pairs and node.outputs[0] not in keep:
                y, cache, pair = op.forward_relu(
                    node.attrs, node_params(node, params, plan.keys[i]),
                    node_inputs(op, node, env), ctx)
                env[graph.nodes[i + 1].outputs[0]] = y
            else:
                ys, cache = forward_node(op, node, params, env, masks, masked, ctx,
                                         plan.keys[i])
                env.update(zip(node.outputs, ys))
        except SeqcError as e:  # bad data met inside a layer (an Embedding id out of range)
            raise e.located(layer=layer_label(None, node.layer or node.name, node.op)) from None
        tape.caches.append(cache if ctx.need_grad else None)
        if not ctx.need_grad:
            # Free values no later node reads, so inference holds one activation at a time.
            for v in node.inputs:
                if last_use.get(v) == i and v not in keep and v not in graph.outputs:
                    env.pop(v, None)
    for v in (*keep, *graph.outputs):
        tape.values[v] = env[v]
    if len(graph.outputs) == 1:
        return env[graph.outputs[0]], tape
    return [env[v] for v in graph.outputs], tape


def backward(
    graph: Graph,
    params: dict[str, np.ndarray],
    tape: Tape,
    dy: Any,
    *,
    start: int | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Gradients of every trainable parameter. `start` (a node index) begins backward at that
    node's output instead of the graph output: the trainer passes the node before a final
    softmax/sigmoid when the loss supplies the fused, stable gradient w.r.t. the logits.
    `extra` adds gradients arriving at intermediate values (activity penalties), each
    summed in when backward reaches the node computing it (at or before `start`).
    A graph with several outputs takes `dy` as a list (graph.outputs order, None for an
    output no loss reads) or a dict by value name (an output, or any value: the trainer gives
    a softmax output's fused gradient at its logits), and no `start`. A shared layer's
    parameter gradients (Node.shares) are summed over its calls."""
    grads: dict[str, np.ndarray] = {}
    if len(graph.outputs) > 1:
        if start is not None:
            raise ValueError("`start` applies to a one-output graph")
        dys = dy if isinstance(dy, dict) else dict(zip(graph.outputs, dy))
        dval = {v: d for v, d in dys.items() if d is not None}
        producers = [i for i, n in enumerate(graph.nodes) if set(n.outputs) & set(dval)]
        start = max(producers) if producers else -1
    else:
        start = len(graph.nodes) - 1 if start is None else start
        dval = {graph.nodes[start].outputs[0]: dy}
    grad_of = tape.grad_of
    plans = tape.plan or _plan(graph)
    keys = plans.keys
    for i in range(start, -1, -1):
        node = graph.nodes[i]
        if not any(grad_of[v] for v in node.outputs):
            continue  # parameter-free and fed only by the input: nothing to propagate
        if not any(v in dval or (extra and v in extra) for v in node.outputs):
            continue  # no gradient reaches it (a branch only an unweighted output reads)
        for v in node.outputs:
            if extra and v in extra:
                dval[v] = dval[v] + extra[v] if v in dval else extra[v]
        dys = [dval.pop(v, None) for v in node.outputs]
        d = plans.relu_pairs.get(i)
        if d is not None and not _reaches(graph.nodes[d].outputs[0], dval, extra):
            # Dense + relu fused (see _fused_pairs): the Dense node's backward from the relu's
            # output gradient; its own output then has none, so the loop passes it by.
            node = graph.nodes[d]
            dxs, g = REGISTRY[node.op].backward_relu(
                node.attrs, node_params(node, params, keys[d]), tape.caches[d],
                tape.caches[i][1], dys[0])
        else:
            dxs, g = REGISTRY[node.op].backward(
                node.attrs, node_params(node, params, keys[i]), tape.caches[i], dys)
        if node.trainable:
            for local, arr in g.items():
                key = node.param_key(local)
                if graph.param_specs[key].trainable:
                    grads[key] = grads[key] + arr if key in grads else arr
        for v, dx in zip(node.inputs, dxs):
            if not grad_of[v] or dx is None:
                continue
            # Gradient summation where a value fans out to several consumers.
            dval[v] = dval[v] + dx if v in dval else dx
    return grads


class _Plan:
    """What forward derives from the graph alone: which values need a gradient, whether each
    node's inputs do, each value's last reader, and each node's parameter table keys. Kept
    on the graph (frozen, like its nodes) and made again when a trainable flag or the node
    tuple differs."""

    def __init__(self, graph: Graph, key: tuple):
        self.key = key
        self.grad_of = _values_needing_grad(graph)
        self.input_grad = [any(self.grad_of[v] for v in n.inputs) for n in graph.nodes]
        self.last_use = _last_use(graph)
        self.keys = [tuple((p, n.param_key(p)) for p in n.params) for n in graph.nodes]
        self.pairs = _fused_pairs(graph, self.last_use)  # {Dense index: relu index}
        self.relu_pairs = {j: i for i, j in self.pairs.items()}


def _plan(graph: Graph) -> _Plan:
    key = (tuple(s.trainable for s in graph.param_specs.values()),
           tuple(n.trainable for n in graph.nodes), graph.nodes)
    plan = graph.__dict__.get("_executor_plan")
    if plan is None or plan.key != key:
        plan = _Plan(graph, key)
        object.__setattr__(graph, "_executor_plan", plan)  # a cache, as cached_property's
    return plan


def _fused_pairs(graph: Graph, last_use: dict[str, int]) -> dict[int, int]:
    """{i: i + 1} where node i (an op with `forward_relu`, Dense) feeds a plain relu (no
    slope, ceiling or threshold) at i + 1 and nothing else reads its output: no other node,
    no graph output, no timestep mask. forward runs such a pair as one call (bias add and
    relu in one pass, in place), backward too (relu mask and bias gradient in one pass); the
    caches are the two nodes' own, so either half also runs alone (see forward, backward)."""
    pairs = {}
    nodes = graph.nodes
    for i, (node, nxt) in enumerate(zip(nodes, nodes[1:])):
        v = node.outputs[0]
        if (hasattr(REGISTRY[node.op], "forward_relu") and len(node.inputs) == 1
                and len(node.outputs) == 1 and tuple(nxt.inputs) == (v,)
                and last_use.get(v) == i + 1 and v not in graph.outputs
                and v not in graph.masked and nxt.outputs[0] not in graph.masked
                and _plain_relu(nxt)):
            pairs[i] = i + 1
    return pairs


def _plain_relu(node: Any) -> bool:
    function = getattr(REGISTRY[node.op], "function", None)
    if function is None:
        return False
    fn, kw = function(node.attrs)
    return fn.name == "relu" and all(kw.get(k, d) == d for k, d in fn.defaults)


def _reaches(v: str, dval: dict, extra: dict | None) -> bool:
    return v in dval or bool(extra) and v in extra


def _values_needing_grad(graph: Graph) -> dict[str, bool]:
    """Which values a gradient must flow to: those downstream of a trainable parameter. The
    graph input is not, nor anything computed from it by parameter-free nodes (Rescaling, a
    Reshape before the first conv), so backward never computes their dx. Nor an integer
    value (Discretization's output, read by a Dense that promotes it): no gradient has one."""
    need = {v: False for v in graph.inputs}
    for node in graph.nodes:
        has_params = node.trainable and any(
            graph.param_specs[node.param_key(p)].trainable for p in node.params)
        out = has_params or any(need.get(v, False) for v in node.inputs)
        for v in node.outputs:
            need[v] = out and not is_integer(graph.types[v].dtype)
    return need


def _last_use(graph: Graph) -> dict[str, int]:
    last = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            last[v] = i
    return last
