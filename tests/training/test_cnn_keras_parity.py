"""Conv nets against real Keras 3 (torch backend), from identical weights: the shipped example
specs predict the same, and training a conv net with BatchNormalization for two epochs of SGD
ends with the same weights (kernels, biases and moving statistics). Skipped without keras."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import seqc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def keras_model(keras, spec: dict):
    layers = [keras.Input(tuple(spec["input_shape"]))]
    for cfg in spec["layers"]:
        cfg = dict(cfg)
        layers.append(getattr(keras.layers, cfg.pop("type"))(**cfg))
    return keras.Sequential(layers)


@pytest.mark.parametrize("name", ["digits_cnn", "signals_conv1d"])
def test_example_specs_predict_like_keras(keras, name):
    spec = json.loads((EXAMPLES / f"{name}.json").read_text())
    model = seqc.load(str(EXAMPLES / f"{name}.json"))
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()]
    for i, spec_ in enumerate(model.graph.param_specs.values()):
        if "variance" in spec_.name:
            weights[i] = np.abs(weights[i]) + 0.5
    model.set_weights(weights)
    km = keras_model(keras, spec)
    km.set_weights(weights)
    x = rng.uniform(0, 2, (16, *spec["input_shape"])).astype(np.float32)
    want = keras.ops.convert_to_numpy(km(x, training=False))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-5)


def test_conv_net_with_batchnorm_trains_like_keras(keras):
    L = seqc.layers
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 7, 7, 2)).astype(np.float32)  # 40 = 2 batches of 16 + one of 8
    y = rng.integers(0, 3, 40)
    m = seqc.Sequential([
        L.Input((7, 7, 2)),
        L.Conv2D(4, 3, padding="same", use_bias=False),
        L.BatchNormalization(),
        L.ReLU(),
        L.MaxPooling2D(2, padding="same"),
        L.Conv2D(5, 2, strides=2, activation="relu"),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ], seed=3)
    m.compile(seqc.optimizers.SGD(learning_rate=0.05), "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    km = keras.Sequential([
        keras.Input((7, 7, 2)),
        keras.layers.Conv2D(4, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.MaxPooling2D(2, padding="same"),
        keras.layers.Conv2D(5, 2, strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    km.set_weights(m.get_weights())
    km.compile(keras.optimizers.SGD(learning_rate=0.05), "sparse_categorical_crossentropy",
               metrics=["accuracy"])
    kh = km.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    h = m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for ours, theirs in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(m.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-5)
