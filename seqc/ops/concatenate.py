"""Concatenate layer (Keras merging.Concatenate): y = concat(x1, ..., xn) along `axis`
(any axis but the batch; negative counts from the end). The inputs have one rank and equal
sizes on every other axis (Keras' rule; an unknown size matches any). Backward: dy split
along `axis`.

ONNX: Concat, on the inputs brought to one physical layout (`Emitter.unify`), its axis
remapped to that layout (channels-first moves the channels to axis 1); a permuted flattening
is put back in the IR's order first. Shape: the inputs' with the `axis` sizes summed (unknown
when any is). Masks (Keras' Concatenate.compute_mask, rank-3 inputs): each input's mask
(all valid where it has none) broadcast over its last axis, concatenated, any() over the last
axis: along the time axis the masks are joined; along the features they are OR-ed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._layout import physical_axis
from ._merge import merge_dtype
from .base import BadExample, Example, OpDef, register


@dataclass(frozen=True)
class ConcatenateAttrs:
    axis: int = -1


def _axis(a: ConcatenateAttrs, rank: int) -> int:
    if not -rank <= a.axis < rank or a.axis % rank == 0:
        raise DefinitionError(
            f"'axis' must name a feature axis of the rank-{rank} inputs (1 to {rank - 1}, or "
            "negative from the end; not the batch axis 0)", field="axis",
            received=f"axis={a.axis}")
    return a.axis % rank


@register
class Concatenate(OpDef):
    kind = "Concatenate"
    Attrs = ConcatenateAttrs
    category = "merging"
    summary = "Joins several inputs along one axis."
    layout = "custom"
    multi_input = True
    arity = (1, None)
    supports_masking = True
    examples = [
        Example({}, input_shapes=((3,), (4,))),
        Example({"axis": 1}, input_shapes=((2, 4), (3, 4), (1, 4))),
        Example({"axis": -2}, input_shapes=((2, 3, 4), (2, 5, 4))),
        Example({"axis": 3}, input_shapes=((2, 3, 4), (2, 3, 1))),
        Example({}, input_shapes=((None, 3), (None, 2))),
        Example({}, input_shapes=((5, 3), (5, 2)), mask_lengths=(5, 2, 3)),
        Example({"axis": 1}, input_shapes=((4, 3), (2, 3)), mask_lengths=(2, 1, 4),
                masked_inputs=(True, False)),
    ]
    bad_examples = [
        BadExample({}, input_shapes=((3, 4), (2, 4)), match="axis 1: 3 vs 2"),
        BadExample({}, input_shapes=((4,), (3, 4)), match="one rank"),
        BadExample({"axis": 0}, input_shapes=((4,), (4,)), match="batch"),
        BadExample({"axis": 2}, input_shapes=((4,), (4,)), match="axis=2"),
    ]

    def infer(self, a, in_types):
        dtype = merge_dtype(self, in_types)
        ranks = {t.rank for t in in_types}
        if len(ranks) != 1:
            raise DefinitionError(
                "Concatenate needs inputs of one rank", field="inputs",
                received="input shapes " + ", ".join(str(t) for t in in_types))
        rank = ranks.pop()
        ax = _axis(a, rank)
        out = list(in_types[0].shape)
        for t in in_types[1:]:
            for i, d in enumerate(t.shape):
                if i in (0, ax):
                    continue
                if out[i] is not None and d is not None and out[i] != d:
                    raise DefinitionError(
                        f"Concatenate needs equal sizes off the concatenation axis (axis {i}: "
                        f"{out[i]} vs {d})", field="inputs",
                        received=f"axis={a.axis}, input shapes "
                        + ", ".join(str(t) for t in in_types))
                if out[i] is None:
                    out[i] = d
        sizes = [t.shape[ax] for t in in_types]
        out[ax] = None if None in sizes else sum(sizes)
        return [TensorType(tuple(out), dtype)]

    def output_masked(self, a, in_masked):
        return any(in_masked)

    def compute_mask(self, a, xs, masks):
        full = []
        for x, m in zip(xs, masks):
            self._check_mask_rank(x.ndim)
            m = np.ones(x.shape[:2], bool) if m is None else m
            full.append(np.broadcast_to(m[..., None], x.shape))
        return np.concatenate(full, axis=a.axis).any(axis=-1)

    def _check_mask_rank(self, rank: int) -> None:
        if rank != 3:
            raise DefinitionError(
                "Concatenate combines timestep masks of rank-3 inputs (N, T, C) only",
                field="inputs", received=f"a masked rank-{rank} input")

    def lower_mask(self, a, xs, masks, em):
        full = []
        for x, m in zip(xs, masks):
            self._check_mask_rank(em.type_of(x).rank)
            shape = em.op("Shape", [x])
            if m is None:
                f = em.op("ConstantOfShape", [shape], value=np.array([1.0], np.float32))
            else:
                mf = em.op("Cast", [m], to=1)
                mf = em.op("Unsqueeze", [mf, em.const(np.array([-1], np.int64), "axes")])
                f = em.op("Expand", [mf, shape])
            full.append(f)
        cat = em.op("Concat", full, axis=a.axis)
        if em.opset >= 18:
            red = em.op("ReduceMax", [cat, em.const(np.array([-1], np.int64), "axes")],
                        keepdims=0)
        else:
            red = em.op("ReduceMax", [cat], axes=[-1], keepdims=0)
        return em.op("Cast", [red], to=9)

    def forward(self, a, params, xs, ctx):
        y = np.concatenate(xs, axis=a.axis)
        return [y], [x.shape[a.axis] for x in xs] if ctx.need_grad else None

    def backward(self, a, params, cache, dys):
        cuts = np.cumsum(cache)[:-1]
        return list(np.split(dys[0], cuts, axis=a.axis)), {}

    def lower(self, a, params, xs, em):
        xs = em.unify(xs)
        if not (em.layout_of(xs[0]) is None or em.is_channels_first(xs[0])):
            xs = [em.canonical(x) for x in xs]  # a permuted flattening: back to Keras' order
        rank = em.type_of(xs[0]).rank
        first = em.is_channels_first(xs[0])
        y = em.op("Concat", xs, axis=physical_axis(a.axis % rank, rank, first))
        em.set_layout(y, em.layout_of(xs[0]))
        return [y]
