"""A tf.data map in a fit's pipeline: deterministic preprocessing of each element (an adapted
TextVectorization after tf.expand_dims, as the TensorFlow text tutorial writes it) is what
the data given stand for, with a note naming the function and its line; a random, mixing,
batch-dependent or unreadable map is refused with its name and line."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import Bindings, load_definition

TEXT = """
import re, string
import tensorflow as tf
from tensorflow.keras import layers
raw_train_ds = tf.keras.utils.text_dataset_from_directory("train", batch_size=32, seed=42)
def custom_standardization(input_data):
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, '<br />', ' ')
    return tf.strings.regex_replace(stripped_html, '[%s]' % re.escape(string.punctuation), '')
vectorize_layer = layers.TextVectorization(standardize=custom_standardization,
                                           max_tokens=100, output_mode='int',
                                           output_sequence_length=20)
vectorize_layer.adapt(raw_train_ds.map(lambda x, y: x))
def vectorize_text(text, label):
    text = tf.expand_dims(text, -1)
    return vectorize_layer(text), label
train_ds = raw_train_ds.map(vectorize_text)
train_ds = train_ds.cache().prefetch(buffer_size=tf.data.AUTOTUNE)
model = tf.keras.Sequential([layers.Embedding(100, 4), layers.GlobalAveragePooling1D(),
                             layers.Dense(1, activation='sigmoid')])
model.compile(loss='binary_crossentropy', optimizer='adam')
model.fit(train_ds, epochs=2)
"""


def _load(tmp_path, text, x=None):
    p = tmp_path / "train.py"
    p.write_text(textwrap.dedent(text))
    x = np.zeros((8, 20), np.int32) if x is None else x
    return load_definition(p, bindings=Bindings(x=x, y=np.zeros(len(x), np.int32)))


def test_the_text_tutorials_vectorize_map_is_the_data_given(tmp_path):
    defn = _load(tmp_path, TEXT)
    assert defn.fit["pipeline"] == [
        {"shuffle": 2 ** 31 - 1, "reshuffle_each_iteration": False, "seed": 42},
        {"shuffle": 256, "seed": 42}, {"batch": 32}, {"cache": True}]
    assert any("train.py:17:" in n and "replaces vectorize_text(...) (defined at line 14) "
               "at line 17: give the vectorized rows" in n for n in defn.notes)
    assert defn.model.graph.inputs and "int" in str(defn.model.graph.input_type.dtype)


@pytest.mark.parametrize("old, new, word", [
    ("raw_train_ds.map(vectorize_text)",
     "raw_train_ds.map(lambda t, l: (vectorize_layer(tf.expand_dims(t, -1)), tf.cast(l, "
     "tf.float32)), num_parallel_calls=tf.data.AUTOTUNE)", "vectorized"),
    ("vectorize_layer(text), label", "norm(tf.cast(text, 'float32')), label", "rescaled"),
    ("def vectorize_text", "@tf.function\ndef vectorize_text", "vectorized"),
])
def test_other_deterministic_maps_are_read(tmp_path, old, new, word):
    text = TEXT.replace("def vectorize_text",
                        "norm = layers.Rescaling(0.5)\ndef vectorize_text", 1).replace(old, new)
    defn = _load(tmp_path, text)
    assert any(f"give the {word} rows" in n for n in defn.notes)


@pytest.mark.parametrize("old, new, match", [
    ("text = tf.expand_dims(text, -1)", "text = tf.expand_dims(text, -1) + "
     "tf.random.uniform(())", r"train\.py:22:.*vectorize_text.*line 19.*line 20\) draws random"),
    ("text = tf.expand_dims(text, -1)", "text = tf.image.random_flip_left_right(text)",
     r"draws random"),
    ("vectorize_layer(text), label", "aug(text), label", r"aug\(text\).*draws random"),
    ("vectorize_layer(text), label", "augs(text), label", r"augs\(text\).*draws random"),
    ("vectorize_layer(text), label", "dense(text), label",
     r"calls the layer Dense, which seqc cannot show"),
    ("vectorize_layer(text), label", "vectorize_layer(text) / 2, label",
     r"changes the elements.*`vectorize_layer\(text\) / 2` \(line 21\)"),
    ("vectorize_layer(text), label", "vectorize_layer(text), text",
     r"each element made from itself"),
    ("vectorize_layer(text), label", "helper(text), label", r"calls helper"),
    ("vectorize_layer(text), label", "vectorize_layer(text, training=True), label",
     r"one element"),
    ("text = tf.expand_dims(text, -1)", "print(text)", r"not an assignment"),
    ("text = tf.expand_dims(text, -1)", "text = tf.expand_dims(text, label)",
     r"constant axis"),
    ("text = tf.expand_dims(text, -1)", "text = tf.py_function(f, [text], tf.string)",
     r"py_function.*runs Python code"),
    ("output_sequence_length=20", "output_sequence_length=None", r"longest text"),
    ("tf.strings.lower(input_data)", "tf.random.shuffle(input_data)",
     r"standardize=\.\.\.\) calls tf\.random\.shuffle"),
    ("raw_train_ds.map(vectorize_text)", "raw_train_ds.map(vectorize_text, "
     "deterministic=False)", r"out of order"),
    ("raw_train_ds.map(vectorize_text)", "raw_train_ds.map(vectorize_text).filter(f)",
     r"\.filter"),
    ("def vectorize_text(text, label)", "def vectorize_text(text, label, *more)",
     r"arguments other than one per element"),
    ("raw_train_ds.map(vectorize_text)", "raw_train_ds.map(lambda t, l: (t * 2, l))",
     r"the lambda: `t \* 2`"),
])
def test_maps_seqc_cannot_stand_for_are_refused_with_name_and_line(tmp_path, old, new,
                                                                   match):
    extra = ("aug = layers.RandomFlip()\naugs = tf.keras.Sequential([layers.RandomZoom(0.1)])\n"
             "dense = layers.Dense(3)\ndef helper(t):\n    return t\n")
    text = TEXT.replace("def vectorize_text", extra + "def vectorize_text", 1)
    with pytest.raises(DefinitionError, match=match) as e:
        _load(tmp_path, text.replace(old, new))
    assert "train.py:" in str(e.value)


def test_a_random_map_before_the_rows_are_taken_is_refused(tmp_path):
    """Before unbatch the rows given are what the map makes (tfdocs overfit_and_underfit's
    pack_row); a map that draws random numbers there would make other rows each epoch."""
    text = """
    import tensorflow as tf
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    def jitter(a, b):
        return noisy(a), b
    def noisy(a):
        return a + tf.random.normal(tf.shape(a))
    train = ds.batch(4).map({fn}).unbatch().batch(2)
    model = tf.keras.Sequential([tf.keras.Input((20,)), tf.keras.layers.Dense(1)])
    model.compile('adam', 'mse')
    model.fit(train, epochs=1)
    """
    x = np.zeros((8, 20), np.float32)
    defn = _load(tmp_path, text.format(fn="lambda a, b: (tf.stack([a], 1)[:, 0], b)"), x)
    assert defn.fit["pipeline"] == [{"batch": 2}]
    with pytest.raises(DefinitionError, match=r"train\.py:8:.*line 7\) draws random"):
        _load(tmp_path, text.format(fn="jitter"), x)
