"""The Callback base class, the list fit drives, and MonitorCallback (the shared "did
`monitor` improve by more than min_delta in direction `mode`" rule)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import UsageError


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
            compiled = getattr(self.model, "compiled", None)
            # seqc also knows a per-output loss (`val_out_a_loss`), which Keras 3.15 refuses.
            if name == "loss" or name in getattr(compiled, "loss_names", ()):
                self.monitor_op = np.less
            for m in getattr(compiled, "resolved_metrics", None) or []:
                if m.name == name and m.direction is not None:  # Keras' _direction
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
