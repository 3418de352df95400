"""Fold an inference-mode BatchNormalization into the Dense or convolution before it.

BN(y) = (y - mean) / sqrt(var + eps) * gamma + beta = y * scale + shift per channel, with
scale = gamma / sqrt(var + eps) and shift = beta - mean * scale, so the producer's weights
absorb it (its kind's `fold_affine` facet scales the output-channel axis of the kernel and
adds shift to the bias) and the BN node disappears. Folded only when the producer's output
feeds the BN alone and BN normalizes the channel (last) axis.
"""

from __future__ import annotations

import numpy as np

from ...ops import REGISTRY
from ...ops.base import ParamSpec
from ..graph import Graph, Node


def fold_batchnorm(graph: Graph, params: dict[str, np.ndarray]
                   ) -> tuple[Graph, dict[str, np.ndarray], list[str]]:
    producers = {v: n for n in graph.nodes for v in n.outputs}
    readers: dict[str, int] = {}
    for n in graph.nodes:
        for v in n.inputs:
            readers[v] = readers.get(v, 0) + 1
    nodes = list(graph.nodes)
    params = dict(params)
    specs = dict(graph.param_specs)
    types = dict(graph.types)
    changes: list[str] = []
    for bn in graph.nodes:
        if bn.op != "BatchNormalization":
            continue
        v = bn.inputs[0]
        prod = producers.get(v)
        if prod is None or prod not in nodes or readers.get(v) != 1 or v in graph.outputs:
            continue
        fold = REGISTRY[prod.op].fold_affine
        rank = graph.types[v].rank
        if fold is None or bn.attrs.axis not in (-1, rank - 1):
            continue
        scale, shift = _affine(bn, params)
        own = {p: params[prod.param_key(p)] for p in prod.params}
        folded = fold(prod.attrs, own, scale, shift)
        if folded is None:
            continue
        new_attrs, new_params = folded
        merged = prod.replace(attrs=new_attrs, params=tuple(new_params), outputs=bn.outputs)
        i = nodes.index(prod)
        nodes[i] = merged
        nodes.remove(bn)
        for p in (*prod.params, *bn.params):
            params.pop(prod.param_key(p) if p in prod.params else bn.param_key(p), None)
        specs = _respec(specs, prod, bn, merged, new_params)
        params.update({merged.param_key(p): a for p, a in new_params.items()})
        types.pop(v, None)
        changes.append(f"{bn.name} folded into {prod.name}")
    if not changes:
        return graph, params, []
    return graph.replace(nodes=tuple(nodes), param_specs=specs, types=types), params, changes


def _affine(bn: Node, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) in float64 from the BN node's Keras parameters."""
    a = bn.attrs
    get = {p: params[bn.param_key(p)].astype(np.float64) for p in bn.params}
    inv = 1.0 / np.sqrt(get["moving_variance"] + a.epsilon)
    scale = get["gamma"] * inv if a.scale else inv
    shift = -get["moving_mean"] * scale
    if a.center:
        shift = shift + get["beta"]
    return scale, shift


def _respec(specs: dict[str, ParamSpec], prod: Node, bn: Node, merged: Node,
            new_params: dict[str, np.ndarray]) -> dict[str, ParamSpec]:
    """The parameter table order with the producer's entries replaced in place and BN's gone."""
    out: dict[str, ParamSpec] = {}
    old_keys = {prod.param_key(p) for p in prod.params}
    bn_keys = {bn.param_key(p) for p in bn.params}
    for key, spec in specs.items():
        if key in bn_keys:
            continue
        if key in old_keys:
            if key == prod.param_key(prod.params[0]):
                for p, arr in new_params.items():
                    old = specs.get(merged.param_key(p))
                    out[merged.param_key(p)] = (
                        old if old is not None and tuple(old.shape) == arr.shape
                        else ParamSpec(p, tuple(arr.shape)))
            continue
        out[key] = spec
    return out
