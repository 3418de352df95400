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

CASES = {"residual_mlp": RESIDUAL_MLP, "inception": INCEPTION, "shared": SHARED,
         "two_inputs_two_outputs": TWO_IN_OUT, "helper_blocks": HELPER_BLOCKS}


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
    # the weights by name: seqc's "layer/weight" keys are Keras' weight paths
    kweights = {w.path: w for w in kmodel.weights}
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
