"""A script's fit(validation_data=...) bound to the validation arrays given (--val-x/--val-y,
Bindings.val_x/val_y, a spec's data.validation), fit(steps_per_epoch=...) on arrays, and
`save_weights`/`load_weights` of a model's initial weights within one script."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import Bindings, load_definition

VAL_SCRIPT = """
    import keras
    x_train, y_train = load()
    x_val, y_val = x_train[:10], y_train[:10]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    model.fit(x_train, y_train, batch_size=8, epochs=12, shuffle=False, steps_per_epoch=3,
              validation_data=(x_val, y_val),
              callbacks=[keras.callbacks.EarlyStopping(monitor="val_mae", patience=2,
                                                       restore_best_weights=True)])
    """


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (x[:, :1] * 0.5 + rng.normal(size=(40, 1)) * 0.3).astype("float32")
    xv = rng.normal(size=(12, 4)).astype("float32")
    yv = (xv[:, :1] * 0.5 - 1.0).astype("float32")  # a shifted target: val_mae turns early
    return x, y, xv, yv


def _script(tmp_path, text: str = VAL_SCRIPT) -> str:
    p = tmp_path / "train.py"
    p.write_text(textwrap.dedent(text))
    return str(p)


def test_without_validation_arrays_a_val_monitor_is_refused_naming_the_option(tmp_path):
    x, y, _, _ = _data()
    with pytest.raises(DefinitionError, match=r"train\.py:8:.*val_mae") as e:
        load_definition(_script(tmp_path), bindings=Bindings(x=x, y=y))
    assert "--val-x" in str(e.value)


def test_unused_validation_data_is_said(tmp_path):
    x, y, _, _ = _data()
    text = VAL_SCRIPT.split("callbacks=")[0].rstrip().rstrip(",") + ")\n"
    defn = load_definition(_script(tmp_path, text), bindings=Bindings(x=x, y=y))
    assert any("validation_data=(x_val, y_val)) is not used" in n for n in defn.notes)
    assert "validation_data" not in defn.fit


def test_validation_arrays_for_a_script_without_validation_data_are_an_error(tmp_path):
    x, y, xv, yv = _data()
    text = VAL_SCRIPT.replace("validation_data=(x_val, y_val),", "")
    with pytest.raises(DefinitionError, match="no validation_data"):
        load_definition(_script(tmp_path, text),
                        bindings=Bindings(x=x, y=y, val_x=xv, val_y=yv))


def test_validation_arrays_bind_the_names_the_script_validates_on(tmp_path):
    """`input_shape=x_val.shape[1:]` reads the validation array bound to x_val."""
    _, _, xv, yv = _data()
    text = VAL_SCRIPT.replace("keras.Input((4,)), keras.layers.Dense(8, activation=\"tanh\")",
                              "keras.layers.Dense(8, activation=\"tanh\", "
                              "input_shape=x_val.shape[1:])")
    text = text.replace("x_val, y_val = x_train[:10], y_train[:10]",
                        "x_val, y_val = load_val()")
    x = np.zeros((16, 4), np.float32)
    defn = load_definition(_script(tmp_path, text),
                           bindings=Bindings(x=x, y=x[:, :1], val_x=xv[:, :3], val_y=yv))
    assert list(defn.model.graph.input_type.shape) == [None, 3]


def test_a_script_trains_on_its_validation_data_as_keras(tmp_path):
    """EarlyStopping on val_mae with restore_best_weights and steps_per_epoch=3 (a pass of 5
    batches goes on across epochs): seqc's build settings, run in real Keras from the same
    initial weights, give the same history and weights."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x, y, xv, yv = _data()
    defn = load_definition(_script(tmp_path), bindings=Bindings(x=x, y=y, val_x=xv, val_y=yv))
    assert defn.fit["steps_per_epoch"] == 3
    assert defn.extra["python"]["validation_data"].startswith(
        "fit(validation_data=(x_val, y_val)) at line 8")
    m = defn.model
    m.compile(**defn.compile)
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                           keras.layers.Dense(1)])
    km.set_weights(m.get_weights())
    km.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    fit = {k: v for k, v in defn.fit.items() if k not in ("callbacks", "seed")}
    kh = km.fit(x, y, **fit, validation_data=(xv, yv), verbose=0,
                callbacks=[keras.callbacks.EarlyStopping(monitor="val_mae", patience=2,
                                                         restore_best_weights=True)])
    h = m.fit(x, y, **{**defn.fit, "verbose": 0}, validation_data=(xv, yv))
    assert len(kh.history["loss"]) < 12  # it stopped early
    assert list(h.history) == list(kh.history)
    for k in kh.history:
        np.testing.assert_allclose(h.history[k], kh.history[k], rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_build_validates_on_the_arrays_given(tmp_path):
    from seqc.pipeline import BuildOptions, build

    x, y, xv, yv = _data()
    for name, a in (("x", x), ("y", y), ("vx", xv), ("vy", yv)):
        np.save(tmp_path / f"{name}.npy", a)
    opts = BuildOptions(out_dir=str(tmp_path / "out"), x=str(tmp_path / "x.npy"),
                        y=str(tmp_path / "y.npy"), val_x=str(tmp_path / "vx.npy"),
                        val_y=str(tmp_path / "vy.npy"), verbose=0, log=None, report=False)
    report = build(_script(tmp_path), opts)
    assert "val_mae" in report["history"] and report["validation"]["ok"]


def test_a_spec_validation_section_and_the_flags(tmp_path):
    from seqc.errors import SeqcError
    from seqc.pipeline import BuildOptions, build

    x, y, xv, yv = _data()
    for name, a in (("x", x), ("y", y), ("vx", xv), ("vy", yv)):
        np.save(tmp_path / f"{name}.npy", a)
    spec = {"name": "m", "input_shape": [4], "layers": [{"type": "Dense", "units": 1}],
            "compile": {"optimizer": "sgd", "loss": "mse"},
            "fit": {"epochs": 2, "steps_per_epoch": 2},
            "data": {"x": "x.npy", "y": "y.npy",
                     "validation": {"x": "vx.npy", "y": "vy.npy"}}}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    opts = BuildOptions(out_dir=str(tmp_path / "out"), verbose=0, log=None, report=False)
    report = build(str(tmp_path / "m.json"), opts)
    assert len(report["history"]["val_loss"]) == 2
    bad = BuildOptions(out_dir=str(tmp_path / "o2"), val_x=str(tmp_path / "vx.npy"),
                       verbose=0, log=None)
    with pytest.raises(SeqcError, match="--val-y"):
        build(str(tmp_path / "m.json"), bad)


def test_cli_val_options_exit_2_on_bad_input(tmp_path):
    from click.testing import CliRunner

    from seqc.cli import cli

    x, y, _, _ = _data()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    r = CliRunner().invoke(cli, ["build", _script(tmp_path), "--x", str(tmp_path / "x.npy"),
                                 "--y", str(tmp_path / "y.npy"), "--val-x",
                                 str(tmp_path / "x.npy"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--val-y" in r.output


PIPELINE = """
    import keras, tensorflow as tf
    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    ds = ds.shuffle(100).repeat().batch(50)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(ds.map(lambda a, b: (a, tf.expand_dims(b, -1))), steps_per_epoch=20, epochs=3)
    """


def test_steps_per_epoch_on_a_repeated_pipeline_is_its_stream(tmp_path):
    x = np.zeros((64, 4), np.float32)
    defn = load_definition(_script(tmp_path, PIPELINE), bindings=Bindings(x=x, y=x[:, :1]))
    assert defn.fit["steps_per_epoch"] == 20 and defn.fit["pipeline"] == [
        {"cache": True}, {"shuffle": 100}, {"repeat": -1}, {"batch": 50}]
    assert any("shuffle(100), repeat(), batch(50), map(...)" in n for n in defn.notes)


@pytest.mark.parametrize("old, new, match", [
    ("shuffle(100)", "shuffle(n)", r"train\.py:4:.*constant"),
    ("repeat().batch(50)", "batch(50).batch(2)", r"train\.py:4:.*second batch"),
    ("repeat()", "repeat(0)", r"train\.py:4:.*repeat\(count >= 1\)"),
    ("(a, tf.expand_dims(b, -1))", "(a * 2, b)", r"train\.py:7:.*map changes the elements"),
    ("shuffle(100)", "filter(lambda a, b: b > 0)", r"train\.py:4:.*\.filter"),
    ("shuffle(100)", "padded_batch(4)", r"train\.py:4:.*\.padded_batch"),
    (".batch(50)", "", r"train\.py:7:.*no batch"),
    ("from_tensor_slices((x, y))", "from_generator(gen)", r"train\.py:3:.*from_generator"),
    ("steps_per_epoch=20", "steps_per_epoch=20, validation_split=0.2",
     r"train\.py:7:.*validation_split"),
    ("steps_per_epoch=20", "y, steps_per_epoch=20", r"train\.py:7:.*fit\(y=\.\.\.\)"),
])
def test_a_pipeline_step_seqc_does_not_reproduce_is_refused(tmp_path, old, new, match):
    x = np.zeros((64, 4), np.float32)
    with pytest.raises(DefinitionError, match=match):
        load_definition(_script(tmp_path, PIPELINE.replace(old, new)),
                        bindings=Bindings(x=x, y=x[:, :1]))


def test_a_repeated_stream_matches_keras_on_a_generator():
    """fit(repeat=True): the batches of shuffle().repeat().batch(4) run across passes; Keras
    takes the same endless stream from a generator, steps_per_epoch going on across epochs."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    import seqc
    from seqc import layers as L

    x, y, xv, yv = _data()
    x, y = x[:10], y[:10]

    def stream():
        order = np.tile(np.arange(10), 20)
        for lo in range(0, len(order) - 3, 4):
            yield x[order[lo:lo + 4]], y[order[lo:lo + 4]]

    m = seqc.Sequential([L.Input((4,)), L.Dense(3, activation="tanh"), L.Dense(1)])
    m.compile(seqc.optimizers.SGD(learning_rate=0.1), "mse")
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                           keras.layers.Dense(1)])
    km.set_weights(m.get_weights())
    km.compile(keras.optimizers.SGD(learning_rate=0.1), "mse")
    kh = km.fit(stream(), steps_per_epoch=3, epochs=4, validation_data=(xv, yv), verbose=0)
    h = m.fit(x, y, batch_size=4, steps_per_epoch=3, epochs=4, shuffle=False, repeat=True,
              validation_data=(xv, yv), verbose=0)
    for k in kh.history:
        np.testing.assert_allclose(h.history[k], kh.history[k], rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


SNAPSHOT = """
    import keras
    def make(bias=0.0):
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                              keras.layers.Dense(1, bias_initializer=
                                                 keras.initializers.Constant(bias))])
        m.compile("adam", "mse")
        return m
    first = make(bias=-2.5)
    first.save_weights("initial.weights.h5")
    model = make()
    {between}
    model.load_weights("initial.weights.h5")
    model.fit(x, y, epochs=2)
    """


def test_initial_weights_of_another_model_start_the_build(tmp_path):
    defn = load_definition(_script(tmp_path, SNAPSHOT.format(between="")))
    np.testing.assert_array_equal(list(defn.model.params.values())[-1], [-2.5])
    assert any("starts from that model's initializers" in n for n in defn.notes)


def test_a_snapshot_path_held_in_a_name_is_the_same_file(tmp_path):
    """`p = os.path.join(tempfile.mkdtemp(), ...)` (tfdocs' imbalanced_data): the path's
    name is the key of both the save and the load, whatever the call that made it."""
    text = SNAPSHOT.replace('first.save_weights("initial.weights.h5")',
                            'p = os.path.join(tempfile.mkdtemp(), "i.weights.h5")\n'
                            '    first.save_weights(p)').replace(
        'model.load_weights("initial.weights.h5")', "model.load_weights(p)").replace(
        "import keras", "import os\n    import tempfile\n    import keras")
    defn = load_definition(_script(tmp_path, text.format(between="")))
    np.testing.assert_array_equal(list(defn.model.params.values())[-1], [-2.5])


@pytest.mark.parametrize("between, match", [
    ("model.fit(x, y)", "after the fit at line 11"),
])
def test_a_snapshot_restored_after_training_is_refused(tmp_path, between, match):
    text = SNAPSHOT.replace("first = make(bias=-2.5)\n    first.save_weights",
                            "model = make()\n    model.save_weights").replace(
        "    model = make()\n    {between}", "    {between}")
    with pytest.raises(DefinitionError, match=match):
        load_definition(_script(tmp_path, text.format(between=between)))


def test_a_snapshot_of_other_layers_is_refused(tmp_path):
    text = SNAPSHOT.replace("first = make(bias=-2.5)", "first = keras.Sequential("
                            "[keras.Input((4,)), keras.layers.Dense(2)])")
    with pytest.raises(DefinitionError, match="cannot match"):
        load_definition(_script(tmp_path, text.format(between="")))


def test_seqc_load_takes_the_scripts_validation_data(tmp_path):
    import seqc
    from seqc.errors import UsageError

    x, y, xv, yv = _data()
    m = seqc.load(_script(tmp_path), x=x, y=y, validation_data=(xv, yv))
    h = m.fit(x, y, **{**m.spec.fit, "epochs": 2, "verbose": 0}, validation_data=(xv, yv))
    assert "val_mae" in h.history
    with pytest.raises(UsageError, match="validation_data"):
        seqc.load(_script(tmp_path), x=x, y=y, validation_data=xv)


def test_restoring_a_models_own_initial_snapshot_before_training_changes_nothing(tmp_path):
    text = SNAPSHOT.replace("first = make(bias=-2.5)\n    first.save_weights",
                            "model = make()\n    model.save_weights").replace(
        "    model = make()\n    {between}", "")
    defn = load_definition(_script(tmp_path, text))
    assert any("loads the initial weights saved at line 10" in n for n in defn.notes)
    assert defn.fit == {"epochs": 2}


NUMPY_PIPELINE = """
    import numpy as np, tensorflow as tf
    train_dataset = tf.data.Dataset.from_tensor_slices((train_examples, train_labels))
    train_dataset = train_dataset.shuffle(100).batch(64)
    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(train_dataset, epochs=2)
    """


@pytest.mark.parametrize("old, new, steps", [
    ("", "", [{"shuffle": 100}, {"batch": 64}]),
    ("shuffle(100).batch(64)", "batch(8, drop_remainder=True).shuffle(5, seed=3).repeat(2)",
     [{"batch": 8, "drop_remainder": True}, {"shuffle": 5, "seed": 3}, {"repeat": 2}]),
    ("shuffle(100)", "cache().shuffle(10, reshuffle_each_iteration=False).prefetch(1)",
     [{"cache": True}, {"shuffle": 10, "reshuffle_each_iteration": False}, {"batch": 64}]),
    ("shuffle(100).", "", [{"batch": 64}]),
    ("epochs=2", "epochs=2, batch_size=8, shuffle=True", [{"shuffle": 100}, {"batch": 64}]),
])
def test_every_fit_on_a_pipeline_reads_its_steps_in_order(tmp_path, old, new, steps):
    x = np.zeros((64, 4), np.float32)
    defn = load_definition(_script(tmp_path, NUMPY_PIPELINE.replace(old, new)),
                           bindings=Bindings(x=x, y=x[:, :1]))
    assert defn.fit["pipeline"] == steps
    assert "batch_size" not in defn.fit and "shuffle" not in defn.fit
    assert any("shuffle" in n and "seqc's seeded generator" in n for n in defn.notes)
    if "batch_size" in new:
        assert any("fit(batch_size=...) is not used with a dataset" in n for n in defn.notes)


@pytest.mark.parametrize("source, steps", [
    ("tf.keras.utils.image_dataset_from_directory('d', seed=1, batch_size=16)",
     [{"shuffle": 2 ** 31 - 1, "reshuffle_each_iteration": False, "seed": 1},
      {"shuffle": 128, "seed": 1}, {"batch": 16}]),
    ("keras.utils.timeseries_dataset_from_array(a, targets=b, sequence_length=5)",
     [{"batch": 128}]),
])
def test_keras_datasets_that_order_their_rows_are_read_as_their_steps(tmp_path, source,
                                                                      steps):
    text = NUMPY_PIPELINE.replace("tf.data.Dataset.from_tensor_slices((train_examples, "
                                  "train_labels))", source).replace(
        "train_dataset.shuffle(100).batch(64)", "train_dataset.prefetch(2)")
    x = np.zeros((64, 4), np.float32)
    defn = load_definition(_script(tmp_path, "import keras\n" + textwrap.dedent(text)),
                           bindings=Bindings(x=x, y=x[:, :1]))
    assert defn.fit["pipeline"] == steps


def test_a_pipeline_trains_with_its_batches_in_a_build(tmp_path):
    from seqc.pipeline import BuildOptions, build

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(100, 4)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.normal(size=(100, 1)).astype(np.float32))
    opts = BuildOptions(out_dir=str(tmp_path / "o"), x=str(tmp_path / "x.npy"),
                        y=str(tmp_path / "y.npy"), verbose=0, log=None)
    report = build(_script(tmp_path, NUMPY_PIPELINE.replace("shuffle(100)", "shuffle(10)")),
                   opts)
    assert len(report["history"]["loss"]) == 2 and report["validation"]["ok"]
