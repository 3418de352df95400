"""One hypothesis strategy per definition frontend, each drawing a `Case`: damaged files and
the seqc command that reads them. The valid starting points are real: the layer registry's own
examples, the shipped example specs, files Keras 3 wrote (tests/fuzz/seeds, made by
make_seeds.py), the Keras 2 fixtures, the script corpus, and a build folder seqc writes."""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from ._harness import Case
from ._mutate import dump_json, hostile_values, mutate_bytes, mutate_doc, mutate_script

ROOT = Path(__file__).resolve().parents[2]
SEEDS = Path(__file__).resolve().parent / "seeds"
FRONTEND_TESTS = ROOT / "tests" / "frontend"

# Commands that read a definition; `{out}` is a path inside the case's own folder.
DEFINITION_COMMANDS = [
    ["summary", "{input}"], ["summary", "{input}"], ["summary", "{input}"],
    ["build", "{input}", "--no-train", "-q", "--test-vectors", "0", "-o", "{out}"],
]
CONVERT = ["convert", "{input}", "-q", "-o", "{out}"]


# ----------------------------------------------------------------- seed material


@functools.lru_cache(maxsize=1)
def spec_seeds() -> list[dict]:
    """One single-layer spec per registry example, plus the shipped example specs."""
    from seqc.ops import REGISTRY

    out = []
    for kind, op in sorted(REGISTRY.items()):
        for ex in op.examples:
            if ex.input_shapes is not None and len(ex.input_shapes) > 1:
                continue
            doc = {"input_shape": list(ex.input_shape),
                   "layers": [{"type": kind, **json.loads(json.dumps(ex.config))}]}
            if ex.input_dtype != "float32":
                doc["input_dtype"] = ex.input_dtype
            out.append(doc)
    for p in sorted((ROOT / "examples").glob("*.json")):
        doc = json.loads(p.read_text())
        doc.pop("data", None)  # relative data paths would not resolve from the case folder
        out.append(doc)
    return out


@functools.lru_cache(maxsize=1)
def keras3_json_seeds() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(SEEDS.glob("*_keras3.json"))]


@functools.lru_cache(maxsize=1)
def keras2_json_seeds() -> list[dict]:
    return [json.loads(p.read_text())
            for p in sorted((FRONTEND_TESTS / "fixtures" / "keras2").glob("*.json"))]


@functools.lru_cache(maxsize=1)
def script_seeds() -> list[str]:
    paths = sorted((FRONTEND_TESTS / "fixtures" / "scripts").glob("*.py"))
    paths += sorted((FRONTEND_TESTS / "corpus" / "keras").glob("[!c]*.py"))[:12]
    paths += sorted((FRONTEND_TESTS / "corpus" / "torch").glob("[!c]*.py"))[:8]
    paths += [ROOT / "examples" / "quickstart.py"]
    return [p.read_text() for p in paths]


@functools.lru_cache(maxsize=1)
def build_folder_seed() -> dict[str, bytes]:
    """A real build folder (seqc build --no-train of a small two-layer spec)."""
    from click.testing import CliRunner

    from seqc.cli import cli

    with tempfile.TemporaryDirectory(prefix="seqc-fuzz-seed-") as tmp:
        spec = Path(tmp) / "s.json"
        spec.write_text(json.dumps({"name": "seed", "input_shape": [3], "layers": [
            {"type": "Dense", "units": 4, "activation": "relu"},
            {"type": "Dense", "units": 2, "activation": "softmax"}],
            "compile": {"optimizer": "adam", "loss": "categorical_crossentropy"}}))
        r = CliRunner().invoke(cli, ["build", str(spec), "--no-train", "-q", "-o",
                                     f"{tmp}/b"])
        assert r.exit_code == 0, r.output
        return {p.name: p.read_bytes() for p in (Path(tmp) / "b").iterdir() if p.is_file()}


@functools.lru_cache(maxsize=1)
def npy_input() -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.ones((2, 3), np.float32))
    return buf.getvalue()


# ----------------------------------------------------------------- JSON frontends


@st.composite
def _json_case(draw: Any, frontend: str, seeds: list[dict], name: str) -> Case:
    doc = draw(st.sampled_from(seeds))
    how = draw(st.sampled_from(["doc", "doc", "doc", "bytes", "value"]))
    if how == "doc":
        raw = dump_json(draw(mutate_doc(doc)))
    elif how == "bytes":
        raw = draw(mutate_bytes(json.dumps(doc, indent=1).encode()))
    else:  # a whole document replaced: wrong top-level types, deep nesting
        raw = dump_json(draw(hostile_values()))
    argv = draw(st.sampled_from(DEFINITION_COMMANDS))
    return Case(frontend, {name: raw}, name, argv, out="out" if "{out}" in argv else None)


@functools.lru_cache(maxsize=1)
def _arg_names() -> dict[str, list[str]]:
    """Each kind's Keras argument names (its Attrs fields)."""
    import dataclasses

    from seqc.ops import REGISTRY

    return {k: [f.name for f in dataclasses.fields(op.Attrs)] for k, op in REGISTRY.items()}


@st.composite
def _spec_arg_case(draw: Any) -> Case:
    """One argument of one layer set to a hostile value (or to a valid value of another
    field): the spec stays well-formed around it, so the value reaches the kind's checks."""
    doc = json.loads(json.dumps(draw(st.sampled_from(spec_seeds()))))
    layer = draw(st.sampled_from(doc["layers"]))
    names = _arg_names().get(layer.get("type"), []) + [k for k in layer if k != "type"]
    if names:
        layer[draw(st.sampled_from(sorted(set(names))))] = draw(hostile_values())
    if draw(st.integers(0, 3)) == 0:
        doc["input_shape"] = draw(st.sampled_from([[0], [10**12], [None], [-1], [2**31, 2**31],
                                                   [1] * 40, [3, None, 2], "x"]))
    raw = dump_json(doc)
    argv = draw(st.sampled_from(DEFINITION_COMMANDS))
    return Case("spec", {"model.json": raw}, "model.json", argv,
                out="out" if "{out}" in argv else None)


def spec_cases() -> st.SearchStrategy[Case]:
    """seqc JSON specs from the registry's examples, with damaged argument values."""
    return st.deferred(lambda: st.one_of(_spec_arg_case(), _spec_arg_case(),
                                         _json_case("spec", spec_seeds(), "model.json")))


def keras3_json_cases() -> st.SearchStrategy[Case]:
    return st.deferred(lambda: _json_case("keras3-json", keras3_json_seeds(), "model.json"))


def keras2_json_cases() -> st.SearchStrategy[Case]:
    return st.deferred(lambda: _json_case("keras2-json", keras2_json_seeds(), "model.json"))


# ----------------------------------------------------------------- .keras and .h5


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in members.items():
            zf.writestr(zipfile.ZipInfo(k, (2024, 1, 1, 0, 0, 0)), v)
    return buf.getvalue()


@st.composite
def _h5_edit(draw: Any, raw: bytes) -> bytes:
    """A valid HDF5 container with damaged contents: a dataset of the wrong shape, dtype or
    values, an attribute of the wrong type, a member deleted or renamed."""
    import h5py
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="seqc-fuzz-h5-") as tmp:
        path = os.path.join(tmp, "w.h5")
        Path(path).write_bytes(raw)
        with h5py.File(path, "r+") as f:
            names: list[str] = []
            f.visit(names.append)
            targets = [("/", None)] + [(n, f[n]) for n in names]
            name, obj = draw(st.sampled_from(targets))
            op = draw(st.sampled_from(["dataset", "dataset", "attr", "attr", "delete",
                                       "rename", "add"]))
            holder = f if obj is None else obj
            if op == "dataset" and isinstance(obj, h5py.Dataset):
                new = draw(st.sampled_from([
                    np.full(obj.shape, np.nan, np.float32), np.zeros((), np.float32),
                    np.zeros((3, 3, 3), np.float32), np.array([b"text"]),
                    np.full(obj.shape, 1e30, np.float64), np.zeros(obj.shape, np.int64),
                    np.zeros(obj.shape, np.complex64), np.zeros((0,), np.float32)]))
                del f[name]
                f.create_dataset(name, data=new)
            elif op == "attr" and len(holder.attrs):
                key = draw(st.sampled_from(sorted(holder.attrs)))
                value = draw(st.sampled_from([
                    np.int64(7), np.array([1, 2]), b"not json", b"{", np.float64(np.nan),
                    np.array([b"x", b"y"]), dump_json(draw(hostile_values())),
                    dump_json(draw(mutate_doc(_attr_json(holder.attrs[key]))))]))
                holder.attrs[key] = value
            elif op == "delete" and name != "/":
                del f[name]
            elif op == "rename" and name != "/":
                f.move(name, name + "_x")
            elif op == "add":
                holder.attrs[draw(st.sampled_from(["model_config", "layer_names",
                                                   "weight_names", "training_config"]))] = \
                    draw(st.sampled_from([b"[]", np.array([b"nosuch"]), np.int8(1)]))
        return Path(path).read_bytes()


def _attr_json(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


@st.composite
def keras_zip_cases(draw: Any) -> Case:
    seed = draw(st.sampled_from(sorted(SEEDS.glob("*.keras"))))
    raw = seed.read_bytes()
    with zipfile.ZipFile(seed) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    how = draw(st.sampled_from(["bytes", "config", "config", "metadata", "weights",
                                "weights-bytes", "members"]))
    if how == "bytes":
        raw = draw(mutate_bytes(raw))
    else:
        if how in ("config", "metadata"):
            key = f"{how}.json"
            members[key] = dump_json(draw(mutate_doc(json.loads(members[key]))))
        elif how == "weights":
            members["model.weights.h5"] = draw(_h5_edit(members["model.weights.h5"]))
        elif how == "weights-bytes":
            members["model.weights.h5"] = draw(mutate_bytes(members["model.weights.h5"]))
        else:
            gone = draw(st.sampled_from(sorted(members)))
            extra = draw(st.sampled_from(["", "../evil", "assets/x", "model.weights.h5/x",
                                          "config.json"]))
            members = {k: v for k, v in members.items() if k != gone}
            if extra:
                members[extra] = b"{}"
        raw = _zip(members)
    argv = draw(st.sampled_from(DEFINITION_COMMANDS + [CONVERT]))
    return Case("keras-zip", {"model.keras": raw}, "model.keras",
                [a.replace("{out}", "{out}/m.onnx") if argv is CONVERT else a for a in argv],
                out="out/m.onnx" if argv is CONVERT else ("out" if "{out}" in argv else None))


@st.composite
def h5_cases(draw: Any) -> Case:
    seed = draw(st.sampled_from(sorted(SEEDS.glob("*.h5"))))
    raw = seed.read_bytes()
    how = draw(st.sampled_from(["bytes", "bytes", "edit", "edit", "edit", "config"]))
    if how == "bytes":
        raw = draw(mutate_bytes(raw))
    elif how == "edit":
        raw = draw(_h5_edit(raw))
    else:
        raw = _with_model_config(raw, dump_json(draw(mutate_doc(_model_config(raw)))))
    argv = draw(st.sampled_from(DEFINITION_COMMANDS + [CONVERT]))
    if argv is CONVERT:
        argv = [a.replace("{out}", "{out}/m.onnx") for a in argv]
    out = "out/m.onnx" if "convert" in argv else ("out" if "{out}" in argv else None)
    return Case("h5", {"model.h5": raw}, "model.h5", argv, out=out)


def _model_config(raw: bytes) -> Any:
    import h5py

    with h5py.File(io.BytesIO(raw), "r") as f:
        return json.loads(f.attrs["model_config"])


def _with_model_config(raw: bytes, text: bytes) -> bytes:
    import h5py

    buf = io.BytesIO(raw)
    with h5py.File(buf, "r+") as f:
        f.attrs["model_config"] = text
    return buf.getvalue()


# ----------------------------------------------------------------- scripts, build folders


@st.composite
def script_cases(draw: Any) -> Case:
    source = draw(st.sampled_from(script_seeds()))
    raw = draw(mutate_script(source))
    argv = draw(st.sampled_from(DEFINITION_COMMANDS))
    return Case("script", {"model.py": raw}, "model.py", argv,
                out="out" if "{out}" in argv else None)


@st.composite
def build_folder_cases(draw: Any) -> Case:
    files = dict(build_folder_seed())
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(["report.json", "model.ir.json", "model.ir.json",
                                     "weights.npz", "weights.npz"]))
        how = draw(st.sampled_from(["doc", "doc", "bytes", "delete"]))
        if how == "delete":
            files.pop(name, None)
        elif name.endswith(".json") and name in files and _json_or_none(files[name]):
            files[name] = dump_json(draw(mutate_doc(json.loads(files[name]))))
        elif name in files and how == "bytes":
            files[name] = draw(mutate_bytes(files[name]))
        elif name in files:
            files[name] = draw(_npz_edit(files[name]))
    argv = draw(st.sampled_from([
        ["summary", "{input}"], ["summary", "{input}"], ["validate", "{input}"],
        ["predict", "{input}", "{dir}/x.npy", "-o", "{out}"],
        ["build", "{input}", "--no-train", "-q", "--test-vectors", "0", "-o", "{out}"]]))
    out = None
    if "predict" in argv:
        out = "y.npy"
    elif "build" in argv:
        out = "out"
    files = {f"b/{k}": v for k, v in files.items()}
    files["x.npy"] = npy_input()
    return Case("build-folder", files, "b", argv, out=out)


def _json_or_none(raw: bytes) -> Any:
    """The document, or None when an earlier edit left bytes that are not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


@st.composite
def _npz_edit(draw: Any, raw: bytes) -> bytes:
    """weights.npz with one array of the wrong shape, dtype or values, renamed or dropped."""
    import numpy as np

    try:  # our own output: an earlier edit (allow_pickle), or damaged bytes (left as they are)
        with np.load(io.BytesIO(raw), allow_pickle=True) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception:  # noqa: BLE001 - whatever the damage, the strategy goes on
        return raw
    key = draw(st.sampled_from(sorted(arrays)))
    op = draw(st.sampled_from(["shape", "dtype", "values", "rename", "drop"]))
    a = arrays[key]
    if op == "shape":
        arrays[key] = np.zeros(draw(st.sampled_from([(), (0,), (1, 1, 1), (10**4,)])),
                               np.float32)
    elif op == "dtype":
        arrays[key] = a.astype(draw(st.sampled_from(["int64", "complex64", "U3", "bool",
                                                     "float16", "object"])))
    elif op == "values":
        arrays[key] = np.full(a.shape, draw(st.sampled_from([np.nan, np.inf, 1e38])),
                              np.float32)
    elif op == "rename":
        arrays[key + "_x"] = arrays.pop(key)
    else:
        arrays.pop(key)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


FRONTENDS = {
    "spec": spec_cases,
    "keras3-json": keras3_json_cases,
    "keras2-json": keras2_json_cases,
    "keras-zip": keras_zip_cases,
    "h5": h5_cases,
    "script": script_cases,
    "build-folder": build_folder_cases,
}
