"""The graph form of the seqc spec: `inputs`/`outputs`, `from`, `share` and `repeat`, its
errors located at the entry (exit 2 in the CLI), and chains left exactly as they were."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import load_definition


def write(tmp_path, doc, name="g.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return str(p)


RESIDUAL = {"inputs": {"x": [10, 4]}, "layers": [
    {"type": "Conv1D", "filters": 6, "kernel_size": 3, "padding": "same", "name": "c"},
    {"type": "Dense", "units": 6, "name": "proj", "from": "x"},
    {"type": "Add", "from": ["c", "proj"]},
    {"type": "Highway", "repeat": 3, "name": "hw"},
    {"repeat": 2, "layers": [
        {"type": "Dense", "units": 6, "name": "d"},
        {"type": "Add", "from": ["d", "$input"], "name": "res"}]},
    {"type": "Dense", "share": "d_1", "from": "res_2"},
    {"type": "Dense", "units": 2, "activation": "softmax"}]}


def test_graph_spec_expands_repeats_names_and_shares(tmp_path):
    g = load_definition(write(tmp_path, RESIDUAL)).model.graph
    names = [n.name for n in g.nodes]
    assert names == ["c", "proj", "add", "hw_1", "hw_2", "hw_3", "d_1", "res_1", "d_2",
                     "res_2", "dense", "dense_1", "dense_1/activation"]
    by = {n.name: n for n in g.nodes}
    assert by["add"].inputs == ("c", "proj")
    assert by["hw_1"].inputs == ("add",) and by["hw_3"].inputs == ("hw_2",)
    assert by["res_1"].inputs == ("d_1", "hw_3")  # $input of repetition 1: the entry before
    assert by["res_2"].inputs == ("d_2", "res_1")
    assert by["dense"].shares == "d_1" and by["dense"].inputs == ("res_2",)
    assert g.inputs == ("x",) and g.outputs == ("dense_1/activation",)
    assert "dense/kernel" not in g.param_specs  # a shared layer's weights are its owner's


def test_graph_spec_numerics_match_hand_computation(tmp_path):
    doc = {"inputs": {"a": [3], "b": [3]}, "outputs": ["s", "m"], "layers": [
        {"type": "Dense", "units": 3, "name": "enc", "from": "a", "use_bias": False},
        {"type": "Dense", "share": "enc", "from": "b", "name": "enc_b"},
        {"type": "Add", "from": ["enc", "enc_b"], "name": "s"},
        {"type": "Multiply", "from": ["a", "b"], "name": "m"}]}
    m = load_definition(write(tmp_path, doc)).model
    w = m.params["enc/kernel"]
    a, b = np.ones((2, 3), np.float32), np.arange(6, dtype=np.float32).reshape(2, 3)
    s, prod = m.predict({"a": a, "b": b})
    np.testing.assert_allclose(s, a @ w + b @ w, rtol=1e-6)
    np.testing.assert_allclose(prod, a * b)


def test_chain_of_repeats_equals_the_written_out_chain(tmp_path):
    short = {"input_shape": [5], "layers": [{"type": "Dense", "units": 5, "repeat": 3},
                                            {"type": "Dense", "units": 1}]}
    long = {"input_shape": [5], "layers": [{"type": "Dense", "units": 5}] * 3
            + [{"type": "Dense", "units": 1}]}
    a = load_definition(write(tmp_path, short, "a.json")).model
    b = load_definition(write(tmp_path, long, "b.json")).model
    assert a.graph.is_chain and a.graph.inputs == b.graph.inputs == ("input",)
    assert [n.op for n in a.graph.nodes] == [n.op for n in b.graph.nodes]
    assert a.count_params() == b.count_params()


@pytest.mark.parametrize("doc,parts", [
    ({"inputs": {"x": [4]}, "layers": [
        {"type": "Dense", "units": 4, "name": "a", "from": "b"},
        {"type": "Dense", "units": 4, "name": "b", "from": "a"}]},
     ["layers[0] 'a' (Dense)", "'b' is defined later", "cycle"]),
    ({"inputs": {"x": [4]}, "layers": [
        {"type": "Dense", "units": 4, "name": "enc"},
        {"type": "Dense", "units": 4, "from": "encc"}]},
     ["layers[1] 'dense' (Dense)", "'encc' names no graph input", "did you mean 'enc'"]),
    ({"inputs": {"x": [4]}, "layers": [
        {"type": "Dense", "units": 3, "name": "d"},
        {"type": "Add", "from": ["d", "x"]}]},
     ["layers[1] 'add' (Add)", "'d' f32[N,3]", "'x' f32[N,4]"]),
    ({"inputs": {"x": [4], "unused": [4]}, "layers": [
        {"type": "Dense", "units": 3, "from": "x"}]},
     ["graph input 'unused' is not used", "inputs=['x', 'unused']"]),
    ({"inputs": {"x": [4], "y": [4]}, "layers": [{"type": "Dense", "units": 3}]},
     ["layers[0] (Dense)", "several", 'add "from"']),
    ({"inputs": {"x": [4]}, "layers": [{"repeat": 2, "layers": [
        {"type": "Dense", "units": 4, "name": "d"},
        {"type": "Add", "from": ["d", "$input", "dd"]}]}]},
     ["layers[0].layers[1] 'add' (Add) (repeat 1 of 2)", "'dd'", "names defined so far: x, d_1"]),
    ({"inputs": {"x": [4]}, "layers": [{"type": "Dense", "units": 4, "from": "$input"}]},
     ["layers[0]", "'$input' is only defined inside a repeated block"]),
    ({"inputs": {"x": [4]}, "input_shape": [4], "layers": [{"type": "Dense", "units": 4}]},
     ["input_shape and inputs both"]),
    ({"inputs": {"x": [4]}, "layers": [{"type": "Dense", "units": 4},
                                       {"type": "InputLayer", "shape": [4], "from": "x"}]},
     ["layers[1] (InputLayer)", "an InputLayer is a graph input"]),
])
def test_graph_spec_errors_name_the_entry_and_its_inputs(tmp_path, doc, parts):
    with pytest.raises(DefinitionError) as e:
        load_definition(write(tmp_path, doc))
    msg = str(e.value)
    assert "g.json" in msg
    for p in parts:
        assert p in msg, msg


def test_graph_spec_error_exits_2_in_the_cli(tmp_path):
    from click.testing import CliRunner

    from seqc.cli import cli

    doc = {"inputs": {"x": [4]}, "layers": [{"type": "Dense", "units": 4, "from": "xx"}]}
    r = CliRunner().invoke(cli, ["summary", write(tmp_path, doc)])
    assert r.exit_code == 2 and "did you mean 'x'" in r.output, r.output
    assert "Traceback" not in r.output


def test_a_leading_input_layer_is_the_graph_input(tmp_path):
    doc = {"layers": [{"type": "InputLayer", "shape": [4]}, {"type": "Dense", "units": 4,
                                                             "name": "d"},
                      {"type": "Add", "from": ["d", "input"]}]}
    g = load_definition(write(tmp_path, doc)).model.graph
    assert g.inputs == ("input",) and [n.op for n in g.nodes] == ["Dense", "Add"]


def test_schema_refuses_a_bad_block(tmp_path):
    doc = {"input_shape": [4], "layers": [{"repeat": 0, "layers": []}]}
    with pytest.raises(DefinitionError):
        load_definition(write(tmp_path, doc))


TWO_HEADS = {
    "inputs": {"features": [4]},
    "layers": [{"type": "Dense", "units": 5, "name": "trunk"},
               {"type": "Dense", "units": 1, "name": "a", "from": "trunk"},
               {"type": "Dense", "units": 2, "name": "b", "from": "trunk",
                "activation": "softmax"}],
    "outputs": ["a", "b"],
    "compile": {"optimizer": "sgd", "loss": {"a": "mse", "b": "sparse_categorical_crossentropy"},
                "loss_weights": [1.0, 0.5], "metrics": {"b": ["accuracy"]}},
}


def test_per_output_compile_settings_in_a_spec_train_end_to_end(tmp_path):
    from click.testing import CliRunner

    from seqc.cli import cli

    (tmp_path / "s.json").write_text(json.dumps(TWO_HEADS))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", features=rng.normal(size=(32, 4)).astype(np.float32),
             a=rng.normal(size=(32, 1)).astype(np.float32), b=rng.integers(0, 2, 32))
    r = CliRunner().invoke(cli, ["build", str(tmp_path / "s.json"), "--data",
                                 str(tmp_path / "d.npz"), "-o", str(tmp_path / "out"),
                                 "--epochs", "2", "-q"])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    history = json.dumps(report)
    assert all(k in history for k in ("a_loss", "b_loss", "b_accuracy"))


@pytest.mark.parametrize("loss,match", [
    ({"a": "mse", "b": 3}, "compile.loss"),
    ({"a": "mse", "b": "no_such_loss"}, "no_such_loss"),
])
def test_bad_per_output_losses_are_definition_errors(tmp_path, loss, match):
    import seqc.errors

    doc = {**TWO_HEADS, "compile": {"optimizer": "sgd", "loss": loss}}
    (tmp_path / "s.json").write_text(json.dumps(doc))
    with pytest.raises(seqc.errors.SeqcError, match=match):
        defn = load_definition(str(tmp_path / "s.json"))
        defn.model.compile(**defn.compile)
