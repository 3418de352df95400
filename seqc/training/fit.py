"""Keras' compile / fit / evaluate / predict on the NumPy executor.

One step: forward in training mode -> loss and d loss / d y_pred (plus the regularizers'
penalties, seqc.training.penalties) -> backward -> optimizer update -> constraints. When the
graph ends in a softmax (last axis) or sigmoid and the loss fuses with it, backward starts at
the logits with the stable `p - y` gradient. Epoch logs follow Keras: the loss averaged over
batches weighted by batch size, metrics as stateful averages, `val_*` from an inference pass
over the validation data.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, did_you_mean
from ..ops import REGISTRY
from ..ops.base import RunContext
from . import callbacks as callbacks_mod
from . import executor, penalties
from . import metrics as metrics_mod
from .checks import (
    as_list,
    check_validation_split,
    class_weight_to_sample_weights,
    no_unknown,
    nonneg_int,
    positive_int,
    prepare_sample_weight,
    prepare_x,
    prepare_y,
    split_validation,
    unpack_validation,
    verbose_level,
)

__all__ = ["DEFAULT_BATCH_SIZE", "CompileConfig", "adapt_once", "class_weight_to_sample_weights",
           "compile_model", "evaluate", "fit", "predict", "prepare_sample_weight", "prepare_x",
           "prepare_y"]

DEFAULT_BATCH_SIZE = 32


@dataclass
class CompileConfig:
    """What `model.compile` stored. `resolved_metrics` are the metric objects of the last
    fit/evaluate ("accuracy" resolved against the data), read by callbacks in mode="auto"."""

    optimizer: Any
    loss: Any
    metrics: list = field(default_factory=list)
    weighted_metrics: list = field(default_factory=list)
    loss_weight: float = 1.0
    resolved_metrics: list = field(default_factory=list)

    def to_config(self) -> dict:
        """JSON-able summary for reports."""
        def cfg(obj: Any) -> Any:
            get_config = getattr(obj, "get_config", None)
            return get_config() if callable(get_config) else repr(obj)

        return {"optimizer": cfg(self.optimizer),
                "loss": cfg(self.loss) if self.loss is not None else None,
                "metrics": [m if isinstance(m, (str, dict)) else getattr(m, "name", repr(m))
                            for m in self.metrics]}


_COMPILE_IGNORED = {"run_eagerly": False, "jit_compile": "auto", "auto_scale_loss": True,
                    "steps_per_execution": 1}


def compile_model(model: Any, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                  loss_weights: Any = None, weighted_metrics: Any = None, **kwargs: Any) -> None:
    """Keras' `Model.compile`: resolves the optimizer and loss now (so a bad name fails here),
    metrics now too except "accuracy", which needs the labels' shape."""
    from . import losses as losses_mod
    from . import optimizers as optimizers_mod

    for k, v in kwargs.items():
        if k not in _COMPILE_IGNORED:
            raise UsageError(f"compile() got an unexpected argument '{k}'", field=k,
                             received=f"{k}={v!r}",
                             hint=did_you_mean(k, ["optimizer", "loss", "metrics",
                                                   "loss_weights", "weighted_metrics",
                                                   *_COMPILE_IGNORED]))
    if kwargs.get("steps_per_execution", 1) != 1:
        raise UsageError("steps_per_execution other than 1 is not supported",
                         field="steps_per_execution",
                         received=f"steps_per_execution={kwargs['steps_per_execution']}")
    opt = optimizers_mod.get(optimizer)
    loss_obj = None if loss is None else losses_mod.get(loss)
    metric_specs = _metric_list(metrics, "metrics")
    weighted_specs = _metric_list(weighted_metrics, "weighted_metrics")
    out = model.graph.output_type
    for spec in (*metric_specs, *weighted_specs):
        # Unknown names fail at compile time, as in Keras; so does a vector-valued metric.
        metrics_mod.check_loggable(metrics_mod.get(spec, loss_obj, out))
    model.compiled = CompileConfig(opt, loss_obj, metric_specs, weighted_specs,
                                   _loss_weight(loss_weights))


def _metric_list(metrics: Any, name: str) -> list:
    if metrics is None:
        return []
    if isinstance(metrics, (str, dict)) or not isinstance(metrics, (list, tuple)):
        return [metrics]
    return list(metrics)


def _loss_weight(w: Any) -> float:
    if w is None:
        return 1.0
    if isinstance(w, (list, tuple)) and len(w) == 1:
        w = w[0]
    if isinstance(w, bool) or not isinstance(w, (int, float, np.number)):
        raise UsageError("loss_weights must be a number (or a list of one) for a single-output "
                         "model", field="loss_weights", received=f"loss_weights={w!r}")
    return float(w)


# ---------------------------------------------------------------- fit

def fit(model: Any, x: Any = None, y: Any = None, batch_size: int | None = None,
        epochs: int = 1, verbose: Any = "auto", callbacks: Any = None,
        validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
        class_weight: dict | None = None, sample_weight: Any = None, initial_epoch: int = 0,
        seed: int | None = None, validation_batch_size: int | None = None,
        validation_freq: int = 1, **unknown: Any) -> callbacks_mod.History:
    """Keras' `Model.fit` on NumPy arrays; returns the History (also `model.history`).

    Deterministic: shuffling and dropout draw from generators seeded by (`seed` or
    `model.seed`, epoch), so equal seeds give equal weights, and resuming with
    `initial_epoch=k` replays epoch k exactly as an uninterrupted run would.
    """
    no_unknown(unknown, "fit", ["x", "y", "batch_size", "epochs", "verbose", "callbacks",
                                 "validation_split", "validation_data", "shuffle",
                                 "class_weight", "sample_weight", "initial_epoch", "seed",
                                 "validation_batch_size", "validation_freq"])
    cfg = _compiled(model, "fit")
    blockers = getattr(model, "training_blockers", None)
    if blockers:
        raise UsageError(
            f"this model cannot be trained by seqc: {blockers[0]}", field="fit",
            received=blockers[0].split("(", 1)[-1].rstrip(")"),
            hint="predict, export and `seqc convert` are unaffected (these settings only act "
                 "in training); to train in seqc, replace them with Keras' built-in "
                 "regularizers and constraints")
    batch_size = positive_int(batch_size if batch_size is not None else DEFAULT_BATCH_SIZE,
                               "batch_size")
    epochs = nonneg_int(epochs, "epochs")
    initial_epoch = nonneg_int(initial_epoch, "initial_epoch")
    validation_freq = positive_int(validation_freq, "validation_freq")
    verbose = verbose_level(verbose)
    seed = model.seed if seed is None else seed
    validation_split = check_validation_split(validation_split)
    if class_weight is not None and sample_weight is not None:
        # Keras: "You cannot `class_weight` and `sample_weight` at the same time."
        raise UsageError("You cannot `class_weight` and `sample_weight` at the same time.",
                         field="class_weight",
                         hint="fold the class weights into sample_weight yourself")

    _one_input_output(model, "fit")
    x = prepare_x(model, x, "x")
    y = prepare_y(model, cfg.loss, y, len(x), "y")
    sw = prepare_sample_weight(sample_weight, len(x), "sample_weight")
    val = None
    if validation_data is not None:
        val = unpack_validation(model, cfg.loss, validation_data)
    elif validation_split:
        (x, y, sw), val = split_validation(x, y, sw, validation_split)
    if class_weight is not None:
        sw = class_weight_to_sample_weights(y, class_weight, model.class_names)

    adapt_once(model, x)
    train_metrics = _resolve_metrics(cfg, y, model)
    val_metrics = copy.deepcopy(train_metrics)

    n = len(x)
    steps = -(-n // batch_size)
    schedule = getattr(cfg.optimizer, "_learning_rate", None)
    if hasattr(schedule, "steps_per_epoch"):
        schedule.steps_per_epoch = steps  # a per-epoch schedule (StepLR) counts epochs
    history = callbacks_mod.History()
    cb_list = [callbacks_mod.get(c) for c in as_list(callbacks)]
    if verbose:
        cb_list.append(callbacks_mod.ProgbarLogger(verbose))
    cb_list.append(history)
    cbs = callbacks_mod.CallbackList(cb_list, model, {"verbose": verbose, "epochs": epochs,
                                                      "steps": steps})
    batch_logs = bool(cbs.batch_hooks)
    model.history = history
    model.stop_training = False

    graph = model.graph
    pen = penalties.collect(graph, model.source)
    fused = _fused_activation(graph)
    if fused is not None and pen.after(graph, fused[1]):
        fused = None  # an activity penalty reads the final activation's output
    opt, loss, lw = cfg.optimizer, cfg.loss, cfg.loss_weight
    logs: dict = {}
    cbs.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        for m in train_metrics:
            m.reset_state()
        cbs.on_epoch_begin(epoch)
        # Shuffled batches are gathered one at a time (x[perm[lo:hi]]): the same copying as
        # one gather per epoch, but no second copy of the whole training set in memory.
        perm = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else None
        ctx = RunContext(training=True, rng=np.random.default_rng([seed, epoch, 1]))
        total, seen = 0.0, 0
        for b in range(steps):
            lo, hi = b * batch_size, min(n, (b + 1) * batch_size)
            if batch_logs:
                cbs.on_train_batch_begin(b)
            if perm is None:
                xb, yb = x[lo:hi], y[lo:hi]
                swb = None if sw is None else sw[lo:hi]
            else:
                idx = perm[lo:hi]
                xb, yb = x[idx], y[idx]
                swb = None if sw is None else sw[idx]
            y_pred, tape = executor.forward(graph, model.params, xb, ctx,
                                            keep=pen.activity_values)
            value, dy, start = _loss_and_grad(loss, fused, yb, y_pred, swb,
                                              tape.masks.get(graph.outputs[0]))
            if lw != 1.0:
                value, dy = value * lw, dy * np.asarray(lw, dy.dtype)
            extra = None
            if pen:
                act, extra = pen.activity_loss(tape.values, grads=True)
                value += act + pen.weight_loss(model.params)
            grads = executor.backward(graph, model.params, tape, dy, start=start, extra=extra)
            if pen:
                pen.add_weight_grads(model.params, grads)
            opt.apply(model.params, grads)
            if pen:
                pen.constrain(model.params, grads)  # after the update, as Keras' optimizer
            _apply_updates(model.params, ctx.updates)
            total += value * (hi - lo)
            seen += hi - lo
            _update_metrics(train_metrics, yb, y_pred, swb, tape.masks.get(graph.outputs[0]))
            if batch_logs:
                cbs.on_train_batch_end(b, _logs(total / seen, train_metrics))
            if model.stop_training:
                break
        logs = _logs(total / max(seen, 1), train_metrics)
        if val is not None and (epoch + 1) % validation_freq == 0:
            vx, vy, vsw = val
            v_loss = _evaluate_arrays(model, vx, vy, vsw, validation_batch_size or batch_size,
                                      val_metrics)
            logs.update({f"val_{k}": v for k, v in _logs(v_loss, val_metrics).items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    finalize = getattr(opt, "finalize_variable_values", None)
    if finalize is not None and epochs > 0:
        finalize(model.params)  # EMA weights swap in at the end, as in Keras
    cbs.on_train_end(logs)
    return history


def _update_metrics(metrics: list, y, y_pred, sw, mask) -> None:
    for m in metrics:
        w = sw if getattr(m, "_weighted", False) else None
        if mask is not None and isinstance(m, metrics_mod.MeanMetricWrapper):
            m.update_state(y, y_pred, w, mask=mask)  # Keras counts valid steps only
        else:
            m.update_state(y, y_pred, w)


def _apply_updates(params: dict[str, np.ndarray], updates: dict[str, np.ndarray]) -> None:
    """Write the step's non-trainable state (moving statistics) into the parameter table."""
    for key, value in updates.items():
        params[key] = np.asarray(value, dtype=params[key].dtype)
    updates.clear()


def _loss_and_grad(loss, fused, y, y_pred, sw, mask=None):
    """(loss value, gradient, backward start node). The fused form is used when the loss
    supports the final activation; backward then starts below that activation node. `mask` is
    the output's timestep mask: Keras leaves masked steps out of the loss. (Every loss is a
    `Loss`, so both value-and-gradient forms exist.)"""
    if fused is not None:
        act, start = fused
        out = loss.value_and_fused_grad(act, y, y_pred, sw, mask)
        if out is not None:
            return out[0], out[1], start
    value, g = loss.value_and_grad(y, y_pred, sw, mask)
    return value, g, None


def _fused_activation(graph) -> tuple[str, int] | None:
    """("softmax" | "sigmoid", index of the node before) when the graph ends in such an
    activation applied to the previous node's output; else None."""
    if len(graph.nodes) < 2:
        return None
    last, prev = graph.nodes[-1], graph.nodes[-2]
    if last.outputs[0] != graph.outputs[0] or last.inputs[0] != prev.outputs[0]:
        return None
    rank = graph.output_type.rank
    act = None
    if last.op == "Activation":
        spec = last.attrs.activation
        if isinstance(spec, str):
            act = spec if spec in ("softmax", "sigmoid") else None
        elif spec.get("type") == "softmax" and int(spec.get("axis", -1)) % rank == rank - 1:
            act = "softmax"
    elif last.op == "Softmax" and int(last.attrs.axis) % rank == rank - 1:
        act = "softmax"
    return None if act is None else (act, len(graph.nodes) - 2)


def _logs(loss_value: float, metrics: list) -> dict:
    logs = {"loss": float(loss_value)}
    for m in metrics:
        logs[m.name] = float(m.result())
    return logs


def _resolve_metrics(cfg: CompileConfig, y: np.ndarray, model: Any) -> list:
    out = model.graph.output_type
    ms = [metrics_mod.get(copy.deepcopy(s) if isinstance(s, metrics_mod.Metric) else s,
                          cfg.loss, out, y.shape) for s in cfg.metrics]
    wms = []
    for s in cfg.weighted_metrics:
        m = metrics_mod.get(copy.deepcopy(s) if isinstance(s, metrics_mod.Metric) else s,
                            cfg.loss, out, y.shape)
        m._weighted = True
        wms.append(m)
    cfg.resolved_metrics = [*ms, *wms]
    return cfg.resolved_metrics


# ---------------------------------------------------------------- evaluate / predict

def evaluate(model: Any, x: Any = None, y: Any = None, batch_size: int | None = None,
             verbose: Any = "auto", sample_weight: Any = None, return_dict: bool = False,
             callbacks: Any = None, **unknown: Any) -> Any:
    """Keras' `Model.evaluate`: the loss, or [loss, *metrics] when metrics were compiled, or a
    dict with return_dict=True."""
    no_unknown(unknown, "evaluate", ["x", "y", "batch_size", "verbose", "sample_weight",
                                      "return_dict", "callbacks"])
    cfg = _compiled(model, "evaluate")
    batch_size = positive_int(batch_size if batch_size is not None else DEFAULT_BATCH_SIZE,
                               "batch_size")
    verbose = verbose_level(verbose)
    _one_input_output(model, "evaluate")
    x = prepare_x(model, x, "x")
    y = prepare_y(model, cfg.loss, y, len(x), "y")
    sw = prepare_sample_weight(sample_weight, len(x), "sample_weight")
    ms = _resolve_metrics(cfg, y, model)
    cbs = callbacks_mod.CallbackList([callbacks_mod.get(c) for c in as_list(callbacks)], model,
                                     {"verbose": verbose, "steps": -(-len(x) // batch_size)})
    cbs.on_test_begin()
    loss_value = _evaluate_arrays(model, x, y, sw, batch_size, ms)
    logs = _logs(loss_value, ms)
    cbs.on_test_end(logs)
    if verbose:
        print(f"{-(-len(x) // batch_size)}/{-(-len(x) // batch_size)} - "
              + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _evaluate_arrays(model, x, y, sw, batch_size, metrics) -> float:
    cfg = model.compiled
    for m in metrics:
        m.reset_state()
    ctx = RunContext(training=False, need_grad=False)
    total, n = 0.0, len(x)
    # Keras' test_step adds the same regularization losses as training.
    pen = penalties.collect(model.graph, model.source)
    weight_loss = pen.weight_loss(model.params)
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        swb = None if sw is None else sw[lo:hi]
        y_pred, tape = executor.forward(model.graph, model.params, x[lo:hi], ctx,
                                        keep=pen.activity_values)
        mask = tape.masks.get(model.graph.outputs[0])
        value = cfg.loss(y[lo:hi], y_pred, swb, mask) * cfg.loss_weight
        if pen:
            value += weight_loss + pen.activity_loss(tape.values, grads=False)[0]
        total += value * (hi - lo)
        _update_metrics(metrics, y[lo:hi], y_pred, swb, mask)
    return total / n


def predict(model: Any, x: Any, batch_size: int | None = None, verbose: Any = 0,
            **unknown: Any) -> np.ndarray:
    """Batched inference (no caches kept); returns an array of shape (N, *output)."""
    no_unknown(unknown, "predict", ["x", "batch_size", "verbose"])
    batch_size = positive_int(batch_size if batch_size is not None else DEFAULT_BATCH_SIZE,
                               "batch_size")
    graph = model.graph
    if len(graph.inputs) > 1 or len(graph.outputs) > 1:
        return _predict_graph(model, x, batch_size)
    x = prepare_x(model, x, "x")
    ctx = RunContext(training=False, need_grad=False)
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


def _one_input_output(model: Any, what: str) -> None:
    """fit/evaluate train one input to one output for now (predict takes several)."""
    graph = model.graph
    if len(graph.inputs) > 1 or len(graph.outputs) > 1:
        raise UsageError(
            f"{what}() of a model with several inputs or outputs is not implemented yet",
            field="x", received=f"inputs {list(graph.inputs)}, outputs {list(graph.outputs)}",
            hint="predict() and export() take such models")


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
    ctx = RunContext(training=False, need_grad=False)
    parts: list[list[np.ndarray]] = []
    for lo in range(0, n, batch_size):
        yb, _ = executor.forward(graph, model.params,
                                 {k: v[lo:lo + batch_size] for k, v in xs.items()}, ctx)
        parts.append(yb if isinstance(yb, list) else [yb])
    ys = [np.concatenate([p[j] for p in parts]) for j in range(len(graph.outputs))]
    return ys if len(graph.outputs) > 1 else ys[0]


# ---------------------------------------------------------------- adapt

def adapt_once(model: Any, x: np.ndarray) -> None:
    """Before the first fit, fit every adaptable layer (Normalization) whose statistics are
    parameters (not given as attributes) to the training inputs, as a Keras user calls
    `layer.adapt(x)` once. Later fits, and models whose weights were set, keep them."""
    if getattr(model, "adapted", False):
        return
    graph = model.graph
    todo = [i for i, node in enumerate(graph.nodes)
            if REGISTRY[node.op].adapt is not None and node.params]
    if todo:
        ctx = RunContext(training=False, need_grad=False)
        env = {graph.inputs[0]: x}
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
                               [env[v] for v in node.inputs], ctx)
            env.update(zip(node.outputs, ys))
    model.adapted = True


# ---------------------------------------------------------------- compile state

def _compiled(model: Any, what: str) -> CompileConfig:
    cfg = getattr(model, "compiled", None)
    if cfg is None:
        raise UsageError(f"the model must be compiled before {what}()",
                         hint="call model.compile(optimizer='adam', loss=...) first")
    if cfg.loss is None and what != "predict":
        raise UsageError(f"the model was compiled without a loss, so it cannot {what}()",
                         field="loss", hint="pass loss=... to model.compile()")
    return cfg
