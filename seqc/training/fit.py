"""Keras' compile / fit / evaluate / predict on the NumPy executor.

One step: forward in training mode -> loss and d loss / d y_pred -> backward -> optimizer
update. When the graph ends in a softmax (last axis) or sigmoid and the loss fuses with it,
backward starts at the logits with the stable `p - y` gradient. Epoch logs follow Keras: the
loss averaged over batches weighted by batch size, metrics as stateful averages, `val_*` from
an inference pass over the validation data.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, did_you_mean
from ..ops import REGISTRY
from ..ops.base import RunContext
from . import callbacks as callbacks_mod
from . import executor
from . import metrics as metrics_mod

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
        metrics_mod.get(spec, loss_obj, out)  # unknown names fail at compile time, as in Keras
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
    _no_unknown(unknown, "fit", ["x", "y", "batch_size", "epochs", "verbose", "callbacks",
                                 "validation_split", "validation_data", "shuffle",
                                 "class_weight", "sample_weight", "initial_epoch", "seed",
                                 "validation_batch_size", "validation_freq"])
    cfg = _compiled(model, "fit")
    batch_size = _positive_int(batch_size if batch_size is not None else DEFAULT_BATCH_SIZE,
                               "batch_size")
    epochs = _nonneg_int(epochs, "epochs")
    initial_epoch = _nonneg_int(initial_epoch, "initial_epoch")
    validation_freq = _positive_int(validation_freq, "validation_freq")
    verbose = _verbose(verbose)
    seed = model.seed if seed is None else seed
    if not isinstance(validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
        raise DataError("validation_split must be in [0, 1)", field="validation_split",
                        received=f"validation_split={validation_split!r}",
                        hint="e.g. validation_split=0.2 keeps the last 20% for validation")
    if class_weight is not None and sample_weight is not None:
        # Keras: "You cannot `class_weight` and `sample_weight` at the same time."
        raise UsageError("You cannot `class_weight` and `sample_weight` at the same time.",
                         field="class_weight",
                         hint="fold the class weights into sample_weight yourself")

    x = prepare_x(model, x, "x")
    y = prepare_y(model, cfg.loss, y, len(x), "y")
    sw = prepare_sample_weight(sample_weight, len(x), "sample_weight")
    val = None
    if validation_data is not None:
        val = _unpack_validation(model, cfg.loss, validation_data)
    elif validation_split:
        n = len(x)
        split_at = int(math.floor(n * (1.0 - validation_split)))
        if split_at == 0 or split_at == n:
            raise DataError(
                f"training data contains {n} samples, which is not sufficient to split it into "
                f"a validation and training set as specified by "
                f"validation_split={validation_split}", field="validation_split",
                received=f"{n} samples", hint="provide more data or a different "
                                              "validation_split")
        # Keras: the LAST fraction, taken before shuffling.
        val = (x[split_at:], y[split_at:], None if sw is None else sw[split_at:])
        x, y = x[:split_at], y[:split_at]
        sw = None if sw is None else sw[:split_at]
    if class_weight is not None:
        sw = class_weight_to_sample_weights(y, class_weight, model.class_names)

    adapt_once(model, x)
    train_metrics = _resolve_metrics(cfg, y, model)
    val_metrics = copy.deepcopy(train_metrics)

    n = len(x)
    steps = -(-n // batch_size)
    history = callbacks_mod.History()
    cb_list = [callbacks_mod.get(c) for c in _as_list(callbacks)]
    if verbose:
        cb_list.append(callbacks_mod.ProgbarLogger(verbose))
    cb_list.append(history)
    cbs = callbacks_mod.CallbackList(cb_list, model, {"verbose": verbose, "epochs": epochs,
                                                      "steps": steps})
    batch_logs = bool(cbs.batch_hooks)
    model.history = history
    model.stop_training = False

    graph = model.graph
    fused = _fused_activation(graph)
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
            y_pred, tape = executor.forward(graph, model.params, xb, ctx)
            value, dy, start = _loss_and_grad(loss, fused, yb, y_pred, swb)
            if lw != 1.0:
                value, dy = value * lw, dy * np.asarray(lw, dy.dtype)
            grads = executor.backward(graph, model.params, tape, dy, start=start)
            opt.apply(model.params, grads)
            total += value * (hi - lo)
            seen += hi - lo
            for m in train_metrics:
                m.update_state(yb, y_pred, swb if getattr(m, "_weighted", False) else None)
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


def _loss_and_grad(loss, fused, y, y_pred, sw):
    """(loss value, gradient, backward start node). The fused form is used when the loss
    supports the final activation; backward then starts below that activation node."""
    if fused is not None:
        act, start = fused
        if hasattr(loss, "value_and_fused_grad"):
            out = loss.value_and_fused_grad(act, y, y_pred, sw)
            if out is not None:
                return out[0], out[1], start
        else:
            g = loss.fused_grad(act, y, y_pred, sw)
            if g is not None:
                return loss(y, y_pred, sw), g, start
    if hasattr(loss, "value_and_grad"):
        value, g = loss.value_and_grad(y, y_pred, sw)
    else:
        value, g = loss(y, y_pred, sw), loss.grad(y, y_pred, sw)
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
    _no_unknown(unknown, "evaluate", ["x", "y", "batch_size", "verbose", "sample_weight",
                                      "return_dict", "callbacks"])
    cfg = _compiled(model, "evaluate")
    batch_size = _positive_int(batch_size if batch_size is not None else DEFAULT_BATCH_SIZE,
                               "batch_size")
    verbose = _verbose(verbose)
    x = prepare_x(model, x, "x")
    y = prepare_y(model, cfg.loss, y, len(x), "y")
    sw = prepare_sample_weight(sample_weight, len(x), "sample_weight")
    ms = _resolve_metrics(cfg, y, model)
    cbs = callbacks_mod.CallbackList([callbacks_mod.get(c) for c in _as_list(callbacks)], model,
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
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        swb = None if sw is None else sw[lo:hi]
        y_pred, _ = executor.forward(model.graph, model.params, x[lo:hi], ctx)
        total += cfg.loss(y[lo:hi], y_pred, swb) * cfg.loss_weight * (hi - lo)
        for m in metrics:
            m.update_state(y[lo:hi], y_pred, swb if getattr(m, "_weighted", False) else None)
    return total / n


def predict(model: Any, x: Any, batch_size: int | None = None, verbose: Any = 0,
            **unknown: Any) -> np.ndarray:
    """Batched inference (no caches kept); returns an array of shape (N, *output)."""
    _no_unknown(unknown, "predict", ["x", "batch_size", "verbose"])
    batch_size = _positive_int(batch_size if batch_size is not None else DEFAULT_BATCH_SIZE,
                               "batch_size")
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


# ---------------------------------------------------------------- input checks

def _compiled(model: Any, what: str) -> CompileConfig:
    cfg = getattr(model, "compiled", None)
    if cfg is None:
        raise UsageError(f"the model must be compiled before {what}()",
                         hint="call model.compile(optimizer='adam', loss=...) first")
    if cfg.loss is None and what != "predict":
        raise UsageError(f"the model was compiled without a loss, so it cannot {what}()",
                         field="loss", hint="pass loss=... to model.compile()")
    return cfg


def _no_unknown(unknown: dict, fn: str, valid: list[str]) -> None:
    for k, v in unknown.items():
        raise UsageError(f"{fn}() got an unexpected argument '{k}'", field=k,
                         received=f"{k}={v!r}", hint=did_you_mean(k, valid))


def _positive_int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise UsageError(f"{name} must be a positive integer", field=name,
                         received=f"{name}={v!r}")
    return int(v)


def _nonneg_int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise UsageError(f"{name} must be a non-negative integer", field=name,
                         received=f"{name}={v!r}")
    return int(v)


def _verbose(v: Any) -> int:
    if v == "auto":
        return 1
    if v in (0, 1, 2):
        return int(v)
    raise UsageError("verbose must be 'auto', 0, 1 or 2", field="verbose",
                     received=f"verbose={v!r}")


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _as_array(a: Any, name: str) -> np.ndarray:
    if a is None:
        raise DataError(f"{name} is missing", field=name)
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as e:
        raise DataError(f"{name} cannot be read as an array (ragged rows?)", field=name,
                        received=str(e)) from None
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{name} must be numeric", field=name, received=f"dtype {arr.dtype}",
                        hint="encode strings as numbers; seqc.training.data.load_csv maps "
                             "string labels to class ids")
    if arr.ndim == 0:
        raise DataError(f"{name} must have a batch axis", field=name,
                        received=f"a scalar {arr!r}")
    if len(arr) == 0:
        raise DataError(f"{name} is empty (0 samples)", field=name,
                        received=f"shape {arr.shape}")
    return arr


def _first_bad_row(bad: np.ndarray) -> int:
    return int(np.argmax(bad.reshape(len(bad), -1).any(axis=1)))


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.issubdtype(arr.dtype, np.floating):
        return
    # min/max propagate NaN and see inf without allocating a mask the size of the data.
    lo, hi = arr.min(), arr.max()
    if np.isfinite(lo) and np.isfinite(hi):
        return
    bad = ~np.isfinite(arr)
    row = _first_bad_row(bad)
    where = f"row {row}"
    if arr.ndim > 1:
        idx = tuple(int(i) for i in np.argwhere(bad[row])[0])
        where += f", column {idx[0]}" if len(idx) == 1 else f", index {idx}"
        value = arr[row][idx]
    else:
        value = arr[row]
    kind = "NaN" if np.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    raise DataError(f"{name} holds a non-finite value ({kind}) in {where}", field=name,
                    received=f"{name}[{row}] = {_short(arr[row])}",
                    hint="drop or impute missing values before training")


def _short(row: np.ndarray) -> str:
    return np.array2string(np.asarray(row), threshold=8, precision=4)


def prepare_x(model: Any, x: Any, name: str = "x") -> np.ndarray:
    """x as the model's input dtype (float32 unless the input is declared integer), checked
    against the input shape and for NaN/Inf."""
    arr = _as_array(x, name)
    in_type = model.graph.input_type
    feats = in_type.features
    got = arr.shape[1:]
    if len(got) != len(feats) or any(d is not None and d != g for d, g in zip(feats, got)):
        want = _shape_str(feats)
        if len(feats) == 1 and len(got) == 1:
            msg = f"{name} has {got[0]} features per sample but the model expects {feats[0]}"
        else:
            msg = f"{name} has per-sample shape {got} but the model expects {want}"
        hint = None
        if len(got) == 0 and feats == (1,):
            hint = f"reshape it: {name}.reshape(-1, 1)"
        elif len(got) == 1 and len(feats) > 1 and math.prod(
                d for d in feats if d is not None) == got[0]:
            hint = f"reshape it: {name}.reshape(-1, {', '.join(str(d) for d in feats)})"
        raise DataError(msg, field=name,
                        received=f"{name} shape {arr.shape}, expected (N, {_dims(feats)})",
                        hint=hint)
    if in_type.dtype.startswith("int"):
        if np.issubdtype(arr.dtype, np.floating):
            _check_finite(arr, name)
            if np.any(arr != np.round(arr)):
                row = _first_bad_row(arr != np.round(arr))
                raise DataError(f"{name} must hold integer ids (the model input is "
                                f"{in_type.dtype}); row {row} does not", field=name,
                                received=f"{name}[{row}] = {_short(arr[row])}")
        return arr.astype(in_type.dtype, copy=False)
    arr = arr.astype(np.float32, copy=False)
    _check_finite(arr, name)
    return arr


def _dims(shape: tuple) -> str:
    return ", ".join("?" if d is None else str(d) for d in shape)


def _shape_str(shape: tuple) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def prepare_y(model: Any, loss: Any, y: Any, n: int, name: str = "y") -> np.ndarray:
    """Labels checked against the loss and the output shape, normalised for the loss:
    sparse class ids as int64 shaped like the output without its class axis; anything else
    float32 shaped like the output (a (N,) target for one output unit becomes (N, 1))."""
    arr = _as_array(y, name)
    if len(arr) != n:
        xname = name[:-1] + "x" if name.endswith("y") else "x"
        raise DataError(f"{xname} and {name} have different numbers of samples", field=name,
                        received=f"{xname}: {n} samples, {name}: {len(arr)} samples")
    _check_finite(arr, name)
    out = model.graph.output_type.shape
    k = out[-1]
    lname = getattr(loss, "name", "") or ""
    sparse = bool(getattr(loss, "sparse", False)) or "sparse" in lname
    if sparse:
        return _sparse_labels(arr, out, loss, lname, name)
    body = out[1:]
    shape_ok = _fits(arr.shape[1:], body)
    if not shape_ok and k == 1 and _fits(arr.shape[1:], body[:-1]):
        arr = arr[..., None]
        shape_ok = True
    if not shape_ok:
        is_ids = (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)) and \
            np.all(arr == np.round(arr))
        if lname == "categorical_crossentropy" and is_ids and k is not None and k > 1:
            raise DataError(
                f"categorical_crossentropy expects one-hot labels of shape (N, {k}), but "
                f"{name} holds one class id per sample", field=name,
                received=f"{name} shape {arr.shape}",
                hint="use loss='sparse_categorical_crossentropy' for integer labels, or "
                     f"one-hot encode {name}")
        width = arr.shape[-1] if arr.ndim > 1 else 1
        hint = None
        if lname == "binary_crossentropy" and k == 1 and width > 1:
            hint = ("the model has one sigmoid unit; pass the positive-class column, or use "
                    f"Dense({width}, activation='softmax') with categorical_crossentropy")
        raise DataError(
            f"{name} does not match the model output: the model outputs {k} value(s) per "
            f"sample, {name} has shape {arr.shape}", field=name,
            received=f"{name} shape {arr.shape}, model output {_shape_str(out)}",
            hint=hint or f"the last layer needs {width} unit(s), or {name} needs {k} column(s)")
    arr = arr.astype(np.float32, copy=False)
    if lname == "binary_crossentropy":
        bad = (arr < 0) | (arr > 1)
        if bad.any():
            row = _first_bad_row(bad)
            raise DataError(f"binary_crossentropy labels must be in [0, 1]; row {row} is not",
                            field=name, received=f"{name}[{row}] = {_short(arr[row])}",
                            hint="for more than two classes use sparse_categorical_crossentropy"
                                 " with a softmax output")
    return arr


def _fits(got: tuple, want: tuple) -> bool:
    return len(got) == len(want) and all(w is None or w == g for w, g in zip(want, got))


def _sparse_labels(arr: np.ndarray, out: tuple, loss: Any, lname: str, name: str) -> np.ndarray:
    k = out[-1]
    body = out[1:-1]
    if _fits(arr.shape[1:], body):
        ids = arr
    elif _fits(arr.shape[1:], (*body, 1)):
        ids = arr[..., 0]
    else:
        looks_onehot = arr.ndim >= 2 and arr.shape[-1] == k and np.all((arr == 0) | (arr == 1))
        raise DataError(
            f"{lname or 'the loss'} expects one integer class id per sample, but {name} has "
            f"shape {arr.shape}", field=name,
            received=f"{name} shape {arr.shape}, model output {_shape_str(out)}",
            hint="use loss='categorical_crossentropy' for one-hot labels, or pass "
                 f"{name}.argmax(axis=-1)" if looks_onehot else
            f"pass class ids of shape (N,), values in [0, {k})")
    if np.issubdtype(ids.dtype, np.floating):
        frac = ids != np.round(ids)
        if frac.any():
            row = _first_bad_row(frac)
            raise DataError(f"{lname} labels must be integer class ids; row {row} is not",
                            field=name, received=f"{name}[{row}] = {_short(ids[row])}",
                            hint="for soft or one-hot labels use categorical_crossentropy")
    ids = ids.astype(np.int64, copy=False)
    ignore = getattr(loss, "ignore_class", None)
    bad = (ids < 0) | (ids >= k)
    if ignore is not None:
        bad &= ids != ignore
    if bad.any():
        row = _first_bad_row(bad)
        value = int(ids[row][bad[row]].flat[0]) if ids.ndim > 1 else int(ids[row])
        raise DataError(f"class id {value} in row {row} of {name} is outside [0, {k}): the "
                        f"model's last layer has {k} units", field=name,
                        received=f"{name}[{row}] = {value}",
                        hint=f"the last layer needs one unit per class (at least {value + 1})"
                        if value >= k else "class ids start at 0")
    return ids


def prepare_sample_weight(sw: Any, n: int, name: str = "sample_weight") -> np.ndarray | None:
    if sw is None:
        return None
    arr = _as_array(sw, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or len(arr) != n:
        raise DataError(f"{name} must hold one weight per sample, shape ({n},)", field=name,
                        received=f"{name} shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    _check_finite(arr, name)
    return arr


def class_weight_to_sample_weights(y: np.ndarray, class_weight: dict,
                                   class_names: list[str] | None = None) -> np.ndarray:
    """Keras' rule: the class of a sample is argmax of one-hot rows, else the rounded label;
    classes missing from the dict weigh 1."""
    if not isinstance(class_weight, dict):
        raise UsageError("class_weight must be a dict {class id: weight}", field="class_weight",
                         received=f"class_weight={class_weight!r}")
    for k, v in class_weight.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v):
            raise UsageError("class_weight values must be finite numbers", field="class_weight",
                             received=f"class_weight[{k!r}] = {v!r}")
    labels = y
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels.reshape(len(labels), -1)[:, 0]).astype(np.int64)
    weights = np.ones(len(labels), dtype=np.float32)
    for k, v in class_weight.items():
        weights[labels == _class_id(k, class_names)] = v
    return weights


def _class_id(key: Any, class_names: list[str] | None) -> int:
    """A class_weight key: an integer id (JSON gives "0"), or a class name when the labels
    were strings (CSV labels mapped to ids, names kept on the model)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    if isinstance(key, str) and key.lstrip("-").isdigit():
        return int(key)
    if isinstance(key, str) and class_names and key in class_names:
        return class_names.index(key)
    known = f"class ids 0..{len(class_names) - 1} or names {class_names}" if class_names \
        else "integer class ids"
    raise UsageError(f"class_weight key {key!r} is not a class of this data; expected {known}",
                     field="class_weight", received=f"class_weight key {key!r}",
                     hint=did_you_mean(str(key), class_names or []))


def _unpack_validation(model: Any, loss: Any, data: Any) -> tuple:
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise UsageError("validation_data must be a tuple (x_val, y_val) or "
                         "(x_val, y_val, sample_weight_val)", field="validation_data",
                         received=f"{type(data).__name__}"
                         + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else ""))
    vx = prepare_x(model, data[0], "validation_data x")
    vy = prepare_y(model, loss, data[1], len(vx), "validation_data y")
    vsw = prepare_sample_weight(data[2] if len(data) == 3 else None, len(vx),
                                "validation_data sample_weight")
    return vx, vy, vsw
