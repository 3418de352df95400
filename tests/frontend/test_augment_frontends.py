"""Augmentation layers through every reader: the TensorFlow tutorial's script (a nested
`data_augmentation` Sequential used as the first layer), the TF 2.3-2.5 spellings
(tf.keras.layers.experimental.preprocessing.*), Keras 3 JSON and `.keras` files (with the
tutorial's nested Sequential inlined when it holds no weights), and a tf.keras 2 JSON."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError
from seqc.frontend.pyscript import load_script

os.environ.setdefault("KERAS_BACKEND", "torch")

TUTORIAL = """
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers
from tensorflow.keras.models import Sequential

img_height, img_width, num_classes = 32, 32, 3
data_augmentation = keras.Sequential(
  [
    layers.RandomFlip("horizontal", input_shape=(img_height, img_width, 3)),
    layers.RandomRotation(0.1),
    layers.RandomZoom(0.1),
  ]
)
model = Sequential([
  data_augmentation,
  layers.Rescaling(1./255),
  layers.Conv2D(16, 3, padding='same', activation='relu'),
  layers.MaxPooling2D(),
  layers.Dropout(0.2),
  layers.Flatten(),
  layers.Dense(num_classes, name="outputs")
])
model.compile(optimizer='adam',
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=['accuracy'])
"""

LEGACY = """
import tensorflow as tf
from tensorflow.keras.layers.experimental import preprocessing
model = tf.keras.Sequential([
  tf.keras.layers.experimental.preprocessing.RandomFlip("horizontal_and_vertical",
                                                        input_shape=(16, 16, 3)),
  preprocessing.RandomRotation(0.2, fill_mode="constant"),
  preprocessing.RandomZoom(height_factor=(-0.2, 0.1), width_factor=0.1),
  preprocessing.RandomTranslation(0.1, 0.1),
  preprocessing.RandomCrop(12, 12, seed=1),
  tf.keras.layers.Flatten(),
  tf.keras.layers.Dense(2),
])
"""


def _nodes(defn):
    return [(n.op, n.attrs) for n in defn.model.graph.nodes]


def _script(tmp_path, text):
    p = tmp_path / "model.py"
    p.write_text(textwrap.dedent(text))
    return load_script(str(p))


def test_tutorial_script_with_nested_augmentation_sequential(tmp_path):
    defn = _script(tmp_path, TUTORIAL)
    ops = [op for op, _ in _nodes(defn)]
    assert ops[:4] == ["RandomFlip", "RandomRotation", "RandomZoom", "Rescaling"]
    attrs = dict(_nodes(defn)[:3])
    assert attrs["RandomFlip"].mode == "horizontal"
    assert attrs["RandomRotation"].factor == (-0.1, 0.1)
    assert attrs["RandomZoom"].height_factor == (-0.1, 0.1)
    assert attrs["RandomZoom"].width_factor is None
    assert defn.model.graph.input_type.shape == (None, 32, 32, 3)


def test_legacy_experimental_preprocessing_spellings(tmp_path):
    defn = _script(tmp_path, LEGACY)
    ops = [op for op, _ in _nodes(defn)]
    assert ops[:5] == ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                       "RandomCrop"]
    assert defn.model.graph.output_type.shape == (None, 2)
    crop = dict(_nodes(defn))["RandomCrop"]
    assert (crop.height, crop.width, crop.seed) == (12, 12, 1)


def _keras():
    return pytest.importorskip("keras")


def test_keras3_json_and_keras_file_round_trip(tmp_path):
    """Keras 3's configs (seed, data_format, factor pairs, RandomShear's (-f, f) pairs that
    Keras itself cannot reload) parse; the model predicts as Keras does at inference."""
    keras = _keras()
    L = keras.layers
    m = keras.Sequential([
        keras.Input((16, 16, 3)), L.RandomFlip("vertical", seed=3),
        L.RandomRotation((-0.2, 0.3), fill_mode="constant", fill_value=0.5),
        L.RandomZoom(0.2, 0.1), L.RandomTranslation(0.1, 0.2, fill_mode="nearest"),
        L.RandomShear(0.2, 0.1), L.RandomPerspective(0.5, 0.3), L.RandomCrop(16, 16, seed=2),
        L.Conv2D(2, 3), L.Flatten(), L.Dense(2)])
    (tmp_path / "m.json").write_text(m.to_json())
    m.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
    want = keras.ops.convert_to_numpy(m(x, training=False))
    from_json = seqc.load(str(tmp_path / "m.json"))
    assert [n.op for n in from_json.graph.nodes][:7] == [
        "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomShear",
        "RandomPerspective", "RandomCrop"]
    shear = from_json.graph.nodes[4].attrs
    assert (shear.x_factor, shear.y_factor) == ((-0.2, 0.2), (-0.1, 0.1))
    np.testing.assert_allclose(seqc.load(str(tmp_path / "m.keras")).predict(x), want,
                               atol=1e-5)


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")
def test_tutorial_keras_file_inlines_the_augmentation_sequential(tmp_path):
    keras = _keras()
    L = keras.layers
    aug = keras.Sequential([L.RandomFlip("horizontal", input_shape=(16, 16, 3)),
                            L.RandomRotation(0.1), L.RandomZoom(0.1)])
    m = keras.Sequential([aug, L.Rescaling(1 / 255), L.Conv2D(4, 3, padding="same"),
                          L.Flatten(), L.Dense(3)])
    m.save(tmp_path / "tutorial.keras")
    x = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    model = seqc.load(str(tmp_path / "tutorial.keras"))
    assert [n.op for n in model.graph.nodes][:4] == ["RandomFlip", "RandomRotation",
                                                    "RandomZoom", "Rescaling"]
    want = keras.ops.convert_to_numpy(m(x, training=False))
    np.testing.assert_allclose(model.predict(x), want, atol=1e-5)
    # A nested Sequential holding weights is still refused by name.
    inner = keras.Sequential([L.Dense(4, input_shape=(3,))])
    keras.Sequential([inner, L.Dense(1)]).save(tmp_path / "weights.keras")
    with pytest.raises(DefinitionError, match="nested models are not supported"):
        seqc.load(str(tmp_path / "weights.keras"))


def test_tf_keras2_json_configs(tmp_path):
    """tf.keras 2.x configs: no data_format, batch_input_shape on the first layer."""
    def layer(cls, **cfg):
        return {"class_name": cls, "config": {"name": cls.lower(), "trainable": True,
                                              "dtype": "float32", **cfg}}
    doc = {"class_name": "Sequential", "keras_version": "2.4.0", "backend": "tensorflow",
           "config": {"name": "sequential", "layers": [
               layer("RandomFlip", mode="horizontal", seed=None,
                     batch_input_shape=[None, 8, 8, 3]),
               layer("RandomRotation", factor=0.1, fill_mode="reflect", fill_value=0.0,
                     interpolation="bilinear", seed=None),
               layer("RandomZoom", height_factor=0.1, width_factor=None, fill_mode="reflect",
                     fill_value=0.0, interpolation="bilinear", seed=None),
               layer("RandomCrop", height=6, width=6, seed=None),
               layer("Flatten", data_format="channels_last"),
               layer("Dense", units=2, activation="linear", use_bias=True)]}}
    (tmp_path / "m.json").write_text(json.dumps(doc))
    model = seqc.load(str(tmp_path / "m.json"))
    assert model.graph.output_type.shape == (None, 2)
    assert [n.op for n in model.graph.nodes][:4] == ["RandomFlip", "RandomRotation",
                                                    "RandomZoom", "RandomCrop"]


def test_every_runtime_agrees_on_augmented_models(tmp_path):
    """Inference: augmentation passes through in NumPy, ONNX, torch and Keras; RandomCrop's
    window agrees between NumPy, ONNX and torch's interpolate. The keras runtime declines
    RandomCrop, which Keras 3.15 does not crop at inference."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    _keras()
    from seqc.runtime import resolve
    from seqc.runtime.runners import RUNTIMES

    L = seqc.layers
    x = np.random.default_rng(2).uniform(0, 1, (4, 9, 8, 3)).astype(np.float32)
    for crop, runtimes in ((False, ["numpy", "onnxruntime", "torch", "keras"]),
                           (True, ["numpy", "onnxruntime", "torch"])):
        layers = [L.Input((9, 8, 3)), L.RandomFlip(), L.RandomRotation(0.2),
                  L.RandomShear(0.1, 0.2), L.RandomPerspective()]
        layers += [L.RandomCrop(5, 6)] if crop else [L.RandomZoom(0.1)]
        m = seqc.Sequential([*layers, L.Conv2D(2, 3), L.Flatten(), L.Dense(2)])
        why = RUNTIMES["keras"].cannot_run(resolve(m))
        assert (why is not None) == crop and (not crop or "uncropped" in why)
        result = seqc.validate(m, x, runtimes=",".join(runtimes), print_table=False)
        assert result.ok, result.format_table()
