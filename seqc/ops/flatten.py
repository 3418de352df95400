"""Flatten: (N, d1, ..., dk) -> (N, d1*...*dk); channels_first inputs are moved to channels-last
order first, as Keras does. ONNX: Flatten(axis=1), after a Transpose for channels_first.
Shape: (N,) -> (N, 1); an unknown feature dimension makes the flattened size unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..ir.types import TensorType
from .base import BadExample, Example, OpDef, expect_rank, register


@dataclass(frozen=True)
class FlattenAttrs:
    # Keras' None means the global image_data_format, which seqc fixes to channels_last.
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        if self.data_format is None:
            object.__setattr__(self, "data_format", "channels_last")


def _perm(rank: int) -> tuple[int, ...] | None:
    """channels_first -> channels_last axis order, or None when there is nothing to move."""
    return (0, *range(2, rank), 1) if rank > 2 else None


@register
class Flatten(OpDef):
    kind = "Flatten"
    Attrs = FlattenAttrs
    category = "reshaping"
    summary = "Flattens each sample into a vector."
    examples = [
        Example({}, (2, 3)),
        Example({}, (2, 3, 2)),
        Example({}, ()),
        Example({"data_format": "channels_first"}, (2, 3, 2)),
        Example({"data_format": None}, (4,)),
        Example({}, (None, 3)),
    ]
    bad_examples = [
        BadExample({"data_format": "channels_middle"}, (2, 3), "data_format"),
        BadExample({"dataformat": "channels_last"}, (2, 3), "did you mean"),
    ]

    def infer(self, a: FlattenAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        expect_rank(x, 1, "Flatten")
        feats = x.shape[1:]
        n = None if any(d is None for d in feats) else math.prod(feats)
        return [x.with_shape((x.shape[0], n))]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        perm = _perm(x.ndim) if a.data_format == "channels_first" else None
        moved = x if perm is None else x.transpose(perm)
        return [moved.reshape(x.shape[0], -1)], (moved.shape, perm)

    def backward(self, a, params, cache, dys):
        shape, perm = cache
        dx = dys[0].reshape(shape)
        if perm is not None:
            # Undo the transpose: the inverse permutation puts channels back at axis 1.
            dx = dx.transpose(np.argsort(perm))
        return [dx], {}

    layout = "custom"

    def lower(self, a, params, xs, em):
        (x,) = xs
        t = em.type_of(x)
        if em.is_channels_first(x) and a.data_format == "channels_last" and all(
                d is not None for d in t.shape[1:]):
            # Flatten the (N, C, *spatial) tensor as it is and record which IR feature each
            # position holds; a Dense reading it permutes its kernel rows instead of a Transpose.
            y = em.op("Flatten", [x], axis=1)
            ids = np.arange(int(np.prod(t.shape[1:]))).reshape(t.shape[1:])
            em.set_layout(y, np.moveaxis(ids, -1, 0).reshape(-1).astype(np.int64))
            return [y]
        x = em.canonical(x)
        perm = _perm(t.rank) if a.data_format == "channels_first" else None
        if perm is not None:
            x = em.op("Transpose", [x], perm=list(perm))
        return [em.op("Flatten", [x], axis=1)]
