"""Fold an inference-mode BatchNormalization into the layer before it, or else the one after.

BN(y) = (y - mean) / sqrt(var + eps) * gamma + beta = y * scale + shift per channel, with
scale = gamma / sqrt(var + eps) and shift = beta - mean * scale. The producer (a Dense or a
convolution) absorbs it through its kind's `fold_affine` facet: scale multiplies the kernel's
output channels and shift joins the bias. When the producer cannot (BN after an activation),
the consumer absorbs it through `fold_input_affine`: scale multiplies the kernel's input rows
and shift's contribution joins the bias (see `_fold` for when that is refused). Only a BN
whose value feeds that one layer alone, normalizing the channel (last) axis, is folded.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from ._fold import Folder


def fold_batchnorm(graph: Graph, params: dict[str, np.ndarray]
                   ) -> tuple[Graph, dict[str, np.ndarray], list[str]]:
    folder = Folder(graph, params)
    for node in graph.nodes:
        if node.op == "BatchNormalization":
            folder.fold(node, ("producer", "consumer"))
    return folder.result()
