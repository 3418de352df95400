"""Multiply layer (Keras merging.Multiply): y = x1 * x2 * ... * xn, broadcast as Keras'
merges do (seqc.ops._merge). Backward: dy times the product of the other inputs, summed over
broadcast axes.

Masks, as Keras' `Multiply._merge_function`: each masked input's (N, T) mask is broadcast over
its last axis and its masked-out entries become 1 (x' = where(mask, x, 1)); the output is the
product of the x'. When every input is masked, the output is zeroed outside the masks' OR and
carries that OR as its mask; otherwise it carries none. Masked inputs must be of rank 3
(N, T, F). Backward: the product's gradient, times the masks (and the OR when applied).

ONNX: Mul (chained); with masks Unsqueeze + Where(mask, x, 1) per masked input, and
Or + Where(or, y, 0) when every input is masked. Shape: the inputs' broadcast shape.
"""

from __future__ import annotations

import numpy as np

from ._merge import (
    MASKED_EXAMPLES,
    ElementwiseMerge,
    lower_masked_inputs,
    masked_aligned,
    unbroadcast,
)
from .base import register


@register
class Multiply(ElementwiseMerge):
    kind = "Multiply"
    summary = "Elementwise product of several inputs (a gate)."
    examples = [*ElementwiseMerge.examples, *MASKED_EXAMPLES]

    def combine(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y * x
        return y

    def grads(self, xs, y, dy):
        out = []
        for i in range(len(xs)):
            g = dy
            for j, x in enumerate(xs):
                if j != i:
                    g = g * x
            out.append(g)
        return out

    def forward(self, a, params, xs, ctx):
        masks = list(ctx.masks) if any(m is not None for m in ctx.masks) else []
        if not masks:
            return super().forward(a, params, xs, ctx)
        al, ms = masked_aligned(self, xs, masks)
        filled = [x if m is None else np.where(m, x, x.dtype.type(1)) for x, m in zip(al, ms)]
        y = self.combine(filled)
        either = None
        if all(m is not None for m in ms):  # zero outside the OR (Keras' standard masking)
            either = np.logical_or.reduce(np.broadcast_arrays(*ms))
            y = np.where(either, y, y.dtype.type(0))
        y = np.asarray(y, dtype=np.result_type(*xs))
        cache = ("masked", filled, ms, either, [x.shape for x in xs], y)
        return [y], cache if ctx.need_grad else None

    def backward(self, a, params, cache, dys):
        if cache[0] != "masked":
            return super().backward(a, params, cache, dys)
        _, filled, ms, either, shapes, y = cache
        dy = np.broadcast_to(dys[0], y.shape)
        if either is not None:
            dy = np.where(either, dy, 0).astype(dy.dtype)
        dxs = self.grads(filled, y, dy)
        dxs = [d if m is None else np.where(m, d, 0).astype(d.dtype) for d, m in zip(dxs, ms)]
        return [unbroadcast(np.broadcast_to(d, y.shape), s) for d, s in zip(dxs, shapes)], {}

    def lower(self, a, params, xs, em):
        masks = list(em.mask) if any(m is not None for m in em.mask) else []
        if not masks:
            return super().lower(a, params, xs, em)
        xs, ms = lower_masked_inputs(self, xs, masks, em)
        one = em.const(np.array(1.0, np.float32), "one")
        xs = [x if m is None else em.op("Where", [m, x, one]) for x, m in zip(xs, ms)]
        y = self.lower_combine(xs, em)
        if all(m is not None for m in ms):
            either = ms[0]
            for m in ms[1:]:
                either = em.op("Or", [either, m])
            y = em.op("Where", [either, y, em.const(np.array(0.0, np.float32), "zero")])
        em.set_layout(y, None)
        return [y]

    def lower_combine(self, xs, em):
        y = xs[0] if len(xs) > 1 else em.op("Identity", xs)
        for x in xs[1:]:
            y = em.op("Mul", [y, x])
        return y
