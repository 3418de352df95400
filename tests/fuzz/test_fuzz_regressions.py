"""One test per crash class the fuzz suite found (exit 70 or a hang before the fix), each on
the smallest input that showed it: a clear exit 2 naming the file, and where there is one, the
layer and the field."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqc.cli import cli

from ._frontends import SEEDS, build_folder_seed

MLP_JSON = json.loads((SEEDS / "mlp_keras3.json").read_text())
FUNC_JSON = json.loads((SEEDS / "func_keras3.json").read_text())


def refused(argv: list, *words: str) -> str:
    r = CliRunner().invoke(cli, [str(a) for a in argv])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    for w in words:
        assert w in r.output, r.output
    return r.output


def _layer(doc: dict, name: str) -> dict:
    return next(e for e in doc["config"]["layers"] if e["config"].get("name") == name)


def _func(edit) -> dict:
    doc = json.loads(json.dumps(FUNC_JSON))
    edit(doc)
    return doc


@pytest.mark.parametrize("doc, words", [
    # A tensor reference [layer, node, tensor] whose indices are not integers.
    (_func(lambda d: _layer(d, "g")["inbound_nodes"][0]["args"][0]["config"]
           .__setitem__("keras_history", ["l", 0, {"value": 0}])),
     ["'g' (GlobalAveragePooling1D)", "keras_history"]),
    (_func(lambda d: d["config"].__setitem__("output_layers", [["o", [0], 0]])),
     ["output_layers", "[layer name, node index, tensor index]"]),
    # Layer entries with fields of the wrong type.
    (_func(lambda d: _layer(d, "f").__setitem__("inbound_nodes", 1.5)),
     ["layers[4] 'f'", "'inbound_nodes' must be a list"]),
    (_func(lambda d: _layer(d, "g").__setitem__("class_name", {"class_name": "Dense"})),
     ["'class_name' must be a string"]),
    # An initializer argument of the wrong type reached the weight draw.
    (json.loads(json.dumps(MLP_JSON).replace(
        '"GlorotUniform", "config": {"seed": null',
        '"Orthogonal", "config": {"gain": {"x": 1}, "seed": null', 1)),
     ["gain must be a finite number"]),
], ids=["keras-history", "output-layers", "inbound-nodes", "class-name", "initializer-arg"])
def test_wrong_typed_keras_json_fields(tmp_path, doc, words):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    refused(["summary", path], str(path), *words)


def _keras_with_weights(raw_edit) -> bytes:
    with zipfile.ZipFile(SEEDS / "mlp.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["model.weights.h5"] = raw_edit(members["model.weights.h5"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    return buf.getvalue()


def _bytes_set(raw: bytes, at: dict[int, int]) -> bytes:
    b = bytearray(raw)
    for k, v in at.items():
        b[k] = v
    return bytes(b)


def test_damaged_hdf5_that_hangs_libhdf5_is_refused_in_bounded_time(tmp_path, monkeypatch):
    # Two bytes of the global heap changed: reading a string attribute never returns inside
    # libhdf5 (holding the GIL). The forked probe is killed at its limit.
    import seqc.frontend._h5_probe as probe

    monkeypatch.setattr(probe, "BASE_SECONDS", 1.0)
    path = tmp_path / "m.keras"
    path.write_bytes(_keras_with_weights(lambda w: _bytes_set(w, {354: 8, 2048: 20})))
    refused(["summary", path], f"{path}:model.weights.h5", "did not finish")


def test_libhdf5_errors_on_a_damaged_file_name_it(tmp_path):
    # The seed's local heap signature damaged: h5py raises RuntimeError/KeyError/OSError.
    raw = (SEEDS / "mlp.keras").read_bytes()
    with zipfile.ZipFile(SEEDS / "mlp.keras") as zf:
        w = zf.read("model.weights.h5")
    at = w.index(b"HEAP")
    path = tmp_path / "m.keras"
    path.write_bytes(_keras_with_weights(lambda w: w[:at] + b"XEAP" + w[at + 4:]))
    assert path.read_bytes() != raw
    refused(["summary", path], f"{path}:model.weights.h5", "HDF5 file is damaged")


def test_h5_model_config_with_bytes_that_are_not_utf8(tmp_path):
    raw = (SEEDS / "mlp.h5").read_bytes()
    at = raw.index(b'"module"')
    path = tmp_path / "m.h5"
    path.write_bytes(raw[:at + 7] + b"\xff" + raw[at + 8:])
    refused(["summary", path], str(path), "not UTF-8")


def _folder(tmp_path: Path, **files: bytes) -> Path:
    folder = tmp_path / "b"
    folder.mkdir()
    for k, v in {**build_folder_seed(), **files}.items():
        (folder / k).write_bytes(v)
    return folder


def _ir(edit) -> bytes:
    doc = json.loads(build_folder_seed()["model.ir.json"])
    edit(doc)
    return json.dumps(doc).encode()


def _npz(**arrays) -> bytes:
    with np.load(io.BytesIO(build_folder_seed()["weights.npz"])) as z:
        params = {k: z[k] for k in z.files}
    buf = io.BytesIO()
    np.savez(buf, **{**params, **arrays})
    return buf.getvalue()


@pytest.mark.parametrize("files, words", [
    ({"model.ir.json": _ir(lambda d: d["types"]["input"].__setitem__("shape", [3]))},
     ["graph input 'input' must have the batch"]),
    ({"model.ir.json": _ir(lambda d: d["types"]["dense"].__setitem__("shape", [None, 5]))},
     ["(Dense)", "stored output type does not follow"]),
    ({"model.ir.json": _ir(lambda d: d["types"]["dense"].__setitem__("dtype", 1e54))},
     ["types.dense.dtype must be one of"]),
    ({"model.ir.json": _ir(lambda d: d["nodes"][0].__setitem__("attrs", {"units": [[]]}))},
     ["nodes[0] 'dense' (Dense)", "units"]),
    ({"weights.npz": _npz(**{"dense/bias": np.zeros(4, np.complex64)})},
     ["weight dense/bias is not an array of real numbers"]),
    ({"weights.npz": b"PK\x03\x04" + b"\x00" * 40}, ["unreadable weights file"]),
    ({"weights.npz": _npz()[:-200]}, ["unreadable weights file"]),
    # Found by benchmarks/fuzz.py -n 10000: a node's parameter list edited left the kernel
    # or the bias out of the arrays its kind reads (KeyError: 'kernel', exit 70).
    ({"model.ir.json": _ir(lambda d: d["nodes"][0].__setitem__("params", ["bias"]))},
     ["'dense' (Dense)", "parameter names are not its kind's"]),
    ({"model.ir.json": _ir(lambda d: d["nodes"][0]["attrs"].__setitem__("use_bias", False))},
     ["'dense' (Dense)", "stored ['kernel', 'bias'], Dense has ['kernel']"]),
    ({"model.ir.json": _ir(lambda d: d["params"].__setitem__("dense/x",
                                                            d["params"]["dense/bias"]))},
     ["declares parameters no node uses", "dense/x"]),
], ids=["input-without-batch", "type-mismatch", "dtype", "attrs", "complex", "zip-head",
        "truncated", "node-params", "use-bias", "stray-param"])
@pytest.mark.parametrize("command", ["summary", "validate", "predict"])
def test_damaged_build_folder(tmp_path, files, words, command):
    folder = _folder(tmp_path, **files)
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    extra = [tmp_path / "x.npy", "-o", tmp_path / "y.npy"] if command == "predict" else []
    refused([command, folder, *extra], str(folder), *words)
    assert not (tmp_path / "y.npy").exists()


def test_integer_argument_past_int64_is_refused(tmp_path):
    # It reached the ONNX exporter (int64 attributes) and failed there with a ValueError.
    path = tmp_path / "m.json"
    path.write_text('{"input_shape": [7, 2], "layers": [{"type": "AveragePooling1D", '
                    '"pool_size": 1' + "0" * 40 + ', "padding": "same"}]}')
    refused(["build", path, "--no-train", "-q", "-o", tmp_path / "o"], str(path),
            "'pool_size' must be an integer within int64's range")
    assert not (tmp_path / "o").exists()



def test_float_input_into_embedding_validates_on_token_ids(tmp_path):
    # A script's Embedding on the default float32 input: build --no-train validated it on
    # normal draws, which Embedding refused as ids out of range (an exit 2 naming no file).
    from ._frontends import FRONTEND_TESTS

    script = FRONTEND_TESTS / "fixtures" / "scripts" / "keras_rnn_function.py"
    r = CliRunner().invoke(cli, ["build", str(script), "--no-train", "-q", "-o",
                                 str(tmp_path / "o")])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("command", [["bench", "--batch-sizes", "1", "--min-time", "0",
                                      "--iterations", "1"], ["validate"], ["summary"]])
def test_an_initializer_whose_data_does_not_fill_its_dims_is_exit_2(tmp_path, command):
    # Found by the CI fuzz run: one byte added to a raw_data passes onnx.checker and failed in
    # numpy ("buffer size must be a multiple of element size"), exit 70.
    import onnx

    m = onnx.load_from_string(build_folder_seed()["model.onnx"])
    t = next(t for t in m.graph.initializer if t.raw_data)
    t.raw_data = t.raw_data + b"\0"
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    refused([command[0], path, *command[1:]], str(path), f"initializer '{t.name}'",
            "bytes of raw data")


def _spec_and_npz(tmp_path: Path, **arrays) -> tuple[Path, Path]:
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"input_shape": [3], "layers": [{"type": "Dense", "units": 1}],
                                "compile": {"optimizer": "sgd", "loss": "mse"}}))
    data = tmp_path / "d.npz"
    np.savez_compressed(data, **arrays)
    return spec, data


def test_a_damaged_compressed_npz_member_is_exit_2(tmp_path):
    # Found by benchmarks/fuzz.py: zlib.error from inside the member, exit 70.
    spec, data = _spec_and_npz(tmp_path, x=np.arange(3000, dtype=np.float32).reshape(1000, 3),
                               y=np.zeros((1000, 1), np.float32))
    raw = bytearray(data.read_bytes())
    for i in range(200, 260):
        raw[i] ^= 0x5A
    data.write_bytes(bytes(raw))
    refused(["build", spec, "--data", data, "-q", "-o", tmp_path / "o"], str(data))


def test_npz_data_that_is_one_value_is_exit_2(tmp_path):
    # Found by benchmarks/fuzz.py: a 0-d x reached len() in the memory check, exit 70.
    spec, data = _spec_and_npz(tmp_path, x=np.float32(1.5), y=np.zeros(4, np.int64))
    refused(["build", spec, "--data", data, "-q", "-o", tmp_path / "o"], str(data),
            "one value, not rows")


def test_keras_optimizer_config_that_is_not_an_object_is_exit_2(tmp_path):
    # Found by benchmarks/fuzz.py: dict() of a list, exit 70.
    src = zipfile.ZipFile(SEEDS / "mlp.keras")
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "config.json":
                doc = json.loads(data)
                doc["compile_config"]["optimizer"]["config"] = [[[]]]
                data = json.dumps(doc).encode()
            out.writestr(info.filename, data)
    refused(["build", path, "--no-train", "-q", "-o", tmp_path / "o"], str(path),
            "an optimizer's config is an object")


def _seed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "b"
    folder.mkdir()
    for name, data in build_folder_seed().items():
        (folder / name).write_bytes(data)
    return folder


def _bad_header_npy(path: Path) -> None:
    buf = io.BytesIO()
    np.save(buf, np.zeros((4, 3), np.float32))
    raw = buf.getvalue()
    path.write_bytes(raw.replace(b"}", b" ", 1))  # the header's dict literal never closes


@pytest.mark.parametrize("make, words", [
    (lambda p: _bad_header_npy(p.with_suffix(".npy")), ["cannot read the file"]),
    (lambda p: np.savez_compressed(p.with_suffix(".npz"), x=np.zeros((0, 3), np.float32)),
     ["the input has no rows"]),
    (lambda p: np.savez_compressed(p.with_suffix(".npz"), x=np.float32(2)),
     ["array of shape ()"]),
])
def test_validate_inputs_found_by_the_10k_fuzz_run_are_exit_2(tmp_path, make, words):
    # benchmarks/fuzz.py -n 10000: a .npy header that never closes (TokenError), an .npz of
    # zero rows (np.concatenate of nothing) and a compressed 0-d member (IndexError): exit 70.
    folder = _seed_folder(tmp_path)
    make(tmp_path / "in")
    path = next(p for p in tmp_path.iterdir() if p.name.startswith("in."))
    refused(["validate", folder, "--inputs", path], str(path), *words)


def test_keras_zip_whose_member_offset_lies_before_the_file_is_exit_2(tmp_path):
    # Found by benchmarks/fuzz.py -n 10000: the end record's central-directory offset moved
    # past its real place makes zipfile compute a negative member offset, and its seek raised
    # OSError [Errno 22], exit 70.
    raw = bytearray((SEEDS / "mlp.keras").read_bytes())
    end = raw.rindex(b"PK\x05\x06")
    start = int.from_bytes(raw[end + 16:end + 20], "little")
    raw[end + 16:end + 20] = (start + 200).to_bytes(4, "little")
    path = tmp_path / "m.keras"
    path.write_bytes(bytes(raw))
    refused(["summary", path], str(path), "offset lies outside the file")


def test_a_warning_other_than_numpy_arithmetic_is_shown_once_and_the_command_ends(capsys):
    # Found by benchmarks/fuzz.py -n 10000 (a worker died of memory): a layer named with a
    # glyph matplotlib lacks made it warn; the CLI re-showed that warning inside its own
    # recording, appending to the list it iterated, without end.
    import warnings

    from seqc.cli import handle_errors

    @handle_errors
    def command():
        warnings.warn("a user-facing warning", UserWarning, stacklevel=1)
        np.log(np.zeros(1))  # a NumPy arithmetic warning: one note line
        return "done"

    with pytest.warns(UserWarning, match="a user-facing warning") as shown:
        assert command() == "done"
    assert len(shown) == 1
    assert "note: NumPy reported divide by zero" in capsys.readouterr().err


@pytest.mark.parametrize("source", [
    "from torch import nn\nmodel = nn.Sequential(nn.Linear(4, 3), {}, nn.Linear(3, 1))  "
    "# input (4,)\n",
    "import keras\nmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), {}])\n",
    "import keras\nmodel = keras.Sequential([keras.Input((4,))])\nmodel.add({'units': 3})\n",
], ids=["torch", "keras-list", "keras-add"])
def test_a_dict_among_a_scripts_layers_is_exit_2(tmp_path, source):
    # Found by benchmarks/fuzz.py -n 10000: a dict's .items (a method) was walked as the
    # model's list of parts, TypeError, exit 70.
    path = tmp_path / "m.py"
    path.write_text(source)
    refused(["summary", path], str(path), "not a dict")


@pytest.mark.parametrize("dtype", ["float64"])
def test_a_float64_input_into_a_layer_with_weights_is_exit_2(tmp_path, dtype):
    # Found by benchmarks/fuzz.py -n 10000 (a Keras 3 InputLayer's dtype mutated to float64):
    # Dense passed float64 on, and the export failed onnx.checker (a Gemm of double and float),
    # exit 2 without the file.
    doc = json.loads(json.dumps(MLP_JSON))
    doc["config"]["layers"][0]["config"]["dtype"] = dtype
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    refused(["build", path, "--no-train", "-q", "--test-vectors", "0", "-o", tmp_path / "o"],
            str(path), "'d1' (Dense)", f"its input is {dtype}")


@pytest.mark.parametrize("modules", [
    "nn.Embedding(12, 4), nn.LSTM(4, 3, num_layers=2, batch_first=True, dropout=[[1]])",
    "nn.Linear(4, 4), nn.LeakyReLU(negative_slope=[0.1])",
    "nn.Linear(4, 4), nn.ELU(alpha=None)",
])
def test_a_torch_module_number_argument_of_another_type_is_exit_2(tmp_path, modules):
    # Found by benchmarks/fuzz.py -n 10000: float() of a list, TypeError, exit 70.
    path = tmp_path / "m.py"
    path.write_text(f"from torch import nn\nmodel = nn.Sequential({modules})  # input (4,)\n")
    refused(["summary", path], str(path), "must be a number")
