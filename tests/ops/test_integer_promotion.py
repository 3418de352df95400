"""An integer input meeting float32 weights is promoted to float32, as Keras' ops do
(seqc/ops/_promote.py): every kind with `promotes_integers`, fed integer ids, types its output
float32, computes its float32 forward, trains with no gradient into the ids, lowers with a
Cast, and matches onnxruntime and Keras 3; models with such inputs build, train and export."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import textwrap

import numpy as np
import pytest
from ops_harness import build, facet_cases, forward, keras_can_run, make_input, make_params, multi

import seqc
from seqc.ops import REGISTRY
from seqc.ops._promote import promotes
from seqc.ops.base import RunContext
from seqc.training import executor

os.environ.setdefault("KERAS_BACKEND", "torch")


def _promoting(case) -> bool:
    kind, ex = case.values
    op = REGISTRY[kind]
    return (not multi(ex) and ex.mask_lengths is None
            and promotes(op, op.parse_attrs(copy.deepcopy(ex.config))))


CASES = [c for c in facet_cases("promotes_integers") if _promoting(c)]


def _on_ints(ex, dtype: str = "int32"):
    return dataclasses.replace(ex, input_dtype=dtype, input_range=(-3, 4))


def test_the_facet_covers_the_kinds_with_float32_weights_that_pass_the_dtype_on():
    """Kinds whose shape rule would pass an integer dtype on while their weights are float32
    compute in float32 in Keras: each one promotes (Discretization reads the integers as
    numbers: its output is its own index dtype, and it stays out)."""
    from seqc.ir.types import batched

    missing = set()
    for kind, op in REGISTRY.items():
        for ex in op.examples:
            if op.multi_input or kind == "Discretization":
                continue
            attrs = op.parse_attrs(copy.deepcopy(ex.config))
            t = batched(tuple(ex.input_shape), "int64")
            try:
                out = op.infer(attrs, [t])[0]
            except seqc.errors.DefinitionError:
                continue  # the kind refuses integers (pooling, image augmentation)
            weighted = any(s.dtype == "float32" for s in op.params(attrs, [t]))
            if weighted and out.dtype == "int64" and not promotes(op, attrs):
                missing.add(kind)
    assert not missing
    assert {c.values[0] for c in CASES} >= {"Dense", "Conv1D", "LSTM", "GRU", "SimpleRNN",
                                             "Bidirectional", "TimeDistributed", "ConvLSTM2D"}


@pytest.mark.parametrize("kind,ex", CASES)
def test_promoting_kind_on_integers_is_its_float32_forward_and_lowers_with_a_cast(kind, ex):
    pytest.importorskip("onnxruntime")
    from seqc.export import to_onnx

    rng = np.random.default_rng(5)
    ints = _on_ints(ex)
    gi, gf = build(kind, ints), build(kind, ex)
    assert gi.input_type.dtype == "int32" and gi.output_type == gf.output_type
    params = make_params(gf, rng)
    x = make_input(ints, rng)
    want, _ = forward(gf, params, x.astype(np.float32), training=False)
    got, _ = forward(gi, params, x, training=False)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    # Training: the same parameter gradients, and none asked for the ids.
    grads = []
    for g, xx in ((gi, x), (gf, x.astype(np.float32))):
        y, tape = executor.forward(g, params, xx, RunContext(training=True,
                                                             rng=np.random.default_rng(0)))
        grads.append(executor.backward(g, params, tape, np.ones_like(y)))
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        np.testing.assert_array_equal(grads[0][k], grads[1][k], err_msg=k)
    model = to_onnx(gi, params, opset=17)
    assert model.graph.node[0].op_type == "Cast"
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (onnx_y,) = sess.run(None, {model.graph.input[0].name: x})
    assert onnx_y.dtype == np.float32
    np.testing.assert_allclose(onnx_y, want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind,ex", [c for c in CASES if c.values[1].keras])
def test_promoting_kind_on_integers_matches_keras(kind, ex):
    keras = pytest.importorskip("keras")
    from test_ops_keras_parity import keras_layer

    keras_can_run(kind)
    rng = np.random.default_rng(6)
    ints = _on_ints(ex)
    graph = build(kind, ints)
    params = make_params(graph, rng)
    x = make_input(ints, rng)
    want, _ = forward(graph, params, x, training=False)
    layer = keras_layer(kind, ex.config)
    layer.build((None, *ex.input_shape))
    layer.set_weights([params[k] for k in graph.param_specs])
    try:
        out = layer(keras.ops.convert_to_tensor(x), training=False)
    except (RuntimeError, TypeError, NotImplementedError) as e:
        # Keras' torch backend promotes integers in matmul and the recurrent cells, but its
        # conv (torch.nn.functional.conv*) and a recurrent dropout mask refuse them
        # ("expected scalar type Int but found Float"). Its JAX backend promotes them (see
        # the test on JAX below): what Keras computes there is its float32 forward.
        assert re.search(r"Int|int|dtype|Tensor type", str(e)), e
        out = layer(keras.ops.convert_to_tensor(x.astype(np.float32)), training=False)
    got = keras.ops.convert_to_numpy(out)
    assert got.dtype == np.float32
    np.testing.assert_allclose(want, got, atol=1e-5, rtol=1e-5)


def _onnx_run(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_spec_into_dense_trains_exports_and_matches_keras(tmp_path, dtype):
    keras = pytest.importorskip("keras")
    from seqc.frontend import load_definition

    spec = tmp_path / "m.json"
    spec.write_text(json.dumps({"input_shape": [4], "input_dtype": dtype, "layers": [
        {"type": "Dense", "units": 3, "activation": "relu"}, {"type": "Dense", "units": 1}]}))
    model = load_definition(str(spec)).model
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 6, (32, 4)).astype(dtype)
    y = rng.normal(size=(32, 1)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    before = {k: v.copy() for k, v in model.params.items()}
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert all(not np.array_equal(before[k], model.params[k]) for k in before)  # it trained
    want = model.predict(x)
    assert want.dtype == np.float32
    model.export(str(tmp_path / "m.onnx"))
    np.testing.assert_allclose(_onnx_run(tmp_path / "m.onnx", x), want, atol=1e-6, rtol=0)
    km = keras.Sequential([keras.Input((4,), dtype=dtype), keras.layers.Dense(3, "relu"),
                           keras.layers.Dense(1)])
    km.set_weights([model.params[k] for k in model.graph.param_specs])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(km(x)), want, atol=1e-6, rtol=0)
    # The .keras file seqc writes, and the Keras and torch cross-checks (they promote too).
    model.save(str(tmp_path / "m.keras"))
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), want, atol=1e-6, rtol=0)
    result = seqc.validate(model, x, runtimes="numpy,onnxruntime,keras,torch",
                           print_table=False)
    assert result.ok


KERAS_JAX = """\
import sys
import keras
import numpy as np
km = keras.Sequential([keras.Input((6, 2), dtype="int32"), keras.layers.Conv1D(3, 2),
                       keras.layers.LSTM(4), keras.layers.Dense(1)])
x = np.random.default_rng(1).integers(-4, 5, (8, 6, 2)).astype(np.int32)
km.save(sys.argv[1] + "/k.keras")
np.save(sys.argv[1] + "/x.npy", x)
np.save(sys.argv[1] + "/want.npy", keras.ops.convert_to_numpy(km(x)))
"""


def test_keras_conv1d_and_lstm_on_integer_input_match_keras_on_jax(tmp_path):
    # Keras' torch backend cannot run a Conv1D on integers (see _keras_torch_promotes); its
    # JAX backend promotes them, as seqc does.
    import subprocess
    import sys

    pytest.importorskip("keras")
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", KERAS_JAX, str(tmp_path)], env=env, check=True,
                   capture_output=True)
    x, want = np.load(tmp_path / "x.npy"), np.load(tmp_path / "want.npy")
    model = seqc.load(str(tmp_path / "k.keras"))
    assert model.graph.input_type.dtype == "int32"
    np.testing.assert_allclose(model.predict(x), want, atol=1e-6, rtol=0)
    model.export(str(tmp_path / "k.onnx"))
    np.testing.assert_allclose(_onnx_run(tmp_path / "k.onnx", x), want, atol=1e-6, rtol=0)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, np.ones((8, 1), np.float32), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


SCRIPT = """\
import keras
import numpy as np
from keras import layers
x_train = np.load("x.npy")
y_train = np.load("y.npy")
{setup}
model = keras.Sequential([keras.Input(shape=(3,){dtype}), {layer}, layers.Dense(1)])
model.compile(loss="mse", optimizer="adam")
model.fit(x_train, y_train, epochs=2)
"""


@pytest.mark.parametrize("setup,dtype,layer,x", [
    ("disc = layers.Discretization(num_bins=4)\ndisc.adapt(x_train)", "", "disc", "float"),
    ("", ", dtype='int64'", "layers.Hashing(num_bins=7)", "int"),
], ids=["Discretization", "Hashing"])
def test_scripts_with_an_integer_layer_into_dense_build_end_to_end(tmp_path, setup, dtype,
                                                                    layer, x):
    from click.testing import CliRunner

    from seqc.cli import cli

    rng = np.random.default_rng(2)
    xs = rng.normal(size=(40, 3)).astype(np.float32) if x == "float" \
        else rng.integers(0, 50, (40, 3))
    np.save(tmp_path / "x.npy", xs)
    np.save(tmp_path / "y.npy", rng.normal(size=(40, 1)).astype(np.float32))
    (tmp_path / "model.py").write_text(textwrap.dedent(SCRIPT.format(
        setup=setup, dtype=dtype, layer=layer)))
    r = CliRunner().invoke(cli, ["build", str(tmp_path / "model.py"), "--x",
                                 str(tmp_path / "x.npy"), "--y", str(tmp_path / "y.npy"),
                                 "-o", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 0, r.output
    assert seqc.validate(str(tmp_path / "out"), xs, print_table=False).ok


def test_keras_cross_check_says_where_keras_cannot_run_integers():
    """Keras' torch backend runs Dense and LSTM on integers (it promotes them), not Conv1D:
    the keras runtime says so instead of reporting a disagreement."""
    pytest.importorskip("keras")
    from seqc.runtime.keras_runtime import _integer_limit

    L = seqc.layers
    conv = seqc.Sequential([L.Input((6, 2), dtype="int32"), L.Conv1D(3, 2), L.LSTM(4)])
    rnn = seqc.Sequential([L.Input((6, 2), dtype="int32"), L.LSTM(4), L.Dense(1)])
    assert "cannot run Conv1D ('conv1d') on its integer input" in _integer_limit(conv.graph,
                                                                                 "torch")
    assert _integer_limit(conv.graph, "jax") is None
    assert _integer_limit(rnn.graph, "torch") is None
    x = np.random.default_rng(0).integers(-3, 4, (5, 6, 2)).astype(np.int32)
    assert seqc.validate(rnn, x, runtimes="numpy,keras,torch", print_table=False).ok
    with pytest.raises(seqc.errors.UsageError, match="cannot run Conv1D"):
        seqc.validate(conv, x, runtimes="numpy,keras", print_table=False)
