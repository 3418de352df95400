"""Shared machinery for the layer-kind contract tests: cases from REGISTRY, inputs and
parameters drawn from each example, and a node-by-node forward/backward over a built graph
(the executor's loop, plus the gradient with respect to the graph input)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from seqc.ir.build import LayerConfig, NodeConfig, build_dag, build_graph
from seqc.ir.graph import Graph
from seqc.ir.types import TensorType, batched
from seqc.ops import REGISTRY
from seqc.ops.base import RunContext
from seqc.training.executor import forward_node

BATCH = 3
UNKNOWN = 4  # the concrete size a None (variable) feature dimension gets in tests


# Keras runs these layers through TensorFlow ops (tf.lookup, tf.strings) even on the torch
# backend; without TensorFlow, tests comparing with Keras skip them, and they are compared
# with Keras' published values instead (tests/ops/test_categorical_layers.py).
NEEDS_TENSORFLOW = {"IntegerLookup", "Hashing"}


def keras_can_run(kind: str) -> None:
    """Skip a Keras comparison of `kind` when Keras needs TensorFlow for it and has none."""
    if kind in NEEDS_TENSORFLOW:
        pytest.importorskip("tensorflow")


def cases(which: str = "examples") -> list:
    return [pytest.param(kind, ex, id=f"{kind}-{i}")
            for kind, op in sorted(REGISTRY.items())
            for i, ex in enumerate(getattr(op, which))]


def facet_cases(facet: str, which: str = "examples") -> list:
    """The cases of every kind that declares the optional facet `facet` (not None): a facet's
    contract test selects kinds by what they declare, never by class, so a new kind that
    declares it is checked with no new test code."""
    return [c for c in cases(which) if getattr(REGISTRY[c.values[0]], facet) is not None]


def concrete(shape: tuple) -> tuple:
    return tuple(UNKNOWN if d is None else d for d in shape)


def multi(ex) -> bool:
    """Whether the example feeds several inputs (a merge kind): inputs, masks and input
    gradients are then lists, one per input, in the graph's input order."""
    return ex.input_shapes is not None


def build(kind: str, ex, *, shape: tuple | None = None, masking: bool = False) -> Graph:
    """The one-layer graph of an example. `shape` overrides the per-sample shape (a list of
    shapes for a several-input example); with `masking`, a Masking(0.0) layer is put before
    each masked input (see build_masked)."""
    dtype = getattr(ex, "input_dtype", "float32")  # BadExample has no dtype
    if not multi(ex) and not masking:
        features = ex.input_shape if shape is None else shape
        return build_graph(f"test_{kind}", batched(tuple(features), dtype),
                           [LayerConfig(kind, copy.deepcopy(ex.config))])
    shapes = ex.shapes if shape is None else (shape if multi(ex) else [shape])
    names = [f"input_{i}" for i in range(len(shapes))] if multi(ex) else ["input"]
    entries, refs = [], []
    for name, m in zip(names, masked_flags(ex) if masking else [False] * len(names)):
        if m:
            entries.append(NodeConfig("Masking", {"mask_value": 0.0}, f"{name}_mask", [name]))
        refs.append(f"{name}_mask" if m else name)
    entries.append(NodeConfig(kind, copy.deepcopy(ex.config), "layer", refs))
    return build_dag(f"test_{kind}", {n: batched(tuple(s), dtype) for n, s in zip(names, shapes)},
                     entries, ["layer"])


def masked_flags(ex) -> list[bool]:
    """Which inputs carry the example's mask (`masked_inputs`, default every input)."""
    if getattr(ex, "mask_lengths", None) is None:
        return [False] * len(ex.shapes)
    return list(ex.masked_inputs or [True] * len(ex.shapes))


def is_float(dtype) -> bool:
    return np.issubdtype(np.dtype(dtype), np.floating)


def make_input(ex, rng: np.random.Generator, *, dtype=None, batch: int = BATCH):
    """A random input batch (a list of one per input for a several-input example)."""
    if multi(ex):
        return [_draw(ex, s, rng, dtype, batch) for s in ex.shapes]
    return _draw(ex, ex.input_shape, rng, dtype, batch)


def _draw(ex, features, rng, dtype, batch) -> np.ndarray:
    shape = (batch, *concrete(features))
    lo, hi = ex.input_range
    if not is_float(ex.input_dtype):
        return rng.integers(int(lo), int(hi), size=shape).astype(ex.input_dtype)
    return rng.uniform(lo, hi, size=shape).astype(dtype or ex.input_dtype)


def make_params(graph: Graph, rng: np.random.Generator, dtype=np.float32) -> dict:
    """Random parameters (normal; |normal| + 0.5 for positive ones such as variances)."""
    out = {}
    for key, spec in graph.param_specs.items():
        if not is_float(spec.dtype):
            out[key] = np.zeros(spec.shape, spec.dtype)  # counters: never read by forward
            continue
        v = rng.normal(size=spec.shape)
        if spec.domain == "positive":
            v = np.abs(v) + 0.5
        out[key] = np.asarray(v, dtype=dtype)
    return out


def node_params(node, params: dict) -> dict:
    return {p: params[node.param_key(p)] for p in node.params}


def make_mask(ex, x):
    """The example's right-padded timestep mask, bool (N, T): valid lengths cycled over the
    batch (None when the example feeds no mask); a list, one per input, for a several-input
    example (None for an input `masked_inputs` leaves unmasked)."""
    lengths = getattr(ex, "mask_lengths", None)
    if multi(ex):
        return [_mask(lengths, xi) if m else None for xi, m in zip(x, masked_flags(ex))]
    return _mask(lengths, x)


def _mask(lengths, x: np.ndarray) -> np.ndarray | None:
    if lengths is None:
        return None
    n, t = x.shape[:2]
    valid = np.array([lengths[i % len(lengths)] for i in range(n)])
    return np.arange(t)[None, :] < valid[:, None]


def masked_input(ex, x, mask):
    """x with its masked steps set to 0.0 and valid steps kept away from 0.0, so a Masking
    layer (mask_value 0.0) in front recreates exactly `mask` (per input, when several)."""
    if isinstance(x, list):
        return [masked_input(ex, xi, m) for xi, m in zip(x, mask)]
    if mask is None:
        return x
    x = np.where(np.abs(x) < 0.1, np.where(x < 0, -0.5, 0.5), x).astype(x.dtype)
    return x * mask.reshape(*mask.shape, *(1,) * (x.ndim - 2)).astype(x.dtype)


def build_masked(kind: str, ex) -> Graph:
    """[Masking(mask_value=0.0), kind]: the graph the lowering tests run a masked example in
    (a Masking before each masked input of a several-input example)."""
    return build(kind, ex, masking=True)


def forward(graph: Graph, params: dict, x, *, training: bool, seed: int = 0, mask=None):
    """(y, caches). A fresh generator per call: random kinds (Dropout) draw the same mask on
    every call, which makes them differentiable by finite differences in training mode.
    `mask` is the timestep mask the graph input carries (fixed: finite differences must not
    move it); masks then flow node to node as in the executor. A several-input graph takes
    `x` and `mask` as lists in `graph.inputs` order."""
    ctx = RunContext(training=training, rng=np.random.default_rng(seed))
    xs = x if isinstance(x, list) else [x]
    ms = mask if isinstance(mask, list) else [mask]
    env = dict(zip(graph.inputs, xs))
    masks = {v: m for v, m in zip(graph.inputs, ms) if m is not None}
    caches = []
    for node in graph.nodes:
        ctx.scope = node.name
        ys, cache = forward_node(REGISTRY[node.op], node, params, env, masks, graph.masked, ctx)
        env.update(zip(node.outputs, ys))
        caches.append(cache)
    return env[graph.outputs[0]], caches


def backward(graph: Graph, params: dict, caches: list, dy: np.ndarray):
    """(dx for the graph input (a list, one per input, for several), {param key: grad} for
    every gradient an op returned)."""
    dval = {graph.outputs[0]: dy}
    grads = {}
    for node, cache in zip(reversed(graph.nodes), reversed(caches)):
        op = REGISTRY[node.op]
        dxs, g = op.backward(node.attrs, node_params(node, params), cache,
                             [dval.pop(v) for v in node.outputs])
        for local, arr in g.items():
            grads[node.param_key(local)] = arr
        for v, dx in zip(node.inputs, dxs):
            if dx is None:  # no gradient flows to this input (Embedding's ids)
                dval.setdefault(v, None)
                continue
            dval[v] = dval[v] + dx if dval.get(v) is not None else dx
    if len(graph.inputs) > 1:
        return [dval.get(v) for v in graph.inputs], grads
    return dval[graph.inputs[0]], grads


def numeric_grad(f, a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every element of a (in place)."""
    g = np.zeros_like(a)
    flat, gflat = a.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = f()
        flat[i] = old - eps
        lo = f()
        flat[i] = old
        gflat[i] = (hi - lo) / (2 * eps)
    return g


def concrete_type(t: TensorType, batch: int = BATCH) -> tuple:
    return (batch, *concrete(t.shape[1:]))
