"""Merging an elementwise affine node (x * scale + shift per channel) into a neighbouring
layer's weights, shared by the folding passes.

Into the producer (`fold_affine`): the layer before computes y; the affine of y becomes part
of its output channels. Exact up to rounding. Into the consumer (`fold_input_affine`): the
layer after reads x * scale + shift; its kernel's input rows take the scale and its bias the
shift. That one re-associates a sum: the consumer then adds the shift's contribution to terms
of size |x * scale| instead of computing on the shifted values, which costs about |shift|
float32 roundings per term. So it is refused when a shift exceeds MAX_INPUT_SHIFT (a feature
with a large mean and a small spread: timestamps, prices, a constant column).
"""

from __future__ import annotations

import numpy as np

from ...ops import REGISTRY
from ..graph import Graph, Node
from ..types import ParamSpec

# |shift| above which an input-side fold would cost float32 precision (see the module doc):
# at 16, a 30-feature Dense's pre-activations move by ~1e-6 at most, 10x under validation's
# float32 atol. Standardised real features sit far below (breast_cancer's largest: 8.9).
MAX_INPUT_SHIFT = 16.0


def per_channel(scale: np.ndarray, shift: np.ndarray, channels: int | None
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """`scale` and `shift` as (channels,) vectors on the last axis, or None when they vary
    along any other axis (Normalization over axis=[1, 2], a BatchNormalization on axis 1)."""
    if channels is None:
        return None
    out = []
    for v in (scale, shift):
        v = np.asarray(v, np.float64)
        rows = v.reshape(-1, v.shape[-1]) if v.ndim else v.reshape(1, 1)
        if not (rows == rows[:1]).all() or rows.shape[1] not in (1, channels):
            return None
        out.append(np.broadcast_to(rows[0], (channels,)).copy())
    return out[0], out[1]


class Folder:
    """A graph being rewritten: the nodes, parameters, parameter table and types, changed in
    place as affine nodes are merged away; `result()` gives the new graph."""

    def __init__(self, graph: Graph, params: dict[str, np.ndarray]):
        self.graph = graph
        self.nodes = list(graph.nodes)
        self.params = dict(params)
        self.specs = dict(graph.param_specs)
        self.types = dict(graph.types)
        self.changes: list[str] = []

    def fold(self, node: Node, order: tuple[str, ...]) -> None:
        """Merge `node` (a kind with the `affine` facet) into its producer or consumer, trying
        the sides in `order` ("producer", "consumer"); leaves it when neither can absorb it."""
        if self._shared(node):
            return  # its parameters serve another call too (a shared layer)
        in_type = self.types[node.inputs[0]]
        affine = REGISTRY[node.op].affine(node.attrs, self._own(node), in_type)
        vectors = per_channel(*affine, in_type.shape[-1])
        if vectors is None:
            return
        for side in order:
            into = (self._into_producer if side == "producer" else self._into_consumer)(
                node, *vectors)
            if into is not None:
                self.changes.append(f"{node.name} folded into {into}")
                return

    def result(self) -> tuple[Graph, dict[str, np.ndarray], list[str]]:
        if not self.changes:
            return self.graph, self.params, []
        graph = self.graph.replace(nodes=tuple(self.nodes), param_specs=self.specs,
                                   types=self.types)
        return graph, self.params, self.changes

    # ---- the two sides

    def _into_producer(self, node: Node, scale: np.ndarray, shift: np.ndarray) -> str | None:
        v = node.inputs[0]
        prod = next((n for n in self.nodes if v in n.outputs), None)
        if prod is None or not self._sole_reader(v) or self._shared(prod):
            return None
        fold = REGISTRY[prod.op].fold_affine
        folded = fold and fold(prod.attrs, self._own(prod), scale, shift)
        if not folded:
            return None
        self._merge(prod, node, folded, inputs=prod.inputs, outputs=node.outputs)
        return prod.name

    def _into_consumer(self, node: Node, scale: np.ndarray, shift: np.ndarray) -> str | None:
        v = node.outputs[0]
        src = self.types[node.inputs[0]]
        if (not src.dtype.startswith("float") or src.dtype != self.types[v].dtype
                or not self._sole_reader(v) or np.abs(shift).max() > MAX_INPUT_SHIFT):
            return None
        cons = next((n for n in self.nodes if v in n.inputs), None)
        if cons is not None and self._shared(cons):
            return None
        fold = cons is not None and REGISTRY[cons.op].fold_input_affine
        folded = fold and cons.inputs == (v,) and fold(cons.attrs, self._own(cons), scale, shift)
        if not folded:
            return None
        self._merge(cons, node, folded, inputs=node.inputs, outputs=cons.outputs)
        return cons.name

    # ---- bookkeeping

    def _own(self, node: Node) -> dict[str, np.ndarray]:
        return {p: self.params[node.param_key(p)] for p in node.params}

    def _shared(self, node: Node) -> bool:
        """Whether `node`'s parameters serve several calls (it is a shared layer's call or
        owns one's parameters): rewriting them would change the other calls."""
        return bool(node.shares) or any(n.shares == node.name for n in self.nodes)

    def _sole_reader(self, v: str) -> bool:
        """Whether exactly one node reads `v` and it is not a graph output."""
        return (v not in self.graph.outputs
                and sum(v in n.inputs for n in self.nodes) == 1)

    def _merge(self, keep: Node, gone: Node, folded: tuple, *, inputs, outputs) -> None:
        """Replace `keep` by its folded version reading `inputs` and writing `outputs`, and
        drop `gone` with its parameters and the value between the two."""
        attrs, new_params = folded
        merged = keep.replace(attrs=attrs, params=tuple(new_params), inputs=tuple(inputs),
                              outputs=tuple(outputs))
        between = gone.outputs[0] if gone.outputs[0] in keep.inputs else gone.inputs[0]
        self.nodes[self.nodes.index(keep)] = merged
        self.nodes.remove(gone)
        for n, p in [(keep, p) for p in keep.params] + [(gone, p) for p in gone.params]:
            self.params.pop(n.param_key(p), None)
        self.params.update({merged.param_key(p): a for p, a in new_params.items()})
        self.specs = _respec(self.specs, keep, gone, merged, new_params)
        self.types.pop(between, None)


def _respec(specs: dict[str, ParamSpec], keep: Node, gone: Node, merged: Node,
            new_params: dict[str, np.ndarray]) -> dict[str, ParamSpec]:
    """The parameter table order with the kept node's entries replaced in place (a new bias
    joins them there) and the folded node's gone."""
    out: dict[str, ParamSpec] = {}
    old_keys = {keep.param_key(p) for p in keep.params}
    gone_keys = {gone.param_key(p) for p in gone.params}
    for key, spec in specs.items():
        if key in gone_keys:
            continue
        if key in old_keys:
            if key == keep.param_key(keep.params[0]):
                for p, arr in new_params.items():
                    old = specs.get(merged.param_key(p))
                    out[merged.param_key(p)] = (
                        old if old is not None and tuple(old.shape) == arr.shape
                        else ParamSpec(p, tuple(arr.shape)))
            continue
        out[key] = spec
    return out
