"""Training callbacks with Keras 3's names, hooks, defaults and semantics.

Hooks: on_train_begin/end(logs), on_epoch_begin/end(epoch, logs), on_train_batch_begin/end
(batch, logs) (the latter also calls on_batch_end), on_test_begin/end. `self.model` is the
seqc Model; setting `model.stop_training = True` ends fit after the current batch or epoch.
A callback may also be given as `{"type": "EarlyStopping", "patience": 3}` (see `get`).

ModelCheckpoint writes weights as `.npz` (save_weights_only=True; the path must end in .npz)
or a full model as a folder holding `model.ir.json` and `weights.npz`, the build-folder layout
`seqc.load` reads. Both are written atomically.
"""

from __future__ import annotations

import csv
import inspect
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np

from ..config import split_spec
from ..errors import DefinitionError, UsageError, did_you_mean


class Callback:
    """Base class: every hook does nothing."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_end(batch, logs)


def wants_batch_logs(cb: Callback) -> bool:
    """True when a callback overrides a per-batch hook (fit then builds batch logs)."""
    hooks = ("on_train_batch_end", "on_batch_end", "on_train_batch_begin", "on_batch_begin")
    t = type(cb)
    return any(getattr(t, h) is not getattr(Callback, h) or h in vars(cb) for h in hooks)


class CallbackList:
    """Calls each hook on every callback in order (History last, as Keras adds it)."""

    def __init__(self, callbacks: list[Callback], model: Any, params: dict) -> None:
        self.callbacks = callbacks
        for cb in callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.batch_hooks = [cb for cb in callbacks if wants_batch_logs(cb)]

    def __getattr__(self, hook: str):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        targets = self.batch_hooks if "batch" in hook else self.callbacks

        def call(*args: Any) -> None:
            for cb in targets:
                getattr(cb, hook)(*args)

        return call


class History(Callback):
    """Records each epoch's logs: `history.history["loss"]`, `history.epoch`."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        self.model.history = self


class ProgbarLogger(Callback):
    """Keras-style progress: `Epoch 1/20`, then `25/25 ━━━━ 0s 3ms/step - loss: ...`.

    verbose=1 redraws a bar in place on a terminal (only the final line otherwise);
    verbose=2 prints one line per epoch.
    """

    WIDTH = 20

    def __init__(self, verbose: int = 1, stream: Any = None) -> None:
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self._last_draw = 0.0

    @property
    def _out(self):
        return self.stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._start = time.perf_counter()
        self._last_draw = self._start
        self._tty = self.verbose == 1 and getattr(self._out, "isatty", lambda: False)()
        print(f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}", file=self._out)

    def on_train_batch_end(self, batch, logs=None) -> None:
        now = time.perf_counter()
        if not self._tty or now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self._out.write("\r" + self._line(batch + 1, logs or {}, now, final=False))
        self._out.flush()

    def on_epoch_end(self, epoch, logs=None) -> None:
        line = self._line(self.params.get("steps", 0), logs or {}, time.perf_counter(), True)
        self._out.write(("\r" if self._tty else "") + line + "\n")
        self._out.flush()

    def _line(self, step: int, logs: dict, now: float, final: bool) -> str:
        steps = self.params.get("steps") or 1
        elapsed = now - self._start
        per_step = elapsed / max(step, 1)
        if self.verbose == 2:
            head = f"{steps}/{steps} - {_fmt_time(elapsed)} - {_fmt_step(per_step)}"
        else:
            done = int(self.WIDTH * step / steps)
            bar = "━" * done + " " * (self.WIDTH - done)
            when = _fmt_time(elapsed) if final else f"{_fmt_time(per_step * (steps - step))} eta"
            head = f"{step}/{steps} {bar} {when} {_fmt_step(per_step)}"
        return head + "".join(f" - {k}: {_fmt_value(v)}" for k, v in logs.items())

    # Batch hooks are wanted only to draw the bar.
    def on_batch_end(self, batch, logs=None) -> None: ...


def _fmt_time(s: float) -> str:
    return f"{s:.0f}s" if s >= 1 else f"{s * 1000:.0f}ms" if s >= 1e-3 else "0s"


def _fmt_step(s: float) -> str:
    return f"{s:.0f}s/step" if s >= 1 else f"{s * 1000:.0f}ms/step" if s >= 1e-3 \
        else f"{s * 1e6:.0f}us/step"


def _fmt_value(v: Any) -> str:
    if isinstance(v, float) and (abs(v) >= 1e-3 or v == 0):
        return f"{v:.4f}"
    return f"{v:.4e}" if isinstance(v, float) else str(v)


# ---- monitoring callbacks ----

class MonitorCallback(Callback):
    """Shared by EarlyStopping, ReduceLROnPlateau and ModelCheckpoint: direction from `mode`
    ("auto": loss and errors go down, accuracies/AUC go up), improvement by more than
    min_delta."""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline: Any = None,
                 min_delta: float = 0) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto "
                          "mode.", stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            self.monitor_op = np.less
        elif self.mode == "max":
            self.monitor_op = np.greater
        else:
            name = self.monitor.removeprefix("val_")
            if name == "loss":
                self.monitor_op = np.less
            compiled = getattr(self.model, "compiled", None)
            for m in getattr(compiled, "resolved_metrics", None) or []:
                if m.name == name:
                    self.monitor_op = np.greater if m.direction == "up" else np.less
            if self.monitor_op is None:
                raise UsageError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but "
                    "seqc isn't able to automatically determine whether that metric should be "
                    "maximized or minimized", field="monitor", received=f"monitor={self.monitor}",
                    hint="pass mode='max' to monitor the highest value, or mode='min' for the "
                         "lowest")
        if self.monitor_op is np.less:
            self.min_delta *= -1

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))


class EarlyStopping(MonitorCallback):
    """Stop when `monitor` has not improved for `patience` epochs (Keras 3 semantics: the
    wait counter only restarts when the value beats both the best so far and `baseline`;
    `restore_best_weights` restores the best epoch's weights at the end of training)."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        current = _monitor_value(self, logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


def _monitor_value(cb: MonitorCallback, logs: dict | None, what: str) -> float | None:
    logs = logs or {}
    value = logs.get(cb.monitor)
    if value is None:
        warnings.warn(f"{what} conditioned on metric `{cb.monitor}` which is not available. "
                      f"Available metrics are: {','.join(logs)}", stacklevel=3)
    return value


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by `factor` after `patience` epochs without improvement,
    then wait `cooldown` epochs; never below `min_lr`. Adds `learning_rate` to the logs."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0, **kwargs: Any) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise DefinitionError("ReduceLROnPlateau does not support a factor >= 1.0",
                                  field="factor", received=f"factor={factor}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        opt = self.model.compiled.optimizer
        logs["learning_rate"] = float(opt.learning_rate)
        current = _monitor_value(self, logs, "Learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old = float(opt.learning_rate)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    opt.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or infinite (raise_error=True raises)."""

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and (math.isnan(loss) or math.isinf(loss)):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. "
                                   f"Loss value: {loss}. Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class ModelCheckpoint(MonitorCallback):
    """Save the model (or its weights) after each epoch; `filepath` may hold `{epoch}` and log
    keys such as `{val_loss:.2f}`. With save_best_only, only when `monitor` improved."""

    def __init__(self, filepath: str, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq: str | int = "epoch",
                 initial_value_threshold: float | None = None) -> None:
        super().__init__(monitor, mode, initial_value_threshold)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise DefinitionError("ModelCheckpoint save_freq must be 'epoch' or a positive "
                                  "integer (batches)", field="save_freq",
                                  received=f"save_freq={save_freq!r}")
        if save_weights_only and not self.filepath.endswith(".npz"):
            raise DefinitionError(
                "with save_weights_only=True the ModelCheckpoint filepath must end in .npz "
                "(seqc's weights format)", field="filepath", received=f"filepath={filepath}",
                hint="e.g. 'ckpt/epoch{epoch:02d}.weights.npz'")
        if not save_weights_only and self.filepath.endswith((".npz", ".h5", ".keras")):
            raise DefinitionError(
                "a full-model ModelCheckpoint writes a folder (model.ir.json + weights.npz), so "
                "the filepath must not end in .npz, .h5 or .keras", field="filepath",
                received=f"filepath={filepath}",
                hint="use a folder name such as 'ckpt/epoch{epoch:02d}', or save_weights_only"
                     "=True with a .npz path")
        self._batches_since_save = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _path(self, epoch: int, batch: int | None, logs: dict) -> str:
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise UsageError(f'failed to format the ModelCheckpoint filepath "{self.filepath}"',
                             field="filepath", received=f"{type(e).__name__}: {e}",
                             hint=f"available keys: epoch, {', '.join(logs)}") from None

    def _should_save(self, epoch: int, logs: dict, path: str) -> bool:
        if not self.save_best_only:
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.",
                          stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch: int, batch: int | None, logs: dict | None) -> None:
        logs = logs or {}
        path = self._path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        if self.save_weights_only:
            save_weights(self.model, path)
        else:
            save_model_folder(self.model, path)
        if self.verbose > 0 and not self.save_best_only:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")


def save_weights(model: Any, path: str) -> str:
    """Write the parameter table as .npz, atomically (temp file + rename)."""
    from ..ir.serialize import params_to_npz_bytes

    data = params_to_npz_bytes(model.params)
    _atomic_write(path, data)
    return path


def save_model_folder(model: Any, path: str) -> str:
    """Write `path/model.ir.json` and `path/weights.npz`: built in a temporary sibling folder,
    then swapped in, so a crash never leaves a half-written checkpoint."""
    from ..ir.serialize import dumps, params_to_npz_bytes

    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError("the ModelCheckpoint path exists and is not a folder", field="filepath",
                         received=path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".ckpt-", dir=parent)
    try:
        with open(os.path.join(tmp, "model.ir.json"), "w", encoding="utf-8") as f:
            f.write(dumps(model.graph))
        with open(os.path.join(tmp, "weights.npz"), "wb") as f:
            f.write(params_to_npz_bytes(model.params))
        old = None
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=".ckpt-old-", dir=parent)
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _atomic_write(path: str, data: bytes) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class CSVLogger(Callback):
    """Append each epoch's logs to a CSV file: an `epoch` column, then the log keys sorted
    (with `val_` twins added when there is no validation), as Keras writes it."""

    def __init__(self, filename: str, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys: list[str] | None = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None) -> None:
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")  # noqa: SIM115 - closed at train end
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(k.startswith("val_") for k in self.keys) and self.keys:
                self.keys.extend([f"val_{k}" for k in self.keys])
        if not self.writer:
            sep = self.sep

            class Dialect(csv.excel):
                delimiter = sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys],
                                         dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, _csv_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None) -> None:
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim):
        return f'"[{", ".join(map(str, v))}]"'
    return v


class LambdaCallback(Callback):
    """Callback from plain functions, e.g. `LambdaCallback(on_epoch_end=lambda e, logs: ...)`."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs: Any) -> None:
        super().__init__()
        for name, fn in {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                         "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                         "on_train_batch_begin": on_train_batch_begin,
                         "on_train_batch_end": on_train_batch_end, **kwargs}.items():
            if fn is not None:
                setattr(self, name, fn)


CLASSES: dict[str, type[Callback]] = {c.__name__: c for c in (
    EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN, CSVLogger, History)}


def get(spec: Any) -> Callback:
    """A Callback from an instance or `{"type": "EarlyStopping", "patience": 3}`.

    >>> get({"type": "EarlyStopping", "patience": 3}).patience
    3
    """
    if isinstance(spec, Callback):
        return spec
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict):
        raise DefinitionError('a callback must be a Callback or {"type": name, ...}',
                              field="callbacks", received=repr(spec))
    kind, kw = split_spec(spec)
    cls = CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise DefinitionError(f"unknown callback type '{kind}'", field="callbacks",
                              received=repr(spec),
                              hint=did_you_mean(str(kind), CLASSES)
                              or f"valid callbacks: {', '.join(CLASSES)}")
    params = inspect.signature(cls).parameters
    valid = [p for p in params if params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    for k in kw:
        if k not in valid:
            raise DefinitionError(
                f"callback {kind} has no argument '{k}'. Valid arguments: {', '.join(valid)}",
                field="callbacks", received=f"{k}={kw[k]!r}", hint=did_you_mean(k, valid))
    try:
        return cls(**kw)
    except TypeError as e:
        raise DefinitionError(f"bad arguments for callback {kind}: {e}", field="callbacks",
                              received=repr(spec)) from None
