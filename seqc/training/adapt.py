"""Before the first fit, adaptable layers (Normalization) learn their statistics from the
training inputs, once, as a Keras user calls `layer.adapt(x)`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import REGISTRY
from ..ops.base import RunContext
from . import executor

__all__ = ["adapt_once"]


def adapt_once(model: Any, x: Any, stream: Any = None) -> None:
    """Before the first fit, fit every adaptable layer (Normalization) whose statistics are
    parameters (not given as attributes) to the training inputs, as a Keras user calls
    `layer.adapt(x)` once. Later fits, and models whose weights were set, keep them.
    `stream`: a Shards source's ShardStream, read chunk by chunk instead of x."""
    if getattr(model, "adapted", False):
        return
    graph = model.graph
    todo = [i for i, node in enumerate(graph.nodes)
            if REGISTRY[node.op].adapt is not None and node.params]
    if todo and stream is not None:
        from .shards import adapt_streamed

        adapt_streamed(model, todo, stream.adapt_chunks, stream.fits)
    elif todo:
        ctx = RunContext(training=False, need_grad=False)
        env = dict(x) if isinstance(x, dict) else {graph.inputs[0]: x}
        done = 0
        for i, node in enumerate(graph.nodes):
            op = REGISTRY[node.op]
            if i in todo:
                learnt = op.adapt(node.attrs, env[node.inputs[0]])
                for local, arr in learnt.items():
                    key = node.param_key(local)
                    model.params[key] = np.asarray(arr).astype(graph.param_specs[key].dtype)
                done += 1
                if done == len(todo):
                    break
            ys, _ = op.forward(node.attrs, executor.node_params(node, model.params),
                               executor.node_inputs(op, node, env), ctx)
            env.update(zip(node.outputs, ys))
    model.adapted = True
