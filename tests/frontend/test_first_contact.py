"""The first contact (issue 16, part 3): a file that is not the model its name promises is named
for what it is, with what seqc expected and a one-line example, by `build`, `summary` and
`seqc.load` alike; statements a script reader skipped are listed in one line by `build` and
`summary`."""

from __future__ import annotations

import json
import os
import textwrap
import threading

import numpy as np
import pytest
from click.testing import CliRunner

import seqc
from seqc.cli import cli
from seqc.errors import DefinitionError, SeqcError
from seqc.frontend import load_definition

EXAMPLE = '{"input_shape": [4], "layers": [{"type": "Dense", "units": 1}]}'


def keras_archive(path):
    pytest.importorskip("h5py")
    model = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(2)])
    model.save(str(path.with_suffix(".keras")))
    if path.suffix != ".keras":
        os.replace(path.with_suffix(".keras"), path)
    return path


def hdf5_file(path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = "{}"
    return path


def json_file(doc):
    return lambda path: path.write_text(json.dumps(doc)) and path


def raw_file(data: bytes):
    return lambda path: path.write_bytes(data) and path


# name, file maker, phrases the message holds (besides the file name and an example)
CASES = [
    ("empty.json", raw_file(b""), ["the file is empty", EXAMPLE]),
    ("blank.json", raw_file(b"  \n\n"), ["the file is empty", EXAMPLE]),
    ("empty.keras", raw_file(b""), ["the file is empty", "model.save('model.keras')"]),
    ("empty.h5", raw_file(b""), ["the file is empty", "model.save('model.h5')"]),
    ("empty.py", raw_file(b""), ["the file is empty", "keras.Sequential("]),
    ("list.json", json_file([]), ["a model file is a JSON object", "an empty list", EXAMPLE]),
    ("number.json", json_file(3), ["a model file is a JSON object", "a number", EXAMPLE]),
    ("records.json", json_file([{"age": 3, "label": 1}, {"age": 5, "label": 0}]),
     ["a list of 2 records with keys ['age', 'label']", "looks like data, not a model", "--data",
      EXAMPLE]),
    ("rows.json", json_file([[1.0, 2.0], [3.0, 4.0]]),
     ["a list of 2 rows of numbers", "looks like data, not a model", EXAMPLE]),
    ("columns.json", json_file({"x": [[1, 2]], "y": [0]}),
     ["an object of 2 arrays with keys ['x', 'y']", "looks like data, not a model", EXAMPLE]),
    ("pandas.json", json_file({"a": {"0": 1, "1": 2}, "b": {"0": 3, "1": 4}}),
     ["columns keyed by row", "pandas", "looks like data, not a model", EXAMPLE]),
    ("split.json", json_file({"columns": ["a"], "index": [0], "data": [[1]]}),
     ["orient='split'", "looks like data, not a model", EXAMPLE]),
    ("layers.json", json_file([{"type": "Dense", "units": 1}]),
     ["a list of layers, not a model", '"layers"', '"input_shape"']),
    ("h5.keras", hdf5_file, ["this .keras file is an HDF5 file", "rename it to h5.h5",
                             "model.save('model.keras')"]),
    ("archive.h5", keras_archive, ["this .h5 file is a Keras 3 .keras archive",
                                   "rename it to archive.keras", "model.save('model.h5')"]),
    ("archive.json", keras_archive, ["this .json file is a Keras 3 .keras archive",
                                     "rename it to archive.keras", EXAMPLE]),
    ("json.keras", raw_file(EXAMPLE.encode()), ["this .keras file is JSON text",
                                                 "rename it to json.json"]),
    ("json.h5", raw_file(b'\n {"class_name": "Sequential"}'), ["this .h5 file is JSON text",
                                                               "rename it to json.json"]),
    ("h5.json", hdf5_file, ["this .json file is an HDF5 file", "rename it to h5.h5"]),
    ("arrays.keras", lambda p: np.savez(p.with_suffix(".npz"), x=np.zeros(3))
     or os.replace(p.with_suffix(".npz"), p) or p,
     ["this .keras file is a NumPy .npz archive (data, not a model)", "--data"]),
    ("x.npy", lambda p: np.save(p, np.zeros((2, 4))) or p,
     ["a NumPy array is data, not a model definition", "--x/--y", EXAMPLE]),
    ("d.npz", lambda p: np.savez(p, x=np.zeros(3)) or p,
     ["a NumPy .npz archive is data", "--data", EXAMPLE]),
    ("d.csv", raw_file(b"a,b\n1,2\n"), ["a CSV table is data", "--data", EXAMPLE]),
    ("model", hdf5_file, ["unknown definition format '(no extension)'", "an HDF5 file",
                          "rename it to model.h5"]),
]


@pytest.mark.parametrize("name, make, phrases", CASES, ids=[c[0] for c in CASES])
def test_first_contact_is_named_by_every_command(tmp_path, name, make, phrases):
    path = tmp_path / name
    make(path)
    for args in (["summary", str(path)], ["build", str(path), "-o", str(tmp_path / "o")]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 2, r.output
        assert r.output.startswith(f"error: {path}: "), r.output
        assert "Traceback" not in r.output
        for phrase in phrases:
            assert phrase in r.output, f"{phrase!r} not in:\n{r.output}"
    with pytest.raises(DefinitionError, match="^" + str(path)):
        seqc.load(path)


def test_an_onnx_model_given_as_a_definition_says_where_it_goes(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07")
    # The .onnx reader (seqc.load of a model.onnx) checks the file and says what is wrong.
    with pytest.raises(SeqcError) as e:
        load_definition(path)
    assert str(path) in str(e.value) and "not a valid ONNX model" in str(e.value)
    assert e.value.exit_code == 2


def test_a_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    result: list = []

    def read():
        try:
            load_definition(path)
        except DefinitionError as e:
            result.append(str(e))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader, then fail
        with open(path, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert result and "not a regular file" in result[0] and "FIFO" in result[0]


def test_good_files_pass_the_first_look(tmp_path):
    p = tmp_path / "m.json"
    p.write_text(EXAMPLE)
    assert load_definition(p).model.count_params() == 5
    k = keras_archive(tmp_path / "m.keras")
    assert load_definition(k).model.count_params() == 10


# ---------------------------------------------------------------- skipped statements


SCRIPTS = {
    "keras.py": """\
        import keras
        import os
        os.system("echo hi")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.summary()
        print("done")
        """,
    "torch.py": """\
        import torch
        from torch import nn
        import os
        os.remove("important.txt")
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        print(model)
        torch.save(model.state_dict(), "m.pt")
        """,
}
SKIPPED = {"keras.py": "lines 3, 5-6", "torch.py": "lines 4, 6-7"}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_build_and_summary_list_the_statements_not_run_in_one_line(tmp_path, name):
    path = tmp_path / name
    path.write_text(textwrap.dedent(SCRIPTS[name]))
    line = f"{path}: not run (they do not build or change the model): {SKIPPED[name]}"
    for args in (["summary", str(path)], ["build", str(path), "-o", str(tmp_path / "o")]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 0, r.output
        assert r.output.splitlines().count(line) == 1, r.output
    assert not (tmp_path / "m.pt").exists()  # nothing was run
