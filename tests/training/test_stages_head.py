"""A stage with a `head` (seqc.frontend.stages): another model sharing the model's first
layers trains first (transfer learning's source model), then the model itself, frozen and
unfrozen; trained by seqc and by real Keras (save, load_model, clone_model, set_weights,
Sequential(model_A.layers[:-1])) from identical weights, compared at the end."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import load_definition
from seqc.ir.summary import parameter_counts
from seqc.training.stages import fit_stages

SGD = {"type": "SGD", "learning_rate": 0.05}
FIT = {"epochs": 2, "batch_size": 8, "shuffle": False}
SPEC = {"input_shape": [6],
        "layers": [{"type": "Dense", "units": 5, "activation": "relu"},
                   {"type": "Dense", "units": 4, "activation": "selu"},
                   {"type": "Dense", "units": 1, "activation": "sigmoid"}],
        "compile": {"optimizer": SGD, "loss": "binary_crossentropy"},
        "fit": FIT,
        "stages": [{"head": {"drop": 1, "layers": [
                        {"type": "Dense", "units": 3, "activation": "softmax"}]},
                    "compile": {"optimizer": SGD, "loss": "sparse_categorical_crossentropy"},
                    "frozen": []},
                   {"frozen": [0, 1]},
                   {"frozen": [], "compile": {"optimizer": {"type": "SGD",
                                                            "learning_rate": 0.01},
                                              "loss": "binary_crossentropy"}}]}


def _data():
    rng = np.random.default_rng(0)
    xa = rng.normal(size=(24, 6)).astype("float32")
    xb = rng.normal(size=(16, 6)).astype("float32")
    return xa, np.arange(24) % 3, xb, (np.arange(16) % 2).astype("float32")


def _defn(tmp_path, spec=SPEC):
    p = tmp_path / "m.json"
    p.write_text(json.dumps(spec))
    return load_definition(p)


def _keras_run(keras, tmp_path, w_a, w_b, xa, ya, xb, yb):
    """Hands-On ML 2's transfer learning, small; the per-stage trainable counts and the
    final weights of model_B_on_A."""
    L = keras.layers
    model_A = keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu"),
                                L.Dense(4, activation="selu"),
                                L.Dense(3, activation="softmax")])
    model_A.set_weights(w_a)
    model_A.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05),
                    loss="sparse_categorical_crossentropy")
    model_A.fit(xa, ya, verbose=0, **FIT)
    model_A.save(tmp_path / "my_model_A.keras")
    model_A = keras.models.load_model(tmp_path / "my_model_A.keras")
    model_A_clone = keras.models.clone_model(model_A)
    model_A_clone.set_weights(model_A.get_weights())
    model_B_on_A = keras.Sequential(model_A_clone.layers[:-1])
    model_B_on_A.add(L.Dense(1, activation="sigmoid"))
    model_B_on_A.build((None, 6))  # (the book leaves it to fit)
    model_B_on_A.layers[-1].set_weights(w_b)
    counts = [sum(int(np.prod(w.shape)) for w in model_A.trainable_weights)]
    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = False
    model_B_on_A.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05),
                         loss="binary_crossentropy")
    counts.append(sum(int(np.prod(w.shape)) for w in model_B_on_A.trainable_weights))
    model_B_on_A.fit(xb, yb, verbose=0, **FIT)
    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = True
    model_B_on_A.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01),
                         loss="binary_crossentropy")
    counts.append(sum(int(np.prod(w.shape)) for w in model_B_on_A.trainable_weights))
    model_B_on_A.fit(xb, yb, verbose=0, **FIT)
    return counts, model_B_on_A.get_weights()


def test_a_head_stage_trains_the_shared_layers_as_keras_does(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    xa, ya, xb, yb = _data()
    defn = _defn(tmp_path)
    m = defn.model
    head = defn.stages[0]["head"]
    assert head["shared"] == ["dense", "dense_1"]
    from seqc.model import Model

    head["model"] = Model(head["graph"], seed=7)  # its own head weights, given to Keras too
    w_a = [*m.get_weights()[:4], *head["model"].get_weights()[4:]]
    counts, theirs = _keras_run(keras, tmp_path, w_a, m.get_weights()[4:], xa, ya, xb, yb)
    _, _, runs = fit_stages(m, defn.stages, None, None, {}, {}, [], verbose=0,
                            data=[(xa, ya, None, None), (xb, yb, None, None),
                                  (xb, yb, None, None)])
    assert [r["parameters"]["trainable"] for r in runs] == counts == [35 + 24 + 15, 5, 64]
    assert runs[0]["head"] == {"drop": 1, "layers": ["Dense"]}
    for a, b in zip(m.get_weights(), theirs):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert parameter_counts(m.graph)["trainable"] == 64


@pytest.mark.parametrize("stages, field", [
    ([{"head": {"drop": 1, "layers": [{"type": "Dense", "units": 3}]}}], "stages[0].head"),
    ([{"head": {"drop": 3, "layers": [{"type": "Dense", "units": 3}]}}, {}],
     "stages[0].head.drop"),
    ([{"head": {"drop": 1, "layers": [{"type": "Dense", "units": 3, "name": "dense"}]}},
      {}], "stages[0].head"),
])
def test_a_head_that_cannot_be_followed_is_refused(tmp_path, stages, field):
    with pytest.raises(DefinitionError) as e:
        _defn(tmp_path, {**SPEC, "stages": stages})
    assert e.value.field.startswith(field)


def test_a_spec_with_a_head_stage_builds_and_reports_it(tmp_path):
    from seqc.pipeline import BuildOptions, build

    xa, ya, _, _ = _data()
    np.save(tmp_path / "x.npy", xa)
    np.save(tmp_path / "y.npy", (ya % 2).astype("float32"))  # fits both heads
    (tmp_path / "s.json").write_text(json.dumps(SPEC))
    report = build(str(tmp_path / "s.json"), BuildOptions(
        out_dir=str(tmp_path / "out"), x=str(tmp_path / "x.npy"), y=str(tmp_path / "y.npy"),
        verbose=0, log=None))
    assert [r.get("head") for r in report["stages"]] == [
        {"drop": 1, "layers": ["Dense"]}, None, None]
    assert [r["parameters"]["trainable"] for r in report["stages"]] == [74, 5, 64]
    assert report["parameters"]["trainable"] == 64 and report["validation"]["ok"]
