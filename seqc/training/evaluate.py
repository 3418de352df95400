"""Keras' `Model.evaluate` and `Model.predict` on the NumPy executor (inference mode), and the
validation pass fit runs after each epoch."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from ..ir.graph import zero_states
from ..ops.base import RunContext
from . import callbacks as callbacks_mod
from . import executor, penalties, stateful
from .batches import DEFAULT_BATCH_SIZE, array_batches, prepare_data, shard_source
from .checks import as_list, n_samples, no_unknown, nth, positive_int, prepare_x, verbose_level
from .compile_config import compiled_config
from .fit_logs import flat_metrics, log_dict, resolve_metrics, update_metrics

__all__ = ["evaluate", "evaluate_batches", "predict"]


def evaluate(model: Any, x: Any = None, y: Any = None, batch_size: int | None = None,
             verbose: Any = "auto", sample_weight: Any = None, return_dict: bool = False,
             callbacks: Any = None, **unknown: Any) -> Any:
    """Keras' `Model.evaluate`: the loss, or [loss, *metrics] when metrics were compiled (with
    several outputs [loss, *per-output losses, *metrics]), or a dict with return_dict=True."""
    if model.graph.states:  # the loss reads the first output (carried.py)
        from . import carried

        return carried.run(evaluate, dict(locals()))
    no_unknown(unknown, "evaluate", ["x", "y", "batch_size", "verbose", "sample_weight",
                                      "return_dict", "callbacks"])
    cfg = compiled_config(model, "evaluate")
    batch_size = positive_int(batch_size if batch_size is not None else
                              stateful.default_batch_size(model, DEFAULT_BATCH_SIZE),
                              "batch_size")
    verbose = verbose_level(verbose)
    stream = shard_source(model, x, y, sample_weight, None)
    if stream is not None:  # a Shards source: streamed in file order
        _, ys, _, _, _ = stream.split(0.0, None, None)
        n = stream.train_rows
        batches = stream.batches_of(0, n)(batch_size)
    else:
        x, ys, sws = prepare_data(model, cfg.heads, x, y, sample_weight)
        n = n_samples(x)
        batches = array_batches(x, ys, sws, None, batch_size)
    ms = resolve_metrics(cfg, ys, model)
    cbs = callbacks_mod.CallbackList([callbacks_mod.get(c) for c in as_list(callbacks)], model,
                                     {"verbose": verbose, "steps": -(-n // batch_size)})
    cbs.on_test_begin()
    loss_value, parts = evaluate_batches(model, batches, ms)
    logs = log_dict(cfg.heads, loss_value, parts, ms)
    cbs.on_test_end(logs)
    if verbose:
        print(f"{-(-n // batch_size)}/{-(-n // batch_size)} - "
              + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def evaluate_batches(model, batches, metrics) -> tuple[float, np.ndarray]:
    """(loss, unweighted loss per output) over (x, ys, sws) batches, in inference mode."""
    heads = model.compiled.heads
    for m in flat_metrics(metrics):
        m.reset_state()
    ctx = RunContext(training=False, need_grad=False, states=stateful.states(model))
    n = 0
    total, head_totals = 0.0, np.zeros(len(heads))
    # Keras' test_step adds the same regularization losses as training.
    pen = penalties.collect(model.graph, model.source)
    weight_loss = pen.weight_loss(model.params)
    for xb, ybs, swbs in batches:
        rows = n_samples(xb)
        n += rows
        y_pred, tape = executor.forward(model.graph, model.params, xb, ctx,
                                        keep=pen.activity_values)
        preds = y_pred if len(heads) > 1 else [y_pred]
        value = 0.0
        for j, h in enumerate(heads):
            part = h.loss(ybs[j], preds[j], nth(swbs, j), tape.masks.get(h.value))
            head_totals[j] += part * rows
            value += part * h.weight
        if pen:
            value += weight_loss + pen.activity_loss(tape.values, grads=False)[0]
        total += value * rows
        update_metrics(heads, metrics, ybs, preds, swbs, tape.masks)
    return total / n, head_totals / n


def predict(model: Any, x: Any, batch_size: int | None = None, verbose: Any = 0,
            **unknown: Any) -> np.ndarray:
    """Batched inference (no caches kept); returns an array of shape (N, *output)."""
    no_unknown(unknown, "predict", ["x", "batch_size", "verbose"])
    graph = model.graph
    x = zero_states(graph, x)  # a recurrent state input not given: zeros (Graph.states)
    batch_size = positive_int(batch_size if batch_size is not None else
                              stateful.default_batch_size(model, DEFAULT_BATCH_SIZE),
                              "batch_size")
    if getattr(type(x), "is_shard_source", False) is True:
        raise UsageError("predict returns one array in memory; shards are predicted to files",
                         field="x", received=repr(x),
                         hint="export the model, then seqc.predict_dataset(model_dir, "
                              "shards, out_dir) or `seqc predict MODEL SHARDS... -o OUTDIR`")
    if len(graph.inputs) > 1 or len(graph.outputs) > 1:
        return _predict_graph(model, x, batch_size)
    x = prepare_x(model, x, "x")
    ctx = RunContext(training=False, need_grad=False, states=stateful.states(model))
    out = None
    n = len(x)
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        yb, _ = executor.forward(model.graph, model.params, x[lo:hi], ctx)
        if out is None:
            if hi == n:
                return np.asarray(yb)
            out = np.empty((n, *yb.shape[1:]), dtype=yb.dtype)
        out[lo:hi] = yb
    return out


def _predict_graph(model: Any, x: Any, batch_size: int) -> Any:
    """predict for several inputs (a list in graph.inputs order, or a dict by name) or
    outputs (a list of arrays, graph.outputs order)."""
    graph = model.graph
    xs = executor.graph_inputs(graph, x)
    xs = {k: prepare_x(model, v, f"x['{k}']" if len(xs) > 1 else "x", graph.types[k])
          for k, v in xs.items()}
    sizes = {len(v) for v in xs.values()}
    if len(sizes) != 1:
        raise DataError("the inputs hold different numbers of samples", field="x",
                        received=", ".join(f"{k}: {len(v)}" for k, v in xs.items()))
    (n,) = sizes
    ctx = RunContext(training=False, need_grad=False, states=stateful.states(model))
    parts: list[list[np.ndarray]] = []
    for lo in range(0, n, batch_size):
        yb, _ = executor.forward(graph, model.params,
                                 {k: v[lo:lo + batch_size] for k, v in xs.items()}, ctx)
        parts.append(yb if isinstance(yb, list) else [yb])
    ys = [np.concatenate([p[j] for p in parts]) for j in range(len(graph.outputs))]
    return ys if len(graph.outputs) > 1 else ys[0]
