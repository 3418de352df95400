"""Callbacks: Keras 3 semantics driven by scripted logs, and files written during a real fit."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError, UsageError
from seqc.ir.serialize import graph_from_json, params_from_npz
from seqc.training import callbacks as C
from seqc.training import metrics as M

L = seqc.layers


class FakeOptimizer:
    def __init__(self, lr=1.0):
        self.learning_rate = lr


class FakeCompiled:
    def __init__(self, metrics=()):
        self.optimizer = FakeOptimizer()
        self.resolved_metrics = list(metrics)


class FakeModel:
    """Weights are the epoch number, so restored weights say which epoch they came from."""

    def __init__(self, metrics=()):
        self.stop_training = False
        self.weights = [np.zeros(1)]
        self.compiled = FakeCompiled(metrics)

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, ws):
        self.weights = [w.copy() for w in ws]


def drive(cb, values, key="val_loss", model=None):
    """Run the epoch hooks over scripted monitor values; returns the epochs that ran."""
    model = model or FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    ran = []
    for epoch, v in enumerate(values):
        model.weights = [np.full(1, float(epoch))]
        cb.on_epoch_begin(epoch)
        cb.on_epoch_end(epoch, {key: v})
        ran.append(epoch)
        if model.stop_training:
            break
    cb.on_train_end()
    return ran, model


def test_early_stopping_patience():
    ran, _ = drive(C.EarlyStopping(patience=2), [1.0, 0.9, 0.95, 0.96, 0.97, 0.5])
    assert ran == [0, 1, 2, 3]  # two epochs without improvement after epoch 1
    ran, _ = drive(C.EarlyStopping(patience=0), [1.0, 1.0, 0.5])
    assert ran == [0, 1]


def test_early_stopping_min_delta_and_mode():
    # 0.95 improves on 1.0 by less than min_delta: not an improvement.
    ran, _ = drive(C.EarlyStopping(patience=1, min_delta=0.1), [1.0, 0.95, 0.8])
    assert ran == [0, 1]
    ran, _ = drive(C.EarlyStopping(monitor="val_auc", mode="max", patience=1),
                   [0.5, 0.6, 0.55, 0.7], key="val_auc")
    assert ran == [0, 1, 2]
    # mode="auto" reads the metric's direction: accuracy goes up.
    model = FakeModel([M.get("accuracy", None, (None, 1))])
    ran, _ = drive(C.EarlyStopping(monitor="val_accuracy", patience=1),
                   [0.5, 0.6, 0.55, 0.7], key="val_accuracy", model=model)
    assert ran == [0, 1, 2]
    with pytest.raises(UsageError, match="mode='max'"):
        drive(C.EarlyStopping(monitor="val_something"), [1.0], key="val_something")


def test_early_stopping_restore_best_weights():
    cb = C.EarlyStopping(patience=2, restore_best_weights=True)
    ran, model = drive(cb, [1.0, 0.7, 0.8, 0.9, 0.1])
    assert ran == [0, 1, 2, 3]
    assert cb.best_epoch == 1 and cb.stopped_epoch == 3
    assert model.weights[0][0] == 1.0  # the weights at the end of epoch 1


def test_early_stopping_baseline():
    # Improvements that do not beat the baseline do not reset the wait counter.
    ran, _ = drive(C.EarlyStopping(patience=2, baseline=0.5), [0.9, 0.8, 0.7, 0.75, 0.74])
    assert ran == [0, 1, 2, 3]
    ran, _ = drive(C.EarlyStopping(patience=2), [0.9, 0.8, 0.7, 0.75, 0.74, 0.76])
    assert ran == [0, 1, 2, 3, 4]


def test_early_stopping_start_from_epoch():
    ran, _ = drive(C.EarlyStopping(patience=0, start_from_epoch=2), [1.0, 2.0, 3.0, 4.0, 5.0])
    assert ran == [0, 1, 2, 3]


def test_reduce_lr_on_plateau_factor_cooldown_min_lr():
    cb = C.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2)
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    lrs, logged = [], []
    for epoch in range(6):
        logs = {"val_loss": 1.0}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        lrs.append(model.compiled.optimizer.learning_rate)
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    assert logged == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]  # the rate the epoch trained with
    cb = C.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.05)
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    for epoch in range(5):
        cb.on_epoch_end(epoch, {"val_loss": 1.0})
    assert model.compiled.optimizer.learning_rate == 0.05
    # Improvements by more than min_delta (1e-4) reset the wait.
    cb = C.ReduceLROnPlateau(factor=0.5, patience=2)
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_begin()
    for epoch, v in enumerate([1.0, 0.9, 0.8, 0.79995, 0.79995]):
        cb.on_epoch_end(epoch, {"val_loss": v})
    assert model.compiled.optimizer.learning_rate == 0.5
    with pytest.raises(DefinitionError, match="factor"):
        C.ReduceLROnPlateau(factor=1.0)


def test_terminate_on_nan():
    model = FakeModel()
    cb = C.TerminateOnNaN()
    cb.set_model(model)
    cb.on_train_batch_end(0, {"loss": 0.5})
    assert not model.stop_training
    cb.on_train_batch_end(1, {"loss": math.inf})
    assert model.stop_training
    cb = C.TerminateOnNaN(raise_error=True)
    cb.set_model(FakeModel())
    # A RuntimeError as in Keras, and seqc's TrainingDiverged (exit 1) naming the epoch and
    # the batch, counted from 1 as the progress bar counts them.
    with pytest.raises(RuntimeError, match=r"epoch 1/1, batch 4/4: NaN or Inf loss") as e:
        cb.on_train_batch_end(3, {"loss": math.nan})
    assert e.value.exit_code == 1


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.float32)


def model():
    m = seqc.Sequential([L.Input((3,)), L.Dense(4, activation="relu"),
                         L.Dense(1, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return m


def test_terminate_on_nan_in_fit():
    x, y = data()
    m = seqc.Sequential([L.Input((3,)), L.Dense(1)])
    m.compile(seqc.optimizers.SGD(learning_rate=1e30), "mse")
    with np.errstate(all="ignore"):
        h = m.fit(x, y * 1e20, epochs=5, batch_size=8, callbacks=[C.TerminateOnNaN()],
                  verbose=0)
    assert len(h.epoch) == 1


def test_early_stopping_in_fit_uses_get_spec():
    x, y = data()
    m = model()
    h = m.fit(x, y, epochs=50, validation_split=0.25, verbose=0,
              callbacks=[{"type": "EarlyStopping", "monitor": "loss", "patience": 0,
                          "min_delta": 10.0}])
    assert h.epoch == [0, 1]  # nothing improves by 10: stop at the first check after epoch 0


def test_model_checkpoint_weights_files(tmp_path):
    x, y = data()
    m = model()
    pattern = str(tmp_path / "ckpt" / "w{epoch:02d}-{loss:.2f}.npz")
    seen = []

    class Snap(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append({k: v.copy() for k, v in self.model.params.items()})

    h = m.fit(x, y, epochs=3, verbose=0, callbacks=[Snap(), C.ModelCheckpoint(
        pattern, monitor="loss", save_weights_only=True)])
    files = sorted(os.listdir(tmp_path / "ckpt"))
    assert files == [f"w{e + 1:02d}-{h.history['loss'][e]:.2f}.npz" for e in range(3)]
    for snap, name in zip(seen, files):
        saved = params_from_npz(tmp_path / "ckpt" / name)
        assert saved.keys() == snap.keys()
        for k in saved:
            np.testing.assert_array_equal(saved[k], snap[k])


def test_model_checkpoint_save_best_only_and_full_model(tmp_path):
    cb = C.ModelCheckpoint(str(tmp_path / "best"), save_best_only=True)
    m = model()
    cb.set_model(m)
    cb.on_train_begin()
    written = []
    for epoch, v in enumerate([1.0, 0.8, 0.9, 0.7]):
        m.params["dense/bias"][:] = epoch
        cb.on_epoch_end(epoch, {"val_loss": v})
        written.append(float(params_from_npz(tmp_path / "best" / "weights.npz")
                             ["dense/bias"][0]))
    assert written == [0.0, 1.0, 1.0, 3.0]
    with open(tmp_path / "best" / "model.ir.json") as f:
        graph = graph_from_json(json.load(f))
    assert [n.name for n in graph.nodes] == [n.name for n in m.graph.nodes]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".ckpt")]  # no temp left
    with pytest.raises(DefinitionError, match=".npz"):
        C.ModelCheckpoint(str(tmp_path / "w.h5"), save_weights_only=True)
    with pytest.raises(DefinitionError, match="folder"):
        C.ModelCheckpoint(str(tmp_path / "m.keras"))
    bad = C.ModelCheckpoint(str(tmp_path / "{nope}.npz"), save_weights_only=True)
    bad.set_model(m)
    with pytest.raises(UsageError, match="format"):
        bad.on_epoch_end(0, {"loss": 1.0})


def test_csv_logger_content_and_append(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    m = model()
    h = m.fit(x, y, epochs=2, validation_split=0.25, verbose=0,
              callbacks=[C.CSVLogger(str(path))])
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    assert float(rows[2][2]) == pytest.approx(h.history["loss"][1])
    m.fit(x, y, epochs=3, initial_epoch=2, validation_split=0.25, verbose=0,
          callbacks=[C.CSVLogger(str(path), append=True)])
    with open(path) as f:
        rows = list(csv.reader(f))
    assert len(rows) == 4 and rows[3][0] == "2"  # no second header
    # Without validation, Keras still writes val_ columns, as NA.
    path2 = tmp_path / "log2.csv"
    model().fit(x, y, epochs=1, verbose=0, callbacks=[C.CSVLogger(str(path2), separator=";")])
    with open(path2) as f:
        lines = f.read().splitlines()
    assert lines[0] == "epoch;accuracy;loss;val_accuracy;val_loss"
    assert lines[1].endswith(";NA;NA")


def test_history_and_get():
    x, y = data()
    m = model()
    h = m.fit(x, y, epochs=2, verbose=0)
    assert m.history is h and h.epoch == [0, 1] and len(h.history["accuracy"]) == 2
    assert C.get({"type": "EarlyStopping", "patience": 3}).patience == 3
    assert C.get({"class_name": "CSVLogger", "config": {"filename": "a.csv"}}).filename == "a.csv"
    with pytest.raises(DefinitionError, match="did you mean 'EarlyStopping'"):
        C.get({"type": "EarlyStoping"})
    with pytest.raises(DefinitionError, match="did you mean 'patience'"):
        C.get({"type": "EarlyStopping", "patiense": 3})
