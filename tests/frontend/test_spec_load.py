"""Valid definitions: golden IR text, the Definition's sections, IR/npz round trips, build
folders, relative paths, the shipped examples, and `seqc.load`."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

import seqc
from seqc.errors import DataError, DefinitionError
from seqc.frontend import Definition, load_definition, one_hot
from seqc.frontend._json import SCHEMA_PATH, spec_validator
from seqc.ir.printer import format_graph
from seqc.ir.serialize import (
    dumps,
    graph_from_json,
    graph_to_json,
    params_from_npz,
    params_to_npz_bytes,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
GOLDEN = HERE / "golden"
GOLDEN_SPEC = HERE / "specs" / "golden_mlp.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
SPECS = [GOLDEN_SPEC, *EXAMPLES]


def write_spec(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_golden_ir_text(spec):
    """The printed IR of each spec is stored; set SEQC_UPDATE_GOLDEN=1 to rewrite it."""
    text = format_graph(load_definition(spec).model.graph)
    golden = GOLDEN / f"{spec.stem}.ir.txt"
    if os.environ.get("SEQC_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.exists(), f"missing golden {golden}; run with SEQC_UPDATE_GOLDEN=1"
    assert text == golden.read_text()


def test_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"breast_cancer_mlp.json", "digits_mlp.json"}


def test_definition_sections():
    d = load_definition(GOLDEN_SPEC)
    assert isinstance(d, Definition)
    assert d.name == d.model.name == "golden_mlp"
    assert d.path == str(GOLDEN_SPEC)
    assert d.format == "seqc-spec"
    assert d.source_hash == hashlib.sha256(GOLDEN_SPEC.read_bytes()).hexdigest()
    assert d.description.startswith("Every spec feature")
    assert d.compile == {"optimizer": {"type": "adam", "learning_rate": 0.01},
                         "loss": "categorical_crossentropy", "metrics": ["accuracy"]}
    # JSON object keys are strings; class_weight maps class indices as in Keras.
    assert d.fit == {"epochs": 2, "batch_size": 8, "seed": 7, "class_weight": {0: 1.0, 2: 0.5}}
    # Relative paths resolve against the spec's folder, not the working directory.
    assert d.data == {"x": str(HERE / "specs" / "arrays" / "x.npy"),
                      "y": str(HERE / "arrays" / "y.npy")}
    assert d.one_hot is True
    g = d.model.graph
    assert str(g.input_type) == "f32[N,2,6]"
    assert [n.op for n in g.nodes][0] == "Flatten"  # the InputLayer was consumed
    assert [n.name for n in g.nodes if not n.trainable] == ["dense"]
    assert str(g.output_type) == "f32[N,3]"
    assert d.model.source == str(GOLDEN_SPEC)


def test_seed_comes_from_fit_and_is_deterministic(tmp_path):
    a = load_definition(GOLDEN_SPEC).model
    b = load_definition(GOLDEN_SPEC).model
    assert a.seed == 7
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    doc = json.loads(GOLDEN_SPEC.read_text())
    doc["fit"]["seed"] = 8
    c = load_definition(write_spec(tmp_path / "s.json", doc)).model
    assert not np.array_equal(a.params["hidden/kernel"], c.params["hidden/kernel"])
    del doc["fit"]
    d = load_definition(write_spec(tmp_path / "t.json", doc))
    assert d.fit is None and d.model.seed == 0


def test_params_initialised_with_declared_shapes():
    m = load_definition(GOLDEN_SPEC).model
    specs = m.graph.param_specs
    assert list(specs) == list(m.params)
    for k, s in specs.items():
        assert m.params[k].shape == s.shape and m.params[k].dtype == np.dtype(s.dtype)
    assert m.params["hidden/kernel"].shape == (12, 16)
    assert "dense/bias" not in m.params  # use_bias=false


def test_minimal_spec_defaults(tmp_path):
    path = write_spec(tmp_path / "my model.json",
                      {"layers": [{"type": "Dense", "units": 2, "input_shape": [3]}]})
    d = load_definition(path)
    assert d.name == "my_model"  # file stem, made safe for build/<name>/
    assert d.compile is None and d.fit is None and d.data is None and not d.one_hot
    assert str(d.model.graph.input_type) == "f32[N,3]"


@pytest.mark.parametrize("first,expected", [
    ({"type": "InputLayer", "batch_shape": [None, 5], "dtype": "float64"}, "f64[N,5]"),
    ({"type": "InputLayer", "shape": [None, 5]}, "f32[N,?,5]"),
    ({"type": "Input", "shape": [5], "name": "features"}, "f32[N,5]"),
])
def test_input_layer_forms(tmp_path, first, expected):
    d = load_definition(write_spec(tmp_path / "m.json",
                                   {"layers": [first, {"type": "ReLU"}]}))
    assert str(d.model.graph.input_type) == expected


def test_input_dtype(tmp_path):
    doc = {"input_shape": [4], "input_dtype": "float64", "layers": [{"type": "ReLU"}]}
    assert str(load_definition(write_spec(tmp_path / "m.json", doc)).model.graph.input_type) \
        == "f64[N,4]"
    # A layer with float32 weights does not take it (seqc does not cast; Keras would).
    doc["layers"] = [{"type": "Dense", "units": 1}]
    with pytest.raises(DefinitionError, match="its input is float64"):
        load_definition(write_spec(tmp_path / "m.json", doc))
    # An integer input is promoted to float32 as Keras' matmul does: the Dense computes and
    # gives float32 (tests/ops/test_integer_promotion.py compares it with Keras and ONNX).
    for dtype in ("int32", "int64"):
        doc = {"input_shape": [4], "input_dtype": dtype, "layers": [{"type": "Dense", "units": 1}]}
        graph = load_definition(write_spec(tmp_path / "m.json", doc)).model.graph
        assert graph.input_type.dtype == dtype and str(graph.output_type) == "f32[N,1]"
    # Kinds that read integers themselves still take them.
    doc = {"input_shape": [4], "input_dtype": "int32",
           "layers": [{"type": "Embedding", "input_dim": 10, "output_dim": 2}]}
    assert str(load_definition(write_spec(tmp_path / "m.json", doc)).model.graph.output_type) \
        == "f32[N,4,2]"


def test_same_input_shape_twice_is_fine(tmp_path):
    doc = {"input_shape": [4], "layers": [{"type": "Dense", "units": 1, "input_shape": [4]}]}
    assert load_definition(write_spec(tmp_path / "m.json", doc)).model.input_shape == (None, 4)


def test_relative_data_paths_resolve_against_spec_folder(tmp_path, monkeypatch):
    spec = write_spec(tmp_path / "project" / "models" / "m.json", {
        "input_shape": [2], "layers": [{"type": "Dense", "units": 1}],
        "data": {"path": "../data/train.csv", "target": "y"}})
    monkeypatch.chdir(tmp_path)
    d = load_definition(os.path.relpath(spec))
    assert d.data == {"path": str(tmp_path / "project" / "data" / "train.csv"), "target": "y"}
    assert d.path == os.path.join("project", "models", "m.json")
    abs_path = str(tmp_path / "elsewhere.npz")
    spec2 = write_spec(tmp_path / "n.json", {"input_shape": [2], "layers": [
        {"type": "Dense", "units": 1}], "data": {"path": abs_path}})
    assert load_definition(spec2).data == {"path": abs_path}


def test_schema_is_valid_and_examples_match_it():
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")
    for p in SPECS:
        assert not list(spec_validator().iter_errors(json.loads(p.read_text())))


# ---- IR and parameter round trips ----

@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_ir_json_round_trip(spec):
    g = load_definition(spec).model.graph
    doc = json.loads(dumps(g))
    back = graph_from_json(doc)
    assert back == g
    assert graph_to_json(back) == doc
    assert format_graph(back) == format_graph(g)


def test_npz_params_round_trip(tmp_path):
    m = load_definition(GOLDEN_SPEC).model
    path = tmp_path / "weights.npz"
    path.write_bytes(params_to_npz_bytes(m.params))
    back = params_from_npz(path)
    assert list(back) == list(m.params)
    for k, v in m.params.items():
        assert back[k].dtype == v.dtype
        np.testing.assert_array_equal(back[k], v)


# ---- build folders ----

def make_build_folder(folder: Path, report: dict | None = None):
    m = load_definition(GOLDEN_SPEC).model
    rng = np.random.default_rng(1)
    trained = {k: (rng.standard_normal(v.shape) * 10).astype(v.dtype)
               for k, v in m.params.items()}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.ir.json").write_text(dumps(m.graph))
    (folder / "weights.npz").write_bytes(params_to_npz_bytes(trained))
    if report is not None:
        (folder / "report.json").write_text(json.dumps(report))
    return m.graph, trained


def test_build_folder_loads_graph_and_trained_weights(tmp_path):
    folder = tmp_path / "build" / "golden_mlp"
    compile_cfg = {"optimizer": "adam", "loss": "categorical_crossentropy"}
    graph, trained = make_build_folder(
        folder, {"class_names": ["a", "b", "c"], "compile": compile_cfg})
    d = load_definition(folder)
    assert d.format == "build-folder" and d.name == "golden_mlp" and d.path == str(folder)
    assert d.model.graph == graph
    assert d.compile == compile_cfg and d.fit is None and d.data is None
    assert d.model.class_names == ["a", "b", "c"]
    for k, v in trained.items():
        np.testing.assert_array_equal(d.model.params[k], v)
    assert d.source_hash == hashlib.sha256(
        (folder / "model.ir.json").read_bytes() + (folder / "weights.npz").read_bytes()
    ).hexdigest()
    m = seqc.load(folder, compile=False)
    assert m.spec.format == "build-folder"
    np.testing.assert_array_equal(m.get_weights()[0], trained["norm/mean"])


def test_build_folder_without_report(tmp_path):
    graph, _ = make_build_folder(tmp_path / "b")
    d = load_definition(tmp_path / "b")
    assert d.compile is None and d.model.class_names is None and d.model.graph == graph


def test_build_folder_errors(tmp_path):
    folder = tmp_path / "b"
    graph, trained = make_build_folder(folder)
    (folder / "weights.npz").unlink()
    with pytest.raises(DefinitionError, match="weights.npz is missing"):
        load_definition(folder)
    bad = dict(trained)
    bad["hidden/kernel"] = np.zeros((3, 3), np.float32)
    (folder / "weights.npz").write_bytes(params_to_npz_bytes(bad))
    with pytest.raises(DefinitionError, match="hidden/kernel has the wrong shape"):
        load_definition(folder)
    del bad["hidden/kernel"]
    (folder / "weights.npz").write_bytes(params_to_npz_bytes(bad))
    with pytest.raises(DefinitionError, match="does not match model.ir.json"):
        load_definition(folder)
    (folder / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(DefinitionError, match="unreadable weights"):
        load_definition(folder)
    (folder / "weights.npz").write_bytes(params_to_npz_bytes(trained))
    (folder / "model.ir.json").write_text('{"format": "seqc-ir", "nodes": [{}]}')
    with pytest.raises(DefinitionError, match="malformed seqc IR"):
        load_definition(folder)
    (folder / "model.ir.json").write_text('{"format": "other"}')
    with pytest.raises(DefinitionError, match="not a seqc IR file"):
        load_definition(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DefinitionError, match="not a seqc build folder"):
        load_definition(empty)


# ---- seqc.load ----

def test_load_without_compile_keeps_the_definition():
    m = seqc.load(EXAMPLES[0], compile=False)
    assert isinstance(m, seqc.Model)
    assert m.compiled is None
    assert isinstance(m.spec, Definition) and m.spec.path == str(EXAMPLES[0])


def test_load_compiles_with_the_compile_section():
    m = seqc.load(ROOT / "examples" / "breast_cancer_mlp.json")
    assert m.compiled is not None
    assert m.spec.fit["validation_split"] == 0.2


# ---- labels ----

def test_one_hot():
    y = one_hot(np.array([0, 2, 1, 2]), 3)
    np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[[0, 2, 1, 2]])
    assert y.dtype == np.float32
    np.testing.assert_array_equal(one_hot(np.array([[1.0], [0.0]]), 2), [[0, 1], [1, 0]])
    already = np.eye(4, dtype=np.float32)
    assert one_hot(already, 4) is already
    with pytest.raises(DataError, match="class id 3 is outside"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(DataError, match="class id -1"):
        one_hot(np.array([0, -1]), 3)
    with pytest.raises(DataError, match="integer class ids"):
        one_hot(np.array([0.5, 1.0]), 3)
    with pytest.raises(DataError, match="one class id per sample"):
        one_hot(np.zeros((2, 2, 2)), 3)


def test_prepare_labels_uses_the_model_output_width():
    d = load_definition(GOLDEN_SPEC)  # output f32[N,3], data.one_hot true
    np.testing.assert_array_equal(d.prepare_labels(np.array([2, 0])), [[0, 0, 1], [1, 0, 0]])
    d.one_hot = False
    y = np.array([2, 0])
    assert d.prepare_labels(y) is y
