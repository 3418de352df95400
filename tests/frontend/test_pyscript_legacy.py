"""Scripts written for older Keras (1.x and 2.x spellings), against seqc's own API, and the
script-reading bugs around them: each old spelling maps to its Keras 3 meaning with one
warning line; what cannot be mapped is a DefinitionError at file:line:col."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqc.cli import cli
from seqc.errors import DefinitionError
from seqc.frontend.pyscript import _read, load_script

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, text: str, name: str = "model.py") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def read(src: str, file: str = "m.py") -> tuple[dict, list[str]]:
    """(spec doc, note lines) of a script."""
    doc, _, info = _read(textwrap.dedent(src), file)
    return doc, info["notes"]


# ---- synthetic inputs for a variable length ----


def test_variable_length_conv1d_script_builds_without_training(tmp_path):
    """Validation rows and test vectors take a length every layer accepts (19 here), not 8."""
    script = write(tmp_path, """\
        import keras
        from keras import layers
        model = keras.Sequential([
            layers.Conv1D(32, 5, activation="relu", input_shape=(None, 14)),
            layers.MaxPooling1D(3),
            layers.Conv1D(32, 5, activation="relu"),
            layers.GlobalMaxPooling1D(),
            layers.Dense(1),
        ])
        model.compile(optimizer="rmsprop", loss="mae")
        """)
    out = tmp_path / "b"
    r = CliRunner().invoke(cli, ["build", str(script), "--no-train", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["validate", str(out)])
    assert r.exit_code == 0, r.output


# ---- Keras 1 and Keras 2 spellings ----


KERAS1_CNN = """\
    from keras.models import Sequential
    from keras.layers import Dense, Dropout, Activation, Flatten
    from keras.layers import Convolution2D, MaxPooling2D
    from keras.optimizers import SGD
    from six.moves import range

    model = Sequential()
    model.add(Convolution2D(8, 3, 3, border_mode='same', input_shape=(1, 12, 12),
                            dim_ordering='th', init='he_normal', W_regularizer=None))
    model.add(Activation('relu'))
    model.add(Convolution2D(8, 3, nb_col=2, subsample=(1, 1), dim_ordering='th'))
    model.add(MaxPooling2D(pool_size=(2, 2), dim_ordering='th'))
    model.add(Dropout(p=0.25))
    model.add(Flatten())
    for i in range(2):
        model.add(Dense(output_dim=16, init='uniform', bias=True))
    model.add(Dense(10, activation='softmax'))
    sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss='categorical_crossentropy', optimizer=sgd)
    model.fit(X, Y, nb_epoch=3, batch_size=32)
    """


def test_keras1_cnn_reads_with_keras3_names_and_one_warning_each():
    doc, warned = read(KERAS1_CNN)
    assert doc["layers"][0] == {
        "type": "Conv2D", "filters": 8, "kernel_size": [3, 3], "padding": "same",
        "input_shape": [1, 12, 12], "data_format": "channels_first",
        "kernel_initializer": "he_normal"}
    assert doc["layers"][2] == {"type": "Conv2D", "filters": 8, "kernel_size": [3, 2],
                                "strides": [1, 1], "data_format": "channels_first"}
    assert doc["layers"][3]["data_format"] == "channels_first"
    assert doc["layers"][4] == {"type": "Dropout", "rate": 0.25}
    assert doc["layers"][6] == doc["layers"][7] == {
        "type": "Dense", "units": 16, "kernel_initializer": "random_uniform", "use_bias": True}
    assert doc["compile"]["optimizer"] == {
        "type": "SGD", "momentum": 0.9, "nesterov": True,
        "learning_rate": {"type": "InverseTimeDecay", "initial_learning_rate": 0.01,
                          "decay_steps": 1, "decay_rate": 1e-6}}
    assert doc["fit"] == {"epochs": 3, "batch_size": 32}
    assert all("\n" not in w for w in warned)
    assert sum("output_dim" in w for w in warned) == 1  # the unrolled loop warns once
    for needle in ("SGD(lr=0.01): read as learning_rate=0.01", "InverseTimeDecay(0.01",
                   "fit(nb_epoch=3): read as epochs=3", "read as kernel_size=(3, 3)",
                   "read as kernel_size=(3, 2)", "Dense(output_dim=16): read as units=16",
                   "dim_ordering='th'): read as data_format='channels_first'",
                   "Dropout(p=0.25): read as rate=0.25", "border_mode='same'): read as "):
        assert any(needle in w for w in warned), (needle, warned)


def test_keras1_cnn_builds_the_keras3_model(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = load_script(write(tmp_path, KERAS1_CNN))
    assert d.model.graph.input_type.shape == (None, 1, 12, 12)
    # (1, 12, 12) -> conv same (8, 12, 12) -> conv 3x2 (8, 10, 11) -> pool (8, 5, 5) -> 200
    assert d.model.count_params() == (1 * 9 * 8 + 8) + (8 * 6 * 8 + 8) + (200 * 16 + 16) \
        + (16 * 16 + 16) + (16 * 10 + 10)


def test_keras1_text_model_recurrent_and_embedding_arguments():
    doc, warned = read("""\
        import tensorflow as tf
        from keras.models import Sequential
        from keras.layers import Dense, Embedding, LSTM, GRU, Convolution1D, MaxPooling1D
        model = Sequential()
        model.add(Embedding(200, 8, input_length=40, dropout=0.2, init='uniform'))
        model.add(Convolution1D(nb_filter=4, filter_length=5, border_mode='valid',
                                activation='relu', subsample_length=1))
        model.add(MaxPooling1D(pool_length=4))
        model.add(LSTM(6, dropout_W=0.2, dropout_U=0.1, consume_less='gpu',
                       inner_init='orthogonal', inner_activation='hard_sigmoid',
                       forget_bias_init='one', return_sequences=True))
        model.add(GRU(output_dim=5, U_regularizer=None))
        model.add(Dense(1, activation='sigmoid'))
        opt = tf.keras.optimizers.legacy.Adam(lr=0.001, epsilon=None)
        model.compile(loss='binary_crossentropy', optimizer=opt)
        """)
    emb, conv, pool, lstm, gru = doc["layers"][:5]
    assert emb == {"type": "Embedding", "input_dim": 200, "output_dim": 8,
                   "embeddings_initializer": "random_uniform", "input_shape": [40]}
    assert doc["input_dtype"] == "int32"  # input_length: token ids
    assert conv == {"type": "Conv1D", "filters": 4, "kernel_size": 5, "padding": "valid",
                    "activation": "relu", "strides": 1}
    assert pool == {"type": "MaxPooling1D", "pool_size": 4}
    assert lstm == {"type": "LSTM", "units": 6, "dropout": 0.2, "recurrent_dropout": 0.1,
                    "recurrent_initializer": "orthogonal", "return_sequences": True,
                    "recurrent_activation": {"type": "hard_sigmoid", "slope": 0.2,
                                             "offset": 0.5},  # Keras 1/2's hard sigmoid
                    "unit_forget_bias": True}
    assert gru == {"type": "GRU", "units": 5}
    assert doc["compile"]["optimizer"] == {"type": "Adam", "learning_rate": 0.001}
    assert any("Embedding(dropout=...) is ignored" in w for w in warned)
    assert any("consume_less='gpu') is a performance switch" in w for w in warned)


def test_keras1_conv_lstm2d_arguments_as_keras2_read_them():
    """Keras 2's legacy_convlstm2d_support: Conv2D's names and kernel sizes, LSTM's init
    names and forget_bias_init (keras/examples/conv_lstm.py)."""
    doc, warned = read("""\
        from keras.models import Sequential
        from keras.layers.convolutional_recurrent import ConvLSTM2D
        seq = Sequential()
        seq.add(ConvLSTM2D(nb_filter=4, nb_row=3, nb_col=2, input_shape=(None, 8, 8, 1),
                           border_mode='same', return_sequences=True, dim_ordering='tf',
                           inner_init='orthogonal', forget_bias_init='one'))
        seq.add(ConvLSTM2D(4, 3, 3, subsample=(2, 2)))
        """)
    first, second = doc["layers"]
    assert first == {"type": "ConvLSTM2D", "filters": 4, "kernel_size": [3, 2],
                     "input_shape": [None, 8, 8, 1], "padding": "same",
                     "return_sequences": True, "data_format": "channels_last",
                     "recurrent_initializer": "orthogonal", "unit_forget_bias": True}
    assert second == {"type": "ConvLSTM2D", "filters": 4, "kernel_size": [3, 3],
                      "strides": [2, 2]}
    for needle in ("ConvLSTM2D(nb_filter=4): read as filters=4", "read as kernel_size=(3, 2)",
                   "ConvLSTM2D(border_mode='same'): read as padding='same'",
                   "ConvLSTM2D(forget_bias_init='one'): read as unit_forget_bias=True"):
        assert any(needle in w for w in warned), (needle, warned)


IRNN = """\
    from keras.models import Sequential
    from keras.layers import Dense, SimpleRNN
    from keras.initializations import normal, identity
    from keras import initializations
    model = Sequential()
    model.add(SimpleRNN(output_dim=6, input_shape=(5, 3), return_sequences=True,
                        init=lambda shape, name: normal(shape, scale=0.001, name=name),
                        inner_init=lambda shape, name: identity(shape, scale=0.5, name=name)))
    model.add(SimpleRNN(4, init=lambda s, n: initializations.uniform(s, 0.2, name=n),
                        inner_init=lambda s, n: initializations.zero(s)))
    """


def test_keras1_lambda_initializers_read_as_the_initializer_they_call(tmp_path):
    """keras/examples/mnist_irnn.py: a lambda whose body is one keras.initializations call
    is that initializer with its scale (Keras 1's normal: N(0, scale); identity: scale * I)."""
    doc, warned = read(IRNN)
    first, second = doc["layers"]
    assert first["kernel_initializer"] == {"type": "RandomNormal", "mean": 0.0,
                                           "stddev": 0.001}
    assert first["recurrent_initializer"] == {"type": "Identity", "gain": 0.5}
    assert second["kernel_initializer"] == {"type": "RandomUniform", "minval": -0.2,
                                            "maxval": 0.2}
    assert second["recurrent_initializer"] == "zeros"
    assert any("SimpleRNN(init=lambda ...): read as kernel_initializer={'type': "
               "'RandomNormal'" in w for w in warned), warned
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weights = load_script(write(tmp_path, IRNN)).model.get_weights()
    import keras

    assert np.array_equal(weights[1], keras.initializers.Identity(gain=0.5)((6, 6)))
    assert abs(weights[0].std() - 0.001) < 0.0007 and np.abs(weights[3]).max() <= 0.2
    assert not weights[4].any()


@pytest.mark.parametrize("init,needle", [
    ("init=lambda shape, name: normal(shape, scale=0.1 * x, name=name)",
     "normal()'s scale is not a constant number"),
    ("init=lambda shape, name: identity(shape, name=name)",
     "Keras 1's identity initializes a square matrix only"),
    ("init=lambda shape, name: glorot_normal(shape, name=name)",
     "is not one of keras.initializations' normal, uniform, identity, zero, one"),
    ("init=lambda shape: normal(shape)", "this lambda takes other arguments"),
    ("init=lambda shape, name: normal((4, 4), name=name)", "does not pass the lambda's shape"),
    ("init=lambda shape, name: normal(shape, name='w')", "the call renames the weight"),
    ("init=lambda shape, name: normal(shape, 0.1, 0.2)", "more arguments than (shape, scale)"),
    ("init=lambda shape, name: 2 * normal(shape)", "its body is not one call"),
    ("inner_init=lambda shape, name: normal(shape, dim_ordering='th')",
     "normal() gets dim_ordering"),
])
def test_other_keras1_lambda_initializers_are_located_errors(init, needle):
    with pytest.raises(DefinitionError) as e:
        read(f"from keras.models import Sequential\nfrom keras.layers import SimpleRNN\n"
             f"from keras.initializations import normal, identity, glorot_normal\n"
             f"model = Sequential([SimpleRNN(4, input_shape=(3, 2), {init})])\n")
    assert needle in str(e.value) and "m.py:4:" in str(e.value), str(e.value)


GENERATOR_HEAD = """\
    import keras
    from keras.preprocessing.image import ImageDataGenerator
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(1, activation='sigmoid')])
    model.compile('rmsprop', 'binary_crossentropy')
    """


@pytest.mark.parametrize("tail,needle", [
    # what a generator does that seqc does not run (tests/frontend/test_pyscript_generators.py
    # has the generators that are read)
    ("datagen = ImageDataGenerator(featurewise_center=True, width_shift_range=0.1)\n"
     "datagen.fit(x_train)\n"
     "model.fit_generator(datagen.flow(x_train, y_train, batch_size=32), steps_per_epoch=3)\n",
     "m.py:8:1: ImageDataGenerator at line 6: featurewise_center=True needs the dataset's "
     "statistics from datagen.fit(x)"),
    ("gen = ImageDataGenerator(preprocessing_function=lambda a: a * 2).flow(x, y)\n"
     "model.fit(gen, epochs=2)\n",
     "m.py:7:1: ImageDataGenerator at line 6: preprocessing_function=... runs script code"),
    ("gen = ImageDataGenerator(zoom_range=0.2, fill_mode='mirror').flow(x, y)\n"
     "model.fit(gen, epochs=2)\n", "fill_mode='mirror' samples the border"),
    ("gen = ImageDataGenerator(brightness_range=(0.5, 1.5)).flow(x, y)\n"
     "model.fit(gen, epochs=2)\n", "brightness_range=(0.5, 1.5) is a transform seqc does not"),
    ("train = ImageDataGenerator(rescale=0.5).flow_from_directory('d', class_mode='input')\n"
     "model.fit_generator(train, steps_per_epoch=100, epochs=30)\n",
     "m.py:7:1: flow_from_directory(class_mode='input') yields no labels"),
    ("train = ImageDataGenerator().flow(x, y)\nmodel.fit_generator(train, 100, 30)\n",
     "m.py:7:1: fit_generator's arguments after the generator are read by name only"),
    # Deep Learning with Python's Jena generator, with no steps_per_epoch
    ("def generator(data, lookback, batch_size=128):\n"
     "    while 1:\n"
     "        rows = np.random.randint(lookback, len(data), size=batch_size)\n"
     "        yield data[rows], data[rows]\n"
     "train_gen = generator(float_data, lookback=1440)\n"
     "model.fit(train_gen, epochs=20)\n",
     "m.py:11:1: fit() on generator() (line 6) has no steps_per_epoch"),
])
def test_fits_on_generator_batches_are_refused_naming_the_generator(tail, needle):
    with pytest.raises(DefinitionError) as e:
        read(textwrap.dedent(GENERATOR_HEAD) + tail)
    assert needle in str(e.value), str(e.value)


def test_a_generator_another_model_trains_on_does_not_concern_the_model_built():
    doc, _ = read(textwrap.dedent(GENERATOR_HEAD) + textwrap.dedent("""\
        other = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(1)])
        other.compile('rmsprop', 'mse')
        other.fit(ImageDataGenerator(vertical_flip=True).flow(x, y))
        model.fit(x_train, y_train, epochs=2)
        """))
    assert doc["fit"] == {"epochs": 2}


SEQ2SEQ = """\
    from tensorflow import keras
    model = keras.models.Sequential([
        keras.layers.SimpleRNN(20, return_sequences=True, input_shape=[None, 1]),
        keras.layers.TimeDistributed(keras.layers.Dense(10))])
    def last_time_step_mse(Y_true, Y_pred):
        \"\"\"The error at the last step.\"\"\"
        return keras.metrics.mean_squared_error(Y_true[:, -1], Y_pred[:, -1])
    model.compile(loss="mse", optimizer="adam", metrics=[last_time_step_mse])
    """


def test_a_metric_function_of_one_indexed_keras_metric_is_read():
    """Hands-On ML 2's seq2seq `last_time_step_mse`: MeanSquaredError of y[:, -1], named
    after the function (tests/training/test_metrics_keras_parity.py checks it against Keras
    running the function)."""
    doc, notes = read(SEQ2SEQ)
    assert doc["compile"]["metrics"] == [{"type": "MeanSquaredError",
                                          "name": "last_time_step_mse", "index": [None, -1]}]
    assert any("m.py:8:1: compile(metrics=[last_time_step_mse]): the script's function (line "
               "5) is read as mean_squared_error(Y_true[:, -1], Y_pred[:, -1])" in n
               for n in notes), notes


@pytest.mark.parametrize("body", [
    "return keras.metrics.mean_squared_error(Y_true[:, -1], Y_pred[:, 0])",  # other steps
    "return keras.metrics.mean_squared_error(Y_true[0], Y_pred[0])",  # not the batch
    "return keras.losses.binary_crossentropy(Y_true[:, -1], Y_pred[:, -1])",
    "return keras.metrics.mean_squared_error(Y_true[:, -1], Y_pred[:, -1]) * 2",
    "return keras.metrics.mean_squared_error(Y_true[:, -1], Y_pred[:, k])",
    "print(1)\n        return keras.metrics.mean_squared_error(Y_true, Y_pred)",
])
def test_other_metric_functions_stay_located_errors(body):
    src = SEQ2SEQ.replace(
        "return keras.metrics.mean_squared_error(Y_true[:, -1], Y_pred[:, -1])", body)
    with pytest.raises(DefinitionError, match=r"m.py:[89]:1: compile\(metrics=\.\.\.\): "
                                              "last_time_step_mse is defined in the script"):
        read(src)


@pytest.mark.parametrize("layer,want", [
    ("Embedding(50, 4, input_length=6)", ([6], "int32")),
    ("Embedding(input_dim=50, output_dim=4, input_length=6)", ([6], "int32")),
    ("Embedding(50, 4, input_length=6, input_shape=(None,))", ([None], None)),
    ("LSTM(4, input_dim=3, input_length=7)", ([7, 3], None)),  # Keras 2's recurrent rule
    ("LSTM(4, input_dim=3)", ([None, 3], None)),
    ("Dense(4, input_dim=3)", ([3], None)),
])
def test_input_dim_and_input_length(layer, want):
    doc, _ = read(f"import keras\nfrom keras.layers import *\n"
                  f"model = keras.Sequential([{layer}, Flatten(), Dense(1)])\n")
    assert (doc["layers"][0]["input_shape"], doc.get("input_dtype")) == want
    assert "input_dim" not in doc["layers"][0] or doc["layers"][0]["type"] == "Embedding"
    assert "input_length" not in doc["layers"][0]


@pytest.mark.parametrize("src,needle", [
    ("model = keras.Sequential([keras.Input((8, 8, 1)), MaxPooling2D(pool_length=2)])",
     "m.py:3:51: pool_length is a Keras 1 argument MaxPooling2D did not take"),
    ("model = keras.Sequential([keras.Input((3,)), Dense(units=2, output_dim=2)])",
     "m.py:3:46: Dense gets both output_dim (Keras 1's name) and units"),
    ("model = keras.Sequential([keras.Input((3,)), BatchNormalization(mode=2)])",
     "m.py:3:46: Keras 1's BatchNormalization(mode=2) has no Keras 2 or 3 equivalent"),
    ("model = keras.Sequential([keras.Input((3,)), Dense(2)])\n"
     "model.compile(keras.optimizers.Adam(lr=0.1, learning_rate=0.1), 'mse')",
     "m.py:4:15: the optimizer gives both lr and learning_rate"),
])
def test_old_spellings_that_cannot_be_mapped_are_located_errors(src, needle):
    with pytest.raises(DefinitionError) as e:
        read(f"import keras\nfrom keras.layers import *\n{src}\n")
    assert needle in str(e.value), str(e.value)


def test_six_moves_range_is_the_builtin():
    doc, _ = read("""\
        import six
        from six.moves import range
        import keras
        model = keras.Sequential([keras.Input((3,))])
        for n in range(2):
            model.add(keras.layers.Dense(4))
        for n in six.moves.xrange(1):
            model.add(keras.layers.Dense(1))
        """)
    assert [d.get("units") for d in doc["layers"][1:]] == [4, 4, 1]


def test_compile_placeholder_means_no_compile_settings():
    doc, warned = read("""\
        import keras
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(...)
        """)
    assert "compile" not in doc
    assert warned == ["m.py:3:1: model.compile(...) is the Keras guides' placeholder for the "
                      "arguments; read as no compile settings"]


# ---- None values Keras accepts ----


def test_none_where_keras_takes_it():
    doc, warned = read("""\
        import keras
        from keras import layers
        model = keras.Sequential([
            keras.Input((3,)),
            layers.Dense(4, activation=None, kernel_regularizer=None, bias_regularizer=None,
                         activity_regularizer=None, kernel_constraint=None,
                         bias_constraint=None, bias_initializer=None),
            layers.LSTM(2, recurrent_initializer=None, recurrent_constraint=None) if False
            else layers.Reshape((4, 1)),
            layers.LSTM(2, recurrent_initializer=None, recurrent_regularizer=None),
            layers.Dropout(0.1, noise_shape=None, seed=None),
        ])
        """)
    dense, _, lstm, drop = doc["layers"][1:]
    # Keras builds a weight whose initializer is None with glorot_uniform (add_weight's default)
    assert dense == {"type": "Dense", "units": 4, "activation": None,
                     "bias_initializer": "glorot_uniform"}
    assert lstm == {"type": "LSTM", "units": 2, "recurrent_initializer": "glorot_uniform"}
    assert drop == {"type": "Dropout", "rate": 0.1, "noise_shape": None, "seed": None}
    assert sum("glorot_uniform" in w for w in warned) == 2


def test_lstm_bias_initializer_none_fails_as_in_keras():
    with pytest.raises(DefinitionError) as e:
        read("import keras\nmodel = keras.Sequential([keras.Input((2, 3)), "
             "keras.layers.LSTM(2, bias_initializer=None)])\n")
    assert "m.py:2:48: LSTM(bias_initializer=None) with unit_forget_bias=True" in str(e.value)


# ---- comments, callbacks, seqc's own API ----


@pytest.mark.parametrize("comment", ["int32", '"int32"', "np.int32"])
def test_input_dtype_comment_takes_a_bare_name(comment):
    doc, _ = read(f"# seqc: input_dtype = {comment}\nimport keras\n"
                  "model = keras.Sequential([keras.Input((5,)), keras.layers.Embedding(9, 2)])\n")
    assert doc["input_dtype"] == "int32"


def test_a_lone_callback_is_a_list_of_one_as_in_keras():
    doc, _ = read("""\
        import keras
        from keras.callbacks import EarlyStopping
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=3, callbacks=EarlyStopping(patience=2))
        """)
    assert doc["fit"]["callbacks"] == [{"type": "EarlyStopping", "patience": 2}]
    with pytest.raises(DefinitionError) as e:
        read("import keras\nmodel = keras.Sequential([keras.Input((3,)), "
             "keras.layers.Dense(1)])\nmodel.fit(x, y, callbacks=3)\n")
    assert "m.py:3:1: fit(callbacks=...) takes a callback or a list of them" in str(e.value)


def test_scripts_against_seqcs_own_api_read_as_keras():
    doc, _ = read("""\
        import seqc
        from seqc import layers
        model = seqc.Sequential([seqc.Input((4,)), layers.Dense(3, activation="relu"),
                                 seqc.layers.Dense(1)], name="own")
        model.compile(optimizer=seqc.optimizers.Adam(learning_rate=1e-2), loss="mse")
        """)
    assert doc == {"name": "own", "layers": [
        {"type": "InputLayer", "shape": [4]}, {"type": "Dense", "units": 3, "activation": "relu"},
        {"type": "Dense", "units": 1}],
        "compile": {"optimizer": {"type": "Adam", "learning_rate": 0.01}, "loss": "mse"}}


def test_quickstart_example_builds_without_training(tmp_path):
    r = CliRunner().invoke(cli, ["build", str(EXAMPLES / "quickstart.py"), "--no-train",
                                 "-o", str(tmp_path / "b"), "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b" / "model.onnx").is_file()


def test_keras1_image_dim_ordering_is_tf_channels_last(tmp_path):
    d = load_script(write(tmp_path, """\
        from keras import backend as K
        from keras.models import Sequential
        from keras.layers import Convolution2D, Flatten, Dense
        if K.image_dim_ordering() == 'th':
            input_shape = (1, 28, 28)
        else:
            input_shape = (28, 28, 1)
        model = Sequential()
        model.add(Convolution2D(4, 3, 3, input_shape=input_shape))
        model.add(Flatten())
        model.add(Dense(2))
        model.compile(loss='categorical_crossentropy', optimizer='adadelta')
        """))
    assert d.model.graph.input_type.shape == (None, 28, 28, 1)
    assert d.compile["optimizer"] == "adadelta"


def test_image_preprocessing_layers_under_every_spelling():
    """`layers.Resizing` and TF 2's `tf.keras.layers.experimental.preprocessing.Resizing`
    (CenterCrop likewise) are the Keras 3 kinds, their arguments kept."""
    doc, _ = read("""\
        import tensorflow as tf
        from tensorflow import keras
        from tensorflow.keras import layers
        from tensorflow.keras.layers.experimental import preprocessing

        model = keras.Sequential([
            layers.Input((64, 48, 3)),
            layers.Resizing(32, 32),
            tf.keras.layers.experimental.preprocessing.Resizing(24, 24, interpolation="area"),
            preprocessing.CenterCrop(20, 20),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(8, 3),
            layers.GroupNormalization(groups=4),
            layers.UnitNormalization(axis=[1, 2]),
            layers.Identity(),
        ])
        """)
    got = [(e["type"], {k: v for k, v in e.items() if k not in ("type", "name")})
           for e in doc["layers"] if e["type"] != "InputLayer"]
    assert got[:3] == [("Resizing", {"height": 32, "width": 32}),
                       ("Resizing", {"height": 24, "width": 24, "interpolation": "area"}),
                       ("CenterCrop", {"height": 20, "width": 20})]
    assert got[5:] == [("GroupNormalization", {"groups": 4}),
                       ("UnitNormalization", {"axis": [1, 2]}), ("Identity", {})]
