"""The Python-script frontend: tutorial-style Keras and PyTorch scripts read with `ast` only.

Each fixture script in fixtures/scripts/ with a sibling .json builds the same IR (nodes,
attrs, types), compile and fit sections as that seqc spec. PyTorch fixtures are also run
here, by the test, with real torch (the frontend never runs them): the torch module's weights
are copied into the seqc model and both predict the same. Hostile scripts leave no canary
file behind; unreadable scripts fail with a DefinitionError at file:line:col.
"""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend.pyscript import load_script, script_to_spec
from seqc.frontend.spec import load_spec
from seqc.ir.serialize import graph_to_json

SCRIPTS = Path(__file__).parent / "fixtures" / "scripts"
PAIRED = sorted(p.stem for p in SCRIPTS.glob("*.py") if p.with_suffix(".json").exists())
TORCH = sorted(p.stem for p in SCRIPTS.glob("torch_*.py"))


def _ir(defn) -> dict:
    g = graph_to_json(defn.model.graph)
    g.pop("name")
    return g


def write(tmp_path: Path, text: str, name: str = "model.py") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


# ---- same IR as the JSON equivalent ----


def test_fixture_pairs_cover_every_import_style():
    assert len(PAIRED) >= 8
    styles = {
        "import keras": "keras_mlp", "import tensorflow as tf": "tf_keras_cnn",
        "from tensorflow.keras.models import Sequential": "tf_keras_from_imports",
        "import keras.layers as L": "keras_aliases_loop",
        "from tensorflow import keras": "keras_rnn_function",
        "import torch.nn as nn": "torch_mlp", "from torch import nn": "torch_cnn",
        "import torch\n": "torch_lstm",
    }
    for line, stem in styles.items():
        assert line in (SCRIPTS / f"{stem}.py").read_text(), (stem, line)
        assert stem in PAIRED


@pytest.mark.parametrize("stem", PAIRED)
def test_script_builds_the_same_ir_as_its_json(stem):
    a = load_script(SCRIPTS / f"{stem}.py")
    b = load_spec(SCRIPTS / f"{stem}.json")
    assert a.format == "python"
    assert _ir(a) == _ir(b)
    assert a.compile == b.compile
    assert a.fit == b.fit
    assert a.model.count_params() == b.model.count_params()


def test_compile_and_fit_sections_are_mapped():
    d = load_script(SCRIPTS / "tf_keras_from_imports.py")
    assert d.compile["optimizer"] == {"type": "SGD", "learning_rate": 0.01, "momentum": 0.9,
                                      "nesterov": True}
    assert d.fit["callbacks"] == [{"type": "EarlyStopping", "monitor": "val_loss",
                                   "patience": 3, "restore_best_weights": True}]
    assert d.fit["class_weight"] == {0: 1.0, 1: 2.5}  # keys back to class indices
    assert d.fit["seed"] == 7  # tf.random.set_seed
    # x/y and validation_data are data, not settings
    assert "validation_data" not in load_script(SCRIPTS / "tf_keras_cnn.py").fit
    model = load_script(SCRIPTS / "keras_mlp.py").model
    assert model.name == "keras_mlp"  # Sequential(name=...)


def test_torch_loss_and_optimizer_become_compile():
    d = load_script(SCRIPTS / "torch_gru.py")
    assert d.compile == {"optimizer": {"type": "Adam", "learning_rate": 3e-3, "epsilon": 1e-8},
                         "loss": {"type": "BinaryCrossentropy", "from_logits": True}}
    assert d.extra["python"]["framework"] == "torch"
    assert load_script(SCRIPTS / "torch_cnn.py").compile is None


CONSTANT_CASES = [
    # (expression for units, value)
    ("2 ** 3 + 10 % 4 - 7 // 2", 7),
    ("-(-5)", 5),
    ("int(12 / 4)", 3),
    ("N * 2", 8),
    ("ROWS * COLS", 6),
    ("len(SIZES) + SIZES[-1]", 5),
    ("max(SIZES) if FLAG else 1", 3),
    ("SIZES[0] if not FLAG else 9", 9),
    ("abs(-4)", 4),
]


@pytest.mark.parametrize("expr,value", CONSTANT_CASES)
def test_module_constants_and_arithmetic_fold(expr, value):
    src = f"""
import keras
N = 4
ROWS, COLS = 2, 3
SIZES = (1, 3)
FLAG = True
ACT = "relu"
model = keras.Sequential([keras.layers.Input(shape=(5,)),
                          keras.layers.Dense({expr}, activation=ACT, use_bias=None is None)])
"""
    layers = script_to_spec(src, "c.py")["layers"]
    assert layers[1] == {"type": "Dense", "units": value, "activation": "relu",
                         "use_bias": True}


def test_positional_arguments_follow_keras3_order():
    src = """
from keras.layers import Conv2D, Dense, LSTM, Dropout
from keras import Sequential
model = Sequential([Conv2D(4, 3, 2, "same", input_shape=[8, 8, 1]),
                    Dropout(0.5, None, 3)])
"""
    layers = script_to_spec(src, "p.py")["layers"]
    assert layers[0] == {"type": "Conv2D", "filters": 4, "kernel_size": 3, "strides": 2,
                         "padding": "same", "input_shape": [8, 8, 1]}
    assert layers[1] == {"type": "Dropout", "rate": 0.5, "noise_shape": None, "seed": 3}


def test_keras_functions_as_values_and_star_import():
    src = """
from tensorflow.keras.layers import *
import tensorflow as tf
model = tf.keras.Sequential([Dense(3, activation=tf.nn.relu, input_shape=(2,)),
                             Dense(1, activation=tf.keras.activations.sigmoid)])
model.compile("adam", tf.keras.losses.binary_crossentropy)
"""
    doc = script_to_spec(src, "s.py")
    assert [d["activation"] for d in doc["layers"]] == ["relu", "sigmoid"]
    assert doc["compile"] == {"optimizer": "adam", "loss": "binary_crossentropy"}


def test_nested_sequential_and_comprehension():
    src = """
import keras
from keras import layers
block = keras.Sequential([layers.Dense(n, activation="relu") for n in [6, 5]])
model = keras.Sequential([layers.Input((4,)), block, layers.Dense(1)])
"""
    layers = script_to_spec(src, "n.py")["layers"]
    assert [d.get("units") for d in layers] == [None, 6, 5, 1]


def test_input_shape_comment_replaces_a_data_dependent_shape(tmp_path):
    body = """
import keras
model = keras.Sequential()
model.add(keras.layers.Dense(4, input_shape=(x_train.shape[1],)))
"""
    with pytest.raises(DefinitionError) as e:
        load_script(write(tmp_path, body))
    msg = str(e.value)
    assert re.search(r"model\.py:4:\d+: the input shape cannot be read", msg), msg
    assert "# seqc: input_shape" in msg
    d = load_script(write(tmp_path, "# seqc: input_shape = [7]\n" + body, "ok.py"))
    assert d.model.graph.types["input"].shape == (None, 7)


# ---- PyTorch: same predictions as the real torch module ----


def _torch_weights(seqc_model, tmod) -> list[np.ndarray]:
    """seqc's weights (Keras order and layouts) from the torch module's parameters."""
    torch = pytest.importorskip("torch")
    out = []
    for node in seqc_model.graph.nodes:
        if not node.params:
            continue
        m = re.fullmatch(r"(.*)_l(\d+)", node.layer)
        name, k = (m.group(1), int(m.group(2))) if m and node.op in (
            "LSTM", "GRU", "Bidirectional") else (node.layer, 0)
        mod = tmod.get_submodule(name)
        p = {n: t.detach().numpy() for n, t in mod.state_dict().items()}
        if isinstance(mod, torch.nn.Linear):
            out += [p["weight"].T] + ([p["bias"]] if "bias" in p else [])
        elif isinstance(mod, (torch.nn.Conv1d, torch.nn.Conv2d)):
            w = p["weight"]  # (out, in, *k) -> Keras (*k, in, out)
            out += [np.transpose(w, (*range(2, w.ndim), 1, 0))] + (
                [p["bias"]] if "bias" in p else [])
        elif isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            out += [p["weight"], p["bias"], p["running_mean"], p["running_var"]]
        elif isinstance(mod, torch.nn.Embedding):
            out += [p["weight"]]
        elif isinstance(mod, torch.nn.LSTM):  # gates i, f, g, o in both
            for sfx in ("", "_reverse") if mod.bidirectional else ("",):
                out += [p[f"weight_ih_l{k}{sfx}"].T, p[f"weight_hh_l{k}{sfx}"].T,
                        np.stack([p[f"bias_ih_l{k}{sfx}"], p[f"bias_hh_l{k}{sfx}"]])]
        elif isinstance(mod, torch.nn.GRU):  # torch r, z, n -> Keras z, r, h
            def zrn(a):
                r, z, n = np.split(a, 3, axis=0)
                return np.concatenate([z, r, n], axis=0)

            out += [zrn(p[f"weight_ih_l{k}"]).T, zrn(p[f"weight_hh_l{k}"]).T,
                    np.stack([zrn(p[f"bias_ih_l{k}"]), zrn(p[f"bias_hh_l{k}"])])]
        else:
            raise AssertionError(f"no weight mapping for {type(mod).__name__}")
    return out


@pytest.mark.parametrize("stem", TORCH)
def test_torch_script_predicts_like_torch(stem):
    torch = pytest.importorskip("torch")
    path = SCRIPTS / f"{stem}.py"
    defn = load_script(path)
    # The test (not the frontend) runs its own fixture with torch to get the reference.
    ns: dict = {"__name__": "fixture", "train_dataloader": []}
    exec(compile(path.read_text(), str(path), "exec"), ns)  # noqa: S102
    tmod = ns["model"].eval()
    torch.manual_seed(0)
    for m in tmod.modules():  # non-trivial statistics, so eval-mode BatchNorm matters
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    model = defn.model
    model.set_weights(_torch_weights(model, tmod))
    shape = [d if d is not None else 5 for d in model.graph.types["input"].shape[1:]]
    rng = np.random.default_rng(0)
    if model.graph.types["input"].dtype.startswith("int"):
        emb = next(m for m in tmod.modules() if isinstance(m, torch.nn.Embedding))
        x = rng.integers(0, emb.num_embeddings, size=(6, *shape)).astype(np.int64)
    else:
        x = rng.standard_normal((6, *shape)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    got = model.predict(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_torch_initializers_are_pytorch_defaults():
    d = load_script(SCRIPTS / "torch_mlp.py")
    w = d.model.get_weights()
    bound = 1 / np.sqrt(20)  # kaiming_uniform(a=sqrt(5)) and the bias: both 1/sqrt(fan_in)
    assert np.abs(w[0]).max() <= bound and np.abs(w[0]).max() > 0.8 * bound
    assert np.abs(w[1]).max() <= bound and np.abs(w[1]).std() > 0


# ---- keras: positional order matches real Keras 3 ----


def test_keras_script_predicts_like_keras():
    keras = pytest.importorskip("keras")
    src = """
import keras
from keras import layers
model = keras.Sequential([keras.Input(shape=(6, 6, 2)),
                          layers.Conv2D(3, (3, 3), (2, 2), "same", None, 1, 1, "tanh"),
                          layers.BatchNormalization(-1, 0.9, 1e-3),
                          layers.Flatten(),
                          layers.Dense(4, "relu", False),
                          layers.Dense(2)])
"""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        defn = load_script(write(Path(tmp), src))
    ns: dict = {}
    exec(compile(textwrap.dedent(src), "k.py", "exec"), ns)  # noqa: S102
    kmodel = ns["model"]
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal(w.shape).astype(np.float32) for w in kmodel.get_weights()]
    ws[5] = np.abs(ws[5]) + 0.5  # BN moving variance
    kmodel.set_weights(ws)
    defn.model.set_weights(ws)
    x = rng.standard_normal((3, 6, 6, 2)).astype(np.float32)
    want = np.asarray(kmodel(x, training=False).detach().cpu())
    assert np.isfinite(want).all()
    np.testing.assert_allclose(defn.model.predict(x), want, atol=1e-5, rtol=1e-5)
    assert keras.__version__.startswith("3")


def test_positional_order_is_keras_constructor_order_for_every_kind():
    """seqc.layers (and so scripts) maps positional arguments as Keras 3's constructors do;
    the regularizer/constraint arguments, which are not attrs, end the positional list."""
    import inspect

    keras = pytest.importorskip("keras")
    from seqc.layers import _positional
    from seqc.ops import REGISTRY

    checked = 0
    for kind in sorted(REGISTRY):
        cls = getattr(keras.layers, kind, None)
        if cls is None:
            continue
        theirs = [p for p in inspect.signature(cls.__init__).parameters
                  if p not in ("self", "kwargs")]
        theirs = theirs[:theirs.index("name")] if "name" in theirs else theirs
        ours = _positional(kind)
        if kind == "InputLayer":  # Keras' input_tensor (not modelled) sits before optional
            ours = ours[:6]
        n = min(len(ours), len(theirs))
        assert ours[:n] == theirs[:n], (kind, ours, theirs)
        checked += 1
    assert checked > 80


# ---- hostile scripts: nothing runs ----

HOSTILE = [
    "open(CANARY, 'w').write('ran')",
    "import os\nos.system('touch ' + CANARY)",
    "import pathlib\npathlib.Path(CANARY).write_text('ran')",
    "import subprocess\nsubprocess.run(['touch', CANARY])",
    "exec(\"open(CANARY, 'w')\")",
    "eval(\"__import__('os').system('touch ' + CANARY)\")",
    "__import__('os').system('touch ' + CANARY)",
    "while True:\n    pass",
    "import shutil\nshutil.rmtree('/')  # would be bad",
    "def f():\n    open(CANARY, 'w')\nf()",
    "class Evil:\n    open(CANARY, 'w')\n    def __init__(self):\n"
    "        open(CANARY, 'w')\nEvil()",
    "x = [open(CANARY, 'w') for _ in range(3)]",
    "with open(CANARY, 'w') as f:\n    f.write('ran')",
    "@__import__('atexit').register\ndef bye():\n    open(CANARY, 'w')",
    "try:\n    open(CANARY, 'w')\nexcept Exception:\n    pass",
    "n = 10 ** 10 ** 10\nbig = [0] * 10 ** 12",
    "for i in range(10 ** 12):\n    open(CANARY, 'w')",
]


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("i", range(len(HOSTILE)))
def test_hostile_code_around_the_model_never_runs(tmp_path, i, where):
    canary = tmp_path / "canary.txt"
    hostile = f"CANARY = {str(canary)!r}\n{HOSTILE[i]}\n"
    model = ("import keras\nmodel = keras.Sequential([keras.Input((3,)), "
             "keras.layers.Dense(2)])\nmodel.compile(optimizer='adam', loss='mse')\n")
    script = hostile + model if where == "before" else model + hostile
    if where == "after":
        script = "CANARY = 'x'\n" + script
    p = write(tmp_path, script)
    start = time.perf_counter()
    d = load_script(p)
    assert time.perf_counter() - start < 5
    assert not canary.exists()
    assert d.model.output_shape == (None, 2)


@pytest.mark.parametrize("arg", [
    "__import__('os').system('touch ' + CANARY) or 4",
    "int(open(CANARY, 'w').write('1'))",
    "eval('4')",
])
def test_hostile_layer_argument_is_refused_not_run(tmp_path, arg):
    canary = tmp_path / "canary.txt"
    p = write(tmp_path, f"CANARY = {str(canary)!r}\nimport keras\nmodel = keras.Sequential("
                        f"[keras.Input((3,)), keras.layers.Dense({arg})])\n")
    with pytest.raises(DefinitionError, match=r"model\.py:3:\d+: .*cannot be read without "
                                              r"running the script"):
        load_script(p)
    assert not canary.exists()


def test_torch_script_hostile_code_never_runs(tmp_path):
    canary = tmp_path / "canary.txt"
    p = write(tmp_path, f"""
import os, torch
from torch import nn
os.system("touch {canary}")
model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
while True:
    os.system("touch {canary}")
""")
    d = load_script(p)
    assert not canary.exists()
    assert d.model.output_shape == (None, 2)


def test_loading_never_imports_user_modules(tmp_path, monkeypatch):
    (tmp_path / "mylayers_canary_mod.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    p = write(tmp_path, """
import mylayers_canary_mod
from mylayers_canary_mod import Thing
import keras
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
""")
    load_script(p)
    assert not (tmp_path / "imported").exists()
    import sys

    assert "mylayers_canary_mod" not in sys.modules


# ---- scripts seqc cannot read: clear errors at file:line:col ----

BAD = [
    ("loop-over-data", """
import json
import keras
sizes = json.load(open("cfg.json"))["sizes"]
model = keras.Sequential([keras.Input((4,))])
for n in sizes:
    model.add(keras.layers.Dense(n))
""", "model.py:6:1", ["built in a loop", "for n in sizes", "literal list"]),
    ("subclassed-keras", """
import keras
class MyModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.d = keras.layers.Dense(2)
    def call(self, x):
        return self.d(x) * 2
model = MyModel()
""", "model.py:8:16", ["MyModel.call(): computes with tensors", "self.d(x) * 2"]),
    ("custom-layer-local-module", """
import keras
from mylayers import Attention
model = keras.Sequential([keras.Input((4, 3))])
model.add(Attention(8))
""", "model.py:5:11", ["Attention comes from module 'mylayers'", "seqc ops"]),
    ("custom-layer-class", """
import keras
class Scale(keras.layers.Layer):
    def build(self, shape):
        self.w = self.add_weight(shape=shape[1:])
    def call(self, x):
        return x * self.w
model = keras.Sequential([keras.Input((4,)), Scale()])
""", "model.py:8:46", ["Scale is a custom class defined in the script (line 3)"]),
    ("two-models", """
import keras
a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
b = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
a.compile(loss="mse")
b.compile(loss="mse")
""", "model.py:4:5", ["more than one model", "model.py:3:5"]),
    ("no-model", "import keras\nx = 1\n", "model.py", ["no model found"]),
    ("unsupported-layer", """
from keras import layers, Sequential
model = Sequential([layers.Input((8, 8, 3)), layers.RandAugment()])
""", "model.py:3:46", ["layer class RandAugment is not supported", "seqc ops"]),
    ("unknown-argument", """
from keras import layers, Sequential
model = Sequential([layers.Input((8,)),
                    layers.Dense(4, activaton="relu")])
""", "model.py:4:21", ["layers[1] 'dense' (Dense): unknown argument 'activaton'"]),
    ("shape-error", """
from keras import layers, Sequential
model = Sequential()
model.add(layers.Input((4, 4, 1)))
model.add(layers.Conv2D(2, 5))
""", "model.py:5:11", ["larger than"]),
    ("while-loop", """
import keras
model = keras.Sequential([keras.Input((4,))])
while len(model.layers) < 3:
    model.add(keras.layers.Dense(2))
""", "model.py:4:1", ["built in a while loop"]),
    ("unknown-condition", """
import sys, keras
model = keras.Sequential([keras.Input((4,))])
if sys.argv[1] == "big":
    model.add(keras.layers.Dense(8))
""", "model.py:4:1", ["under a condition"]),
    ("functional-branches", """
import keras
inp = keras.Input((4,))
a = keras.layers.Dense(2)(inp)
b = keras.layers.Dense(2)(inp)
out = keras.layers.Add()([a, b ** 2])
model = keras.Model(inp, out)
""", "model.py:6:30", ["b ** 2", "has no layer"]),
    ("bad-optimizer", """
import keras
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
model.compile(optimizer=keras.optimizers.Adamm(1e-3), loss="mse")
""", "model.py:4:25", ["unknown optimizer 'Adamm'"]),
    ("syntax-error", "import keras\nmodel = keras.Sequential([\n", "model.py:2:",
     ["invalid Python"]),
    ("torch-linear-width", """
import torch.nn as nn
# seqc: input_shape = [1, 8, 8]
model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(100, 3))
""", "model.py:4:57", ["nn.Linear declares in_features=100, but its input width is 72",
                       "set in_features=72"]),
    ("torch-conv-channels", """
import torch.nn as nn
input_shape = (3, 8, 8)
model = nn.Sequential(nn.Conv2d(1, 2, 3))
""", "model.py:4:23", ["in_channels=1", "channel count is 3"]),
    ("torch-no-input-shape", """
from torch import nn
model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
""", "model.py:3:23", ["do not declare the input shape", "# seqc: input_shape"]),
    ("torch-batch-first", """
from torch import nn
model = nn.Sequential(nn.Embedding(10, 4), nn.LSTM(4, 3))
""", "model.py:3:44", ["batch_first=True"]),
    ("torch-lstm-tuple", """
from torch import nn
model = nn.Sequential(nn.Embedding(10, 4), nn.LSTM(4, 3, batch_first=True),
                      nn.Linear(3, 1))
""", "model.py:4:23", ["returns a tuple (output, state)", "x[0][:, -1]"]),
    ("torch-unsupported", """
from torch import nn
model = nn.Sequential(nn.Linear(4, 4), nn.TransformerEncoderLayer(4, 2))
""", "model.py:3:40", ["nn.TransformerEncoderLayer is not supported"]),
    ("torch-bad-arg", """
from torch import nn
model = nn.Sequential(nn.Linear(4, 4, biass=False))
""", "model.py:3:23", ["nn.Linear has no argument 'biass'", "did you mean 'bias'"]),
    ("too-long-loop", """
import keras
model = keras.Sequential([keras.Input((4,))])
for i in range(10 ** 9):
    model.add(keras.layers.Dense(2))
""", "model.py:4:1", ["built in a loop"]),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_unreadable_scripts_fail_clearly(tmp_path, case):
    _, text, where, needles = case
    p = write(tmp_path, text)
    start = time.perf_counter()
    with pytest.raises(DefinitionError) as e:
        load_script(p)
    assert time.perf_counter() - start < 5
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / where)), msg
    for n in needles:
        assert n in msg, (n, msg)


def test_deeply_nested_expression_is_an_error_not_a_crash(tmp_path):
    p = write(tmp_path, "import keras\nx = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    with pytest.raises(DefinitionError):
        load_script(p)


def test_not_utf8_and_missing_file(tmp_path):
    p = tmp_path / "bad.py"
    p.write_bytes(b"\xff\xfe model = 1")
    with pytest.raises(DefinitionError, match="not UTF-8"):
        load_script(p)
    with pytest.raises(DefinitionError, match="does not exist"):
        load_script(tmp_path / "missing.py")


def test_frontend_source_never_executes_user_code():
    """The frontend's own code calls no exec/eval/compile/__import__ and imports no
    importlib/runpy: checked on its syntax tree."""
    import ast

    here = Path(__file__).resolve().parents[2] / "seqc" / "frontend"
    files = sorted(p.name for p in here.glob("*pyscript*.py"))
    assert {"pyscript.py", "_pyscript_torch.py", "_pyscript_expr.py"} <= set(files)
    for f in files:
        tree = ast.parse((here / f).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("exec", "eval", "compile", "__import__"), (
                    f, node.lineno)
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("literal_eval", "import_module", "run_path"), f
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not {"importlib", "runpy", "pickle", "marshal"} & set(names), f


def test_tf_beginner_tutorial_takes_the_trained_model():
    """TF's beginner tutorial wraps the trained model in a second Sequential for inference;
    the model it compiles and fits is the one seqc reads."""
    src = """
import tensorflow as tf
mnist = tf.keras.datasets.mnist
(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0
model = tf.keras.models.Sequential([
  tf.keras.layers.Flatten(input_shape=(28, 28)),
  tf.keras.layers.Dense(128, activation='relu'),
  tf.keras.layers.Dropout(0.2),
  tf.keras.layers.Dense(10)
])
predictions = model(x_train[:1]).numpy()
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer='adam', loss=loss_fn, metrics=['accuracy'])
model.fit(x_train, y_train, epochs=5)
probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])
"""
    doc = script_to_spec(src, "beginner.py")
    assert [d["type"] for d in doc["layers"]] == ["Flatten", "Dense", "Dropout", "Dense"]
    assert doc["fit"] == {"epochs": 5}
    assert doc["compile"]["loss"] == {"type": "SparseCategoricalCrossentropy",
                                      "from_logits": True}


def test_only_the_called_builder_function_counts():
    src = """
import keras
def build_mlp(n):
    return keras.Sequential([keras.Input((n,)), keras.layers.Dense(1)])
def build_wide(n):
    return keras.Sequential([keras.Input((n,)), keras.layers.Dense(64)])
model = build_mlp(6)
model.fit(x, y, 8, 4)
"""
    doc = script_to_spec(src, "f.py")
    assert doc["layers"] == [{"type": "InputLayer", "shape": [6]}, {"type": "Dense", "units": 1}]
    assert doc["fit"] == {"batch_size": 8, "epochs": 4}  # Keras' positional fit order


@pytest.mark.parametrize("src,needle", [
    ("import keras\ndef my_loss(a, b):\n    return a - b\n"
     "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
     "model.compile(optimizer='adam', loss=my_loss)\n",
     "x.py:5:1: compile(loss=...): my_loss is defined in the script (line 2)"),
    ("import keras\nmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
     "model.compile(keras.optimizers.Adam(rate=0.1))\n",  # lr: Keras 2's name, read
     "x.py:3:1: optimizer Adam has no argument 'rate'"),
    ("# seqc: input_shape = [0, 3]\nimport keras\n",
     "x.py:1:1: a `# seqc: input_shape = ...` comment needs a list of positive integers"),
    ("import keras\nfrom keras import regularizers\nmodel = keras.Sequential([keras.Input((3,)), "
     "keras.layers.Dense(2, kernel_regularizer=regularizers.l3(0.01))])\n",
     "keras.regularizers.l3 is not a Keras built-in"),
    ("import keras\nmodel = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
     "model.fit(x, y, epochs=args.epochs)\n",
     "x.py:3:24: fit(epochs=...) cannot be read without running the script"),
])
def test_more_located_errors(src, needle):
    with pytest.raises(DefinitionError) as e:
        script_to_spec(src, "x.py")
    assert needle in str(e.value), str(e.value)


def test_scripts_go_through_load_and_the_commands(tmp_path):
    """`.py` is wired into seqc.load, `seqc summary` and `seqc build` like any definition."""
    from click.testing import CliRunner

    import seqc
    from seqc.cli import cli

    script = Path(__file__).parent / "fixtures" / "scripts" / "keras_mlp.py"
    model = seqc.load(script)
    assert model.spec.format == "python" and model.count_params() > 0
    r = CliRunner().invoke(cli, ["summary", str(script)])
    assert r.exit_code == 0 and "Total params" in r.output, r.output
    r = CliRunner().invoke(cli, ["build", str(script), "--no-train", "-o", str(tmp_path / "b"),
                                 "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b" / "model.onnx").exists()
