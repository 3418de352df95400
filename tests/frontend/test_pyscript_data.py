"""Shapes and sizes that come from the data: the arrays given with --data/--x/--y are bound to
the names a script passes to fit (and the names those come from); a model with no input
shape is built from the data, as Keras builds it at the first fit; --define supplies what a
script cannot compute; --model picks one of several models. Without data, the error names
the value, its line and how to supply it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import seqc
from seqc.cli import cli
from seqc.errors import DefinitionError, UsageError
from seqc.frontend import Bindings, parse_defines
from seqc.frontend.pyscript import load_script
from seqc.ir.summary import parameter_counts

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
rng = np.random.default_rng(0)


def write(tmp_path, text, name="model.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def load(tmp_path, text, x=None, y=None, **kw):
    return load_script(write(tmp_path, text),
                       bindings=Bindings(x=x, y=y, **kw) if x is not None or kw else None)


def shape_and_params(defn):
    return (list(defn.model.graph.output_type.shape),
            parameter_counts(defn.model.graph)["total"])


# ---- the source-document examples ----


def test_no_input_shape_is_built_from_the_data(tmp_path):
    """`Sequential([Dense(32), Dense(1)])`: Keras builds it at the first fit."""
    text = """\
        from tensorflow.keras.models import Sequential
        from tensorflow.keras.layers import Dense
        model = Sequential([Dense(32, activation='relu'), Dense(1, activation='sigmoid')])
        model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
        model.fit(X_train, y_train, epochs=10, batch_size=32)
        """
    x = rng.normal(size=(20, 30)).astype("float32")
    defn = load(tmp_path, text, x=x)
    assert list(defn.model.graph.input_type.shape) == [None, 30]
    assert shape_and_params(defn) == ([None, 1], 30 * 32 + 32 + 33)
    with pytest.raises(DefinitionError, match="no input shape") as e:
        load(tmp_path, text)
    msg = str(e.value)
    assert "model.py:3:" in msg and "fit(X_train, y_train) at line 5 is not run" in msg
    assert "--x X.npy" in msg and "keras.Input(shape=" in msg and "# seqc: input_shape" in msg
    # the whole route on the shipped breast-cancer CSV
    p = write(tmp_path, text)
    out = tmp_path / "bc"
    r = CliRunner().invoke(cli, ["build", str(p), "--data",
                                 str(EXAMPLES / "data" / "breast_cancer.csv"), "--target",
                                 "label", "-o", str(out), "--epochs", "2", "--quiet"])
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "report.json").read_text())
    assert rep["input"]["shape"] == [None, 30] and rep["trained"]


def test_define_supplies_a_value_the_script_never_sets(tmp_path):
    text = """\
        from keras.models import Sequential
        from keras.layers import Dense
        model = Sequential()
        model.add(Dense(64, activation='relu', input_shape=(20,)))
        model.add(Dense(num_classes, activation='softmax'))
        """
    defn = load(tmp_path, text, defines={"num_classes": 10})
    assert shape_and_params(defn) == ([None, 10], 20 * 64 + 64 + 650)
    with pytest.raises(DefinitionError) as e:
        load(tmp_path, text)
    assert "model.py:5:" in str(e.value) and "--define num_classes=VALUE" in str(e.value)
    r = CliRunner().invoke(cli, ["summary", str(tmp_path / "model.py"), "--define",
                                 "num_classes=10"])
    assert r.exit_code == 0 and "(None, 10)" in r.output
    r = CliRunner().invoke(cli, ["summary", str(tmp_path / "model.py")])
    assert r.exit_code == 2 and "Traceback" not in r.output


# ---- binding: the names fit receives, and the names those come from ----

SKLEARN = """\
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from tensorflow.keras.models import Sequential
    from tensorflow.keras.layers import Dense
    from tensorflow.keras.utils import to_categorical

    df = pd.read_csv("iris.csv")
    X = df.drop("species", axis=1).values
    y = df["species"].values
    num_classes = len(np.unique(y))
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
    scaler = StandardScaler()
    X_train = scaler.fit_transform(X_train)
    X_test = scaler.transform(X_test)
    y_train = to_categorical(y_train)
    model = Sequential()
    model.add(Dense(16, activation="relu", input_dim=X.shape[1]))
    model.add(Dense(num_classes, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(X_train, y_train, epochs=5)
    """


def test_names_bound_back_through_split_scaler_and_to_categorical(tmp_path):
    x = rng.normal(size=(30, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(30) % 3]
    defn = load(tmp_path, SKLEARN, x=x, y=y)
    assert shape_and_params(defn) == ([None, 3], 4 * 16 + 16 + 17 * 3)
    # x alone: X.shape[1] resolves, the class count needs the labels
    with pytest.raises(DefinitionError, match="np.unique") as e:
        load(tmp_path, SKLEARN, x=x)
    assert "model.py:12:" in str(e.value) and "--define num_classes=VALUE" in str(e.value)
    defn = load(tmp_path, SKLEARN, x=x, defines={"num_classes": 3})
    assert shape_and_params(defn)[0] == [None, 3]


@pytest.mark.parametrize("expr, units", [
    ("y_train.max() + 1", 10), ("len(np.unique(y_train))", 10),
    ("np.unique(y_train).size", 10), ("int(np.max(y_train)) + 1", 10),
    ("y_train.shape[-1] * 2", 20), ("len(set([1, 2]))", None),
])
def test_whitelisted_expressions_over_the_data(tmp_path, expr, units):
    text = f"""\
        import numpy as np
        import keras
        from keras import layers
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        x_train = x_train.reshape((60000, 28 * 28)).astype("float32") / 255
        n = {expr}
        model = keras.Sequential([layers.Dense(512, activation="relu"),
                                  layers.Dense(n, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
        model.fit(x_train, y_train, epochs=5, batch_size=128)
        """
    x = rng.normal(size=(16, 784)).astype("float32")
    y = np.arange(16) % 10
    if expr == "y_train.shape[-1] * 2":
        y = np.eye(10, dtype="float32")[y]
    if units is None:
        with pytest.raises(DefinitionError, match="model.py:6:"):
            load(tmp_path, text, x=x, y=y)
        return
    defn = load(tmp_path, text, x=x, y=y)
    assert shape_and_params(defn)[0] == [None, units]
    assert list(defn.model.graph.input_type.shape) == [None, 784]


@pytest.mark.parametrize("shape_expr", [
    "x_train.shape[1:]", "(x_train.shape[1], x_train.shape[2], 1)", "x_train[0].shape",
    "x_train.shape[-3:]",
])
def test_input_shape_expressions(tmp_path, shape_expr):
    text = f"""\
        import tensorflow as tf
        x_train = load_images()
        x_train = x_train[..., tf.newaxis] if False else x_train
        model = tf.keras.Sequential([
            tf.keras.layers.Conv2D(8, 3, activation="relu", input_shape={shape_expr}),
            tf.keras.layers.Flatten(), tf.keras.layers.Dense(10)])
        model.fit(x_train, y_train, epochs=1)
        """
    x = rng.normal(size=(4, 28, 28, 1)).astype("float32")
    if shape_expr == "(x_train.shape[1], x_train.shape[2], 1)":
        x = x[..., 0]  # the script adds the channel itself
        text = text.replace("x_train = x_train[..., tf.newaxis] if False else x_train",
                            "pass")
    defn = load(tmp_path, text, x=x)
    assert list(defn.model.graph.input_type.shape) == [None, 28, 28, 1]


def test_integer_data_gives_an_embedding_its_integer_input(tmp_path):
    text = """\
        import keras
        model = keras.Sequential([keras.layers.Embedding(1000, 16),
                                  keras.layers.GlobalAveragePooling1D(),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.fit(train_data, train_labels, epochs=2)
        """
    defn = load(tmp_path, text, x=rng.integers(0, 1000, (8, 50)))
    t = defn.model.graph.input_type
    assert list(t.shape) == [None, 50] and t.dtype.startswith("int")


def test_torch_input_shape_from_the_data(tmp_path):
    text = """\
        import torch.nn as nn
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),
                              nn.Linear(4 * 26 * 26, 10))
        """
    with pytest.raises(DefinitionError, match="input_shape"):
        load(tmp_path, text)
    defn = load(tmp_path, text, x=rng.normal(size=(2, 1, 28, 28)).astype("float32"))
    assert shape_and_params(defn) == ([None, 10], 40 + 4 * 26 * 26 * 10 + 10)


def test_shape_only_data_from_the_command_line(tmp_path):
    p = write(tmp_path, """\
        import keras
        model = keras.Sequential([keras.layers.Dense(4), keras.layers.Dense(2)])
        model.compile("adam", "mse")
        model.fit(x, y)
        """)
    np.save(tmp_path / "x.npy", rng.normal(size=(10, 6)).astype("float32"))
    r = CliRunner().invoke(cli, ["summary", str(p), "--x", str(tmp_path / "x.npy")])
    assert r.exit_code == 0 and "Total params: 38" in r.output, r.output
    out = tmp_path / "o"
    r = CliRunner().invoke(cli, ["build", str(p), "--x", str(tmp_path / "x.npy"), "-o",
                                 str(out)])
    assert r.exit_code == 0, r.output
    assert "No labels given" in r.output
    assert not json.loads((out / "report.json").read_text())["trained"]
    r = CliRunner().invoke(cli, ["convert", str(p), "--x", str(tmp_path / "x.npy"), "-o",
                                 str(tmp_path / "m.onnx"), "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(tmp_path / "nodata")])
    assert r.exit_code == 2 and "fit(x, y) at line 4 is not run" in r.output


def test_a_json_spec_without_input_shape_takes_it_from_its_data(tmp_path):
    spec = {"layers": [{"type": "Dense", "units": 4}, {"type": "Dense", "units": 1}],
            "compile": {"optimizer": "adam", "loss": "mse"},
            "data": {"path": str(EXAMPLES / "data" / "breast_cancer.csv"), "target": "label"}}
    p = tmp_path / "s.json"
    p.write_text(json.dumps(spec))
    m = seqc.load(p)
    assert list(m.graph.input_type.shape) == [None, 30]
    del spec["data"]
    p.write_text(json.dumps(spec))
    with pytest.raises(DefinitionError, match="data"):
        seqc.load(p)
    assert list(seqc.load(p, x=np.zeros((2, 7), "float32")).graph.input_type.shape) == [None, 7]
    with pytest.raises(DefinitionError, match="--define"):
        seqc.load(p, x=np.zeros((2, 7), "float32"), defines={"n": 1})


def test_parse_defines():
    assert parse_defines(["num_classes=10", "shape=(28, 28)", "act=relu", "args.lr=0.1",
                          "names=['a', 'b']"]) == {
        "num_classes": 10, "shape": (28, 28), "act": "relu", "args.lr": 0.1,
        "names": ["a", "b"]}
    for bad in ["nonsense", "=3", "a b=3", "x=__import__('os').system('x')", "n=" + "9" * 30]:
        with pytest.raises(UsageError):
            parse_defines([bad])


def test_argparse_values_by_define(tmp_path):
    text = """\
        import argparse
        import keras
        parser = argparse.ArgumentParser()
        parser.add_argument("--hidden", type=int, default=64)
        args = parser.parse_args()
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(args.hidden),
                                  keras.layers.Dense(1)])
        """
    defn = load(tmp_path, text)  # the default: the tutorial run without arguments
    assert shape_and_params(defn)[1] == 8 * 64 + 64 + 65
    assert any("argparse values read as the script's defaults" in n and "args.hidden=64" in n
               for n in defn.notes)
    defn = load(tmp_path, text, defines={"args.hidden": 16, "unused": 1})
    assert shape_and_params(defn)[1] == 8 * 16 + 16 + 17
    assert any("--define unused" in n for n in defn.notes)
    with pytest.raises(DefinitionError, match="args.units") as e:
        load(tmp_path, text.replace("Dense(args.hidden)", "Dense(args.units)"))
    assert "model.py:6:" in str(e.value) and "--define args.units=VALUE" in str(e.value)
    required = text.replace('"--hidden", type=int, default=64', '"hidden", type=int')
    with pytest.raises(DefinitionError, match="required command-line argument"):
        load(tmp_path, required)
    assert shape_and_params(load(tmp_path, required, defines={"args.hidden": 4}))[1] == 41


# ---- several models ----

TWO = """\
    import keras
    from keras import layers
    encoder = keras.Sequential([keras.Input((16,)), layers.Dense(4)], name="enc")
    decoder = keras.Sequential([keras.Input((4,)), layers.Dense(16)], name="dec")
    """


def test_several_models_are_listed_and_model_picks_one(tmp_path):
    with pytest.raises(DefinitionError, match="more than one model") as e:
        load(tmp_path, TWO)
    msg = str(e.value)
    assert "encoder at" in msg and "decoder at" in msg and "--model NAME" in msg
    assert shape_and_params(load(tmp_path, TWO, model="decoder"))[0] == [None, 16]
    assert shape_and_params(load(tmp_path, TWO, model="enc"))[0] == [None, 4]
    with pytest.raises(DefinitionError, match="no model of that name"):
        load(tmp_path, TWO, model="nope")
    p = tmp_path / "model.py"
    assert list(seqc.load(p, model="encoder").graph.output_type.shape) == [None, 4]
    r = CliRunner().invoke(cli, ["summary", str(p), "--model", "decoder"])
    assert r.exit_code == 0 and "(None, 16)" in r.output
    # a `model` variable among them is the one
    defn = load(tmp_path, TWO + "model = keras.Sequential([keras.Input((3,)), "
                                "layers.Dense(2)])\n")
    assert shape_and_params(defn)[0] == [None, 2]


def test_a_builder_called_in_a_kfold_loop_is_one_model(tmp_path):
    defn = load(tmp_path, """\
        import keras
        def build_model():
            model = keras.Sequential([keras.Input((13,)), keras.layers.Dense(64),
                                      keras.layers.Dense(1)])
            model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
            return model
        for i in range(4):
            model = build_model()
            model.fit(train_data, train_targets, epochs=10, batch_size=16, verbose=0)
        """)
    assert shape_and_params(defn) == ([None, 1], 13 * 64 + 64 + 65)


def test_a_helper_called_twice_on_the_model_adds_twice(tmp_path):
    defn = load(tmp_path, """\
        import keras
        def add_block(m, n):
            m.add(keras.layers.Dense(n, activation="relu"))
        model = keras.Sequential([keras.Input((8,))])
        add_block(model, 64)
        add_block(model, 32)
        model.add(keras.layers.Dense(1))
        """)
    assert shape_and_params(defn)[1] == 8 * 64 + 64 + 64 * 32 + 32 + 33


def test_test_arrays_of_a_load_data_tuple_and_a_shuffle(tmp_path):
    """tfdocs' autoencoder sizes its model from x_test; keras-io shuffles with y[idx]."""
    text = """\
        import numpy as np
        import tensorflow as tf
        from tensorflow.keras.datasets import fashion_mnist
        (x_train, _), (x_test, _) = fashion_mnist.load_data()
        x_train = x_train.astype('float32') / 255.
        x_test = x_test.astype('float32') / 255.
        shape = x_test.shape[1:]
        n = int(tf.math.reduce_prod(shape).numpy())
        idx = np.random.permutation(len(x_train))
        x_train = x_train[idx]
        model = tf.keras.Sequential([tf.keras.layers.Flatten(),
                                     tf.keras.layers.Dense(n)])
        model.fit(x_train, x_train, epochs=1)
        """
    defn = load(tmp_path, text, x=np.zeros((4, 28, 28), "float32"),
                y=np.zeros((4, 28, 28), "float32"))
    assert shape_and_params(defn) == ([None, 784], 784 * 784 + 784)


def test_torch_dropout2d_is_a_channels_first_spatial_dropout(tmp_path):
    defn = load(tmp_path, """\
        import torch.nn as nn
        import torch.nn.functional as F
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 4, 3)
                self.drop = nn.Dropout2d(0.25)
                self.fc = nn.Linear(4 * 26 * 26, 2)
            def forward(self, x):
                x = F.dropout2d(self.drop(self.conv(x)), 0.1, training=self.training)
                return self.fc(x.view(x.size(0), -1))
        model = Net()
        model.share_memory()
        """, x=np.zeros((2, 1, 28, 28), np.float32))
    drops = [n for n in defn.model.graph.nodes if n.op == "SpatialDropout2D"]
    assert [(n.attrs.rate, n.attrs.data_format) for n in drops] == [
        (0.25, "channels_first"), (0.1, "channels_first")]


def test_torch_training_settings_from_functional_losses_and_schedules(tmp_path):
    head = """\
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        model = nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1))
        optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
        for data, target in loader:
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
        test_loss = F.nll_loss(model(x), y, reduction='sum')
        """
    defn = load(tmp_path, head)
    assert defn.compile == {"optimizer": {"type": "Adadelta", "learning_rate": 1.0, "rho": 0.9,
                                          "epsilon": 1e-6},
                            "loss": {"type": "SparseCategoricalCrossentropy",
                                     "from_logits": True}}
    # NLL on outputs that are not log-probabilities is not cross-entropy: no compile
    assert load(tmp_path, head.replace("nn.LogSoftmax(dim=1)", "nn.ReLU()")).compile is None
    # a StepLR stepped in the batch loop (or not at all) is not modelled: no compile
    defn = load(tmp_path, head + "scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1)\n")
    assert defn.compile is None
    assert any("StepLR" in n and "learning rate" in n for n in defn.notes)
    per_epoch = head.replace("for data, target in loader:", "scheduler = torch.optim."
                             "lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.7)\n"
                             "        for epoch in range(3):\n"
                             "          scheduler.step()\n"
                             "          for data, target in loader:")
    defn = load(tmp_path, per_epoch)
    assert defn.compile["optimizer"]["learning_rate"] == {
        "type": "StepLR", "step_size": 2, "gamma": 0.7, "initial_learning_rate": 1.0}


def test_every_unresolved_name_is_named_with_its_line(tmp_path):
    with pytest.raises(DefinitionError) as e:
        load(tmp_path, """\
            import keras
            model = keras.Sequential([keras.Input((n_features,)),
                                      keras.layers.Dense(hidden),
                                      keras.layers.Dense(num_classes, activation="softmax")])
            """)
    msg = str(e.value)
    assert "model.py:2:" in msg and "n_features" in msg
    assert "model.py:3:" in msg and "hidden" in msg
    assert "model.py:4:" in msg and "num_classes" in msg
    assert "--define n_features=VALUE" in msg


def test_a_normalization_the_script_never_adapts_stays_as_keras_leaves_it(tmp_path):
    defn = load(tmp_path, """\
        import keras
        norm = keras.layers.Normalization()
        model = keras.Sequential([keras.Input((3,)), norm, keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, epochs=1)
        """)
    assert any("never adapted" in n for n in defn.notes)
    m = defn.model
    m.compile(**defn.compile)
    m.fit(np.full((8, 3), 5.0, np.float32), np.zeros((8, 1), np.float32), epochs=1, verbose=0)
    np.testing.assert_array_equal(m.params["normalization/mean"].ravel(), [0, 0, 0])
    np.testing.assert_array_equal(m.params["normalization/variance"].ravel(), [1, 1, 1])


DENOISING = """\
    import keras
    from keras.layers import Conv2D, Dense, Flatten, Input, Reshape
    from keras.models import Model
    from keras import backend as K
    from keras.datasets import mnist
    import numpy as np
    (x_train, _), (x_test, _) = mnist.load_data()
    image_size = x_train.shape[1]
    x_train = np.reshape(x_train, [-1, image_size, image_size, 1])
    x_train = x_train.astype('float32') / 255
    x_train_noisy = np.clip(x_train + np.random.normal(size=x_train.shape), 0., 1.)
    inputs = Input(shape=(image_size, image_size, 1))
    x = Conv2D(4, 3, strides=2, padding='same')(inputs)
    x = Conv2D(8, 3, strides=2, padding='same')(x)
    shape = K.int_shape(x)
    x = Flatten()(x)
    x = Dense(shape[1] * shape[2] * shape[3])(x)
    outputs = Reshape((shape[1], shape[2], shape[3]))(x)
    model = Model(inputs, outputs)
    model.compile(loss='mse', optimizer='adam')
    model.fit(x_train_noisy, x_train, epochs=1)
    """


def test_keras_dataset_shapes_and_int_shape_of_a_functional_tensor(tmp_path):
    """keras/examples/mnist_denoising_autoencoder.py: `image_size = x_train.shape[1]` on the
    raw mnist.load_data() arrays (Keras' MNIST is (60000, 28, 28)), and K.int_shape of a
    tensor from seqc's shape rules; with or without the data bound."""
    flat = 7 * 7 * 8
    want = ([None, 7, 7, 8], (9 * 4 + 4) + (9 * 4 * 8 + 8) + (flat * flat + flat))
    assert shape_and_params(load(tmp_path, DENOISING)) == want
    defn = load(tmp_path, DENOISING, x=np.zeros((4, 28, 28, 1), "float32"),
                y=np.zeros((4, 28, 28, 1), "float32"))
    assert shape_and_params(defn) == want
    assert any("mnist.load_data(): the shapes of Keras' mnist arrays (x_train [60000, 28, "
               "28])" in n for n in defn.notes), defn.notes


@pytest.mark.parametrize("expr", ["K.int_shape(x)[1]", "keras.ops.shape(x)[1]"])
def test_int_shape_of_a_tensor_reads_only_a_chain_from_an_input(tmp_path, expr):
    ok = load(tmp_path, f"""\
        import keras
        from keras import backend as K
        inputs = keras.Input((10, 3))
        x = keras.layers.Conv1D(4, 3)(inputs)
        model = keras.Model(inputs, keras.layers.Dense({expr})(x))
        """)
    assert shape_and_params(ok)[0] == [None, 8, 8]
    with pytest.raises(DefinitionError, match="model.py:5:"):  # a merge: not a chain
        load(tmp_path, """\
            import keras
            from keras import backend as K
            a, b = keras.Input((3,)), keras.Input((3,))
            s = keras.layers.add([a, b])
            model = keras.Model([a, b], keras.layers.Dense(K.int_shape(s)[1])(s))
            """)
