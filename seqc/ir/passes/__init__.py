"""Graph-to-graph rewrites run before export, one file each, in the explicit order of PIPELINE.

A pass is `fn(graph, params) -> (graph, params, changes)`: it never mutates its arguments, and
`changes` is a list of one-line descriptions (empty when it found nothing to do), which the
exporter reports per pass (`seqc build --verbose`, report.json).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..graph import Graph
from .fold_batchnorm import fold_batchnorm
from .fold_preprocessing import fold_preprocessing

Pass = Callable[[Graph, dict[str, np.ndarray]], tuple[Graph, dict[str, np.ndarray], list[str]]]

# Ordered: later passes see the earlier ones' output. Why this order:
# - fold_batchnorm before fold_preprocessing: a BatchNormalization is neither foldable into
#   (no `fold_input_affine`) nor commutable with (`commutes_affine`) an affine, so a Rescaling
#   or Normalization in front of one (Rescaling -> BatchNormalization -> Dense) could not
#   reach the Dense; once the BN has folded into that Dense, the preprocessing folds too.
#   Where both fold into one layer (Normalization -> Dense -> BatchNormalization) the order
#   does not matter: input-row and output-column scales act on different kernel axes, and the
#   bias comes out the same.
# Both run on the IR before lowering; the ONNX-level clean-up after it (export/cleanup.py)
# keeps its own ordered list with its reasons.
PIPELINE: dict[str, Pass] = {
    "fold_batchnorm": fold_batchnorm,
    "fold_preprocessing": fold_preprocessing,
}


def run_passes(graph: Graph, params: dict[str, np.ndarray], *,
               skip: Iterable[str] = ()) -> tuple[Graph, dict[str, np.ndarray], dict[str, Any]]:
    """Run PIPELINE except the passes named in `skip`; returns the new graph and parameters
    and {pass name: list of changes, or "skipped"}."""
    skip = set(skip)
    unknown = skip - set(PIPELINE)
    if unknown:
        raise ValueError(f"unknown passes {sorted(unknown)}; known: {list(PIPELINE)}")
    report: dict[str, Any] = {}
    for name, fn in PIPELINE.items():
        if name in skip:
            report[name] = "skipped"
            continue
        graph, params, changes = fn(graph, params)
        report[name] = changes
    return graph, params, report
