"""Fits on generated batches that are read: an ImageDataGenerator's flows (their transforms run
by seqc.training.augment) and a script's generator function, replaced by the data given."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import Bindings
from seqc.frontend.pyscript import _read

HEAD = """\
    import keras
    from keras.preprocessing.image import ImageDataGenerator
    (x_train, y_train), _ = load_my_images()
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation='softmax')])
    model.compile('rmsprop', 'categorical_crossentropy')
    """
X = np.zeros((24, 8, 8, 3), "float32")
Y = np.eye(10, dtype="float32")[np.arange(24) % 10]


def read(tail: str, x=X, y=Y) -> tuple[dict, dict]:
    doc, _, info = _read(textwrap.dedent(HEAD) + textwrap.dedent(tail), "m.py",
                         bindings=Bindings(x=x, y=y))
    return doc, info


def test_keras1_cifar10_augmentation_is_run_and_its_flow_binds_the_data():
    doc, info = read("""\
        datagen = ImageDataGenerator(featurewise_center=False, zca_whitening=False,
                                     rotation_range=0, width_shift_range=0.1,
                                     height_shift_range=0.1, horizontal_flip=True)
        datagen.fit(x_train)
        model.fit_generator(datagen.flow(x_train, y_train, batch_size=8),
                            samples_per_epoch=x_train.shape[0], nb_epoch=3)
        """)
    assert doc["fit"] == {"batch_size": 8, "epochs": 3, "shuffle": True, "augmentation": {
        "width_shift_range": 0.1, "height_shift_range": 0.1, "horizontal_flip": True}}
    assert any("samples_per_epoch=24), the number of samples: read as one pass" in n
               for n in info["notes"]), info["notes"]
    assert "seqc runs the ImageDataGenerator (line 7) on each training batch of 8" in \
        info["data_binding"]


def test_flow_from_directory_is_replaced_by_the_images_given_and_says_so():
    doc, info = read("""\
        gen = ImageDataGenerator(rescale=1./255, rotation_range=40, zoom_range=0.2,
                                 fill_mode='nearest')
        train = gen.flow_from_directory('train', target_size=(8, 8), batch_size=4,
                                        class_mode='categorical')
        model.fit_generator(train, steps_per_epoch=100, epochs=2, validation_data=train,
                            validation_steps=50, workers=4)
        """)
    assert doc["fit"] == {"batch_size": 4, "epochs": 2, "shuffle": True, "steps_per_epoch": 100,
                          "repeat": "passes", "augmentation": {
                              "rescale": 1 / 255, "rotation_range": 40, "zoom_range": 0.2}}
    line = info["data_binding"]
    assert "reads image files, which seqc does not: the images given (--x/--y) replace them" \
        in line and "(8, 8) x 3 channels, values 0-255, before rescale" in line, line
    assert f"m.py:11:1: {line}" in info["notes"]


def test_keras3_fit_on_a_flow_ends_an_epoch_with_the_data():
    doc, _ = read("model.fit(ImageDataGenerator(vertical_flip=True).flow(x_train, y_train), "
                  "steps_per_epoch=5, epochs=2)\n")
    assert doc["fit"]["repeat"] is False and doc["fit"]["steps_per_epoch"] == 5
    assert doc["fit"]["batch_size"] == 32


def test_a_generator_function_is_replaced_by_the_data_given():
    doc, info = read("""\
        def generator(data, lookback, delay, min_index, max_index, shuffle=False,
                      batch_size=128, step=6):
            while 1:
                rows = np.random.randint(min_index + lookback, max_index, size=batch_size)
                yield data[rows], data[rows + delay]
        train_gen = generator(float_data, lookback=1440, delay=144, min_index=0,
                              max_index=200000, shuffle=True)
        val_gen = generator(float_data, 1440, 144, 200001, 300000, batch_size=64)
        model.fit_generator(train_gen, steps_per_epoch=500, epochs=20,
                            validation_data=val_gen, validation_steps=100)
        """)
    assert doc["fit"] == {"batch_size": 128, "epochs": 20, "steps_per_epoch": 500,
                          "repeat": "passes"}
    assert info["data_binding"].startswith(
        "the data given (--x/--y) replaces generator() (defined at line 7, called at line 12):"
        " seqc draws batches of 128 rows (its default batch_size=128; --batch-size sets "
        "another) from it in shuffled passes, 500 steps per epoch"), info["data_binding"]


def test_a_generator_call_batch_size_wins_and_a_computed_default_is_not_run():
    doc, _ = read("""\
        def gen(batch_size=2 ** 7):
            while True:
                yield x_train, y_train
        model.fit(gen(batch_size=16), steps_per_epoch=3)
        """)
    assert doc["fit"]["batch_size"] == 16
    doc, info = read("""\
        def gen(batch_size=2 ** 7):
            while True:
                yield x_train, y_train
        model.fit(gen(), steps_per_epoch=3)
        """)
    assert "batch_size" not in doc["fit"] and "32 rows (Keras' default" in info["data_binding"]


def test_samples_per_epoch_that_is_not_one_pass_is_refused():
    with pytest.raises(DefinitionError, match="samples_per_epoch=100.*only where it is the "
                                              "number of samples given \\(24\\)"):
        read("model.fit_generator(ImageDataGenerator().flow(x_train, y_train), "
             "samples_per_epoch=100, nb_epoch=2)\n")


def test_a_watched_validation_generator_is_refused_as_for_arrays():
    with pytest.raises(DefinitionError, match="EarlyStopping watches val_loss"):
        read("""\
            flow = ImageDataGenerator(horizontal_flip=True).flow(x_train, y_train)
            model.fit_generator(flow, steps_per_epoch=3, validation_data=flow,
                                callbacks=[keras.callbacks.EarlyStopping()])
            """)
