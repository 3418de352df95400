"""Training stages on their own arrays: a script that fits each stage on rows it selects by
label from one `load_data()` (Keras' mnist_transfer_cnn) has the data given bound to
load_data's names, and each stage's arrays evaluated from it (masks, `- 5`, reshape, astype,
`/= 255`, to_categorical), equal to NumPy's evaluation of the same expressions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import Bindings
from seqc.frontend.pyscript import load_script

CORPUS = Path(__file__).parent / "corpus" / "keras" / "keras2_mnist_transfer_cnn.py"


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (rows, 28, 28)).astype("uint8")
    return x, rng.permutation(np.arange(rows) % 10).astype("uint8")


def _expected(x: np.ndarray, y: np.ndarray, below: bool) -> tuple[np.ndarray, np.ndarray]:
    """The script's expressions, run by NumPy on the same arrays."""
    keep = y < 5 if below else y >= 5
    xs, ys = x[keep], y[keep] if below else y[keep] - 5
    xs = xs.reshape((xs.shape[0],) + (28, 28, 1)).astype("float32")
    xs /= 255
    return xs, np.eye(5, dtype="float32")[ys]


def test_each_stage_trains_on_the_script_expressions_evaluated_on_the_data():
    x, y = _data(40, 0)
    vx, vy = _data(20, 1)
    defn = load_script(CORPUS, bindings=Bindings(x=x, y=y, val_x=vx, val_y=vy))
    staged = defn.extra["stage_data"]
    assert len(staged) == len(defn.stages) == 2
    for (sx, sy, svx, svy), below in zip(staged, (True, False)):
        for got, want in zip((sx, sy, svx, svy), (*_expected(x, y, below),
                                                  *_expected(vx, vy, below))):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
    assert defn.stages[0]["frozen"] == [] and len(defn.stages[1]["frozen"]) == 2
    assert any("on its own arrays" in n and "on 20 rows, validated on 10" in n
               for n in defn.notes)


def test_without_validation_arrays_the_stages_have_none_and_a_note_says_so():
    x, y = _data(30, 2)
    defn = load_script(CORPUS, bindings=Bindings(x=x, y=y))
    assert [(a[2], a[3]) for a in defn.extra["stage_data"]] == [(None, None)] * 2
    # one note, though train_model's fit runs once a stage
    assert sum("validation_data=(x_test, y_test)) is not used" in n for n in defn.notes) == 1


def _script(tmp_path: Path, second: str) -> Path:
    p = tmp_path / "m.py"
    p.write_text(textwrap.dedent(f"""\
        import numpy as np
        import keras
        from keras.datasets import mnist
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
        model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                  keras.layers.Dense(8), keras.layers.Dense(5)])
        model.compile('adam', 'categorical_crossentropy')
        model.fit(x_train[y_train < 5] / 255,
                  keras.utils.to_categorical(y_train[y_train < 5], 5))
        model.layers[1].trainable = False
        model.compile('adam', 'categorical_crossentropy')
        {second}
        """))
    return p


@pytest.mark.parametrize("second, why", [
    ("model.fit(x_train[np.isin(y_train, [5, 6])], y_train[y_train > 4])",
     "np.isin(y_train, [5, 6])"),
    ("model.fit(x_train[y_train >= 5], keras.utils.to_categorical(y_train[y_train >= 5], 5))",
     "not class ids in [0, 5)"),
    ("model.fit(x_train[y_train >= 5], y_train[y_train >= x_test])",
     "seqc compares bound data only with a number"),
])
def test_a_stage_seqc_cannot_evaluate_is_refused_at_its_line(tmp_path, second, why):
    x, y = _data(30, 3)
    with pytest.raises(DefinitionError) as e:
        load_script(_script(tmp_path, second), bindings=Bindings(x=x, y=y))
    assert "m.py:12" in str(e.value) and why in str(e.value), str(e.value)
    assert "cannot evaluate from the data given" in str(e.value)


def test_masks_of_other_rows_or_no_data_keep_the_old_refusal(tmp_path):
    p = _script(tmp_path, "model.fit(x_train[y_train >= 5] / 255, "
                          "keras.utils.to_categorical(y_train[y_train >= 5] - 5, 5))")
    x, y = _data(30, 4)
    defn = load_script(p, bindings=Bindings(x=x, y=y))
    (x1, y1, _, _), (x2, y2, _, _) = defn.extra["stage_data"]
    # NumPy's uint8 / 255 is float64; seqc's value is what the model reads, as float32
    np.testing.assert_array_equal(x2, (x[y >= 5] / 255).astype("float32"))
    assert x2.dtype == "float32" and x1.shape == ((y < 5).sum(), 28, 28)
    np.testing.assert_array_equal(y2.argmax(-1), y[y >= 5] - 5)
    with pytest.raises(DefinitionError, match="m.py:12.*cannot show to be the first"):
        load_script(p)  # no data given: nothing to evaluate the stages on
    with pytest.raises(DefinitionError,
                       match=r"m.py:8.*a mask of 30 rows over data of shape \(29, 28, 28\)"):
        load_script(p, bindings=Bindings(x=x[:29], y=y))


STAGED = """\
    import keras
    from keras.datasets import mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(6, activation="relu"),
                              keras.layers.Dense(5, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss="categorical_crossentropy")
    model.fit(x_train[y_train < 5] / 255, keras.utils.to_categorical(y_train[y_train < 5], 5),
              epochs=2, batch_size=8, shuffle=False,
              validation_data=(x_test[y_test < 5] / 255,
                               keras.utils.to_categorical(y_test[y_test < 5], 5)))
    model.layers[1].trainable = False
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x_train[y_train >= 5] / 255,
              keras.utils.to_categorical(y_train[y_train >= 5] - 5, 5),
              epochs=2, batch_size=8, shuffle=False,
              validation_data=(x_test[y_test >= 5] / 255,
                               keras.utils.to_categorical(y_test[y_test >= 5] - 5, 5)))
    """


def test_stages_on_their_own_rows_train_as_keras_step_for_step(tmp_path):
    import os

    from seqc.training.callback_base import Callback
    from seqc.training.stages import fit_stages

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    p = tmp_path / "m.py"
    p.write_text(textwrap.dedent(STAGED))
    x, y = _data(40, 5)
    vx, vy = _data(20, 6)
    defn = load_script(p, bindings=Bindings(x=x, y=y, val_x=vx, val_y=vy))
    m = defn.model
    km = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                           keras.layers.Dense(6, activation="relu"),
                           keras.layers.Dense(5, activation="softmax")])
    km.set_weights(m.get_weights())
    theirs: list = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: theirs.append(km.get_weights()))
    hist = []
    for i, keep in enumerate((lambda t: t < 5, lambda t: t >= 5)):
        if i:
            km.layers[1].trainable = False
        km.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9) if not i
                   else "adam", loss="categorical_crossentropy")
        onehot = [np.eye(5, dtype="float32")[t[keep(t)] - 5 * i] for t in (y, vy)]
        hist.append(km.fit((x[keep(y)] / 255).astype("float32"), onehot[0], epochs=2,
                           batch_size=8, shuffle=False, verbose=0, callbacks=[record],
                           validation_data=((vx[keep(vy)] / 255).astype("float32"),
                                            onehot[1])).history)

    ours: list = []

    class Record(Callback):
        def on_train_batch_end(self, batch, logs=None):
            ours.append([w.copy() for w in self.model.get_weights()])

    _, _, runs = fit_stages(m, defn.stages, None, None, {}, {}, [Record()],
                            data=defn.extra["stage_data"], verbose=0)
    assert len(ours) == len(theirs) == 2 * (3 + 3)  # 20 rows a stage, batches of 8
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for w1, w2 in zip(a, b):
            np.testing.assert_allclose(w1, w2, atol=1e-5, err_msg=f"step {step}")
    for run, h in zip(runs, hist):
        np.testing.assert_allclose(run["history"]["val_loss"], h["val_loss"], rtol=1e-4)


def test_validation_arrays_given_are_never_dropped_from_a_stage(tmp_path):
    """With --val-x/--val-y given, a stage's validation_data seqc cannot evaluate is refused
    (it would otherwise train without validating, silently)."""
    text = STAGED.replace("validation_data=(x_test[y_test >= 5] / 255",
                          "validation_data=(x_test[np.isin(y_test, [5])] / 255")
    p = tmp_path / "m.py"
    p.write_text("import numpy as np\n" + textwrap.dedent(text))
    x, y = _data(40, 5)
    vx, vy = _data(20, 6)
    with pytest.raises(DefinitionError, match=r"m.py:16:.*its validation_data x: np.isin"
                                              r"\(...\) on the data is not an operation "
                                              r".*\(line 19\)"):
        load_script(p, bindings=Bindings(x=x, y=y, val_x=vx, val_y=vy))
    staged = load_script(p, bindings=Bindings(x=x, y=y)).extra["stage_data"]
    assert [a[2] for a in staged] == [None, None]  # not given: a note says it is not used
