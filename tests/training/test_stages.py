"""Training in stages (fit, freeze, compile, fit): a Keras script read into the spec's
`stages`, trained by seqc and by real Keras from identical weights, compared after every
step; the JSON form; what is refused."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import Bindings, load_definition
from seqc.ir.summary import parameter_counts
from seqc.training.callback_base import Callback
from seqc.training.stages import fit_stages

SCRIPT = """\
    import keras
    import numpy as np
    from keras import layers

    x = np.load("x.npy")
    y = np.load("y.npy")
    model = keras.Sequential([keras.Input((6,)), layers.Dense(8, activation="relu"),
                              layers.BatchNormalization(),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=10, shuffle=False)
    for layer in model.layers[:-1]:
        layer.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=10, shuffle=False)
    """


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 6)).astype("float32") * 2 + 1, np.arange(40) % 3


def _read(tmp_path, text=SCRIPT, x=None, y=None):
    p = tmp_path / "model.py"
    p.write_text(textwrap.dedent(text))
    return load_definition(p, bindings=Bindings(x=x, y=y))


def test_a_script_trained_in_stages_reads_each_stage(tmp_path):
    x, y = _data()
    defn = _read(tmp_path, x=x, y=y)
    assert [s["frozen"] for s in defn.stages] == [[], ["batch_normalization", "dense"]]
    assert defn.stages[1]["compile"]["optimizer"] == {"type": "SGD", "learning_rate": 0.1,
                                                      "momentum": 0.9}
    assert all(s["fit"] == {"epochs": 2, "batch_size": 10, "shuffle": False}
               for s in defn.stages)
    # The model after training is the last stage's: what summary counts.
    assert parameter_counts(defn.model.graph) == {"total": 115, "trainable": 27,
                                                  "non_trainable": 88}
    assert any("trains in 2 stages" in n for n in defn.notes)


def test_stages_train_as_keras_step_for_step(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x, y = _data()
    defn = _read(tmp_path, x=x, y=y)
    m = defn.model
    km = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                           keras.layers.BatchNormalization(),
                           keras.layers.Dense(3, activation="softmax")])
    km.set_weights(m.get_weights())
    theirs: list = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: theirs.append(km.get_weights()))
    km.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
               loss="sparse_categorical_crossentropy")
    km.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0, callbacks=[record])
    for layer in km.layers[:-1]:
        layer.trainable = False
    km.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
               loss="sparse_categorical_crossentropy")
    km.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0, callbacks=[record])

    ours: list = []

    class Record(Callback):
        def on_train_batch_end(self, batch, logs=None):
            ours.append([w.copy() for w in self.model.get_weights()])

    history, _, runs = fit_stages(m, defn.stages, x, y, {}, {}, [Record()], verbose=0)
    assert len(ours) == len(theirs) == 16
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for w1, w2 in zip(a, b):
            np.testing.assert_allclose(w1, w2, atol=1e-6, err_msg=f"step {step}")
    # A recompile resets the optimizer: stage 2 starts without stage 1's momentum (Keras).
    # The frozen Dense and BatchNormalization (moving statistics too) do not move in stage 2.
    for w_end, w_stage2 in zip(ours[-1][:6], ours[7][:6]):
        np.testing.assert_array_equal(w_end, w_stage2)
    assert not np.array_equal(ours[-1][6], ours[7][6])
    assert [r["parameters"]["trainable"] for r in runs] == [115 - 16, 27]
    assert len(history["loss"]) == 4 and [r["epochs"] for r in runs] == [2, 2]


def test_a_spec_with_stages_builds_and_reports_each_stage(tmp_path):
    from seqc.pipeline import BuildOptions, build

    x, y = _data()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    spec = {"input_shape": [6],
            "layers": [{"type": "Dense", "units": 8, "activation": "relu", "trainable": False},
                       {"type": "Dense", "units": 3, "activation": "softmax"}],
            "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
            "fit": {"epochs": 1, "batch_size": 10},
            "stages": [{"frozen": []},
                       {"frozen": [0], "compile": {"optimizer": "sgd",
                                                   "loss": "sparse_categorical_crossentropy"},
                        "fit": {"epochs": 2, "batch_size": 20}}]}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    report = build(str(tmp_path / "s.json"), BuildOptions(
        out_dir=str(tmp_path / "out"), x=str(tmp_path / "x.npy"), y=str(tmp_path / "y.npy"),
        verbose=0, log=None))
    assert [r["epochs"] for r in report["stages"]] == [1, 2]
    assert [r["frozen"] for r in report["stages"]] == [[], ["dense"]]
    assert len(report["history"]["loss"]) == 3
    assert report["parameters"]["trainable"] == 27
    # --epochs applies to every stage
    report = build(str(tmp_path / "s.json"), BuildOptions(
        out_dir=str(tmp_path / "out2"), x=str(tmp_path / "x.npy"), y=str(tmp_path / "y.npy"),
        epochs=1, verbose=0, log=None))
    assert [r["epochs"] for r in report["stages"]] == [1, 1]
    # the last stage freezes the layers marked trainable: false
    spec["stages"][1]["frozen"] = []
    (tmp_path / "s.json").write_text(json.dumps(spec))
    with pytest.raises(DefinitionError, match="the last stage.s frozen layers"):
        load_definition(tmp_path / "s.json")
    spec["stages"][1]["frozen"] = ["nope"]
    (tmp_path / "s.json").write_text(json.dumps(spec))
    with pytest.raises(DefinitionError, match="no layer 'nope'"):
        load_definition(tmp_path / "s.json")


@pytest.mark.parametrize("change, match", [
    # a trainable change after the last fit
    (("model.fit(x, y, epochs=2, batch_size=10, shuffle=False)\n", "", 1),
     r"model.py:14:\d+: .*after model.fit\(\) \(line 12\), and no fit follows"),
    # no compile between the change and the next fit
    (("model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),\n"
      "              loss=\"sparse_categorical_crossentropy\")\n", "", 1),
     r"model.py:15:1: .*no compile between them"),
    # the second stage fits other arrays
    (("model.fit(x, y, epochs=2, batch_size=10, shuffle=False)\n",
      "model.fit(x[:20], y[:20], epochs=2)\n", -1),
     r"model.py:17:1: .*data seqc cannot show to be the first stage's"),
])
def test_what_a_staged_script_cannot_have_is_refused(tmp_path, change, match):
    old, new, _ = change
    text = textwrap.dedent(SCRIPT)
    i = text.rindex(old)
    text = text[:i] + new + text[i + len(old):]
    x, y = _data()
    with pytest.raises(DefinitionError, match=match):
        _read(tmp_path, text, x, y)


def test_staged_reading_runs_nothing(tmp_path):
    canary = tmp_path / "canary.txt"
    text = textwrap.dedent(SCRIPT).replace(
        "for layer in model.layers[:-1]:",
        f"import os\nos.system('touch {canary}')\nfor layer in model.layers[:-1]:")
    text = text.replace("layer.trainable = False",
                        f"layer.trainable = not os.system('touch {canary}')")
    x, y = _data()
    with pytest.raises(DefinitionError):
        _read(tmp_path, text, x, y)
    assert not canary.exists()


def test_the_spec_docs_stages_example_loads(tmp_path):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "spec.md").read_text()
    section = doc[doc.index("## `stages`"):]
    block = re.search(r"```json\n(.*?)```", section, re.S).group(1)
    (tmp_path / "s.json").write_text(block)
    defn = load_definition(tmp_path / "s.json")
    assert [s["frozen"] for s in defn.stages] == [[], ["features"]]
    assert defn.stages[1]["fit"] == {"epochs": 3, "batch_size": 32}
    assert defn.stages[0]["compile"] == {"optimizer": "adam",
                                         "loss": "sparse_categorical_crossentropy"}
