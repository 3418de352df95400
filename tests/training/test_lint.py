"""Warnings before training (seqc.training.lint): each code seen by `seqc build` (a `warnings:`
block on stderr, --strict, --ignore) and by `Model.fit` (a seqc.SeqcWarning pointing at the
caller's line), the docs' examples of each, and none for the shipped examples."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import seqc
from seqc.cli import cli
from seqc.errors import DataError, SeqcWarning
from seqc.frontend import load_definition
from seqc.pipeline import BuildOptions, build
from seqc.training import lint, lint_report

ROOT = Path(__file__).resolve().parents[2]
L = seqc.layers
N = 120
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, 4)).astype("float32")
IDS = np.arange(N) % 3  # shuffled enough: every class in every split
ONE_HOT = np.eye(3, dtype="float32")[IDS]
BINARY = (IDS == 0).astype("float32")

# code -> (layers as spec dicts, compile section, labels, fit settings)
CASES = {
    "SEQC-W001": ([{"type": "Dense", "units": 3, "activation": "softmax"}],
                  {"optimizer": "adam", "loss": "binary_crossentropy"}, ONE_HOT, {}),
    "SEQC-W002": ([{"type": "Dense", "units": 1, "activation": "softmax"}],
                  {"optimizer": "adam", "loss": "binary_crossentropy"}, BINARY, {}),
    # (W003 and W005 with binary crossentropy: clipping keeps their training finite.)
    "SEQC-W003": ([{"type": "Dense", "units": 1}],
                  {"optimizer": "adam", "loss": "binary_crossentropy"}, BINARY, {}),
    "SEQC-W004": ([{"type": "Dense", "units": 3, "activation": "sigmoid"}],
                  {"optimizer": "adam", "loss": "categorical_crossentropy"}, ONE_HOT, {}),
    "SEQC-W005": ([{"type": "Dense", "units": 3, "activation": "relu"}],
                  {"optimizer": "adam", "loss": "binary_crossentropy"}, ONE_HOT, {}),
    "SEQC-W006": ([{"type": "Dense", "units": 3, "activation": "softmax"}],
                  {"optimizer": "adam", "loss": "mse"}, ONE_HOT, {}),
    "SEQC-W007": ([{"type": "Dense", "units": 3, "activation": "softmax"}],
                  {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
                  np.sort(IDS), {"validation_split": 0.2}),
    "SEQC-W008": ([{"type": "Dense", "units": 1, "activation": "sigmoid"}],
                  {"optimizer": {"type": "adam", "learning_rate": 10},
                   "loss": "binary_crossentropy"}, BINARY, {}),
    "SEQC-W009": ([{"type": "Dense", "units": 1, "activation": "sigmoid"}],
                  {"optimizer": "adam", "loss": "categorical_crossentropy"},
                  np.ones((N, 1), "float32"), {}),
    "SEQC-W010": ([{"type": "Dense", "units": 3, "activation": "softmax"}],
                  {"optimizer": "adam", "loss": {"type": "sparse_categorical_crossentropy",
                                                 "from_logits": True}}, IDS, {}),
}


def write_case(tmp_path: Path, code: str, name: str = "model") -> Path:
    layers, compile_, y, fit = CASES[code]
    np.savez(tmp_path / "data.npz", x=X, y=y)
    spec = {"name": name, "input_shape": [4], "layers": layers, "compile": compile_,
            "fit": {"epochs": 1, **fit}, "data": {"path": "data.npz"}}
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(spec))
    return p


def codes_in(text: str) -> list[str]:
    return re.findall(r"^\s*(SEQC-W\d{3}) ", text, re.M)


def fit_warnings(model, y, **kw) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, epochs=0, verbose=0, **kw)
    return [w for w in caught if issubclass(w.category, SeqcWarning)]


def test_every_code_has_a_case_and_a_docs_section():
    assert set(CASES) == set(lint_report.CODES)
    doc = (ROOT / "docs" / "errors.md").read_text()
    assert re.findall(r"^### (SEQC-W\d{3})", doc, re.M) == list(lint_report.CODES)


@pytest.mark.parametrize("code", list(CASES))
def test_build_prints_each_warning_once_before_the_first_epoch(tmp_path, code):
    p = write_case(tmp_path, code)
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert codes_in(r.stderr) == [code], r.stderr
    assert r.stderr.startswith("warnings:\n")
    assert "\n    hint: " in r.stderr
    where = {"SEQC-W007": "labels y:", "SEQC-W008": "optimizer Adam:"}.get(code, "layer 'dense'")
    assert f"{code} {where}" in r.stderr
    # Before the first epoch: the block precedes the epoch lines in the terminal output.
    assert r.output.index("warnings:") < r.output.index("Epoch 1/1")


@pytest.mark.parametrize("code", list(CASES))
def test_fit_issues_each_warning_as_a_python_warning(code):
    layers, compile_, y, fit = CASES[code]
    model = seqc.Sequential([L.Input((4,)), *[getattr(L, d["type"])(
        **{k: v for k, v in d.items() if k != "type"}) for d in layers]])
    model.compile(**compile_)
    caught = fit_warnings(model, y, **fit)
    assert [w.message.code for w in caught] == [code]
    assert str(caught[0].message).startswith(code + " ")
    assert caught[0].filename == __file__  # points at the caller's fit line


def test_strict_stops_before_training_and_writes_nothing(tmp_path):
    p = write_case(tmp_path, "SEQC-W003")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(out), "--strict"])
    assert r.exit_code == 2, r.output
    assert "SEQC-W003" in r.stderr and "--strict" in r.stderr and "nothing was trained" in \
        r.stderr
    assert "Epoch" not in r.output and "Traceback" not in r.output
    assert not (out / "model.onnx").exists()


def test_strict_with_nothing_to_warn_about_builds(tmp_path):
    p = write_case(tmp_path, "SEQC-W003")
    spec = json.loads(p.read_text())
    spec["compile"]["loss"] = {"type": "binary_crossentropy", "from_logits": True}
    p.write_text(json.dumps(spec))
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(tmp_path / "out"), "--strict"])
    assert r.exit_code == 0, r.output
    assert "warnings:" not in r.output


def test_ignore_silences_one_code_and_strict_then_passes(tmp_path):
    p = write_case(tmp_path, "SEQC-W008")
    spec = json.loads(p.read_text())
    spec["layers"][0]["activation"] = "relu"  # W005 as well
    p.write_text(json.dumps(spec))
    out = str(tmp_path / "out")
    r = CliRunner().invoke(cli, ["build", p.as_posix(), "-o", out, "-q"])
    assert codes_in(r.stderr) == ["SEQC-W005", "SEQC-W008"], r.stderr
    r = CliRunner().invoke(cli, ["build", str(p), "-o", out, "-q", "--ignore", "SEQC-W008"])
    assert codes_in(r.stderr) == ["SEQC-W005"], r.stderr
    r = CliRunner().invoke(cli, ["build", str(p), "-o", out, "-q", "--strict",
                                 "--ignore", "SEQC-W008", "--ignore", "w005"])
    assert r.exit_code == 0 and "warnings:" not in r.output, r.output


def test_report_json_lists_the_warnings(tmp_path):
    p = write_case(tmp_path, "SEQC-W001")
    spec = json.loads(p.read_text())
    spec["compile"]["optimizer"] = {"type": "adam", "learning_rate": 10}  # W008 as well
    p.write_text(json.dumps(spec))
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    found = json.loads((out / "report.json").read_text())["warnings"]
    assert [(w["code"], w["layer"]) for w in found] == [("SEQC-W001", "dense"),
                                                       ("SEQC-W008", None)], found
    assert found[0]["where"] == "layer 'dense' (Dense)"
    assert "binary_crossentropy" in found[0]["message"] and found[0]["hint"]
    assert found[1]["where"] == "optimizer Adam"
    # An ignored code is left out of the report as it is of the block.
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(out), "-q", "--ignore", "W008"])
    assert r.exit_code == 0, r.output
    found = json.loads((out / "report.json").read_text())["warnings"]
    assert [w["code"] for w in found] == ["SEQC-W001"]


def test_report_json_warnings_empty_when_none(tmp_path):
    p = write_case(tmp_path, "SEQC-W003")
    spec = json.loads(p.read_text())
    spec["compile"]["loss"] = {"type": "binary_crossentropy", "from_logits": True}
    p.write_text(json.dumps(spec))
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "out" / "report.json").read_text())["warnings"] == []


def test_quiet_still_prints_warnings(tmp_path):
    p = write_case(tmp_path, "SEQC-W001")
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 0 and codes_in(r.stderr) == ["SEQC-W001"]


def test_an_unknown_ignore_code_is_refused(tmp_path):
    p = write_case(tmp_path, "SEQC-W001")
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(tmp_path / "out"),
                                 "--ignore", "SEQC-W0O1"])
    assert r.exit_code == 2
    assert "unknown warning code 'SEQC-W0O1'" in r.output and "SEQC-W001" in r.output


def test_the_pipeline_without_a_printer_issues_python_warnings(tmp_path):
    p = write_case(tmp_path, "SEQC-W006")
    with pytest.warns(SeqcWarning, match="^SEQC-W006 "):
        build(str(p), BuildOptions(out_dir=str(tmp_path / "out"), verbose=0, log=None))


def test_python_strict_and_ignore_use_the_warnings_filters():
    model = seqc.Sequential([L.Input((4,)), L.Dense(3)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    with warnings.catch_warnings():
        warnings.simplefilter("error", seqc.SeqcWarning)
        with pytest.raises(SeqcWarning, match="SEQC-W003"):
            model.fit(X, IDS, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="SEQC-W003")
        model.fit(X, IDS, epochs=0, verbose=0)
    assert not caught


# ---------------------------------------------------------------- how an output ends


@pytest.mark.parametrize("tail, code", [
    ([L.Dense(3), L.Activation("softmax")], "SEQC-W001"),
    ([L.Dense(3), L.Softmax()], "SEQC-W001"),
    ([L.Dense(3, activation="softmax"), L.Dropout(0.5)], "SEQC-W001"),
    ([L.Dense(3), L.Activation("linear")], "SEQC-W003"),
    ([L.Dense(3), L.Activation("tanh")], "SEQC-W003"),
    ([L.Dense(3), L.LeakyReLU()], "SEQC-W005"),
    ([L.Dense(3), L.Activation({"type": "relu", "max_value": 6})], "SEQC-W005"),
])
def test_activations_given_as_layers_are_seen(tail, code):
    model = seqc.Sequential([L.Input((4,)), *tail])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    assert [w.message.code for w in fit_warnings(model, ONE_HOT)] == [code]


def test_time_distributed_and_an_inner_softmax_of_one_unit():
    model = seqc.Sequential([L.Input((5, 4)), L.TimeDistributed(L.Dense(1, activation="softmax")),
                             L.Flatten(), L.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    found = lint.model_findings(model, model.compiled)
    assert [(f.code, f.where) for f in found] == [
        ("SEQC-W002", "layer 'time_distributed' (TimeDistributed(Dense))")]
    model = seqc.Sequential([L.Input((5, 4)), L.TimeDistributed(L.Dense(3))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert [f.code for f in lint.model_findings(model, model.compiled)] == ["SEQC-W003"]


def test_outputs_seqc_cannot_see_through_are_not_checked():
    for tail in ([L.Dense(3, activation="softmax"), L.Reshape((3,))],
                 [L.Dense(3), L.Rescaling(2.0)]):
        model = seqc.Sequential([L.Input((4,)), *tail])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        assert lint.model_findings(model, model.compiled) == []


def two_outputs():
    x = seqc.Input((4,), name="x")
    h = L.Dense(8, activation="relu")(x)
    kind = L.Dense(3, activation="softmax", name="kind")(h)
    size = L.Dense(1, name="size")(h)
    return seqc.Model(x, [kind, size])


def test_several_outputs_are_checked_each_with_its_own_loss():
    model = two_outputs()
    model.compile(optimizer="adam", loss={"kind": "binary_crossentropy", "size": "mse"})
    caught = fit_warnings(model, {"kind": ONE_HOT, "size": BINARY})
    assert [w.message.code for w in caught] == ["SEQC-W001"]
    assert "layer 'kind' (Dense)" in str(caught[0].message)
    assert 'loss["kind"]="binary_crossentropy"' in str(caught[0].message)
    # A zero loss weight trains nothing on that output: nothing to warn about.
    model.compile(optimizer="adam", loss={"kind": "binary_crossentropy", "size": "mse"},
                  loss_weights={"kind": 0.0, "size": 1.0})
    assert fit_warnings(model, {"kind": ONE_HOT, "size": BINARY}) == []


def test_several_outputs_sorted_labels_name_the_output():
    model = two_outputs()
    model.compile(optimizer="adam", loss={"kind": "categorical_crossentropy", "size": "mse"})
    caught = fit_warnings(model, {"kind": ONE_HOT[np.argsort(IDS, kind="stable")],
                                  "size": BINARY}, validation_split=0.25)
    assert [w.message.code for w in caught] == ["SEQC-W007"]
    assert "labels y['kind']" in str(caught[0].message)
    assert "class 2" in str(caught[0].message)


# ---------------------------------------------------------------- the data check


def test_sorted_labels_with_a_class_missing_from_training():
    model = seqc.Sequential([L.Input((4,)), L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    caught = fit_warnings(model, np.sort(IDS), validation_split=0.5)
    assert [w.message.code for w in caught] == ["SEQC-W007"]
    assert "which no training row has" in str(caught[0].message)
    # validation_data replaces the split: nothing is held out of these rows.
    assert fit_warnings(model, np.sort(IDS), validation_split=0.5,
                        validation_data=(X, IDS)) == []


def test_what_random_order_can_give_is_not_reported():
    """Each of many classes once (a class may then miss the training rows by chance), and a
    rare class absent from the validation rows."""
    model = seqc.Sequential([L.Input((4,)), L.Dense(40, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert fit_warnings(model, np.arange(N) % 40, validation_split=0.1) == []
    model = seqc.Sequential([L.Input((4,)), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    rare = np.zeros(N, "float32")
    rare[[3, 50]] = 1.0
    assert fit_warnings(model, rare, validation_split=0.2) == []


def test_a_few_validation_rows_of_one_label_can_be_chance():
    model = seqc.Sequential([L.Input((4,)), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    y = BINARY.copy()
    y[-5:] = 0.0  # 5 validation rows, one label: not reported
    assert fit_warnings(model, y, validation_split=5 / N) == []
    y = np.sort(BINARY)  # 24 rows of label 1.0 at the end
    assert [w.message.code for w in fit_warnings(model, y, validation_split=0.2)] == [
        "SEQC-W007"]


def test_class_names_of_string_labels_are_named(tmp_path):
    rows = ["a,b,c,d,label"] + [f"{a},{b},{c},{d},{lab}" for (a, b, c, d), lab in
                                zip(X.tolist(), sorted(["cat", "dog"] * (N // 2)))]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    spec = {"input_shape": [4], "layers": [{"type": "Dense", "units": 2,
                                            "activation": "softmax"}],
            "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
            "fit": {"epochs": 1, "validation_split": 0.2},
            "data": {"path": "d.csv", "target": "label"}}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    got: list[str] = []
    build(str(tmp_path / "m.json"), BuildOptions(out_dir=str(tmp_path / "o"), verbose=0,
                                                 log=None, warn=got.append))
    assert len(got) == 1 and "class 1 ('dog')" in got[0]


# ---------------------------------------------------------------- errors stay errors


def test_sparse_ids_beyond_the_units_stay_an_error(tmp_path):
    model = seqc.Sequential([L.Input((4,)), L.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(DataError, match=r"class id 2 in row 2 of y is outside \[0, 2\)"):
        model.fit(X, IDS, epochs=0, verbose=0)
    np.savez(tmp_path / "d.npz", x=X, y=IDS)
    spec = {"input_shape": [4], "layers": [{"type": "Dense", "units": 2,
                                            "activation": "softmax"}],
            "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
            "data": {"path": "d.npz"}}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    r = CliRunner().invoke(cli, ["build", str(tmp_path / "m.json"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "outside [0, 2)" in r.output and "warnings:" not in r.output


# ---------------------------------------------------------------- no false positives


@pytest.mark.parametrize("spec", sorted(p.name for p in (ROOT / "examples").glob("*.json")))
def test_shipped_examples_give_no_warnings(tmp_path, spec):
    got: list[str] = []
    report = build(str(ROOT / "examples" / spec),
                   BuildOptions(out_dir=str(tmp_path), epochs=0, verbose=0, log=None,
                                warn=got.append, test_vectors=0, strict=True))
    assert report["trained"] and got == []


def doc_blocks(lang: str) -> list[tuple[str, str]]:
    """(doc file, block) for every ```lang block of README.md and docs/*.md but errors.md."""
    out = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if doc.name != "errors.md":
            out += [(doc.name, b) for b in
                    re.findall(rf"```{lang}\n(.*?)```", doc.read_text(), re.S)]
    return out


def test_docs_spec_examples_give_no_warnings(tmp_path):
    checked = 0
    for name, block in doc_blocks("json"):
        try:
            doc = json.loads(block)
        except json.JSONDecodeError:
            continue
        if not isinstance(doc, dict) or "compile" not in doc or "layers" not in doc:
            continue
        doc.pop("data", None)
        p = tmp_path / "spec.json"
        p.write_text(json.dumps(doc))
        defn = load_definition(p)
        defn.model.compile(**defn.compile)
        assert lint.model_findings(defn.model, defn.model.compiled) == [], (name, block)
        checked += 1
    assert checked >= 2


def test_docs_script_examples_give_no_warnings(tmp_path):
    from seqc.frontend import Bindings
    from seqc.frontend.pyscript import load_script

    checked = 0
    for name, block in doc_blocks("python"):
        if "compile(" not in block:
            continue
        p = tmp_path / "model.py"
        p.write_text(block)
        try:
            defn = load_script(p, bindings=Bindings(defines={"num_classes": 10}))
        except seqc.SeqcError:
            continue  # not a model script (API calls, or data the reader needs)
        if not defn.compile:
            continue
        defn.model.compile(**defn.compile)
        assert lint.model_findings(defn.model, defn.model.compiled) == [], (name, block)
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("code", list(lint_report.CODES))
def test_the_docs_example_of_each_code_gives_that_code(tmp_path, code):
    doc = (ROOT / "docs" / "errors.md").read_text()
    section = doc.split(f"### {code}:")[1].split("\n### ")[0]
    block = re.search(r"```(json|python)\n(.*?)```", section, re.S)
    assert block, f"docs/errors.md: {code} has no example"
    if block.group(1) == "json":
        p = tmp_path / "spec.json"
        p.write_text(block.group(2))
        defn = load_definition(p)
        defn.model.compile(**defn.compile)
        assert [f.code for f in lint.model_findings(defn.model, defn.model.compiled)] == [code]
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exec(compile(block.group(2), "errors.md", "exec"), {})
        assert [w.message.code for w in caught if issubclass(w.category, SeqcWarning)] == [code]


def test_python_api_doc_walkthrough_gives_no_warnings():
    """docs/python-api.md's blocks run in order (one namespace) through its compile and fit
    examples (the later ones save and load files, and are slow)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "python-api.md").read_text(),
                        re.S)
    compiles = [i for i, b in enumerate(blocks) if ".fit(" in b and "try:" not in b]
    assert compiles, "docs/python-api.md has no fit example"
    ns: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, b in enumerate(blocks[:compiles[-1] + 1]):
            exec(compile(b, f"python-api.md block {i}", "exec"), ns)
    assert "history" in ns and "h" in ns
    assert [str(w.message) for w in caught if issubclass(w.category, SeqcWarning)] == []


@pytest.mark.parametrize("lr, code", [
    ({"type": "CosineDecay", "initial_learning_rate": 0.001, "decay_steps": 10,
      "warmup_target": 5.0, "warmup_steps": 3}, ["SEQC-W008"]),
    ({"type": "PiecewiseConstantDecay", "boundaries": [5], "values": [0.01, 2.0]},
     ["SEQC-W008"]),
    ({"type": "StepLR", "initial_learning_rate": 0.01, "step_size": 2}, []),
])
def test_a_schedule_is_read_from_its_settings(lr, code):
    model = seqc.Sequential([L.Input((4,)), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer={"type": "adam", "learning_rate": lr}, loss="binary_crossentropy")
    assert [w.message.code for w in fit_warnings(model, BINARY)] == code
