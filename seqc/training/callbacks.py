"""Training callbacks with Keras 3's names, hooks, defaults and semantics.

Hooks: on_train_begin/end(logs), on_epoch_begin/end(epoch, logs), on_train_batch_begin/end
(batch, logs) (the latter also calls on_batch_end), on_test_begin/end. `self.model` is the
seqc Model; setting `model.stop_training = True` ends fit after the current batch or epoch.
A callback may also be given as `{"type": "EarlyStopping", "patience": 3}` (see `get`).
The base classes live in `callback_base`, the file-writing callbacks in `checkpoint`; every
name stays importable from here.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
import warnings
from typing import Any

import numpy as np

from ..config import split_spec
from ..errors import DefinitionError, did_you_mean
from .callback_base import Callback, CallbackList, MonitorCallback, wants_batch_logs
from .checkpoint import CSVLogger, ModelCheckpoint, save_model_folder, save_weights

__all__ = ["CLASSES", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
           "LambdaCallback", "ModelCheckpoint", "MonitorCallback", "ProgbarLogger",
           "ReduceLROnPlateau", "TerminateOnNaN", "get", "save_model_folder", "save_weights",
           "wants_batch_logs"]


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
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and (math.isnan(loss) or math.isinf(loss)):
            if self.raise_error:  # a RuntimeError, as Keras raises, that also names the epoch
                from ..errors import diverged

                raise diverged(self.epoch, self.params.get("epochs", self.epoch + 1), batch,
                               self.params.get("steps") or batch + 1,
                               f"NaN or Inf loss encountered (loss value: {loss}); "
                               "TerminateOnNaN(raise_error=True) stops the training")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


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
