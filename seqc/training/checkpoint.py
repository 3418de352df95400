"""Callbacks that write files: ModelCheckpoint and CSVLogger.

ModelCheckpoint writes weights as `.npz` (save_weights_only=True; the path must end in .npz)
or a full model as a folder holding `model.ir.json` and `weights.npz`, the build-folder layout
`seqc.load` reads. Both are written atomically (temp file or folder, then rename).
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import warnings
from typing import Any

import numpy as np

from ..errors import DefinitionError, UsageError
from .callback_base import Callback, MonitorCallback


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
        try:
            if self.save_weights_only:
                save_weights(self.model, path)
            else:
                save_model_folder(self.model, path)
        except OSError as e:  # a bad path or a full or read-only disk: the user's to fix
            raise UsageError(f"ModelCheckpoint cannot write '{path}': {e.strerror}",
                             field="filepath", received=f"filepath={self.filepath}",
                             hint="give a filepath in a folder that can be written") from None
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
    from ..fileio import atomic_write

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, data)


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
