"""The TensorFlow imbalanced-data tutorial's metric list (TruePositives ... AUC(curve='PR'))
resolves from each source seqc reads, a Python script, a JSON spec and a Keras file, and
works in compile / fit / evaluate: the logs carry the tutorial's names, and evaluate gives
Keras' values for the same weights."""

from __future__ import annotations

import json
import os
import textwrap
import warnings

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError
from seqc.export.keras_file import save_keras
from seqc.frontend import Bindings
from seqc.frontend.pyscript import load_script

NAMES = ["cross entropy", "Brier score", "tp", "fp", "tn", "fn", "accuracy", "precision",
         "recall", "auc", "prc"]
SPECS = [{"type": "BinaryCrossentropy", "name": "cross entropy"},
         {"type": "MeanSquaredError", "name": "Brier score"},
         {"type": "TruePositives", "name": "tp"}, {"type": "FalsePositives", "name": "fp"},
         {"type": "TrueNegatives", "name": "tn"}, {"type": "FalseNegatives", "name": "fn"},
         {"type": "BinaryAccuracy", "name": "accuracy"}, {"type": "Precision", "name": "precision"},
         {"type": "Recall", "name": "recall"}, {"type": "AUC", "name": "auc"},
         {"type": "AUC", "name": "prc", "curve": "PR"}]

SCRIPT = """\
    import tensorflow as tf
    from tensorflow import keras

    METRICS = [
          keras.metrics.BinaryCrossentropy(name='cross entropy'),  # same as model's loss
          keras.metrics.MeanSquaredError(name='Brier score'),
          keras.metrics.TruePositives(name='tp'),
          keras.metrics.FalsePositives(name='fp'),
          keras.metrics.TrueNegatives(name='tn'),
          keras.metrics.FalseNegatives(name='fn'),
          keras.metrics.BinaryAccuracy(name='accuracy'),
          keras.metrics.Precision(name='precision'),
          keras.metrics.Recall(name='recall'),
          keras.metrics.AUC(name='auc'),
          keras.metrics.AUC(name='prc', curve='PR'), # precision-recall curve
    ]

    def make_model(metrics=METRICS):
      model = keras.Sequential([
          keras.layers.Dense(16, activation='relu', input_shape=(6,)),
          keras.layers.Dropout(0.5),
          keras.layers.Dense(1, activation='sigmoid'),
      ])
      model.compile(
          optimizer=keras.optimizers.Adam(learning_rate=1e-3),
          loss=keras.losses.BinaryCrossentropy(),
          metrics=metrics)
      return model

    model = make_model()
    model.fit(train_features, train_labels, batch_size=16, epochs=2,
              validation_data=(val_features, val_labels))
    """

rng = np.random.default_rng(0)
X = rng.normal(size=(80, 6)).astype("float32")
Y = (X[:, :1] + 0.5 * rng.normal(size=(80, 1)) > 0.8).astype("float32")


def _fit_logs(model):
    hist = model.fit(X[:60], Y[:60], batch_size=16, epochs=2, verbose=0,
                     validation_data=(X[60:], Y[60:]))
    assert list(hist.history) == ["loss", *NAMES, "val_loss", *(f"val_{n}" for n in NAMES)]
    last = {k: v[-1] for k, v in hist.history.items()}
    assert last["tp"] + last["fp"] + last["tn"] + last["fn"] == 60  # counts over the epoch
    assert all(np.isfinite(v) for v in last.values())
    return hist


def test_script_metric_list_resolves_and_trains(tmp_path):
    path = tmp_path / "imbalanced.py"
    path.write_text(textwrap.dedent(SCRIPT))
    defn = load_script(path, bindings=Bindings(x=X, y=Y))
    assert defn.compile["metrics"] == SPECS
    model = defn.model
    model.compile(**defn.compile)
    _fit_logs(model)


def test_the_tutorial_itself_resolves_its_metrics_and_trains(tmp_path):
    """The tutorial (tests/frontend/corpus), its conditional output bias given by --define.
    As written it is refused at its last fit: EarlyStopping watches val_prc on the script's
    validation_data, which seqc does not read. Its text up to that fit, with the fit on
    validation_split instead, resolves the metric list, and training with EarlyStopping on
    val_prc runs."""
    from pathlib import Path

    from seqc.frontend import load_definition, parse_defines

    path = Path(__file__).parent / "corpus" / "keras" / "tfdocs_imbalanced_data.py"
    x = rng.normal(size=(80, 29)).astype("float32")
    y = (x[:, :1] > 0.8).astype("float32")

    def bindings():
        return Bindings(x=x, y=y, defines=parse_defines(["output_bias=None"]))

    with pytest.raises(DefinitionError, match=r"tfdocs_imbalanced_data.py:195:.*EarlyStopping"):
        load_definition(path, bindings=bindings())
    text = path.read_text()
    cut = text.index("model = make_model()\nmodel.load_weights(initial_weights)")
    edited = tmp_path / "tfdocs_imbalanced_data.py"
    edited.write_text(text[:cut] + "model = make_model()\nbaseline_history = model.fit(\n"
                      "    train_features, train_labels, batch_size=BATCH_SIZE, epochs=EPOCHS,\n"
                      "    callbacks=[early_stopping()], validation_split=0.2)\n")
    defn = load_definition(edited, bindings=bindings())
    assert defn.compile["metrics"] == SPECS
    model = defn.model
    model.compile(**defn.compile)
    stop = {"type": "EarlyStopping", "monitor": "val_prc", "patience": 10, "mode": "max",
            "restore_best_weights": True}
    hist = model.fit(x[:60], y[:60], batch_size=16, epochs=2, verbose=0, callbacks=[stop],
                     validation_data=(x[60:], y[60:]))
    assert list(hist.history) == ["loss", *NAMES, "val_loss", *(f"val_{n}" for n in NAMES)]


def test_json_spec_metric_list_resolves_and_trains(tmp_path):
    spec = {"name": "imbalanced", "input_shape": [6],
            "layers": [{"type": "Dense", "units": 16, "activation": "relu"},
                       {"type": "Dropout", "rate": 0.5},
                       {"type": "Dense", "units": 1, "activation": "sigmoid"}],
            "compile": {"optimizer": {"type": "adam", "learning_rate": 1e-3},
                        "loss": "binary_crossentropy", "metrics": SPECS}}
    path = tmp_path / "imbalanced.json"
    path.write_text(json.dumps(spec))
    _fit_logs(seqc.load(path))


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    warnings.filterwarnings("ignore", module="keras")
    return keras


def _keras_model(keras):
    metrics = [getattr(keras.metrics, s["type"])(**{k: v for k, v in s.items() if k != "type"})
               for s in SPECS]
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dropout(0.5),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.BinaryCrossentropy(), metrics=metrics)
    return model


def test_keras_file_metric_list_loads_and_evaluates_like_keras(keras, tmp_path):
    """A .keras file whose compile_config holds the list: seqc compiles it, and evaluate on
    the file's weights gives Keras' loss and metric values; seqc writes the list back in a
    form Keras reads."""
    km = _keras_model(keras)
    km.save(tmp_path / "k.keras")
    model = seqc.load(tmp_path / "k.keras")
    assert [m["name"] for m in model.compiled.metrics] == NAMES
    ours = model.evaluate(X, Y, batch_size=16, verbose=0, return_dict=True)
    theirs = km.evaluate(X, Y, batch_size=16, verbose=0, return_dict=True)
    assert list(ours) == ["loss", *NAMES]
    for k in ours:  # Keras' dict: loss first, then the compile metrics
        assert ours[k] == pytest.approx(float(theirs[k]), rel=1e-5, abs=1e-5), k
    _fit_logs(model)
    save_keras(model, tmp_path / "s.keras")
    back = keras.saving.load_model(tmp_path / "s.keras")
    cc = back.get_compile_config()["metrics"]
    assert [m["config"]["name"] for m in cc] == NAMES
    assert cc[-1]["class_name"] == "AUC" and cc[-1]["config"]["curve"] == "PR"


def test_seqc_metric_objects_save_to_keras(keras, tmp_path):
    """Metric objects compiled in seqc write Keras' own configs (get_config)."""
    from seqc.training import metrics as M

    model = seqc.Sequential([seqc.layers.Input((6,)), seqc.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy",
                  metrics=[M.TruePositives(name="tp"), M.AUC(name="prc", curve="PR"),
                           M.F1Score(average="macro", threshold=0.5), M.Precision(top_k=1)])
    save_keras(model, tmp_path / "s.keras")
    back = keras.saving.load_model(tmp_path / "s.keras")
    cfgs = {m["config"]["name"]: m["config"] for m in back.get_compile_config()["metrics"]}
    assert cfgs["prc"]["curve"] == "PR" and cfgs["tp"]["thresholds"] is None
    assert cfgs["f1_score"]["average"] == "macro" and cfgs["precision"]["top_k"] == 1


def test_script_metrics_take_keras_positional_arguments(tmp_path):
    """Positional arguments map by Keras' constructor order."""
    path = tmp_path / "m.py"
    path.write_text(textwrap.dedent("""\
        from tensorflow import keras
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation='softmax')])
        model.compile('adam', 'categorical_crossentropy',
                      metrics=[keras.metrics.PrecisionAtRecall(0.5),
                               keras.metrics.TopKCategoricalAccuracy(2, 'top2'),
                               keras.metrics.OneHotMeanIoU(3),
                               keras.metrics.F1Score('macro', 0.4)])
        """))
    defn = load_script(path)
    assert defn.compile["metrics"] == [
        {"type": "PrecisionAtRecall", "recall": 0.5},
        {"type": "TopKCategoricalAccuracy", "k": 2, "name": "top2"},
        {"type": "OneHotMeanIoU", "num_classes": 3},
        {"type": "F1Score", "average": "macro", "threshold": 0.4}]
    model = defn.model
    model.compile(**defn.compile)
    y = np.eye(3, dtype="float32")[np.arange(12) % 3]
    logs = model.evaluate(X[:12], y, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "precision_at_recall", "top2", "one_hot_mean_io_u",
                          "f1_score"]
