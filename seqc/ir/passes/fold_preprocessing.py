"""Fold Rescaling and Normalization into the layer after them, or else the one before.

Both compute x * scale + shift (Normalization: scale = 1 / max(sqrt(variance), 1e-7),
shift = -mean * scale). At a model's input they sit before a Dense, a convolution or a
recurrent layer, whose kernel's input rows absorb the scale and whose bias absorbs the
shift's contribution (`fold_input_affine`), so a served model reads raw features with no
elementwise pass over them. Kinds the affine commutes with (`commutes_affine`: Resizing,
CenterCrop; and every `inference_identity` kind: Identity, Dropout, augmentation layers) may
stand between the two: the affine moves past them first. A final
Rescaling that undoes a target's scaling folds into the Dense before it (`fold_affine`). Not
folded: integer inputs (the Cast stays), statistics that vary along more than the last axis,
a convolution whose zero padding would see the shift, and shifts too large for float32 (see
`_fold`).
"""

from __future__ import annotations

import numpy as np

from ...ops import REGISTRY
from ...ops._promote import infer
from ..graph import Graph, Node
from ._fold import Folder, per_channel

KINDS = ("Rescaling", "Normalization")


def fold_preprocessing(graph: Graph, params: dict[str, np.ndarray]
                       ) -> tuple[Graph, dict[str, np.ndarray], list[str]]:
    moved = []
    for node in [n for n in graph.nodes if n.op in KINDS]:
        trial = _move_to_foldable_consumer(graph, params, node)
        if trial is None:
            continue
        # Keep the move only where the fold then happens.
        folder = Folder(trial[0], params)
        folder.fold(trial[0].node(node.name), ("consumer",))
        if folder.changes:
            graph = trial[0]
            moved.append(f"{node.name} moved past {', '.join(trial[1])}")
    folder = Folder(graph, params)
    for node in graph.nodes:
        if node.op in KINDS:
            folder.fold(node, ("consumer", "producer"))
    graph, params, changes = folder.result()
    return graph, params, moved + changes


def _move_to_foldable_consumer(graph: Graph, params: dict[str, np.ndarray], node: Node
                               ) -> tuple[Graph, list[str]] | None:
    """The graph with `node` (an affine) moved past the chain of kinds it commutes with to just
    before a layer with `fold_input_affine`, and the chain's names; None when there is no such
    chain."""
    src = graph.types[node.inputs[0]]
    own = {p: params[node.param_key(p)] for p in node.params}
    vectors = per_channel(*REGISTRY[node.op].affine(node.attrs, own, src), src.shape[-1])
    if vectors is None or not src.dtype.startswith("float"):
        return None
    chain, value = [], node.outputs[0]
    while True:
        readers = [n for n in graph.nodes if value in n.inputs]
        if value in graph.outputs or len(readers) != 1 or readers[0].inputs != (value,):
            return None
        nxt = readers[0]
        op = REGISTRY[nxt.op]
        if op.inference_identity:
            pass  # the identity at inference (Dropout, augmentation): commutes with anything
        elif op.commutes_affine is None:
            break
        elif not op.commutes_affine(nxt.attrs, graph.types[value], *vectors):
            return None
        if len(nxt.outputs) != 1:
            return None
        chain.append(nxt)
        value = nxt.outputs[0]
    if not chain or REGISTRY[nxt.op].fold_input_affine is None:
        return None
    # Rewire: the chain reads the affine's input, the affine writes the chain's last value,
    # so the consumer is untouched. The values in between are new ones (`<value>/unscaled`):
    # they hold the chain's results on the raw input, which no value of the original graph does
    # (validate's bisection matches values by name).
    types = {k: t for k, t in graph.types.items()
             if k not in (node.outputs[0], *(n.outputs[0] for n in chain[:-1]))}
    values = [node.inputs[0], *(f"{n.outputs[0]}/unscaled" for n in chain)]
    nodes = [n for n in graph.nodes if n is not node]
    t = src
    for i, n in enumerate(chain):
        (t,) = infer(REGISTRY[n.op], n.attrs, [t])
        types[values[i + 1]] = t
        nodes[nodes.index(n)] = n.replace(inputs=(values[i],), outputs=(values[i + 1],))
    last = chain[-1].outputs[0]
    (types[last],) = infer(REGISTRY[node.op], node.attrs, [t])
    nodes.insert(nodes.index(nxt), node.replace(inputs=(values[-1],), outputs=(last,)))
    return graph.replace(nodes=tuple(nodes), types=types), [n.name for n in chain]
