"""A Keras model saved and reused in the same script (Hands-On ML 2's transfer learning):
`model.save(p)`, `keras.models.load_model(p)`, `clone_model`, `set_weights(get_weights())`,
`Sequential(model_A.layers[:-1])`. The model built starts from the layers model_A's fit
trained, so seqc's build trains model_A first (a stage with a head), then the model's own
stages; checked against real Keras. What seqc cannot follow is refused at its line."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import Bindings, load_definition
from seqc.ir.summary import parameter_counts
from seqc.training.stages import fit_stages

HEAD = textwrap.dedent("""\
    import numpy as np
    from tensorflow import keras

    X = np.load("x.npy")
    y = np.load("y.npy")
    model_A = keras.models.Sequential()
    model_A.add(keras.layers.Dense(5, activation="relu", input_shape=[6]))
    model_A.add(keras.layers.Dense(4, activation="selu"))
    model_A.add(keras.layers.Dense(3, activation="softmax"))
    model_A.compile(loss="sparse_categorical_crossentropy",
                    optimizer=keras.optimizers.SGD(learning_rate=0.05))
    model_A.fit(X, y, epochs=2, batch_size=8, shuffle=False)
    model_A.save("my_model_A.h5")
    """)
REUSE = textwrap.dedent("""\
    model_A = keras.models.load_model("my_model_A.h5")
    model_A_clone = keras.models.clone_model(model_A)
    model_A_clone.set_weights(model_A.get_weights())
    model_B_on_A = keras.models.Sequential(model_A_clone.layers[:-1])
    model_B_on_A.add(keras.layers.Dense(1, activation="sigmoid"))
    """)
TRAIN = textwrap.dedent("""\
    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = False
    model_B_on_A.compile(loss="binary_crossentropy",
                         optimizer=keras.optimizers.SGD(learning_rate=0.05))
    model_B_on_A.fit(X, y, epochs=2, batch_size=8, shuffle=False)
    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = True
    model_B_on_A.compile(loss="binary_crossentropy",
                         optimizer=keras.optimizers.SGD(learning_rate=0.01))
    model_B_on_A.fit(X, y, epochs=2, batch_size=8, shuffle=False)
    """)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(24, 6)).astype("float32"), (np.arange(24) % 2).astype("float32")


def _read(tmp_path, text, model="model_B_on_A"):
    p = tmp_path / "transfer.py"
    p.write_text(text)
    x, y = _data()
    return load_definition(p, bindings=Bindings(x=x, y=y, model=model))


def test_the_reused_layers_train_first_under_the_source_models_head(tmp_path):
    defn = _read(tmp_path, HEAD + REUSE + TRAIN)
    head = defn.stages[0]["head"]
    assert head["drop"] == 1 and head["layers"] == [
        {"type": "Dense", "units": 3, "activation": "softmax"}]
    assert defn.stages[0]["compile"]["loss"] == "sparse_categorical_crossentropy"
    assert [s["frozen"] for s in defn.stages] == [[], ["dense", "dense_1"], []]
    assert parameter_counts(defn.model.graph) == {"total": 64, "trainable": 64,
                                                  "non_trainable": 0}
    text = "\n".join(defn.notes)
    assert "is the model saved at line 13" in text and "source model's fit at line 12" in text


def test_save_model_the_function_is_a_save(tmp_path):
    text = HEAD.replace('model_A.save("my_model_A.h5")',
                        'keras.models.save_model(model_A, "my_model_A.h5")') + REUSE + TRAIN
    defn = _read(tmp_path, text)
    assert defn.stages[0]["head"]["drop"] == 1


def test_the_staged_training_matches_keras(tmp_path):
    """Keras runs the script's own statements (save, load_model, clone_model, set_weights,
    Sequential(layers[:-1]), freeze, compile, fit...) from the same initial weights."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    from seqc.model import Model

    x, y = _data()
    defn = _read(tmp_path, HEAD + REUSE + TRAIN)
    m = defn.model
    head = defn.stages[0]["head"]
    head["model"] = Model(head["graph"], seed=3)
    w_a = [*m.get_weights()[:4], *head["model"].get_weights()[4:]]
    L = keras.layers
    model_A = keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu"),
                                L.Dense(4, activation="selu"), L.Dense(3, activation="softmax")])
    model_A.set_weights(w_a)
    model_A.compile(loss="sparse_categorical_crossentropy",
                    optimizer=keras.optimizers.SGD(learning_rate=0.05))
    model_A.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    model_A.save(tmp_path / "my_model_A.keras")
    model_A = keras.models.load_model(tmp_path / "my_model_A.keras")
    model_A_clone = keras.models.clone_model(model_A)
    model_A_clone.set_weights(model_A.get_weights())
    model_B_on_A = keras.Sequential(model_A_clone.layers[:-1])
    model_B_on_A.add(L.Dense(1, activation="sigmoid"))
    model_B_on_A.build((None, 6))
    model_B_on_A.layers[-1].set_weights(m.get_weights()[4:])
    counts = []
    for trainable, lr in ((False, 0.05), (True, 0.01)):
        for layer in model_B_on_A.layers[:-1]:
            layer.trainable = trainable
        model_B_on_A.compile(loss="binary_crossentropy",
                             optimizer=keras.optimizers.SGD(learning_rate=lr))
        counts.append(sum(int(np.prod(w.shape)) for w in model_B_on_A.trainable_weights))
        model_B_on_A.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    _, _, runs = fit_stages(m, defn.stages, x, y, {}, {}, [], verbose=0)
    assert [r["parameters"]["trainable"] for r in runs] == [74, *counts] == [74, 5, 64]
    for a, b in zip(m.get_weights(), model_B_on_A.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("text, line, words", [
    # pretrained weights the build does not have
    (HEAD.replace('model_A.save("my_model_A.h5")', "") + REUSE + TRAIN, 17,
     "a file this script does not write"),
    # the reused layers are never fitted under this model: their weights only a fit gives
    (HEAD + REUSE + "model_B_on_A.compile(loss='mse', optimizer='sgd')\n", 17, "not fitted"),
    # Keras shares the trained layer objects: model_A's fit trains them before the model's
    (HEAD + "model_B_on_A = keras.models.Sequential(model_A.layers[:-1])\n"
     "model_B_on_A.add(keras.layers.Dense(1, activation='sigmoid'))\n" + TRAIN, 6,
     "reuses its layers"),
    # set_weights between models of other layers
    (HEAD + REUSE.replace("model_A_clone.set_weights(model_A.get_weights())",
                          "model_A_clone.pop()\nmodel_A_clone.set_weights(model_A.get_weights())")
     + TRAIN, 17, "set_weights"),
    # the loaded layers trained further by another model (Keras shares them) before the
    # clone copies their weights
    (HEAD + "model_A = keras.models.load_model('my_model_A.h5')\n"
     "model_C = keras.models.Sequential(model_A.layers[:-1])\n"
     "model_C.add(keras.layers.Dense(1))\n"
     "model_C.compile(loss='mse', optimizer='sgd')\nmodel_C.fit(X, y)\n"
     + REUSE.split("\n", 1)[1] + TRAIN, 20, "no other fit shares layers"),
])
def test_what_seqc_cannot_follow_is_refused_at_its_line(tmp_path, text, line, words):
    with pytest.raises(DefinitionError) as e:
        _read(tmp_path, text)
    assert f"transfer.py:{line}:" in str(e.value) and words in str(e.value), str(e.value)


def test_a_loaded_model_trained_again_is_refused(tmp_path):
    text = HEAD + "model_A = keras.models.load_model('my_model_A.h5')\n" \
        "model_A.compile(loss='sparse_categorical_crossentropy', optimizer='sgd')\n" \
        "model_A.fit(X, y, epochs=1)\n"
    with pytest.raises(DefinitionError) as e:
        _read(tmp_path, text, model="model_A")
    assert "source model itself" in str(e.value)


SPLIT = """\
    import numpy as np
    from tensorflow import keras
    (X_train, y_train), (X_test, y_test) = keras.datasets.fashion_mnist.load_data()

    def split_dataset(X, y):
        y_5_or_6 = (y == 5) | (y == 6)
        y_A = y[~y_5_or_6]
        y_A[y_A > 6] -= 2
        y_B = (y[y_5_or_6] == 6).astype(np.float32)
        return ((X[~y_5_or_6], y_A), (X[y_5_or_6], y_B))

    (X_train_A, y_train_A), (X_train_B, y_train_B) = split_dataset(X_train, y_train)
    model = keras.models.Sequential([keras.layers.Flatten(input_shape=[28, 28]),
                                     keras.layers.Dense(3),
                                     keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    model.fit(X_train_A, y_train_A)
    model.layers[1].trainable = False
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    model.fit(X_train_B, y_train_B)
    """


def test_masks_combined_and_updated_in_place_are_evaluated_as_numpy_does(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (30, 28, 28)).astype("uint8")
    y = rng.integers(0, 10, 30).astype("uint8")
    given = y.copy()
    p = tmp_path / "split.py"
    p.write_text(textwrap.dedent(SPLIT))
    defn = load_definition(p, bindings=Bindings(x=x, y=y))
    ns: dict = {"np": np}
    exec(textwrap.dedent(SPLIT).split("(X_train_A")[0].split("\n", 3)[3], ns)  # the function
    (xa, ya), (xb, yb) = ns["split_dataset"](x, y.copy())
    (sxa, sya, _, _), (sxb, syb, _, _) = defn.extra["stage_data"]
    np.testing.assert_array_equal(sxa, xa)
    np.testing.assert_array_equal(sya, ya)
    np.testing.assert_array_equal(sxb, xb)
    assert syb.dtype == np.float32 and np.array_equal(syb, yb)
    assert np.array_equal(y, given)  # the arrays given are never written


def test_an_in_place_update_of_the_arrays_given_is_not_read(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (30, 28, 28)).astype("uint8")
    y = rng.integers(0, 10, 30).astype("uint8")
    given = y.copy()
    text = textwrap.dedent(SPLIT).replace("(X_train_A, y_train_A), (X_train_B",
                                          "y_train[y_train > 6] -= 2\n(X_train_A, y_train_A), "
                                          "(X_train_B")
    p = tmp_path / "split.py"
    p.write_text(text)
    with pytest.raises(DefinitionError) as e:
        load_definition(p, bindings=Bindings(x=x, y=y))
    assert "split.py:12:" in str(e.value) and "changes the arrays given" in str(e.value)
    assert np.array_equal(y, given)
