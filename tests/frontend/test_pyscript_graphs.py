"""Keras functional graphs in Python scripts, read with `ast` (seqc never runs the script):
merges, tensor arithmetic, shared layers, several inputs and outputs, helper functions that
build blocks and loops that repeat them. Each script is also run by real Keras 3 here (the
test execs it; seqc does not), and the two must agree on parameters and predictions."""

from __future__ import annotations

import os
import re
import textwrap

import numpy as np
import pytest
from test_pyscript import _torch_weights

from seqc.errors import DefinitionError
from seqc.frontend.pyscript import load_script

RESIDUAL_MLP = """
import keras
from keras import layers

inputs = keras.Input(shape=(8,))
x = layers.Dense(8, activation="relu")(inputs)
y = layers.add([x, inputs])
z = layers.Dense(8, activation="tanh")(y)
z = z + y
z = layers.Add()([z, x]) - inputs
outputs = layers.Dense(3, activation="softmax")(z * 0.5)
model = keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
"""

INCEPTION = """
import keras
from keras import layers

inputs = keras.Input(shape=(12, 12, 3))
a = layers.Conv2D(4, 1, padding="same", activation="relu")(inputs)
b = layers.Conv2D(4, 1, padding="same", activation="relu")(inputs)
b = layers.Conv2D(6, 3, padding="same", activation="relu")(b)
c = layers.MaxPooling2D(3, strides=1, padding="same")(inputs)
c = layers.Conv2D(2, 1, padding="same")(c)
x = layers.concatenate([a, b, c], axis=-1)
x = layers.GlobalAveragePooling2D()(x)
outputs = layers.Dense(5)(x)
model = keras.Model(inputs, outputs)
"""

SHARED = """
import keras
from keras import layers

inputs = keras.Input(shape=(6,))
left = layers.Dense(5, activation="relu")(inputs)
right = layers.Dense(5, activation="sigmoid")(inputs)
encode = layers.Dense(4, activation="tanh")
x = layers.Multiply()([encode(left), encode(right)])
x = layers.Concatenate(axis=1)([x, encode(left)])
model = keras.Model(inputs, layers.Dense(2)(x))
"""

TWO_IN_OUT = """
import keras
from keras import layers

title = keras.Input(shape=(7,), name="title")
body = keras.Input(shape=(5,), name="body")
t = layers.Dense(6, activation="relu")(title)
b = layers.Dense(6, activation="relu")(body)
merged = layers.concatenate([t, b])
priority = layers.Dense(1, name="priority")(merged)
department = layers.Dense(3, activation="softmax", name="department")(merged)
model = keras.Model(inputs=[title, body], outputs=[priority, department])
"""

HELPER_BLOCKS = """
import keras
from keras import layers

def residual_block(x, filters):
    shortcut = x
    x = layers.Conv1D(filters, 3, padding="same", activation="relu")(x)
    x = layers.Conv1D(filters, 3, padding="same")(x)
    x = layers.add([x, shortcut])
    return layers.Activation("relu")(x)

inputs = keras.Input(shape=(10, 4))
x = layers.Conv1D(8, 1)(inputs)
for _ in range(3):
    x = residual_block(x, 8)
x = residual_block(x, filters=8)
x = layers.GlobalMaxPooling1D()(x)
outputs = layers.Dense(2)(x)
model = keras.Model(inputs, outputs)
"""

NESTED_SEQUENTIAL = """
import keras
from keras import layers

block = keras.Sequential([layers.Dense(6, activation="relu"), layers.Dense(6)])
inputs = keras.Input(shape=(6,))
x = layers.add([block(inputs), inputs])
y = block(x)
model = keras.Model(inputs, layers.Dense(2)(y + x))
"""

KERAS_OPS = """
import keras
from keras import layers, ops

inputs = keras.Input(shape=(3, 5))
a = layers.Dense(4)(inputs)
b = layers.Conv1D(2, 1)(inputs)
x = ops.concatenate([a, b], axis=-1)
x = ops.add(x, layers.Dense(6)(x))
x = ops.multiply(2.0, ops.subtract(x, 1.0))
model = keras.Model(inputs, layers.Flatten()(x))
"""

# The Keras seq2seq tutorial's training model (keras-io examples/nlp/lstm_seq2seq.py):
# return_state unpacking, the encoder's states as the decoder's initial_state.
SEQ2SEQ = """
import keras

latent_dim = 6
encoder_inputs = keras.Input(shape=(5, 7))
encoder = keras.layers.LSTM(latent_dim, return_state=True)
encoder_outputs, state_h, state_c = encoder(encoder_inputs)
encoder_states = [state_h, state_c]
decoder_inputs = keras.Input(shape=(4, 9))
decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
decoder_dense = keras.layers.Dense(9, activation="softmax")
decoder_outputs = decoder_dense(decoder_outputs)
model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
"""

# The states as outputs, a list indexed (Keras returns a list), one initial_state tensor.
STATES_OUT = """
import keras
from keras import layers

inputs = keras.Input(shape=(5, 3))
outs = layers.GRU(4, return_sequences=True, return_state=True)(inputs)
seq, h = outs[0], outs[1]
y, h2 = layers.SimpleRNN(4, return_state=True, go_backwards=True)(seq, initial_state=h)
model = keras.Model(inputs, [layers.Dense(2)(y), h2, h])
"""

# The tutorial's sampling decoder: the states as model inputs, and one LSTM called twice
# (shared weights), the second call starting from the first's states.
SHARED_STATES = """
import keras
from keras import layers

a, b = keras.Input(shape=(5, 3)), keras.Input(shape=(4, 3))
h0, c0 = keras.Input(shape=(6,)), keras.Input(shape=(6,))
lstm = layers.LSTM(6, return_sequences=True, return_state=True)
s1, h1, c1 = lstm(a, initial_state=[h0, c0])
s2, h2, c2 = lstm(b, initial_state=[h1, c1])
model = keras.Model([a, b, h0, c0], [layers.Dense(2)(s2), h2, c2, s1])
"""

CASES = {"residual_mlp": RESIDUAL_MLP, "keras_ops": KERAS_OPS,
         "nested_sequential_shared": NESTED_SEQUENTIAL,
         "inception": INCEPTION, "shared": SHARED, "two_inputs_two_outputs": TWO_IN_OUT,
         "helper_blocks": HELPER_BLOCKS, "seq2seq": SEQ2SEQ, "states_out": STATES_OUT,
         "shared_states": SHARED_STATES}


def write(tmp_path, src: str, name: str = "m.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(src))
    return p


def _keras_model(src: str):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()  # Keras' automatic names restart, as in a fresh script
    ns: dict = {"__name__": "fixture"}
    exec(compile(textwrap.dedent(src), "fixture.py", "exec"), ns)  # noqa: S102
    return ns["model"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_functional_script_predicts_like_keras(tmp_path, case):
    src = CASES[case]
    model = load_script(write(tmp_path, src)).model
    kmodel = _keras_model(src)
    assert model.count_params() == kmodel.count_params()
    # the weights by name: seqc's "layer/weight" keys are Keras' weight paths (less the
    # nested model's name: "sequential/dense/kernel", and of a recurrent layer's cell:
    # "lstm/lstm_cell/kernel")
    kweights = {"/".join([p for p in w.path.split("/") if not p.endswith("_cell")][-2:]): w
                for w in kmodel.weights}
    assert set(model.graph.param_specs) == set(kweights)
    rng = np.random.default_rng(0)
    for w in kmodel.weights:
        w.assign(rng.standard_normal(tuple(w.shape)).astype(np.float32) * 0.5)
    model.set_weights([np.asarray(kweights[k].numpy()) for k in model.graph.param_specs])
    xs = [rng.standard_normal((4, *t.shape[1:])).astype(np.float32)
          for t in (model.graph.types[v] for v in model.graph.inputs)]
    want = kmodel.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    got = model.predict(xs if len(xs) > 1 else xs[0])
    if isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5)
    else:
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_a_shared_layer_counts_its_weights_once(tmp_path):
    g = load_script(write(tmp_path, SHARED)).model.graph
    shared = [n for n in g.nodes if n.shares]
    assert [n.shares for n in shared] == ["dense_2", "dense_2"]
    assert "dense_2/kernel" in g.param_specs and not any("call" in k for k in g.param_specs)


def test_a_chain_stays_a_chain(tmp_path):
    src = """
    import keras
    inputs = keras.Input(shape=(4,))
    x = keras.layers.Dense(3)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    """
    g = load_script(write(tmp_path, src)).model.graph
    assert g.is_chain and [n.op for n in g.nodes] == ["Dense", "Dense"]


def _error(tmp_path, src: str) -> str:
    with pytest.raises(DefinitionError) as e:
        load_script(write(tmp_path, src))
    return str(e.value)


def test_a_shape_mismatch_at_a_merge_names_the_line_and_inputs(tmp_path):
    msg = _error(tmp_path, """
    import keras
    from keras import layers
    inputs = keras.Input(shape=(8,))
    a = layers.Dense(4)(inputs)
    b = layers.Dense(5)(inputs)
    model = keras.Model(inputs, layers.add([a, b]))
    """)
    assert re.search(r"m\.py:7:", msg) and "dense" in msg and "dense_1" in msg, msg


def test_an_unused_input_is_located(tmp_path):
    msg = _error(tmp_path, """
    import keras
    from keras import layers
    a = keras.Input(shape=(8,))
    b = keras.Input(shape=(3,))
    model = keras.Model([a, b], layers.Dense(2)(a))
    """)
    assert "m.py:5:" in msg and "not used" in msg, msg


def test_an_input_missing_from_the_model_inputs_is_located(tmp_path):
    msg = _error(tmp_path, """
    import keras
    from keras import layers
    a = keras.Input(shape=(8,))
    b = keras.Input(shape=(8,))
    model = keras.Model(a, layers.add([a, b]))
    """)
    assert "m.py:5:" in msg and "not in the model's inputs" in msg, msg


def test_arithmetic_without_a_layer_is_refused_with_its_line(tmp_path):
    msg = _error(tmp_path, """
    import keras
    from keras import layers
    a = keras.Input(shape=(8,))
    model = keras.Model(a, layers.Dense(2)(a ** 2))
    """)
    assert "m.py:5:" in msg and "a ** 2" in msg, msg


# ---- PyTorch forwards that branch or reuse a value ----

TORCH_RESNET = """import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 16, stride=2))
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = self.layer1(out)
        out = F.adaptive_avg_pool2d(out, 1)
        out = torch.flatten(out, 1)
        return self.fc(out)


model = Net()
# seqc: input_shape = (3, 12, 12)
"""

TORCH_CAT = """
import torch
from torch import nn
import torch.nn.functional as F

class Block(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n)

    def forward(self, x):
        return x + torch.tanh(self.fc(x))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(4, 6, 3, padding=1)
        self.b = nn.Conv1d(4, 2, 5, padding=2)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.block = Block(8)
        self.block2 = Block(8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y = torch.cat([F.relu(self.a(x)), self.b(x)], dim=1)
        y = torch.flatten(self.pool(y), 1)
        y = torch.add(y, self.block(y)) * y
        return self.fc(F.relu(y - self.block2(y)))

model = Net()
# seqc: input_shape = (4, 10)
"""

TORCH_CASES = {"resnet_basic_block": (TORCH_RESNET, (3, 12, 12)), "cat": (TORCH_CAT, (4, 10))}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_torch_forward_graph_predicts_like_torch(tmp_path, case):
    torch = pytest.importorskip("torch")
    src, in_shape = TORCH_CASES[case]
    model = load_script(write(tmp_path, src)).model
    assert not model.graph.is_chain
    ns: dict = {"__name__": "fixture"}
    exec(compile(textwrap.dedent(src), "fixture.py", "exec"), ns)  # noqa: S102
    torch.manual_seed(0)
    tmod = ns["model"]
    for m in tmod.modules():  # non-trivial statistics, so eval-mode BatchNorm matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    tmod.eval()
    n_torch = sum(p.numel() for p in tmod.parameters()) + sum(
        2 * m.num_features for m in tmod.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert model.count_params() == n_torch
    model.set_weights(_torch_weights(model, tmod))
    x = np.random.default_rng(0).standard_normal((4, *in_shape)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), want, atol=1e-5, rtol=1e-5)


def test_a_torch_layer_applied_twice_is_refused_with_its_line(tmp_path):
    msg = _error(tmp_path, TORCH_CAT.replace("self.block2(y)", "self.block(y)"))
    assert "m.py:28:" in msg and "second time" in msg, msg


def test_torch_cat_along_the_batch_is_refused(tmp_path):
    msg = _error(tmp_path, TORCH_CAT.replace("dim=1)", "dim=0)"))
    assert "dim=0" in msg, msg


def test_torch_helper_methods_are_read_inline(tmp_path):
    """`self.make_layer(...)` in __init__ (it may set attributes) and `self.block(x)`-style
    helper methods in forward() are read where they are called."""
    src = """
    import torch
    from torch import nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.width = 4
            self.body = self.make_layer(3)
            self.fc = nn.Linear(self.width, 2)
        def make_layer(self, n):
            layers = []
            for _ in range(n):
                layers.append(nn.Linear(self.width, self.width + 1))
                self.width = self.width + 1
            return nn.Sequential(*layers)
        def features(self, x):
            y = torch.relu(self.body(x))
            return y + self.body[2](self.body[1](self.body[0](x)))
        def forward(self, x):
            return self.fc(self.features(x))
    model = Net()
    # seqc: input_shape = (4,)
    """
    msg = _error(tmp_path, src)  # body[0] is applied twice (in body too): shared weights
    assert "m.py:18:46" in msg and "second time" in msg, msg
    model = load_script(write(tmp_path, src.replace(
        "y + self.body[2](self.body[1](self.body[0](x)))", "y"))).model
    assert model.count_params() == (4 * 5 + 5) + (5 * 6 + 6) + (6 * 7 + 7) + (7 * 2 + 2)


@pytest.mark.parametrize("src", [TORCH_CAT, INCEPTION], ids=["torch_cat", "keras_inception"])
def test_a_graph_script_builds_end_to_end(tmp_path, src):
    """seqc build: one epoch, ONNX export, and onnxruntime agreeing with NumPy."""
    from seqc.pipeline import BuildOptions, build

    model = load_script(write(tmp_path, src)).model
    shape = model.graph.types[model.graph.inputs[0]].shape[1:]
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.standard_normal((32, *shape)).astype(np.float32))
    n_out = model.graph.output_type.shape[-1]
    np.save(tmp_path / "y.npy", rng.integers(0, n_out, 32) if "torch" in src else
            rng.standard_normal((32, n_out)).astype(np.float32))
    opts = BuildOptions(out_dir=str(tmp_path / "out"), x=str(tmp_path / "x.npy"),
                        y=str(tmp_path / "y.npy"), epochs=1, batch_size=16, verbose=0, log=None)
    report = build(str(write(tmp_path, src)), opts)
    assert report["validation"]["ok"]
    assert report["parameters"]["total"] == model.count_params()


def test_a_torch_merge_of_mismatched_shapes_names_the_line_and_inputs(tmp_path):
    msg = _error(tmp_path, """
    import torch
    from torch import nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
        def forward(self, x):
            return self.fc(x) + x
    model = Net()
    # seqc: input_shape = (4,)
    """)
    assert "m.py:9:16" in msg and "'fc' f32[N,3]" in msg and "'input' f32[N,4]" in msg, msg


def test_freezing_in_a_functional_model_follows_keras_layers(tmp_path):
    """Keras 3 lists a functional model's InputLayer in model.layers: layers[1] is the first
    Dense. In a graph, where seqc's order is not Keras' by-depth order, an index is refused;
    a name or a loop over every layer is read."""
    chain = """
    import keras
    inputs = keras.Input(shape=(4,))
    x = keras.layers.Dense(3)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    model.layers[1].trainable = False
    """
    g = load_script(write(tmp_path, chain)).model.graph
    assert [n.trainable for n in g.nodes] == [False, True]
    kmodel = _keras_model(chain)
    assert len(kmodel.trainable_weights) == 2  # Keras froze the first Dense too
    graph = SHARED + "model.layers[2].trainable = False\n"
    assert "model.layers[2]" in _error(tmp_path, graph)
    frozen = load_script(write(tmp_path, SHARED + "model.get_layer('dense_2').trainable = "
                                                  "False\n")).model.graph
    assert {n.name: n.trainable for n in frozen.nodes if n.params} == {
        "dense": True, "dense_1": True, "dense_2": False, "dense_2_call1": False,
        "dense_2_call2": False, "dense_3": True}
    everything = SHARED + "for layer in model.layers:\n    layer.trainable = False\n"
    assert not any(n.trainable for n in load_script(write(
        tmp_path, everything)).model.graph.nodes if n.params)


def test_a_torch_forward_returning_several_tensors_has_several_outputs(tmp_path):
    """`return self.a(x), self.b(x)`: outputs named after the layers, predictions as torch's;
    the script's loss, which PyTorch applies to what it picks from the tuple, is not taken."""
    torch = pytest.importorskip("torch")
    src = """
    import torch
    from torch import nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(4, 6)
            self.a = nn.Linear(6, 3)
            self.b = nn.Linear(6, 1)
        def forward(self, x):
            h = torch.relu(self.body(x))
            return self.a(h), torch.sigmoid(self.b(h))
    model = Net()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    # seqc: input_shape = (4,)
    """
    defn = load_script(write(tmp_path, src))
    assert defn.compile is None and any("not taken" in n for n in defn.notes)
    model = defn.model
    assert list(model.graph.outputs) == ["a", "sigmoid"]
    ns: dict = {"__name__": "fixture"}
    exec(compile(textwrap.dedent(src), "fixture.py", "exec"), ns)  # noqa: S102
    tmod = ns["model"].eval()
    model.set_weights(_torch_weights(model, tmod))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with torch.no_grad():
        want = [t.numpy() for t in tmod(torch.from_numpy(x))]
    for g, w in zip(model.predict(x), want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5)
    msg = _error(tmp_path, src.replace("return self.a(h), torch.sigmoid(self.b(h))",
                                       "return self.a(h), x"))
    assert "m.py:10:5" in msg and "returns its input" in msg, msg


def test_keras_ops_concatenate_along_its_default_batch_axis_is_refused(tmp_path):
    msg = _error(tmp_path, """
    import keras
    a = keras.Input(shape=(8,))
    b = keras.layers.Dense(8)(a)
    model = keras.Model(a, keras.ops.concatenate([a, b]))
    """)
    assert "m.py:5:" in msg and "axis 0" in msg, msg


# ---- Keras subclassed models whose call() branches, merges or reuses a layer ----

SUBCLASS_RESIDUAL = """
import keras
from keras import layers


class ResBlock(keras.layers.Layer):
    def __init__(self, width):
        super().__init__()
        self.d1 = layers.Dense(width, activation="relu")
        self.d2 = layers.Dense(width)

    def call(self, x):
        y = self.d1(x)
        return x + self.d2(y)


class Net(keras.Model):
    def __init__(self, width=8):
        super().__init__()
        self.inp = layers.Dense(width)
        self.block = ResBlock(width)
        self.shared = layers.Dense(width, activation="tanh")
        self.out = layers.Dense(3, activation="softmax")

    def call(self, x, training=False):
        h = self.inp(x)
        h = self.block(h)
        h = self.block(h)  # the block again: its layers shared
        h = self.shared(self.shared(h))
        h += x  # in place: an Add
        return self.out(layers.concatenate([h, self.inp(x)]))


model = Net()
model.build((None, 8))
"""

SUBCLASS_INCEPTION = """
import keras
from keras import layers


class Inception(keras.Model):
    def __init__(self):
        super().__init__()
        self.b1 = layers.Conv1D(3, 1, activation="relu")
        self.b2a = layers.Conv1D(2, 1)
        self.b2b = layers.Conv1D(3, 3, padding="same", activation="relu")
        self.pool = layers.MaxPooling1D(3, strides=1, padding="same")
        self.b3 = layers.Conv1D(2, 1)
        self.cat = layers.Concatenate()
        self.gap = layers.GlobalAveragePooling1D()
        self.head = layers.Dense(2)

    def call(self, inputs):
        a = self.b1(inputs)
        b = self.b2b(self.b2a(inputs))
        c = self.b3(self.pool(inputs))
        m = self.cat([a, b, keras.ops.concatenate([c, c], axis=-1)])
        return self.head(self.gap(m))


model = Inception()
model.build((None, 10, 4))
"""


SUBCLASS_FUNCTIONAL_PART = """
import keras
from keras import layers

j = keras.Input((6,))
res = keras.Model(j, layers.add([j, layers.Dense(6, activation="relu")(j)]))


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.res = res
        self.out = layers.Dense(2)

    def call(self, x):
        return self.out(self.res(self.res(x)))  # a functional residual model, twice


model = Net()
model.build((None, 6))
"""


@pytest.mark.parametrize("src", [SUBCLASS_RESIDUAL, SUBCLASS_INCEPTION,
                                 SUBCLASS_FUNCTIONAL_PART],
                         ids=["residual", "inception", "functional_part_twice"])
def test_subclassed_keras_call_read_as_a_graph(tmp_path, src):
    model = load_script(write(tmp_path, src)).model
    assert not model.graph.is_chain
    kmodel = _keras_model(src)
    shape = model.graph.types[model.graph.inputs[0]].shape[1:]
    kmodel(np.zeros((1, *shape), np.float32))
    assert model.count_params() == kmodel.count_params()
    # Keras orders a subclassed model's weights by its attributes, as call() first uses them
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in kmodel.get_weights()]
    kmodel.set_weights(ws)
    model.set_weights(ws)
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    want = np.asarray(kmodel(x, training=False).detach().cpu())
    np.testing.assert_allclose(model.predict(x), want, atol=1e-5, rtol=1e-5)


def test_subclassed_keras_residual_shares_the_block_called_twice(tmp_path):
    g = load_script(write(tmp_path, SUBCLASS_RESIDUAL)).model.graph
    # the block's two Dense layers (named when the block is read) and its Add, the shared
    # Dense, and `inp` read again for the concatenation
    assert [(n.name, n.shares) for n in g.nodes if n.shares] == [
        ("dense_3_call1", "dense_3"), ("dense_4_call1", "dense_4"), ("add_call1", "add"),
        ("dense_1_call1", "dense_1"), ("dense_call1", "dense")]
    assert [n.op for n in g.nodes].count("Add") == 3  # twice in the block, once `h += x`
    assert len(g.param_specs) == 10  # 5 Dense layers, each counted once


def test_a_model_of_several_outputs_called_in_call_is_refused(tmp_path):
    msg = _error(tmp_path, """
    import keras
    from keras import layers
    i = keras.Input((6,))
    two = keras.Model(i, [layers.Dense(4)(i), layers.Dense(4)(i)])
    class Net(keras.Model):
        def call(self, x):
            return two(x)
    model = Net()
    model.build((None, 6))
    """)
    assert "m.py:8:" in msg and "several inputs or outputs" in msg


@pytest.mark.parametrize("body, line, words", [
    (["if training:", "    x = self.d(x)", "return x + self.d(x)"], 10,
     ["branches on a value known only at run time (training)"]),
    (["y = self.d(x)", "if y.shape[0] > 1:", "    y = y + x", "return y"], 11,
     ["a condition or loop depends on a tensor"]),
    (["for _ in range(x.shape[0]):", "    x = x + self.d(x)", "return x"], 10,
     ["a condition or loop depends on a tensor"]),
    (["y = self.d(x)", "z = self.d(x)", "return x + y"], 11,
     ["computes a value nothing reads"]),
    (["return x + 2 * self.d(x)"], 10, ["computes with tensors in a way seqc has no layer"]),
])
def test_subclassed_keras_call_refusals_are_located(tmp_path, body, line, words):
    """A call() read as a graph keeps the reader's located refusals: a branch on the
    training flag or on a tensor, a loop over a run-time length, a dead value, arithmetic
    seqc has no layer for."""
    src = textwrap.dedent("""
    import keras
    from keras import layers
    class M(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(4)

        def call(self, x, training=None):
    """) + "".join(f"        {ln}\n" for ln in body) + "model = M()\nmodel.build((None, 4))\n"
    with pytest.raises(DefinitionError) as e:
        load_script(write(tmp_path, src))
    msg = str(e.value)
    assert f"m.py:{line}:" in msg and "M.call()" in msg
    for w in words:
        assert w in msg


def test_a_branching_block_in_a_sequential_is_refused(tmp_path):
    msg = _error(tmp_path, """
    import keras
    from keras import layers
    class Res(layers.Layer):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(4)

        def call(self, x):
            return x + self.d(x)
    model = keras.Sequential([keras.Input((4,)), Res()])
    """)
    assert "m.py:11:" in msg and "Res.call() branches or merges" in msg


@pytest.mark.parametrize("src", [SUBCLASS_RESIDUAL.replace("h += x", "h = h + x"),
                                 SUBCLASS_INCEPTION], ids=["residual", "inception"])
def test_subclassed_keras_graph_trains_as_keras(tmp_path, src):
    """3 SGD steps: the shared layers' gradients summed as Keras sums them. (`h += x` is
    Python's in-place add on a torch tensor under Keras' torch backend, which autograd
    refuses: the Keras run uses `h = h + x`.)"""
    keras = pytest.importorskip("keras")
    model = load_script(write(tmp_path, src)).model
    kmodel = _keras_model(src)
    shape = model.graph.types[model.graph.inputs[0]].shape[1:]
    kmodel(np.zeros((1, *shape), np.float32))
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in kmodel.get_weights()]
    kmodel.set_weights(ws)
    model.set_weights(ws)
    x = rng.standard_normal((16, *shape)).astype(np.float32)
    y = rng.standard_normal((16, model.output_shape[-1])).astype(np.float32)
    kmodel.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    model.compile(optimizer={"type": "SGD", "learning_rate": 0.05}, loss="mse")
    for step in range(3):
        k_loss = float(kmodel.train_on_batch(x, y))
        hist = model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
        assert hist.history["loss"][0] == pytest.approx(k_loss, abs=1e-6), f"step {step}"
        for a, b in zip(model.get_weights(), kmodel.get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-6, rtol=0, err_msg=f"step {step}")
