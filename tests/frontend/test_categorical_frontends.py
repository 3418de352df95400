"""The categorical preprocessing layers read by class name from Keras files and Python scripts
(adapt included), and the string layers refused with what to do instead (exit 2)."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

import seqc
from seqc.cli import cli
from seqc.errors import DefinitionError
from seqc.frontend import Bindings
from seqc.frontend.pyscript import load_script
from seqc.ops import REGISTRY

os.environ.setdefault("KERAS_BACKEND", "torch")


def _script(tmp_path, text: str, x=None, y=None):
    p = tmp_path / "model.py"
    p.write_text(text)
    return load_script(p, bindings=Bindings(x=x, y=y) if x is not None else None)


def _layer(class_name: str, **config) -> dict:
    return {"module": "keras.layers", "class_name": class_name,
            "config": {"name": class_name.lower(), "trainable": True, **config},
            "registered_name": None}


def _keras_json(tmp_path, dtype: str, shape: list, *layers: dict):
    doc = {"module": "keras", "class_name": "Sequential", "config": {
        "name": "m", "trainable": True, "dtype": "float32", "layers": [
            {"module": "keras.layers", "class_name": "InputLayer",
             "config": {"batch_shape": [None, *shape], "dtype": dtype, "sparse": False,
                        "name": "input_layer"}, "registered_name": None}, *layers]},
        "registered_name": None}
    p = tmp_path / "model.json"
    p.write_text(json.dumps(doc))
    return p


def test_keras_file_with_category_encoding_and_discretization_predicts_as_keras(tmp_path):
    keras = pytest.importorskip("keras")
    km = keras.Sequential([keras.Input((4,)), keras.layers.Discretization([-0.5, 0.0, 0.7]),
                           keras.layers.CategoryEncoding(num_tokens=4, output_mode="count"),
                           keras.layers.Dense(2)])
    km.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    want = keras.ops.convert_to_numpy(km(x))
    model = seqc.load(str(tmp_path / "m.keras"))
    assert [n.op for n in model.graph.nodes][:2] == ["Discretization", "CategoryEncoding"]
    np.testing.assert_allclose(model.predict(x), want, atol=1e-6)
    model.export(str(tmp_path / "m.onnx"))
    assert seqc.validate(str(tmp_path / "m.onnx"), x, print_table=False).ok


def test_keras_json_with_hashing_and_integer_lookup(tmp_path):
    # The configs Keras' get_config() writes (hashing.py, index_lookup.py); Hashing's output
    # dtype travels as its dtype policy ("int64"), an argument of the layer, not a policy.
    int64 = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "int64"},
             "registered_name": None}
    p = _keras_json(
        tmp_path, "int64", [1],
        _layer("Hashing", dtype=int64, num_bins=3, salt=None, mask_value=None,
               output_mode="int", sparse=False),
        _layer("IntegerLookup", invert=False, max_tokens=None, num_oov_indices=1,
               oov_token=-1, mask_token=None, output_mode="one_hot", sparse=False,
               pad_to_max_tokens=False, vocabulary_dtype="int64", idf_weights=None,
               vocabulary=[2, 0], vocabulary_size=3, oov_method="floormod", salt=None))
    model = seqc.load(str(p))
    x = np.arange(5, dtype=np.int64)[:, None]
    # Keras' hashing_test: Hashing(num_bins=3) of 0..4 is [1, 0, 1, 0, 2]; bin 2 -> index 1,
    # bin 0 -> index 2, bin 1 -> OOV index 0.
    np.testing.assert_array_equal(model.predict(x), np.eye(3)[[0, 2, 0, 2, 1]])
    r = CliRunner().invoke(cli, ["convert", str(p), "-o", str(tmp_path / "h.onnx")])
    assert r.exit_code == 0, r.output


def test_keras_json_with_string_lookup_is_refused_with_what_to_do(tmp_path):
    lookup = _layer("StringLookup", invert=False, max_tokens=None, num_oov_indices=1,
                    oov_token="[UNK]", mask_token=None, output_mode="int", sparse=False,
                    pad_to_max_tokens=False, vocabulary_dtype="string", idf_weights=None,
                    vocabulary=["a", "b"], vocabulary_size=3, encoding="utf-8")
    for dtype in ("string", "int32"):
        p = _keras_json(tmp_path, dtype, [1], lookup, _layer("Dense", units=1))
        r = CliRunner().invoke(cli, ["summary", str(p)])
        assert r.exit_code == 2, r.output
        assert "string" in r.output and "tokenize before seqc" in r.output
        assert "Traceback" not in r.output
    assert "StringLookup" in r.output


def test_text_vectorization_script_is_refused_with_what_to_do(tmp_path):
    # The TensorFlow text classification tutorial's export model.
    p = tmp_path / "model.py"
    p.write_text(textwrap.dedent("""\
        import keras
        from keras import layers
        vectorize_layer = layers.TextVectorization(max_tokens=10000, output_mode="int",
                                                   output_sequence_length=250)
        model = keras.Sequential([vectorize_layer, layers.Embedding(10000, 16),
                                  layers.GlobalAveragePooling1D(), layers.Dense(1)])
        model.compile(loss="binary_crossentropy", optimizer="adam")
        """))
    r = CliRunner().invoke(cli, ["summary", str(p)])
    assert r.exit_code == 2, r.output
    assert "TextVectorization" in r.output and "feed integer ids" in r.output
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"input_shape": [4], "input_dtype": "int32", "layers": [
        {"type": "StringLookup", "vocabulary": ["a"]}, {"type": "Dense", "units": 1}]}))
    r = CliRunner().invoke(cli, ["build", str(spec), "--no-train", "-o", str(tmp_path / "b")])
    assert r.exit_code == 2, r.output
    assert "StringLookup" in r.output and "feed integer ids" in r.output


SCRIPT = """\
import keras
import numpy as np
from keras import layers
x_train = np.load("x.npy")
y_train = np.load("y.npy")
{setup}
model = keras.Sequential([keras.Input(shape=(3,){dtype}), {layer},
                          layers.Dense(1)])
model.compile(loss="mse", optimizer="sgd")
model.fit(x_train, y_train, epochs=1)
"""


def test_script_adapts_discretization_as_keras(tmp_path):
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(2).normal(size=(60, 3)).astype(np.float32)
    y = np.zeros((60, 1), np.float32)
    defn = _script(tmp_path, SCRIPT.format(
        setup="disc = layers.Discretization(num_bins=5)\ndisc.adapt(x_train)", dtype="",
        layer="disc, layers.CategoryEncoding(num_tokens=5, output_mode='count')"), x, y)
    ref = keras.layers.Discretization(num_bins=5)
    ref.update_state(x)  # what adapt() runs on an array (it needs TensorFlow to get there)
    ref.finalize_state()
    np.testing.assert_array_equal(defn.model.params["discretization/bin_boundaries"],
                                  np.float32(ref.bin_boundaries))
    with pytest.raises(DefinitionError, match="never adapted"):
        _script(tmp_path, SCRIPT.format(setup="disc = layers.Discretization(num_bins=5)",
                                        dtype="", layer="disc"), x, y)


def test_script_adapts_integer_lookup_as_keras(tmp_path):
    ids = np.array([[12, 1138, 42], [42, 1000, 36]] * 3, np.int64)
    y = np.zeros((6, 1), np.float32)
    defn = _script(tmp_path, SCRIPT.format(
        setup="lookup = layers.IntegerLookup()\nlookup.adapt(x_train)",
        dtype=", dtype='int64'", layer="lookup, layers.Embedding(6, 2), layers.Flatten()"),
        ids, y)
    node = defn.model.graph.nodes[0]
    assert node.op == "IntegerLookup"
    # Keras' docstring: adapting on this data gives [-1, 42, 1138, 1000, 36, 12].
    assert list(node.attrs.vocabulary) == [-1, 42, 1138, 1000, 36, 12]
    out, _ = REGISTRY["IntegerLookup"].forward(node.attrs, {}, [ids[:2]], None)
    np.testing.assert_array_equal(out[0], [[5, 2, 1], [1, 3, 4]])


def test_adapted_discretization_saved_as_keras_keeps_its_boundaries(tmp_path):
    keras = pytest.importorskip("keras")
    from seqc.errors import UsageError
    from seqc.export.keras_file import save_keras

    L = seqc.layers
    model = seqc.Sequential([L.Input((2,)), L.Discretization(num_bins=4, output_mode="one_hot"),
                             L.Flatten(), L.Dense(1)], seed=0)
    with pytest.raises(UsageError, match="not been adapted"):
        save_keras(model, tmp_path / "m.keras")
    x = np.random.default_rng(4).normal(size=(32, 2)).astype(np.float32)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    save_keras(model, tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras")  # boundaries in its config, as Keras
    assert back.layers[0].bin_boundaries == model.params["discretization/bin_boundaries"].tolist()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back(x)), model.predict(x), atol=1e-6)


def test_spec_with_hashing_and_integer_lookup_builds_and_validates(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({
        "name": "ids", "input_shape": [3], "input_dtype": "int64",
        "layers": [{"type": "Hashing", "num_bins": 8, "mask_value": 0},
                   {"type": "IntegerLookup", "vocabulary": [1, 2, 3, 4, 5, 6, 7],
                    "output_mode": "count"},
                   {"type": "Dense", "units": 1}],
        "compile": {"optimizer": "sgd", "loss": "mse"}, "fit": {"epochs": 1}}))
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.integers(-10 ** 12, 10 ** 12, (32, 3)))
    np.save(tmp_path / "y.npy", rng.normal(size=(32, 1)).astype(np.float32))
    r = CliRunner().invoke(cli, ["build", str(spec), "--x", str(tmp_path / "x.npy"), "--y",
                                 str(tmp_path / "y.npy"), "-o", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 0, r.output
    x = np.load(tmp_path / "x.npy")
    assert seqc.validate(str(tmp_path / "out"), x, print_table=False).ok


def test_script_without_input_takes_integer_ids_from_the_data(tmp_path):
    # Ids above 2**24 would be rounded by a float32 input before they are hashed.
    ids = np.array([[2 ** 40 + 1, 7, -3]] * 4, np.int64)
    p = tmp_path / "model.py"
    p.write_text(SCRIPT.format(setup="", dtype="", layer="layers.Hashing(num_bins=97)")
                 .replace("keras.Input(shape=(3,)), ", ""))
    defn = load_script(p, bindings=Bindings(x=ids, y=np.zeros((4, 1), np.float32)))
    assert defn.model.graph.input_type.dtype == "int64"


def test_keras_archive_with_an_adapted_vocabulary_asset_says_what_to_do(tmp_path):
    import zipfile

    keras = pytest.importorskip("keras")
    km = keras.Sequential([keras.Input((3,), dtype="int32"),
                           keras.layers.CategoryEncoding(num_tokens=5), keras.layers.Dense(1)])
    km.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras", "a") as z:  # where Keras keeps an adapted one
        z.writestr("assets/layers/integer_lookup/vocabulary.txt", "-1\n4\n2")
    r = CliRunner().invoke(cli, ["summary", str(tmp_path / "m.keras")])
    assert r.exit_code == 2 and "vocabulary=layer.get_vocabulary()" in r.output, r.output
