"""Permute: y = transpose(x, (0, *dims)); dims is a 1-indexed permutation of the non-batch axes.

ONNX: one Transpose(perm=[0, *dims]), composed with a channels-first input's layout change.
Shape: y.shape[i] = x.shape[dims[i - 1]] for i >= 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from .base import BadExample, Example, OpDef, register


@dataclass(frozen=True)
class PermuteAttrs:
    dims: tuple[int, ...]


@register
class Permute(OpDef):
    kind = "Permute"
    Attrs = PermuteAttrs
    category = "reshaping"
    summary = "Permutes the non-batch axes of each sample (dims are 1-indexed)."
    examples = [
        Example({"dims": [2, 1]}, (3, 4)),
        Example({"dims": [3, 1, 2]}, (2, 3, 4)),
        Example({"dims": [1, 2]}, (2, 3)),
        Example({"dims": [2, 1]}, (None, 3)),
    ]
    bad_examples = [
        BadExample({"dims": [1, 1]}, (3, 4), "permutation"),
        BadExample({"dims": [0, 1]}, (3, 4), "permutation"),
        BadExample({"dims": [2, 1]}, (2, 3, 4), "3 non-batch axes"),
        BadExample({}, (3, 4), "dims"),
        BadExample({"dim": [2, 1]}, (3, 4), "did you mean"),
    ]

    def check(self, a: PermuteAttrs) -> None:
        if sorted(a.dims) != list(range(1, len(a.dims) + 1)):
            raise DefinitionError(
                f"'dims' must be a permutation of 1..{len(a.dims)} (1-indexed: the batch axis "
                "is not counted)", field="dims", received=f"dims={list(a.dims)}",
                hint="e.g. dims=[2, 1] swaps the two non-batch axes of a (steps, features) input")

    def infer(self, a, in_types):
        (x,) = in_types
        if x.rank != len(a.dims) + 1:
            raise DefinitionError(
                f"'dims' has {len(a.dims)} entries but the input has {x.rank - 1} non-batch axes",
                field="dims", received=f"dims={list(a.dims)}, input {x}")
        return [x.with_shape((x.shape[0], *(x.shape[d] for d in a.dims)))]

    def forward(self, a, params, xs, ctx):
        return [xs[0].transpose((0, *a.dims))], None

    def backward(self, a, params, cache, dys):
        return [dys[0].transpose(np.argsort((0, *a.dims)))], {}

    layout = "custom"

    def lower(self, a, params, xs, em):
        (x,) = xs
        perm = [0, *a.dims]
        if em.is_channels_first(x):
            # Fold the channels-first -> channels-last Transpose into this one: one node.
            to_last = [0, *range(2, len(perm)), 1]
            perm = [to_last[p] for p in perm]
        else:
            x = em.canonical(x)
        y = em.op("Transpose", [x], perm=perm)
        em.set_layout(y, None)
        return [y]
