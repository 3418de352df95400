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
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, did_you_mean
from ..ops import REGISTRY
from ..ops.base import RunContext
from . import augment, carried, executor, lint, penalties, stateful
from . import callbacks as callbacks_mod
from . import metrics as metrics_mod
from .checks import (
    as_list,
    check_validation_split,
    class_weight_to_sample_weights,
    n_samples,
    no_unknown,
    nonneg_int,
    per_name,
    positive_int,
    prepare_sample_weight,
    prepare_x,
    prepare_y,
    split_validation,
    take,
    unpack_validation,
    verbose_level,
)
from .steps import EpochSteps, batch_size_for, data_order, repeat_steps

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
    # One Head per output (a one-output model's is made of the fields above).
    heads: list = field(default_factory=list)

    @property
    def loss_names(self) -> list[str]:
        """The per-output loss log keys (`out_a_loss`) of a model with several outputs."""
        return [f"{h.name}_loss" for h in self.heads] if len(self.heads) > 1 else []

    def to_config(self) -> dict:
        """JSON-able summary for reports."""
        def cfg(obj: Any) -> Any:
            get_config = getattr(obj, "get_config", None)
            return get_config() if callable(get_config) else repr(obj)

        def names(specs: list) -> list:
            return [m if isinstance(m, (str, dict)) else getattr(m, "name", repr(m))
                    for m in specs]

        if len(self.heads) > 1:
            return {"optimizer": cfg(self.optimizer),
                    "loss": {h.name: cfg(h.loss) for h in self.heads},
                    "loss_weights": {h.name: h.weight for h in self.heads},
                    "metrics": {h.name: names(h.metrics) for h in self.heads}}
        return {"optimizer": cfg(self.optimizer),
                "loss": cfg(self.loss) if self.loss is not None else None,
                "metrics": [m if isinstance(m, (str, dict)) else getattr(m, "name", repr(m))
                            for m in self.metrics]}


@dataclass
class Head:
    """What is trained on one output: its Keras name (the layer's), graph value, loss,
    loss weight and metric specs."""

    name: str
    value: str
    loss: Any
    weight: float = 1.0
    metrics: list = field(default_factory=list)
    weighted: list = field(default_factory=list)


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
    graph = carried.trained_graph(model.graph)  # a recurrent state output has no loss
    if len(graph.outputs) > 1:
        heads = _heads(graph, loss, loss_weights, metrics, weighted_metrics)
        cfg = CompileConfig(opt, None if heads is None else [h.loss for h in heads],
                            heads=heads or [])
    else:
        loss_obj = None if loss is None else losses_mod.get(loss)
        cfg = CompileConfig(opt, loss_obj, _metric_list(metrics, "metrics"),
                            _metric_list(weighted_metrics, "weighted_metrics"),
                            _loss_weight(loss_weights))
        cfg.heads = [Head(graph.output_names[0], graph.outputs[0], loss_obj, cfg.loss_weight,
                          cfg.metrics, cfg.weighted_metrics)]
    for h in cfg.heads:
        out = graph.types[h.value]
        for spec in (*h.metrics, *h.weighted):
            # Unknown names fail at compile time, as in Keras; so does a vector-valued metric.
            metrics_mod.check_loggable(metrics_mod.get(spec, h.loss, out))
    model.compiled = cfg


def _heads(graph: Any, loss: Any, loss_weights: Any, metrics: Any,
           weighted_metrics: Any) -> list[Head] | None:
    """Keras 3's rules for a model with several outputs (compile_utils): `loss` one loss for
    every output, a list (output order) or a dict with every output name; `loss_weights` a
    list or dict likewise; `metrics` / `weighted_metrics` a list with one entry (a metric or
    a list of metrics) per output, or a dict by output name naming some of them."""
    from . import losses as losses_mod

    names = graph.output_names
    if loss is None:
        return None
    if isinstance(loss, (list, tuple, dict)):
        per = per_name(loss, names, "loss")
    else:
        per = [loss] * len(names)
    for name, spec in zip(names, per):
        if spec is None:
            raise UsageError(f"output '{name}' has no loss; seqc trains every output",
                             field="loss", received=f"loss for '{name}': None",
                             hint="give it a loss and loss_weights 0 to leave it out")
    weights = [1.0] * len(names) if loss_weights is None else \
        per_name(loss_weights, names, "loss_weights")
    for name, w in zip(names, weights):
        if isinstance(w, bool) or not isinstance(w, (int, float, np.number)):
            raise UsageError("loss_weights must be numbers", field="loss_weights",
                             received=f"loss_weights for '{name}': {w!r}")
    ms = _per_output_metrics(metrics, names, "metrics")
    wms = _per_output_metrics(weighted_metrics, names, "weighted_metrics")
    return [Head(n, v, losses_mod.get(sp), float(w), m, wm)
            for n, v, sp, w, m, wm in zip(names, graph.outputs, per, weights, ms, wms)]


def _per_output_metrics(metrics: Any, names: list[str], what: str) -> list[list]:
    if not metrics:
        return [[] for _ in names]
    if isinstance(metrics, (list, tuple)) and len(metrics) == len(names):
        per = list(metrics)
    elif isinstance(metrics, dict) and set(metrics) <= set(names):
        per = [metrics.get(n) for n in names]
    else:
        raise UsageError(
            f"`{what}` of a model with several outputs is a list with one entry per output "
            f"{names} or a dict by output name", field=what, received=f"{what}={metrics!r}",
            hint=f"e.g. {what}={{'{names[0]}': ['mae']}} or "
                 f"{what}={[['mae']] * len(names)!r}")
    return [_metric_list(m, what) for m in per]


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
        validation_freq: int = 1, nonfinite: str = "warn", steps_per_epoch: int | None = None,
        repeat: bool | str = False, reset_states: str | None = None,
        augmentation: dict | None = None, pipeline: list | None = None,
        **unknown: Any) -> callbacks_mod.History:
    """Keras' `Model.fit` on NumPy arrays; returns the History (also `model.history`).

    Deterministic: shuffling and dropout draw from generators seeded by (`seed` or
    `model.seed`, epoch), so equal seeds give equal weights, and resuming with
    `initial_epoch=k` replays epoch k exactly as an uninterrupted run would.

    `nonfinite` (seqc's): what a NaN or infinite batch loss does. "warn": training goes on as
    in Keras, with one RuntimeWarning naming the epoch and batch; "raise": TrainingDiverged
    naming them, before that batch's update, and also when the weights are not finite at the
    end (`seqc build` trains this way, so it never exports a NaN model).

    `steps_per_epoch`: an epoch is that many batches, the pass over the data going on across
    epochs, as in Keras (seqc.training.steps). `repeat` (seqc's; needs steps_per_epoch): the
    data is a repeated dataset. True: tf.data's `shuffle(buffer >= rows).repeat().batch(n)`,
    one endless stream reshuffled each repetition whose batches run across repetitions.
    "passes": Keras' iterators (`ImageDataGenerator.flow`, a generator in Keras 2's
    `fit_generator`): each pass over the data cut into batches (the last partial), the passes
    following one another, each reshuffled.

    `reset_states` (seqc's): "epoch" zeroes the states of stateful recurrent layers at the start
    of each epoch (otherwise they carry on until `model.reset_states()`, as in Keras); see
    seqc.training.stateful.

    `augmentation` (seqc's): ImageDataGenerator settings applied to each training batch (its
    `rescale` once, to x and validation_data, as the model sees them).

    `pipeline` (seqc's): the steps of a tf.data pipeline over the rows, in order
    (seqc.training.steps.data_order): it decides the batches and their order, fit's shuffle is
    not used (Keras ignores it for a dataset), and a batch_size given replaces its batch size.
    """
    if model.graph.states:  # forward(x, hidden): states carried across batches (carried.py)
        return carried.run(fit, dict(locals()))
    no_unknown(unknown, "fit", ["x", "y", "batch_size", "epochs", "verbose", "callbacks",
                                 "validation_split", "validation_data", "shuffle",
                                 "class_weight", "sample_weight", "initial_epoch", "seed",
                                 "validation_batch_size", "validation_freq", "nonfinite",
                                 "steps_per_epoch", "repeat", "reset_states",
                                 "augmentation", "pipeline"])
    if nonfinite not in ("warn", "raise"):
        raise UsageError("nonfinite must be 'warn' or 'raise'", field="nonfinite",
                         received=repr(nonfinite))
    cfg = _compiled(model, "fit")
    blockers = getattr(model, "training_blockers", None)
    if blockers:
        raise UsageError(
            f"this model cannot be trained by seqc: {blockers[0]}", field="fit",
            received=blockers[0].split("(", 1)[-1].rstrip(")"),
            hint="predict, export and `seqc convert` are unaffected (these settings only act "
                 "in training); to train in seqc, replace them with Keras' built-in "
                 "regularizers and constraints")
    if batch_size is None:  # a stateful model's fixed batch; else sized below
        batch_size = stateful.default_batch_size(model, None)
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
    if steps_per_epoch is not None:
        steps_per_epoch = positive_int(steps_per_epoch, "steps_per_epoch")
    epochs = nonneg_int(epochs, "epochs")
    initial_epoch = nonneg_int(initial_epoch, "initial_epoch")
    validation_freq = positive_int(validation_freq, "validation_freq")
    verbose = verbose_level(verbose)
    seed = model.seed if seed is None else seed
    validation_split = check_validation_split(validation_split)
    if steps_per_epoch is not None:
        steps_per_epoch = positive_int(steps_per_epoch, "steps_per_epoch")
    aug, x, validation_data = augment.prepare(augmentation, x, validation_data)
    if class_weight is not None and sample_weight is not None:
        # Keras: "You cannot `class_weight` and `sample_weight` at the same time."
        raise UsageError("You cannot `class_weight` and `sample_weight` at the same time.",
                         field="class_weight",
                         hint="fold the class weights into sample_weight yourself")

    if class_weight is not None and len(cfg.heads) > 1:
        raise UsageError("class_weight is only supported for a model with a single output",
                         field="class_weight",
                         hint="pass sample_weight, one array per output, instead")
    stream = _shard_source(model, x, y, sample_weight, class_weight)
    if stream is not None:  # data larger than memory (seqc.data.Shards): streamed
        x, ys, sws, val, all_ys = stream.split(
            validation_split, validation_data,
            lambda a, b, c, p: _prepare_data(model, cfg.heads, a, b, c, p))
    else:
        x, ys, sws = _prepare_data(model, cfg.heads, x, y, sample_weight)
        all_ys = ys  # the labels before the split, for the split's check below
        val = None
        if validation_data is not None:
            val = unpack_validation(validation_data,
                                    lambda a, b, c, p: _prepare_data(model, cfg.heads, a, b, c,
                                                                     p))
        elif validation_split:
            (x, ys, sws), val = split_validation(x, ys, sws, validation_split)
        if class_weight is not None:
            sws = [class_weight_to_sample_weights(ys[0], class_weight, model.class_names)]

    # Settings that train badly are reported once, after the data passed its checks and
    # before anything changes (a --strict build stops here).
    lint.before_training(model, cfg, all_ys, 0.0 if val is None or validation_data is not None
                         else validation_split)
    adapt_once(model, x, stream)
    if (aug is not None or steps_per_epoch is not None) and stream is not None:
        raise UsageError("steps_per_epoch and augmentation take in-memory arrays, not shards",
                         field="steps_per_epoch" if aug is None else "augmentation")
    if aug is not None:
        augment.check_input(aug, x)
    heads = cfg.heads
    train_metrics = _resolve_metrics(cfg, ys, model)
    val_metrics = copy.deepcopy(train_metrics)

    n = n_samples(x) if stream is None else stream.train_rows
    given_batch_size = batch_size
    batch_size = batch_size_for(n, batch_size, steps_per_epoch if stream is None else None,
                                DEFAULT_BATCH_SIZE)
    stateful.check_fit(model, n, batch_size, reset_states, stream is not None)
    steps = -(-n // batch_size)
    per_epoch = None
    if repeat not in (False, True, "passes"):
        raise UsageError("repeat must be false, true (tf.data's shuffle().repeat().batch()) or "
                         "\"passes\" (Keras' iterators)", field="repeat",
                         received=repr(repeat))
    if steps_per_epoch is not None:
        if stream is not None:
            raise UsageError("steps_per_epoch takes in-memory arrays; shards are read whole "
                             "each epoch", field="steps_per_epoch",
                             received=f"steps_per_epoch={steps_per_epoch}")
        per_epoch = EpochSteps(
            lambda e: _array_batches(x, ys, sws, np.random.default_rng([seed, e]) if shuffle
                                     else None, batch_size), steps_per_epoch, steps)
        steps = steps_per_epoch
    if repeat:
        if steps_per_epoch is None:
            raise UsageError("repeat (an endless stream) needs steps_per_epoch, as Keras "
                             "needs it for a repeated dataset", field="repeat",
                             hint="give steps_per_epoch=N")
        pipeline = repeat_steps(n, batch_size, shuffle, repeat)
    if pipeline is not None:
        per_epoch, steps = _pipeline_steps(pipeline, n, seed, given_batch_size, stream,
                                           validation_split, steps_per_epoch, x, ys, sws)
    if per_epoch is not None and initial_epoch:
        with warnings.catch_warnings():  # resuming: the epochs before replay the stream
            warnings.simplefilter("ignore")
            for e in range(initial_epoch):
                for _ in per_epoch.epoch(e):
                    pass
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
    fused = _fused_heads(graph, heads, pen)
    opt = cfg.optimizer
    logs: dict = {}
    # One warning per fit, none where a TerminateOnNaN callback already reports it.
    warned: list = [c for c in cb_list if isinstance(c, callbacks_mod.TerminateOnNaN)]
    cbs.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        for m in _flat(train_metrics):
            m.reset_state()
        cbs.on_epoch_begin(epoch)
        rng = np.random.default_rng([seed, epoch]) if shuffle else None
        batches = per_epoch.epoch(epoch) if per_epoch is not None else \
            _array_batches(x, ys, sws, rng, batch_size) if stream is None \
            else stream.train_batches(rng, batch_size)
        if aug is not None:
            batches = _augmented(batches, aug, np.random.default_rng([seed, epoch, 2]))
        stateful.begin_epoch(model, reset_states)
        ctx = RunContext(training=True, rng=np.random.default_rng([seed, epoch, 1]),
                         states=stateful.states(model))
        total, seen, head_totals = 0.0, 0, np.zeros(len(heads))
        for b, (xb, ybs, swbs) in enumerate(batches):
            rows = n_samples(xb)
            if batch_logs:
                cbs.on_train_batch_begin(b)
            xb = carried.feed(model, xb)  # the state from the batch before (carried.py)
            y_pred, tape = executor.forward(graph, model.params, xb, ctx,
                                            keep=(*pen.activity_values, *carried.kept(model)))
            carried.carry(model, tape, reset_states)
            preds = y_pred if len(heads) > 1 else [y_pred]
            value, parts, dy, start = _heads_loss_and_grad(heads, fused, ybs, preds, swbs,
                                                           tape.masks)
            extra = None
            if pen:
                act, extra = pen.activity_loss(tape.values, grads=True)
                value += act + pen.weight_loss(model.params)
            if not (math.isfinite(value) if isinstance(value, float) else np.isfinite(value)):
                _nonfinite(nonfinite, epoch, epochs, b, steps, value, warned)
            grads = executor.backward(graph, model.params, tape, dy, start=start, extra=extra)
            if pen:
                pen.add_weight_grads(model.params, grads)
            opt.apply(model.params, grads)
            if pen:
                pen.constrain(model.params, grads)  # after the update, as Keras' optimizer
            _apply_updates(model.params, ctx.updates)
            total += value * rows
            head_totals += np.asarray(parts, dtype=np.float64) * rows
            seen += rows
            _update_metrics(heads, train_metrics, ybs, preds, swbs, tape.masks)
            if batch_logs:
                cbs.on_train_batch_end(b, _logs(heads, total / seen, head_totals / seen,
                                                train_metrics))
            if model.stop_training:
                break
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # a stream's prefetch thread stops here when training stopped early
        logs = _logs(heads, total / max(seen, 1), head_totals / max(seen, 1), train_metrics)
        if val is not None and (epoch + 1) % validation_freq == 0:
            v_bs = validation_batch_size or given_batch_size or DEFAULT_BATCH_SIZE
            v_loss, v_parts = _evaluate_batches(
                model, val(v_bs) if callable(val) else _array_batches(*val, None, v_bs),
                val_metrics)
            logs.update({f"val_{k}": v
                         for k, v in _logs(heads, v_loss, v_parts, val_metrics).items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    finalize = getattr(opt, "finalize_variable_values", None)
    if finalize is not None and epochs > 0:
        finalize(model.params)  # EMA weights swap in at the end, as in Keras
    release = getattr(opt, "release_scratch", None)
    if release is not None:  # ir/memory.py counts the weights' copies that outlive fit
        release()
    if nonfinite == "raise" and epochs > initial_epoch:
        bad = [k for k, v in model.params.items()
               if np.asarray(v).dtype.kind == "f" and not np.isfinite(v).all()]
        if bad:
            from ..errors import diverged

            raise diverged(epoch, epochs, b, steps, f"the weights {bad[0]!r} are not finite "
                                                    "after the last update")
    cbs.on_train_end(logs)
    history.events = callbacks_mod.training_events(cb_list)  # seqc's: read by report.html
    return history


def _shard_source(model: Any, x: Any, y: Any, sample_weight: Any, class_weight: Any) -> Any:
    """A ShardStream when x is a seqc.data.Shards source, else None."""
    from .shards import ShardStream, is_shard_source

    return ShardStream(model, x, y, sample_weight, class_weight) if is_shard_source(x) \
        else None


def _nonfinite(policy: str, epoch: int, epochs: int, batch: int, steps: int, value: float,
               warned: list) -> None:
    """A NaN or infinite batch loss: TrainingDiverged ("raise") or one warning per fit."""
    from ..errors import diverged

    err = diverged(epoch, epochs, batch, steps, f"the loss is {float(value)}")
    if policy == "raise":
        raise err
    if not warned:
        import warnings

        warned.append(True)
        warnings.warn(f"{err.message}; training goes on as in Keras (TerminateOnNaN or "
                      "fit(nonfinite='raise') stops it)", RuntimeWarning, stacklevel=4)


def _prepare_data(model: Any, heads: list[Head], x: Any, y: Any, sw: Any,
                  prefix: str = "") -> tuple[dict, list, list | None]:
    """({input name: array}, [labels per output], [weights per output] or None), checked.
    x is an array (one input), a list in input order or a dict by input name; y and
    sample_weight likewise by output (Keras' output names) for several outputs."""
    graph = model.graph
    xs = executor.graph_inputs(graph, x)
    many_in = len(xs) > 1
    xs = {k: prepare_x(model, v, f"{prefix}x['{k}']" if many_in else f"{prefix}x",
                       graph.types[k]) for k, v in xs.items()}
    sizes = {k: len(v) for k, v in xs.items()}
    if len(set(sizes.values())) > 1:
        raise DataError("the inputs hold different numbers of samples", field=f"{prefix}x",
                        received=", ".join(f"{k}: {v}" for k, v in sizes.items()))
    n = n_samples(xs)
    if len(heads) == 1:
        h = heads[0]
        ys = [prepare_y(model, h.loss, y, n, f"{prefix}y", graph.types[h.value])]
        w = prepare_sample_weight(sw, n, f"{prefix}sample_weight")
        return xs, ys, None if w is None else [w]
    names = [h.name for h in heads]
    if y is None:
        raise DataError(f"{prefix}y is missing", field=f"{prefix}y")
    per_y = per_name(y, names, f"{prefix}y")
    ys = [prepare_y(model, h.loss, v, n, f"{prefix}y['{h.name}']", graph.types[h.value])
          for h, v in zip(heads, per_y)]
    if sw is None:
        return xs, ys, None
    if isinstance(sw, np.ndarray):
        raise UsageError(f"{prefix}sample_weight of a model with several outputs holds one "
                         "array per output", field=f"{prefix}sample_weight",
                         received="one array", hint=f"pass a list or a dict by name {names}")
    per_w = per_name(sw, names, f"{prefix}sample_weight")
    sws = [prepare_sample_weight(v, n, f"{prefix}sample_weight['{nm}']")
           for nm, v in zip(names, per_w)]
    return xs, ys, sws


def _flat(metrics: list[list]) -> list:
    return [m for ms in metrics for m in ms]


def _update_metrics(heads: list[Head], metrics: list[list], ys: list, preds: list,
                    sws: list | None, masks: dict) -> None:
    for j, h in enumerate(heads):
        y, y_pred, sw, mask = ys[j], preds[j], _nth(sws, j), masks.get(h.value)
        for m in metrics[j]:
            w = sw if getattr(m, "_weighted", False) else None
            if mask is not None and isinstance(m, metrics_mod.MeanMetricWrapper):
                m.update_state(y, y_pred, w, mask=mask)  # Keras counts valid steps only
            else:
                m.update_state(y, y_pred, w)


def _nth(items: list | None, j: int) -> Any:
    return None if items is None else items[j]


def _apply_updates(params: dict[str, np.ndarray], updates: dict[str, np.ndarray]) -> None:
    """Write the step's non-trainable state (moving statistics) into the parameter table."""
    for key, value in updates.items():
        params[key] = np.asarray(value, dtype=params[key].dtype)
    updates.clear()


def _heads_loss_and_grad(heads: list[Head], fused: list, ys: list, preds: list,
                         sws: list | None, masks: dict) -> tuple:
    """(total loss, [unweighted loss per output], dy, start) for backward: one output gives
    its gradient and start node (see _loss_and_grad); several give {value: gradient}, the
    fused ones at their logits, weighted by loss_weights (Keras: sum of weight * loss)."""
    total, parts, dys = 0.0, [], {}
    for j, h in enumerate(heads):
        value, g, at = _loss_and_grad(h.loss, fused[j], ys[j], preds[j], _nth(sws, j),
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


def _loss_and_grad(loss, fused, y, y_pred, sw, mask=None):
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


def _fused_heads(graph: Any, heads: list[Head], pen: Any) -> list:
    """Per output, what _loss_and_grad fuses with: (activation, start node index) for a
    one-output graph, (activation, logits value) for each output of several; None where
    the output is not a last-axis softmax / sigmoid or an activity penalty reads it."""
    if len(heads) == 1:
        fused = _fused_activation(graph)
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


def _fused_activation(graph) -> tuple[str, int] | None:
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
    """"softmax" (over the last axis) or "sigmoid" when `node` is such an activation."""
    if node.op == "Activation":
        spec = node.attrs.activation
        if isinstance(spec, str):
            return spec if spec in ("softmax", "sigmoid") else None
        if spec.get("type") == "softmax" and int(spec.get("axis", -1)) % rank == rank - 1:
            return "softmax"
    elif node.op == "Softmax" and int(node.attrs.axis) % rank == rank - 1:
        return "softmax"
    return None


def _logs(heads: list[Head], loss_value: float, head_losses: Any, metrics: list[list]) -> dict:
    """Keras' log keys: `loss`, then `<output>_loss` per output when there are several,
    then the metrics (`<output>_<metric>` when there are several outputs)."""
    logs = {"loss": float(loss_value)}
    if len(heads) > 1:
        for h, v in zip(heads, head_losses):
            logs[f"{h.name}_loss"] = float(v)
    for m in _flat(metrics):
        logs[m.name] = float(m.result())
    return logs


def _resolve_metrics(cfg: CompileConfig, ys: list, model: Any) -> list[list]:
    """Fresh metric objects per output (compiled metrics, then weighted ones); with several
    outputs each is named `<output>_<metric>`, as Keras names them."""
    out = []
    for h, y in zip(cfg.heads, ys):
        ms = []
        for specs, weighted in ((h.metrics, False), (h.weighted, True)):
            for s in specs:
                m = metrics_mod.get(copy.deepcopy(s) if isinstance(s, metrics_mod.Metric) else s,
                                    h.loss, model.graph.types[h.value], y.shape)
                if len(cfg.heads) > 1:
                    m.name = f"{h.name}_{m.name}"
                if weighted:
                    m._weighted = True
                ms.append(m)
        out.append(ms)
    cfg.resolved_metrics = _flat(out)
    return out


# ---------------------------------------------------------------- evaluate / predict

def evaluate(model: Any, x: Any = None, y: Any = None, batch_size: int | None = None,
             verbose: Any = "auto", sample_weight: Any = None, return_dict: bool = False,
             callbacks: Any = None, **unknown: Any) -> Any:
    """Keras' `Model.evaluate`: the loss, or [loss, *metrics] when metrics were compiled (with
    several outputs [loss, *per-output losses, *metrics]), or a dict with return_dict=True."""
    if model.graph.states:  # the loss reads the first output (carried.py)
        return carried.run(evaluate, dict(locals()))
    no_unknown(unknown, "evaluate", ["x", "y", "batch_size", "verbose", "sample_weight",
                                      "return_dict", "callbacks"])
    cfg = _compiled(model, "evaluate")
    batch_size = positive_int(batch_size if batch_size is not None else
                              stateful.default_batch_size(model, DEFAULT_BATCH_SIZE),
                              "batch_size")
    verbose = verbose_level(verbose)
    stream = _shard_source(model, x, y, sample_weight, None)
    if stream is not None:  # a Shards source: streamed in file order
        _, ys, _, _, _ = stream.split(0.0, None, None)
        n = stream.train_rows
        batches = stream.batches_of(0, n)(batch_size)
    else:
        x, ys, sws = _prepare_data(model, cfg.heads, x, y, sample_weight)
        n = n_samples(x)
        batches = _array_batches(x, ys, sws, None, batch_size)
    ms = _resolve_metrics(cfg, ys, model)
    cbs = callbacks_mod.CallbackList([callbacks_mod.get(c) for c in as_list(callbacks)], model,
                                     {"verbose": verbose, "steps": -(-n // batch_size)})
    cbs.on_test_begin()
    loss_value, parts = _evaluate_batches(model, batches, ms)
    logs = _logs(cfg.heads, loss_value, parts, ms)
    cbs.on_test_end(logs)
    if verbose:
        print(f"{-(-n // batch_size)}/{-(-n // batch_size)} - "
              + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _pipeline_steps(pipeline: Any, n: int, seed: int, batch_size: int | None, stream: Any,
                    validation_split: float, steps_per_epoch: int | None, x: Any, ys: list,
                    sws: list | None) -> tuple[EpochSteps, int]:
    """The epochs of fit(pipeline=...): (EpochSteps, steps per epoch)."""
    if stream is not None or validation_split:
        raise UsageError("pipeline takes in-memory arrays and no validation_split (Keras: "
                         "validation_split is only supported for arrays, not a dataset)",
                         field="pipeline", hint="give validation_data instead")
    new_pass, count = data_order(n, pipeline, seed, batch_size)
    if count is None and steps_per_epoch is None:
        raise UsageError("the pipeline repeats endlessly: an epoch needs steps_per_epoch",
                         field="pipeline", hint="give steps_per_epoch=N, or repeat(count)")
    return EpochSteps(lambda e: ((take(x, i), take(ys, i), take(sws, i)) for i in new_pass()),
                      steps_per_epoch or count or 1, count), steps_per_epoch or count


def _array_batches(x: Any, ys: list, sws: list | None, rng: Any,
                   batch_size: int) -> Any:
    """(x, ys, sws) batches of in-memory arrays, in order or by the epoch's permutation.
    Shuffled batches are gathered one at a time (x[perm[lo:hi]]): the same copying as one
    gather per epoch, but no second copy of the whole training set in memory. One
    permutation serves every input, output and weight array."""
    n = n_samples(x)
    perm = None if rng is None else rng.permutation(n)
    for lo in range(0, n, batch_size):
        idx = slice(lo, lo + batch_size) if perm is None else perm[lo:lo + batch_size]
        yield take(x, idx), take(ys, idx), take(sws, idx)


def _augmented(batches: Any, aug: dict, rng: Any) -> Any:
    for xb, ybs, swbs in batches:
        yield augment.augment_batch(xb, aug, rng), ybs, swbs


def _evaluate_batches(model, batches, metrics) -> tuple[float, np.ndarray]:
    """(loss, unweighted loss per output) over (x, ys, sws) batches, in inference mode."""
    heads = model.compiled.heads
    for m in _flat(metrics):
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
            part = h.loss(ybs[j], preds[j], _nth(swbs, j), tape.masks.get(h.value))
            head_totals[j] += part * rows
            value += part * h.weight
        if pen:
            value += weight_loss + pen.activity_loss(tape.values, grads=False)[0]
        total += value * rows
        _update_metrics(heads, metrics, ybs, preds, swbs, tape.masks)
    return total / n, head_totals / n


def predict(model: Any, x: Any, batch_size: int | None = None, verbose: Any = 0,
            **unknown: Any) -> np.ndarray:
    """Batched inference (no caches kept); returns an array of shape (N, *output)."""
    no_unknown(unknown, "predict", ["x", "batch_size", "verbose"])
    graph = model.graph
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


# ---------------------------------------------------------------- adapt

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
