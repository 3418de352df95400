"""Every kind's forward against the real Keras 3 layer (torch backend) on identical weights,
and every example config accepted by Keras means the same to seqc. Skipped without keras."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
from ops_harness import (
    build,
    cases,
    forward,
    keras_can_run,
    make_input,
    make_mask,
    make_params,
    multi,
)

from seqc.ops import REGISTRY
from seqc.ops.base import KIND_ALIASES

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

# Keys every Keras layer config carries that are not layer arguments.
BASE_KEYS = {"name", "trainable", "dtype", "autocast", "build_config", "seed_generator"}
# Arguments holding a wrapped layer (Bidirectional, TimeDistributed).
WRAPPED_KEYS = ("layer", "backward_layer")


def _split_layer(v: dict) -> tuple[str, dict]:
    """(kind, config) of a wrapped layer in Keras' or seqc's spec form."""
    if "class_name" in v:
        return v["class_name"], dict(v.get("config") or {})
    return v["type"], {k: x for k, x in v.items() if k != "type"}


def keras_layer(kind: str, config: dict):
    config = copy.deepcopy(config)
    act = config.get("activation")
    if kind == "Activation" and isinstance(act, dict):
        # seqc's {"type": fn, kwargs} form: Keras takes the function with bound kwargs.
        kw = dict(act)
        fn = getattr(keras.activations, kw.pop("type"))
        return keras.layers.Activation(lambda x: fn(x, **kw))
    for k in WRAPPED_KEYS:
        if isinstance(config.get(k), dict):
            config[k] = keras_layer(*_split_layer(config[k]))  # Keras wants a Layer here
    return getattr(keras.layers, kind)(**config)


# Keras has no argument for a seqc extension (Example.keras=False): those examples are
# compared with the framework they come from instead (tests/ops/test_lstm_torch_parity.py).
KERAS_CASES = [c for c in cases() if c.values[1].keras]
FORWARD_CASES = [c for c in KERAS_CASES if c.values[0] != "InputLayer"]  # no call


# The merges whose call reads the inputs' masks (Keras' _merge_function).
MASK_READING_MERGES = ("Maximum", "Minimum", "Multiply")


@pytest.mark.parametrize("kind,ex", FORWARD_CASES)
def test_forward_matches_keras(kind, ex):
    keras_can_run(kind)
    rng = np.random.default_rng(3)
    graph = build(kind, ex)
    params = make_params(graph, rng)
    x = make_input(ex, rng)
    mask = make_mask(ex, x)
    want, _ = forward(graph, params, x, training=False, mask=mask)

    layer = keras_layer(kind, ex.config)
    if multi(ex):  # a merge: Keras takes lists of shapes, inputs and masks
        layer.build([(None, *s) for s in ex.shapes])
    else:
        layer.build((None, *ex.input_shape))
    weights = [params[k] for k in graph.param_specs]  # Keras order and layouts
    assert len(layer.weights) == len(weights)
    if weights:
        layer.set_weights(weights)
        if hasattr(layer, "finalize_state"):
            layer.finalize_state()  # Normalization caches reshaped statistics
    keras_in = x
    if multi(ex):
        # Keras' merges take their masks from the tensors: Maximum, Minimum and Multiply read
        # them in call (their values and the mask the call sets are compared), the others'
        # masks only through compute_mask.
        kwargs = {}
        if any(m is not None for m in mask):
            _check_merge_mask(kind, graph, layer, x, mask)
        if kind in MASK_READING_MERGES and any(m is not None for m in mask):
            keras_in = [keras.ops.convert_to_tensor(xi) for xi in x]
            for t, m in zip(keras_in, mask):
                if m is not None:
                    keras.src.backend.set_keras_mask(t, keras.ops.convert_to_tensor(m))
    else:
        kwargs = {} if mask is None else {"mask": keras.ops.convert_to_tensor(mask)}
    # Inference, as seqc's forward above: the image augmentation layers' call defaults to
    # training=True; layers whose call takes no `training` ignore it.
    out = layer(keras_in, training=False, **kwargs)
    got = keras.ops.convert_to_numpy(out)
    assert got.shape == want.shape
    np.testing.assert_allclose(want, got, atol=1e-5, rtol=1e-5)
    if kind in MASK_READING_MERGES and any(m is not None for m in mask):
        _check_merge_call_mask(kind, graph, x, mask, out)


def _check_merge_mask(kind, graph, layer, xs, masks):
    node = graph.nodes[-1]
    op = REGISTRY[kind]
    ours = op.compute_mask(node.attrs, xs, masks) if op.output_masked(
        node.attrs, tuple(m is not None for m in masks)) else None
    theirs = layer.compute_mask([keras.ops.convert_to_tensor(x) for x in xs],
                                [None if m is None else keras.ops.convert_to_tensor(m)
                                 for m in masks])
    if theirs is None:
        assert ours is None
    else:
        np.testing.assert_array_equal(ours, keras.ops.convert_to_numpy(theirs))


def _check_merge_call_mask(kind, graph, xs, masks, out):
    """The mask Keras' call leaves on the output (what a functional model passes on) is
    seqc's output mask."""
    node = graph.nodes[-1]
    op = REGISTRY[kind]
    ours = op.compute_mask(node.attrs, xs, masks) if op.output_masked(
        node.attrs, tuple(m is not None for m in masks)) else None
    theirs = keras.src.backend.get_keras_mask(out)
    if theirs is None:
        assert ours is None
    else:
        np.testing.assert_array_equal(ours, keras.ops.convert_to_numpy(theirs))


@pytest.mark.parametrize("kind,ex", KERAS_CASES)
def test_keras_config_means_the_same(kind, ex):
    """Keras' own get_config() of the example parses to the same seqc attrs."""
    keras_can_run(kind)
    op = REGISTRY[kind]
    layer = keras_layer(kind, ex.config)
    if kind == "Activation" and isinstance(ex.config["activation"], dict):
        pytest.skip("Keras serializes a bound lambda, not the function's kwargs")

    def canonical(config: dict):
        # Twice: the second pass puts the defaults seqc filled in into Keras' spelling too.
        attrs = op.parse_attrs(_normalize(kind, config, top=True))
        return op.parse_attrs(_normalize(kind, op.attrs_to_config(attrs)))

    assert canonical(_plain(layer.get_config())) == canonical(ex.config)


def _plain(v):
    """Keras' TrackedList/TrackedDict (lists a layer keeps, as value_range) as plain ones:
    they hold the layer's tracker and cannot be deep-copied."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_plain(x) for x in v) if type(v) in (list, tuple) else \
            [_plain(x) for x in v]
    return v


def _normalize(kind: str, config: dict, *, top: bool = False) -> dict:
    """A Keras get_config() (or a seqc example config) in a form both parse alike: Keras'
    bookkeeping keys and inert arguments seqc does not model dropped, initializers in Keras'
    serialized form, wrapped layers normalised recursively."""
    op = REGISTRY[KIND_ALIASES.get(kind, kind)]
    config = {k: v for k, v in copy.deepcopy(config).items()
              if k not in BASE_KEYS or (kind == "InputLayer" and k == "dtype")}
    if op.splits_activation:
        # Top level: the IR splits the activation into its own node. Inside a wrapper it
        # belongs to the wrapped layer and stays.
        act = config.pop("activation", "linear")
        if top and act not in ("linear", None):
            pytest.fail("example activation lost")
        if not top and act not in ("linear", None):
            config["activation"] = act
    fields = _fields(op) | set(op.aliases) | ({"activation"} if op.splits_activation else set())
    for k in [k for k in config if k not in fields]:
        # Keras arguments seqc does not model must be at their inert defaults.
        v = config.pop(k)
        assert v is None or v is False or k in {"lora_rank", "lora_alpha", "quantization_config",
                                                "unroll"}, k
    for k, v in config.items():
        if k.endswith("_initializer"):
            config[k] = _keras_initializer(v)
        elif k in WRAPPED_KEYS and isinstance(v, dict):
            inner_kind, inner = _split_layer(v)
            config[k] = {"class_name": inner_kind, "config": _normalize(inner_kind, inner)}
    return config


def _keras_initializer(v):
    """Any initializer spelling -> Keras' serialized dict (GlorotUniform with all-None config,
    "uniform" and RandomUniform(-0.05, 0.05) all compare equal)."""
    if isinstance(v, dict) and "type" in v:
        v = {"class_name": v["type"], "config": {k: x for k, x in v.items() if k != "type"}}
    return keras.initializers.serialize(keras.initializers.get(v))


def _fields(op) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(op.Attrs)}
