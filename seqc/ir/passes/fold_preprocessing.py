"""Fold Rescaling and Normalization into the layer after them, or else the one before.

Both compute x * scale + shift (Normalization: scale = 1 / max(sqrt(variance), 1e-7),
shift = -mean * scale). At a model's input they sit before a Dense, a convolution or a
recurrent layer, whose kernel's input rows absorb the scale and whose bias absorbs the
shift's contribution (`fold_input_affine`), so a served model reads raw features with no
elementwise pass over them. A final Rescaling that undoes a target's scaling folds into the
Dense before it (`fold_affine`). Not folded: integer inputs (the Cast stays), statistics that
vary along more than the last axis, a convolution whose zero padding would see the shift,
and shifts too large for float32 (see `_fold`).
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from ._fold import Folder

KINDS = ("Rescaling", "Normalization")


def fold_preprocessing(graph: Graph, params: dict[str, np.ndarray]
                       ) -> tuple[Graph, dict[str, np.ndarray], list[str]]:
    folder = Folder(graph, params)
    for node in graph.nodes:
        if node.op in KINDS:
            folder.fold(node, ("consumer", "producer"))
    return folder.result()
