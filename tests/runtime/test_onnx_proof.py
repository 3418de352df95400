"""Issue 16 part 4: the proof travels with the model. Every shipped example's model.onnx,
alone in a folder, validates on numpy (its embedded IR) and onnxruntime at every graph
optimization level and the ONNX reference, and `seqc.load` gives back a model that predicts
as the build did, re-exports byte for byte, and trains on."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import seqc
from seqc.cli import cli
from seqc.ir import embedded

ROOT = Path(__file__).resolve().parents[2] / "examples"
# The JSON examples and the Python one `seqc build` reads (two_input_pairs.py is a script to
# run, not a definition).
EXAMPLES = sorted(p.name for p in ROOT.glob("*.json")) + ["quickstart.py"]
os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each example built once, untrained, and its model.onnx copied alone into a folder."""
    from seqc.pipeline import BuildOptions, build

    out = {}
    for name in EXAMPLES:
        stem = name.rsplit(".", 1)[0]
        folder = tmp_path_factory.mktemp(stem)
        build(str(ROOT / name), BuildOptions(out_dir=str(folder), train=False, verbose=0,
                                             log=None))
        lone = tmp_path_factory.mktemp(f"{stem}_lone") / "model.onnx"
        shutil.copy(folder / "model.onnx", lone)
        out[name] = (folder, lone)
    return out


@pytest.mark.parametrize("name", EXAMPLES)
def test_lone_model_onnx_validates_on_at_least_four_runtimes(built, name):
    _, lone = built[name]
    r = CliRunner().invoke(cli, ["validate", str(lone), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    names = [row["runtime"] for row in doc["runtimes"]]
    assert doc["reference"] == "numpy" and doc["ok"]
    assert {"onnxruntime", "onnxruntime-basic", "onnxruntime-noopt"} <= set(names)
    assert len(names) >= 4, names
    assert doc["test_vectors"]["ok"]
    if "onnxruntime-cuda" not in names:  # the skipped runtime is said, not silently dropped
        assert any(n.startswith("onnxruntime-cuda: skipped") for n in doc["notes"])


@pytest.mark.parametrize("name", EXAMPLES)
def test_load_round_trips_every_example(built, name, tmp_path):
    folder, lone = built[name]
    model = seqc.load(str(lone))
    ref = seqc.load(str(folder))
    assert list(model.params) == list(ref.params)
    for k, w in ref.params.items():  # the weights read back from the initializers, exactly
        assert model.params[k].tobytes() == w.tobytes(), k
    out = model.export(str(tmp_path / "again.onnx"))
    assert Path(out).read_bytes() == lone.read_bytes()
    assert model.compiled is not None  # the build's compile settings travel too
    assert seqc.load(str(lone), check=True).count_params() == model.count_params()


@pytest.mark.parametrize("name", ["digits_cnn.json", "sunspots_lstm.json", "quickstart.py"])
def test_loaded_model_trains_on_and_its_export_still_validates(built, name, tmp_path):
    _, lone = built[name]
    model = seqc.load(str(lone))
    g = model.graph
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, *g.input_type.shape[1:])).astype(np.float32)
    y = model.predict(x)
    loss = model.compiled.loss.get_config()["type"]
    if loss.startswith("Sparse"):
        y = np.argmax(y, axis=-1)
    before = {k: w.copy() for k, w in model.params.items()}
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert any(not np.array_equal(before[k], model.params[k]) for k in before)
    out = tmp_path / "trained.onnx"
    model.export(str(out))
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert "seqc.test_vectors" not in props  # they belonged to the old weights
    assert seqc.validate(str(out), print_table=False).ok


@pytest.mark.parametrize("name", EXAMPLES)
def test_weights_are_read_from_the_initializers_not_duplicated(built, name):
    """Each weight is read from the initializers: where it is (any transpose, reshape or
    gate order), or, for a kernel an IR pass scaled (a folded BatchNormalization), the
    scale and the few bits the division misses. Only small vectors (folded statistics)
    are stored inline."""
    folder, lone = built[name]
    props = {p.key: p.value for p in onnx.load(str(lone)).metadata_props}
    doc = embedded.parse(props[embedded.KEY], None)
    specs = doc["graph"]["params"]
    inline = {k: int(np.prod(specs[k]["shape"])) for k, w in doc["weights"].items()
              if "data" in w}
    assert all(n <= 256 for n in inline.values()), inline
    assert len(props[embedded.KEY]) < 0.35 * lone.stat().st_size + 4096


def test_lstm_gates_are_read_in_place(built):
    _, lone = built["sequence_classifier.json"]
    props = {p.key: p.value for p in onnx.load(str(lone)).metadata_props}
    doc = embedded.parse(props[embedded.KEY], None)
    assert all("init" in w and "div" not in w for w in doc["weights"].values())


def test_an_edited_initializer_name_is_named_and_validate_goes_on(built, tmp_path):
    _, lone = built["digits_mlp.json"]
    m = onnx.load(str(lone))
    doc = embedded.parse(next(p.value for p in m.metadata_props if p.key == embedded.KEY),
                         None)
    name = next(w["init"] for w in doc["weights"].values() if "init" in w)
    for t in m.graph.initializer:
        if t.name == name:
            t.name = "renamed"
    for n in m.graph.node:
        n.input[:] = ["renamed" if v == name else v for v in n.input]
    path = tmp_path / "edited.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(seqc.SeqcError, match="cannot be read back"):
        seqc.load(str(path))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 0, r.output  # the ONNX runtimes still compare
    assert "numpy: skipped, the embedded seqc IR cannot be used" in r.output


def test_cleanup_keeps_the_embedded_ir_true(built, tmp_path):
    from seqc.export.cleanup import cleanup_file

    _, lone = built["resnet_digits.json"]
    path = tmp_path / "clean.onnx"
    cleanup_file(lone, path)
    assert seqc.validate(str(path), print_table=False).ok
    a, b = seqc.load(str(lone)), seqc.load(str(path))
    assert all(a.params[k].tobytes() == b.params[k].tobytes() for k in a.params)


def test_validate_runs_each_optimization_level():
    from seqc.runtime.runners import RUNTIMES

    levels = {n: RUNTIMES[n].optimization for n in
              ("onnxruntime", "onnxruntime-basic", "onnxruntime-noopt")}
    assert levels == {"onnxruntime": "all", "onnxruntime-basic": "basic",
                      "onnxruntime-noopt": "disabled"}


def test_a_float16_variant_is_refused_with_the_file_it_came_from(built, tmp_path):
    from seqc.export.variants import float16, set_meta, variant_meta

    _, lone = built["digits_mlp.json"]
    m = float16(onnx.load(str(lone)))
    set_meta(m, variant_meta("float16", str(lone), 1e-2))
    assert embedded.KEY not in {p.key for p in m.metadata_props}
    path = tmp_path / "model.fp16.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(seqc.SeqcError, match="export variant \\(float16\\).*model.onnx"):
        seqc.load(str(path))



def _with_ir(lone, value: str, path):
    m = onnx.load(str(lone))
    for p in m.metadata_props:
        if p.key == embedded.KEY:
            p.value = value
    path.write_bytes(m.SerializeToString())
    return path


def _body(doc: dict | str) -> str:
    import base64
    import zlib

    text = doc if isinstance(doc, str) else json.dumps(doc)
    return json.dumps({"format": embedded.FORMAT, "version": embedded.VERSION,
                       "body": base64.b64encode(zlib.compress(text.encode())).decode()})


@pytest.mark.parametrize("case", ["not json", "wrong format", "bad base64", "bomb", "deep",
                                  "huge shape", "bad residual"])
def test_a_hostile_seqc_ir_entry_is_a_clean_refusal(built, tmp_path, case):
    import base64
    import zlib

    _, lone = built["digits_cnn.json"]
    props = {p.key: p.value for p in onnx.load(str(lone)).metadata_props}
    doc = embedded.parse(props[embedded.KEY], None)
    if case == "not json":
        value = "{"
    elif case == "wrong format":
        value = json.dumps({"format": "x", "version": 1})
    elif case == "bad base64":
        value = json.dumps({"format": embedded.FORMAT, "version": 1, "body": "%%%"})
    elif case == "bomb":  # 1 GiB of zeros in a few kB: refused past MAX_BODY
        z = zlib.compressobj()
        data = b"".join(z.compress(bytes(2**24)) for _ in range(64)) + z.flush()
        value = json.dumps({"format": embedded.FORMAT, "version": 1,
                            "body": base64.b64encode(data).decode()})
    elif case == "deep":
        value = _body('{"graph": ' + "[" * 100000 + "]" * 100000 + ', "weights": {}}')
    elif case == "huge shape":
        key = next(iter(doc["graph"]["params"]))
        doc["graph"]["params"][key]["shape"] = [10**6, 10**6]
        value = _body(doc)
    else:
        key = next(k for k, w in doc["weights"].items() if "div" in w)
        doc["weights"][key]["residual"] = base64.b64encode(zlib.compress(bytes(10**7))).decode()
        value = _body(doc)
    path = _with_ir(lone, value, tmp_path / "model.onnx")
    with pytest.raises(seqc.SeqcError):
        seqc.load(str(path))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 0, r.output
    assert "numpy: skipped, the embedded seqc IR cannot be used" in r.output
