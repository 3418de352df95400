"""Every bad definition fails with a DefinitionError that names the file, the layer (as
`layers[i] 'name' (Kind)`) where there is one, the field, and what was received."""

from __future__ import annotations

import json

import pytest

from seqc.errors import DefinitionError
from seqc.frontend import load_definition

BASE = {"input_shape": [4], "layers": [{"type": "Dense", "units": 2}]}


def with_layers(*layers, **top):
    return {"input_shape": [4], "layers": list(layers), **top}


# (id, spec (dict, or raw text), substrings the message must contain)
CASES = [
    ("invalid-json", '{"input_shape": [4],\n "layers": [{"type": "Dense", "units": 2},]\n}',
     ["invalid JSON at line 2, column", "Expecting value", "trailing comma"]),
    ("invalid-json-quotes", "{'input_shape': [4]}",
     ["invalid JSON at line 1, column 2", "double quotes"]),
    ("duplicate-key", '{"input_shape": [4], "input_shape": [5], "layers": []}',
     ["key 'input_shape' appears twice"]),
    ("not-an-object", "[1, 2]", ["a model file is a JSON object", "holds a list", "input_shape"]),
    ("unknown-top-level-key", {**BASE, "optimiser": "adam"},
     ["unknown top-level key 'optimiser'", "Valid keys:", "layers"]),
    ("top-level-key-of-fit", {**BASE, "epochs": 3},
     ["unknown top-level key 'epochs'", 'belongs in the "fit" section']),
    ("unknown-fit-key", {**BASE, "fit": {"epoch": 3}},
     ["unknown key 'epoch' in the fit section", "did you mean 'epochs'"]),
    ("unknown-layer-type", with_layers({"type": "Dense", "units": 2}, {"type": "Dens", "units": 1}),
     ["layers[1] (Dens)", "unknown layer type 'Dens'", "did you mean 'Dense'"]),
    ("layer-type-case", with_layers({"type": "dense", "units": 2}),
     ["layers[0] (dense)", "did you mean 'Dense'"]),
    ("unknown-activation", with_layers({"type": "Dense", "units": 2, "activation": "rellu"}),
     ["layers[0] 'dense' (Dense)", "unknown activation 'rellu'", "did you mean 'relu'",
      "activation='rellu'"]),
    ("unknown-argument", with_layers({"type": "Dense", "unit": 2}),
     ["layers[0] 'dense' (Dense)", "unknown argument 'unit'", "did you mean 'units'"]),
    ("zero-units", with_layers({"type": "Dense", "units": 8}, {"type": "Dense", "units": 0}),
     ["layers[1] 'dense_1' (Dense)", "'units' must be a positive integer", "units=0"]),
    ("negative-units", with_layers({"type": "Dense", "units": -3, "name": "fc"}),
     ["layers[0] 'fc' (Dense)", "positive integer", "units=-3"]),
    ("float-units", with_layers({"type": "Dense", "units": 2.5}),
     ["layers[0] 'dense' (Dense)", "'units' must be an integer", "units=2.5"]),
    ("string-units", with_layers({"type": "Dense", "units": "4"}),
     ["'units' must be an integer", "units='4'"]),
    ("bool-units", with_layers({"type": "Dense", "units": True}),
     ["'units' must be an integer", "units=True"]),
    ("missing-units", with_layers({"type": "Dense"}),
     ["layers[0] 'dense' (Dense)", "missing required argument 'units'"]),
    ("missing-input-shape", {"layers": [{"type": "Dense", "units": 2}]},
     ["layers[0] (Dense)", "no input shape", '"input_shape"', "InputLayer"]),
    ("empty-layers", {"input_shape": [4], "layers": []},
     ["the model has no layers", "layers=[]"]),
    ("missing-layers", {"input_shape": [4]},
     ["missing required key 'layers'"]),
    ("dropout-rate-one", with_layers({"type": "Dense", "units": 2},
                                     {"type": "Dropout", "rate": 1.0}),
     ["layers[1] 'dropout' (Dropout)", "rate", "rate=1.0"]),
    ("dropout-rate-negative", with_layers({"type": "Dropout", "rate": -0.5, "name": "drop"}),
     ["layers[0] 'drop' (Dropout)", "rate", "rate=-0.5"]),
    ("impossible-reshape", with_layers({"type": "Reshape", "target_shape": [3, 2]}),
     ["layers[0] 'reshape' (Reshape)", "element count", "target_shape=[3, 2]"]),
    ("duplicate-layer-names", with_layers({"type": "Dense", "units": 2, "name": "fc"},
                                          {"type": "Dense", "units": 2, "name": "fc"}),
     ["layers[1] 'fc' (Dense)", "layer name 'fc' is used twice", "name='fc'"]),
    ("auto-name-clash", with_layers({"type": "Dense", "units": 2},
                                    {"type": "Dense", "units": 2, "name": "dense"}),
     ["layers[1] 'dense' (Dense)", "used twice"]),
    ("layer-without-type", with_layers({"units": 2}),
     ["layers[0]", "missing required key 'type'", "keys ['units']"]),
    ("layer-not-object", with_layers(5), ["layers[0]", "must be an object", "layers[0]=5"]),
    ("layer-name-type", with_layers({"type": "Dense", "units": 2, "name": 5}),
     ["layers[0] (Dense)", "layers[0].name: must be a string", "name=5"]),
    ("trainable-type", with_layers({"type": "Dense", "units": 2, "trainable": "yes"}),
     ["layers[0] (Dense)", "layers[0].trainable: must be true or false"]),
    ("input-shape-zero", {**BASE, "input_shape": [0]},
     ["input_shape[0]: must be >= 1", "input_shape[0]=0"]),
    ("input-shape-string", {**BASE, "input_shape": "30"},
     ["input_shape: must be a list", "input_shape='30'"]),
    ("input-shape-empty", {**BASE, "input_shape": []}, ["input_shape: must hold at least 1"]),
    ("input-dtype", {**BASE, "input_dtype": "float16"},
     ["input_dtype: must be one of", "input_dtype='float16'"]),
    ("input-shape-twice", {"input_shape": [4], "layers": [
        {"type": "InputLayer", "shape": [3]}, {"type": "Dense", "units": 2}]},
     ["layers[0] (InputLayer)", "given twice", "input_shape=[4], shape=[3]"]),
    ("input-layer-bad-arg", {"layers": [{"type": "InputLayer", "shap": [3]},
                                        {"type": "Dense", "units": 2}]},
     ["layers[0] (InputLayer)", "unknown argument 'shap'", "did you mean 'shape'"]),
    ("input-layer-not-first", with_layers({"type": "Dense", "units": 2},
                                          {"type": "InputLayer", "shape": [2]}),
     ["layers[1] (InputLayer)", "must be the first layer"]),
    ("input-layer-alone", {"layers": [{"type": "InputLayer", "shape": [3]}]},
     ["no layers after its InputLayer"]),
    ("input-shape-on-later-layer", {"layers": [
        {"type": "Dense", "units": 2, "input_shape": [3]},
        {"type": "Dense", "units": 2, "input_shape": [2]}]},
     ["layers[1] (Dense)", "input_shape is only allowed on the first layer"]),
    ("error-after-input-layer", {"layers": [
        {"type": "InputLayer", "shape": [3]}, {"type": "Dense", "units": 2},
        {"type": "Dense", "units": 0}]},
     ["layers[2] 'dense_1' (Dense)", "units=0"]),  # labels count the consumed InputLayer
    ("impossible-reshape-later", {"input_shape": [2, 3], "layers": [
        {"type": "Reshape", "target_shape": [6]}, {"type": "Flatten"},
        {"type": "Dense", "units": 2},
        {"type": "Reshape", "target_shape": [3]}]},
     ["layers[3] 'reshape_1' (Reshape)", "element count"]),
    ("loss-type", {**BASE, "compile": {"loss": 5}},
     ["compile.loss: must be a name, or", "loss=5"]),
    ("metrics-not-list", {**BASE, "compile": {"metrics": "accuracy"}},
     ["compile.metrics: must be a list", "metrics='accuracy'"]),
    ("epochs-zero", {**BASE, "fit": {"epochs": 0}}, ["fit.epochs: must be >= 1", "epochs=0"]),
    ("batch-size-float", {**BASE, "fit": {"batch_size": 3.5}},
     ["fit.batch_size: must be an integer", "batch_size=3.5"]),
    ("validation-split-one", {**BASE, "fit": {"validation_split": 1}},
     ["fit.validation_split: must be < 1"]),
    ("callback-without-type", {**BASE, "fit": {"callbacks": [{"patience": 2}]}},
     ["fit.callbacks[0]: missing required key 'type'"]),
    ("data-x-without-y", {**BASE, "data": {"x": "x.npy"}}, ["data: 'x' needs 'y' as well"]),
    ("data-path-and-x", {**BASE, "data": {"path": "d.csv", "x": "x.npy", "y": "y.npy"}},
     ["both a file (path) and arrays (x/y)"]),
    ("data-unknown-key", {**BASE, "data": {"path": "d.csv", "traget": "label"}},
     ["unknown key 'traget' in the data section", "did you mean 'target'"]),
    ("name-with-slash", {**BASE, "name": "a/b"}, ["name: must match", "name='a/b'"]),
    ("keras-json-no-layers", {"class_name": "Sequential", "config": {"layers": []}},
     ["the Keras model has no layers", "Received: layers=[]"]),
]


@pytest.mark.parametrize("spec,expected", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_definition(tmp_path, spec, expected):
    path = tmp_path / "bad_model.json"
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec, indent=1))
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    msg = str(info.value)
    assert msg.startswith(str(path) + ": "), msg
    assert "\nReceived: " in msg, msg
    for part in expected:
        assert part in msg, f"{part!r} not in:\n{msg}"


def test_every_error_in_a_layer_names_the_layer(tmp_path):
    """The layer label form `layers[i] 'name' (Kind)` appears for errors raised by kinds."""
    path = tmp_path / "m.json"
    path.write_text(json.dumps(with_layers({"type": "Dense", "units": 3, "name": "hidden"},
                                           {"type": "Dense", "units": 0, "name": "out"})))
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    e = info.value
    assert e.file == str(path)
    assert e.layer == "layers[1] 'out' (Dense)"
    assert e.field == "units"


def test_missing_file(tmp_path):
    with pytest.raises(DefinitionError, match="does not exist"):
        load_definition(tmp_path / "nope.json")


def test_not_utf8(tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(b'{"name": "\xff"}')
    with pytest.raises(DefinitionError, match="not UTF-8"):
        load_definition(path)


@pytest.mark.parametrize("ext,what", [(".keras", "model.save('model.keras')"),
                                      (".h5", "model.save('model.h5')")])
def test_empty_keras_files_get_a_clear_error(tmp_path, ext, what):
    """Named as empty, with what a file of that kind is (issue 16, first contact)."""
    pytest.importorskip("h5py")
    path = tmp_path / f"model{ext}"
    path.write_text("")
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    msg = str(info.value)
    assert "the file is empty" in msg and what in msg and path.name in msg and "Received: " in msg


def test_unknown_extension_lists_supported(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text("")
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    msg = str(info.value)
    assert "'.yaml'" in msg
    for ext in (".json", ".keras", ".py", "build folder"):
        assert ext in msg
