"""Keras' compile / fit / evaluate / predict on the NumPy executor.

One step: forward in training mode -> loss and d loss / d y_pred (plus the regularizers'
penalties, seqc.training.penalties) -> backward -> optimizer update -> constraints. When the
graph ends in a softmax (last axis) or sigmoid and the loss fuses with it, backward starts at
the logits with the stable `p - y` gradient. Epoch logs follow Keras: the loss averaged over
batches weighted by batch size, metrics as stateful averages, `val_*` from an inference pass
over the validation data.

The loop is this module's; the rest is next to it: compile_config.py (what compile stores),
batches.py (data and batches), loss_heads.py (loss and gradient per output, fused with the
final activation), fit_logs.py (metrics and logs), evaluate.py (evaluate, predict and the
validation pass), adapt.py (adapting layers before the first fit).
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np

from ..errors import UsageError
from ..ops.base import RunContext
from . import augment, carried, executor, lint, penalties, stateful
from . import callbacks as callbacks_mod
from .adapt import adapt_once
from .batches import (
    DEFAULT_BATCH_SIZE,
    array_batches,
    augmented,
    pipeline_steps,
    prepare_data,
    shard_source,
)
from .checks import (
    as_list,
    check_validation_split,
    class_weight_to_sample_weights,
    n_samples,
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
from .compile_config import CompileConfig, compile_model, compiled_config
from .evaluate import evaluate, evaluate_batches, predict
from .fit_logs import flat_metrics, log_dict, resolve_metrics, update_metrics
from .loss_heads import fused_heads, heads_loss_and_grad
from .steps import EpochSteps, batch_size_for, repeat_steps

# The names callers imported from this module before its helpers moved next to it.
__all__ = ["DEFAULT_BATCH_SIZE", "CompileConfig", "adapt_once", "class_weight_to_sample_weights",
           "compile_model", "evaluate", "fit", "predict", "prepare_sample_weight", "prepare_x",
           "prepare_y"]


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
    cfg = compiled_config(model, "fit")
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
    stream = shard_source(model, x, y, sample_weight, class_weight)
    if stream is not None:  # data larger than memory (seqc.data.Shards): streamed
        x, ys, sws, val, all_ys = stream.split(
            validation_split, validation_data,
            lambda a, b, c, p: prepare_data(model, cfg.heads, a, b, c, p))
    else:
        x, ys, sws = prepare_data(model, cfg.heads, x, y, sample_weight)
        all_ys = ys  # the labels before the split, for the split's check below
        val = None
        if validation_data is not None:
            val = unpack_validation(validation_data,
                                    lambda a, b, c, p: prepare_data(model, cfg.heads, a, b, c,
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
    train_metrics = resolve_metrics(cfg, ys, model)
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
            lambda e: array_batches(x, ys, sws, np.random.default_rng([seed, e]) if shuffle
                                    else None, batch_size), steps_per_epoch, steps)
        steps = steps_per_epoch
    if repeat:
        if steps_per_epoch is None:
            raise UsageError("repeat (an endless stream) needs steps_per_epoch, as Keras "
                             "needs it for a repeated dataset", field="repeat",
                             hint="give steps_per_epoch=N")
        pipeline = repeat_steps(n, batch_size, shuffle, repeat)
    if pipeline is not None:
        per_epoch, steps = pipeline_steps(pipeline, n, seed, given_batch_size, stream,
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
    fused = fused_heads(graph, heads, pen)
    opt = cfg.optimizer
    logs: dict = {}
    # One warning per fit, none where a TerminateOnNaN callback already reports it.
    warned: list = [c for c in cb_list if isinstance(c, callbacks_mod.TerminateOnNaN)]
    cbs.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        for m in flat_metrics(train_metrics):
            m.reset_state()
        cbs.on_epoch_begin(epoch)
        rng = np.random.default_rng([seed, epoch]) if shuffle else None
        batches = per_epoch.epoch(epoch) if per_epoch is not None else \
            array_batches(x, ys, sws, rng, batch_size) if stream is None \
            else stream.train_batches(rng, batch_size)
        if aug is not None:
            batches = augmented(batches, aug, np.random.default_rng([seed, epoch, 2]))
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
            value, parts, dy, start = heads_loss_and_grad(heads, fused, ybs, preds, swbs,
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
            update_metrics(heads, train_metrics, ybs, preds, swbs, tape.masks)
            if batch_logs:
                cbs.on_train_batch_end(b, log_dict(heads, total / seen, head_totals / seen,
                                                   train_metrics))
            if model.stop_training:
                break
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # a stream's prefetch thread stops here when training stopped early
        logs = log_dict(heads, total / max(seen, 1), head_totals / max(seen, 1), train_metrics)
        if val is not None and (epoch + 1) % validation_freq == 0:
            v_bs = validation_batch_size or given_batch_size or DEFAULT_BATCH_SIZE
            v_loss, v_parts = evaluate_batches(
                model, val(v_bs) if callable(val) else array_batches(*val, None, v_bs),
                val_metrics)
            logs.update({f"val_{k}": v
                         for k, v in log_dict(heads, v_loss, v_parts, val_metrics).items()})
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


def _apply_updates(params: dict[str, np.ndarray], updates: dict[str, np.ndarray]) -> None:
    """Write the step's non-trainable state (moving statistics) into the parameter table."""
    for key, value in updates.items():
        params[key] = np.asarray(value, dtype=params[key].dtype)
    updates.clear()
