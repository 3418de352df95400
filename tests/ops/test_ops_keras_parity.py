"""Every kind's forward against the real Keras 3 layer (torch backend) on identical weights,
and every example config accepted by Keras means the same to seqc. Skipped without keras."""

from __future__ import annotations

import copy
import os
import re

import numpy as np
import pytest
from ops_harness import build, cases, forward, make_input, make_params

from seqc.ops import REGISTRY

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

# Keys every Keras layer config carries that are not layer arguments.
BASE_KEYS = {"name", "trainable", "dtype", "autocast", "build_config", "seed_generator"}


def keras_layer(kind: str, config: dict):
    config = copy.deepcopy(config)
    act = config.get("activation")
    if kind == "Activation" and isinstance(act, dict):
        # seqc's {"type": fn, kwargs} form: Keras takes the function with bound kwargs.
        kw = dict(act)
        fn = getattr(keras.activations, kw.pop("type"))
        return keras.layers.Activation(lambda x: fn(x, **kw))
    return getattr(keras.layers, kind)(**config)


FORWARD_CASES = [c for c in cases() if c.values[0] != "InputLayer"]  # InputLayer has no call


@pytest.mark.parametrize("kind,ex", FORWARD_CASES)
def test_forward_matches_keras(kind, ex):
    rng = np.random.default_rng(3)
    graph = build(kind, ex)
    params = make_params(graph, rng)
    x = make_input(ex, rng)
    want, _ = forward(graph, params, x, training=False)

    layer = keras_layer(kind, ex.config)
    layer.build((None, *ex.input_shape))
    weights = [params[k] for k in graph.param_specs]  # Keras order and layouts
    assert len(layer.weights) == len(weights)
    if weights:
        layer.set_weights(weights)
        if hasattr(layer, "finalize_state"):
            layer.finalize_state()  # Normalization caches reshaped statistics
    got = keras.ops.convert_to_numpy(layer(x))
    assert got.shape == want.shape
    np.testing.assert_allclose(want, got, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind,ex", cases())
def test_keras_config_means_the_same(kind, ex):
    """Keras' own get_config() of the example parses to the same seqc attrs."""
    op = REGISTRY[kind]
    layer = keras_layer(kind, ex.config)
    if kind == "Activation" and isinstance(ex.config["activation"], dict):
        pytest.skip("Keras serializes a bound lambda, not the function's kwargs")
    config = {k: v for k, v in layer.get_config().items()
              if k not in BASE_KEYS or (kind == "InputLayer" and k == "dtype")}
    seqc_config = copy.deepcopy(ex.config)
    if op.splits_activation:
        seqc_config.pop("activation", None)
        if config.pop("activation", "linear") not in ("linear", None):
            pytest.fail("example activation lost")
    ignorable = {k: v for k, v in config.items() if k not in _fields(op)}
    for k, v in ignorable.items():
        # Keras arguments seqc does not model must be at their inert defaults.
        assert v is None or v is False or k in {"lora_rank", "lora_alpha", "quantization_config"}, k
        config.pop(k)
    config = {k: _plain_initializer(v) if k.endswith("_initializer") else v
              for k, v in config.items()}
    assert op.parse_attrs(config) == op.parse_attrs(seqc_config)


def _plain_initializer(v):
    """Keras' serialized {"class_name": "GlorotUniform", "config": {all None}} -> its name."""
    if isinstance(v, dict) and not any(x is not None for x in v.get("config", {}).values()):
        return re.sub(r"(?<!^)(?=[A-Z])", "_", v["class_name"]).lower()
    return v


def _fields(op) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(op.Attrs)}
