"""ConvLSTM1D/2D/3D beyond the contract harness: timestep masks (gradients against finite
differences, Keras given the same mask, the ONNX Scan), the exported Scan at two sequence
lengths in onnxruntime and onnx.reference, a short training trajectory against Keras 3 (torch
backend), and the frontends (Keras JSON, .keras, Python scripts) reading the layer."""

from __future__ import annotations

import os

import numpy as np
import pytest
from ops_harness import backward, build, forward, make_params, numeric_grad

import seqc
from seqc.ops.base import Example

L = seqc.layers


def _onnx_runs(model, x):
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    with np.errstate(all="ignore"):
        ref = ReferenceEvaluator(model).run(None, {"input": x})[0]
    return {"onnxruntime": sess.run(None, {"input": x})[0], "onnx.reference": ref}


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    k = pytest.importorskip("keras")
    if k.backend.backend() != "torch":
        pytest.skip("these tests need KERAS_BACKEND=torch")
    return k


# ---- masks ----

MASKED = [
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "padding": "same",
                    "return_sequences": True}, (4, 3, 3, 1)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 2, "go_backwards": True}, (4, 3, 3, 2)),
    ("ConvLSTM2D", {"filters": 1, "kernel_size": 2, "padding": "same", "return_sequences": True,
                    "zero_output_for_mask": True, "data_format": "channels_first"}, (4, 1, 3, 3)),
    ("ConvLSTM1D", {"filters": 2, "kernel_size": 2, "zero_output_for_mask": True}, (4, 4, 1)),
]
# Valid lengths per row, and a row with a hole (Keras' masks need not be right-padded).
MASK = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 1, 0, 1]], bool)


@pytest.mark.parametrize("kind,config,shape", MASKED)
def test_masked_backward_matches_finite_differences(kind, config, shape):
    rng = np.random.default_rng(0)
    graph = build(kind, Example(config, shape))
    params = make_params(graph, rng, dtype=np.float64)
    x = rng.normal(size=(3, *shape))
    y, caches = forward(graph, params, x, training=True, mask=MASK)
    g = rng.normal(size=y.shape)
    dx, grads = backward(graph, params, caches, g)

    def loss() -> float:
        return float((forward(graph, params, x, training=True, mask=MASK)[0] * g).sum())

    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-5, atol=1e-6)
    for key, grad in grads.items():
        np.testing.assert_allclose(grad, numeric_grad(loss, params[key]), rtol=1e-5,
                                   atol=1e-6, err_msg=key)


@pytest.mark.parametrize("kind,config,shape", MASKED)
def test_masked_forward_matches_keras(keras, kind, config, shape):
    rng = np.random.default_rng(1)
    graph = build(kind, Example(config, shape))
    params = make_params(graph, rng)
    x = rng.normal(size=(3, *shape)).astype(np.float32)
    want, _ = forward(graph, params, x, training=False, mask=MASK)
    layer = getattr(keras.layers, kind)(**config)
    layer.build((None, *shape))
    layer.set_weights([params[k] for k in graph.param_specs])
    got = keras.ops.convert_to_numpy(layer(x, mask=keras.ops.convert_to_tensor(MASK)))
    np.testing.assert_allclose(want, got, atol=1e-5, rtol=1e-5)


def _masked_model(zero_output: bool):
    """Token ids -> Embedding(mask_zero) -> frames: a timestep mask reaches the ConvLSTMs."""
    return seqc.Sequential([
        L.Input((None,), dtype="int32"), L.Embedding(10, 16, mask_zero=True),
        L.TimeDistributed(L.Reshape((4, 4, 1))),
        L.ConvLSTM2D(2, 3, padding="same", return_sequences=True),
        L.ConvLSTM2D(2, 3, padding="same", go_backwards=True,
                     zero_output_for_mask=zero_output),
    ], seed=0)


@pytest.mark.parametrize("zero_output", [False, True])
def test_masked_model_exports_and_matches_keras(keras, zero_output):
    from seqc.export import to_onnx

    m = _masked_model(zero_output)
    onnx_model = to_onnx(m.graph, m.params)
    km = keras.Sequential([
        keras.Input((None,), dtype="int32"), keras.layers.Embedding(10, 16, mask_zero=True),
        keras.layers.TimeDistributed(keras.layers.Reshape((4, 4, 1))),
        keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True),
        keras.layers.ConvLSTM2D(2, 3, padding="same", go_backwards=True,
                                zero_output_for_mask=zero_output)])
    km.set_weights(m.get_weights())
    rng = np.random.default_rng(2)
    for t in (3, 6):  # two sequence lengths through the same graph
        x = rng.integers(1, 10, (4, t)).astype(np.int32)
        x[1, t - 1:] = 0
        x[2, :2] = 0
        x[3, 1] = 0
        want = m.predict(x)
        np.testing.assert_allclose(want, keras.ops.convert_to_numpy(km(x)), atol=1e-5)
        for runtime, got in _onnx_runs(onnx_model, x).items():
            np.testing.assert_allclose(got, want, atol=1e-5, err_msg=runtime)


# ---- dropout ----

@pytest.mark.parametrize("config", [
    {"filters": 2, "kernel_size": 3, "padding": "same", "dropout": 0.3,
     "recurrent_dropout": 0.4, "return_sequences": True},
    {"filters": 2, "kernel_size": 2, "strides": 2, "recurrent_dropout": 0.5,
     "go_backwards": True},
])
def test_dropout_in_training_matches_keras_given_the_same_masks(keras, monkeypatch, config):
    """Keras draws four masks for the input and four for h (one per gate) once per call; seqc's
    masks, replayed into Keras' cell, give the same training forward."""
    import seqc.ops._conv_lstm as impl

    drawn = []

    def record(ctx, seed, shape, rate, dtype):
        m = ((np.random.default_rng(len(drawn)).random(shape) >= rate) / (1 - rate))
        drawn.append(m.astype(dtype))
        return drawn[-1]

    monkeypatch.setattr(impl, "inverted_mask", record)
    shape = (3, 6, 6, 1)
    graph = build("ConvLSTM2D", Example(config, shape))
    params = make_params(graph, np.random.default_rng(7))
    x = np.random.default_rng(8).normal(size=(2, *shape)).astype(np.float32)
    want, _ = forward(graph, params, x, training=True)
    plain, _ = forward(graph, params, x, training=False)
    assert np.abs(want - plain).max() > 1e-3  # the masks act in training, not at inference
    layer = keras.layers.ConvLSTM2D(**config)
    layer.build((None, *shape))
    layer.set_weights([params[k] for k in graph.param_specs])
    masks = iter(drawn)
    if config.get("dropout"):
        layer.cell._dropout_mask = [keras.ops.convert_to_tensor(m) for m in next(masks)]
    layer.cell._recurrent_dropout_mask = [keras.ops.convert_to_tensor(m) for m in next(masks)]
    got = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(want, got, atol=1e-5, rtol=1e-5)


# ---- the Scan at two sequence lengths ----

SCAN = [
    ("ConvLSTM1D", {"filters": 3, "kernel_size": 3, "padding": "same",
                    "return_sequences": True}, (5, 2)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": [3, 2], "go_backwards": True,
                    "return_sequences": True, "activation": "relu"}, (5, 4, 1)),
    ("ConvLSTM2D", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
                    "data_format": "channels_first"}, (2, 6, 5)),
    ("ConvLSTM3D", {"filters": 2, "kernel_size": 2, "padding": "same",
                    "go_backwards": True}, (3, 3, 2, 1)),
]


@pytest.mark.parametrize("kind,config,shape", SCAN)
def test_scan_export_agrees_at_two_lengths(kind, config, shape):
    from seqc.export import to_onnx

    graph = build(kind, Example(config, (None, *shape)))
    params = make_params(graph, np.random.default_rng(3))
    model = to_onnx(graph, params)
    assert "Scan" in [n.op_type for n in model.graph.node]
    rng = np.random.default_rng(4)
    for t in (2, 7):
        x = rng.normal(size=(3, t, *shape)).astype(np.float32)
        want, _ = forward(graph, params, x, training=False)
        for runtime, got in _onnx_runs(model, x).items():
            assert got.shape == want.shape, runtime
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=runtime)


def test_scan_export_runs_at_every_supported_opset():
    """onnxruntime wants the Scan body's shapes declared at some opsets (13); Split takes its
    sizes as an input from 13 on."""
    from seqc.export import to_onnx
    from seqc.export.opsets import supported_opsets

    graph = build("ConvLSTM2D", Example({"filters": 2, "kernel_size": 3, "padding": "same",
                                         "return_sequences": True}, (None, 4, 4, 1)))
    params = make_params(graph, np.random.default_rng(5))
    x = np.random.default_rng(6).normal(size=(2, 3, 4, 4, 1)).astype(np.float32)
    want, _ = forward(graph, params, x, training=False)
    for opset in sorted({min(supported_opsets()), 17, max(supported_opsets())}):
        for runtime, got in _onnx_runs(to_onnx(graph, params, opset=opset), x).items():
            np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"{runtime} {opset}")


# ---- training against Keras ----

@pytest.mark.parametrize("optimizer", [{"type": "SGD", "learning_rate": 0.1},
                                       {"type": "Adam", "learning_rate": 0.01}])
def test_training_trajectory_matches_keras(keras, optimizer):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 4, 5, 5, 1)).astype(np.float32)
    y = (rng.random((6, 4, 5, 5, 1)) > 0.5).astype(np.float32)

    def layers(ns):
        return [ns.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
                ns.ConvLSTM2D(2, 2, padding="same", return_sequences=True, go_backwards=True,
                              activation="relu"),
                ns.Conv3D(1, 3, padding="same", activation="sigmoid")]

    m = seqc.Sequential([L.Input((None, 5, 5, 1)), *layers(L)], seed=1)
    m.compile(optimizer=dict(optimizer), loss="binary_crossentropy")
    km = keras.Sequential([keras.Input((None, 5, 5, 1)), *layers(keras.layers)])
    km.set_weights(m.get_weights())
    kw = {k: v for k, v in optimizer.items() if k != "type"}
    km.compile(optimizer=getattr(keras.optimizers, optimizer["type"])(**kw),
               loss="binary_crossentropy")
    for step in range(4):
        k_loss = float(km.train_on_batch(x, y))
        hist = m.fit(x, y, epochs=1, batch_size=len(x), shuffle=False, verbose=0)
        assert hist.history["loss"][0] == pytest.approx(k_loss, abs=1e-6), f"step {step}"
        for a, b in zip(m.get_weights(), km.get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-6, rtol=0, err_msg=f"step {step}")


# ---- frontends ----

def test_keras_json_and_keras_file_load(keras, tmp_path):
    km = keras.Sequential([
        keras.Input((None, 6, 6, 1)),
        keras.layers.ConvLSTM2D(filters=3, kernel_size=(3, 3), padding="same",
                                return_sequences=True, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.ConvLSTM2D(2, (1, 1), padding="same")])
    x = np.random.default_rng(6).random((2, 3, 6, 6, 1)).astype(np.float32)
    want = keras.ops.convert_to_numpy(km(x))
    path = tmp_path / "m.keras"
    km.save(path)
    m = seqc.load(str(path))
    assert [n.op for n in m.graph.nodes].count("ConvLSTM2D") == 2
    np.testing.assert_allclose(m.predict(x), want, atol=1e-5)
    (tmp_path / "m.json").write_text(km.to_json())
    mj = seqc.load(str(tmp_path / "m.json"))
    assert mj.count_params() == km.count_params()


def test_python_script_reads_conv_lstm(tmp_path):
    script = tmp_path / "next_frame.py"
    script.write_text(
        "from tensorflow import keras\n"
        "from tensorflow.keras import layers\n"
        "inp = layers.Input(shape=(None, 8, 8, 1))\n"
        "x = layers.ConvLSTM2D(filters=4, kernel_size=(5, 5), padding=\"same\",\n"
        "                      return_sequences=True, activation=\"relu\")(inp)\n"
        "x = layers.BatchNormalization()(x)\n"
        "x = layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation=\"sigmoid\",\n"
        "                  padding=\"same\")(x)\n"
        "model = keras.models.Model(inp, x)\n"
        "model.compile(loss=keras.losses.binary_crossentropy,\n"
        "              optimizer=keras.optimizers.Adam())\n")
    m = seqc.load(str(script))
    kinds = [n.op for n in m.graph.nodes]
    assert "ConvLSTM2D" in kinds
    node = next(n for n in m.graph.nodes if n.op == "ConvLSTM2D")
    assert node.attrs.kernel_size == (5, 5) and node.attrs.filters == 4
    assert node.attrs.activation == "relu" and node.attrs.return_sequences
    assert m.output_shape == (None, None, 8, 8, 1)
    # 4 * (5*5*1*4 + 5*5*4*4 + 4) + BN 4*4 + Conv3D 27*4 + 1
    assert m.count_params() == 4 * (100 + 400 + 4) + 16 + 109
