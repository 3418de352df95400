"""seqc build / predict / validate of models with several inputs and outputs, on an .npz of
arrays named after the model's inputs and outputs (docs/cli.md, "Several inputs and
outputs")."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import seqc
from seqc.cli import cli
from seqc.export.onnx_export import onnx_output_names
from seqc.ir.serialize import dumps, params_to_npz_bytes


def _shared():
    """The graphs and data of tests/training/test_multio_fit.py (read by path: tests is not a
    package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "training" / "test_multio_fit.py"
    spec = importlib.util.spec_from_file_location("_multio_fit", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_M = _shared()
X, XA, XB, YA, YB, YS = _M.X, _M.XA, _M.XB, _M.YA, _M.YB, _M.YS
N_ROWS = len(XA)
pair_graph, two_head_graph = _M.pair_graph, _M.two_head_graph


def _folder(tmp_path, graph, compile_cfg):
    d = tmp_path / graph.name
    d.mkdir()
    model = seqc.Model(graph, seed=0)
    (d / "model.ir.json").write_text(dumps(model.graph))
    (d / "weights.npz").write_bytes(params_to_npz_bytes(model.params))
    (d / "report.json").write_text(json.dumps({"compile": compile_cfg}))
    return d


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("kind", ["two_outputs", "two_inputs"])
def test_build_predict_validate_with_named_arrays(tmp_path, kind):
    if kind == "two_outputs":
        graph, cfg = two_head_graph(), {"optimizer": "adam",
                                        "loss": ["mse", "categorical_crossentropy"],
                                        "loss_weights": [1.0, 0.5],
                                        "metrics": {"out_b": ["accuracy"]}}
        arrays, inputs = {"x": X, "out_a": YA, "out_b": YB}, {"x": X}
    else:
        graph, cfg = pair_graph(), {"optimizer": "adam", "loss": "binary_crossentropy"}
        arrays, inputs = {"a": XA, "b": XB, "same": YS}, {"a": XA, "b": XB}
    src = _folder(tmp_path, graph, cfg)
    np.savez(tmp_path / "d.npz", **arrays)
    out = tmp_path / "out"
    r = _run("build", src, "--data", tmp_path / "d.npz", "-o", out, "--epochs", 2, "-q")
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["trained"] and report["validation"]["ok"]
    if kind == "two_outputs":
        assert set(report["history"]) == {"loss", "out_a_loss", "out_b_loss", "out_b_accuracy"}
        assert report["validation"]["output_names"] == ["out_a", "out_b"]
    trained = seqc.load(str(out))
    want = trained.predict(inputs)
    want = want if isinstance(want, list) else [want]
    r = _run("predict", out, tmp_path / "d.npz", "-o", tmp_path / "p.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "p.npz") as z:
        # ONNX's output names: the layers' for several outputs, "output" for one.
        assert list(z.files) == onnx_output_names(graph)
        for name, w in zip(z.files, want):
            np.testing.assert_allclose(z[name], w, atol=1e-5)
    r = _run("validate", out, "--inputs", tmp_path / "d.npz", "--runtimes",
             "numpy,onnxruntime,onnx-reference")
    assert r.exit_code == 0 and "all runtimes agree" in r.output, r.output
    if kind == "two_outputs":
        assert "output 1 'out_b'" in r.output
    # The build embedded test vectors (format 2, named arrays): validate without inputs
    # re-checks them, on the folder and on the .onnx file alone, and load(check=True) too.
    assert report["test_vectors"]["rows"] == 8
    for target in (out, out / "model.onnx"):
        r = _run("validate", target)
        assert r.exit_code == 0 and "test vectors (8 rows, inline)" in r.output, r.output
    seqc.load(str(out), check=True)
    weights = dict(np.load(out / "weights.npz"))
    key = sorted(weights)[0]
    weights[key] = weights[key] + 1.0
    np.savez(out / "weights.npz", **weights)
    with pytest.raises(seqc.errors.ValidationFailure, match="disagrees with its stored"):
        seqc.load(str(out), check=True)


def test_named_array_mistakes_are_clear_errors(tmp_path):
    src = _folder(tmp_path, pair_graph(), {"optimizer": "adam", "loss": "binary_crossentropy"})
    np.savez(tmp_path / "bad.npz", a=XA, bb=XB, same=YS)
    r = _run("build", src, "--data", tmp_path / "bad.npz", "-o", tmp_path / "o")
    assert r.exit_code == 2 and "no array 'b'" in r.output and "did you mean 'bb'" in r.output
    np.savez(tmp_path / "half.npz", a=XA, b=XB, same=YS)
    np.save(tmp_path / "x.npy", XA)
    np.savez(tmp_path / "wide.npz", a=XA, b=np.ones((N_ROWS, 5), np.float32))
    for cmd in (["validate", "--inputs", tmp_path / "wide.npz"],
                ["predict", tmp_path / "wide.npz", "-o", tmp_path / "p.npz"]):
        built = tmp_path / "built"
        if not built.exists():
            assert _run("build", src, "-o", built, "--no-train", "-q").exit_code == 0
        r = _run(cmd[0], built, *cmd[1:])
        assert r.exit_code == 2 and "input 'b': the model expects input of shape (N, 4)" \
            in r.output, r.output
    r = _run("build", src, "--x", tmp_path / "x.npy", "-o", tmp_path / "o")
    assert r.exit_code == 2 and "one .npz" in r.output
    r = _run("build", src, "--data", tmp_path / "half.npz", "-o", tmp_path / "o", "--float16")
    assert r.exit_code == 2 and "one input and one output" in r.output
    two = _folder(tmp_path, two_head_graph(), {"optimizer": "adam", "loss": "mse"})
    np.savez(tmp_path / "part.npz", x=X, out_a=YA)  # out_b's labels missing
    r = _run("build", two, "--data", tmp_path / "part.npz", "-o", tmp_path / "o2")
    assert r.exit_code == 2 and "no array 'out_b'" in r.output
    r = _run("build", two, "--data", tmp_path / "half.npz", "-o", tmp_path / "o2", "--no-train")
    assert r.exit_code == 2 and "no array 'x'" in r.output
    out = tmp_path / "o3"
    assert _run("build", two, "-o", out, "--no-train", "-q").exit_code == 0
    r = _run("predict", out, tmp_path / "x.npy", "-o", tmp_path / "p.npy")
    assert r.exit_code == 2 and "write them to an .npz" in r.output


def test_validate_of_two_inputs_names_the_diverging_layer():
    from seqc.export import to_onnx
    from seqc.runtime import ModelSource

    model = seqc.Model(pair_graph(), seed=1)
    onnx_model = to_onnx(model.graph, model.params)
    changed = dict(model.params)
    key = next(k for k in changed if k.startswith("same/"))
    changed[key] = changed[key] + 0.5  # the IR's head no longer matches the ONNX file's
    src = ModelSource(model.graph, changed, onnx_model, label="pairs")
    r = seqc.validate(src, [XA, XB], runtimes=["numpy", "onnxruntime"], print_table=False)
    assert not r.ok
    assert r["onnxruntime"].first_divergence["layer"] == "same", r.format_table()


def test_build_validates_on_named_arrays_given_with_val_data(tmp_path):
    graph, cfg = two_head_graph(), {"optimizer": "adam",
                                    "loss": ["mse", "categorical_crossentropy"],
                                    "metrics": {"out_b": ["accuracy"]}}
    src = _folder(tmp_path, graph, cfg)
    np.savez(tmp_path / "d.npz", x=X, out_a=YA, out_b=YB)
    np.savez(tmp_path / "v.npz", x=X[:5], out_a=YA[:5], out_b=YB[:5])
    out = tmp_path / "out"
    r = _run("build", src, "--data", tmp_path / "d.npz", "--val-data", tmp_path / "v.npz",
             "-o", out, "--epochs", 2, "-q")
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert {"val_out_a_loss", "val_out_b_accuracy"} <= set(report["history"])
