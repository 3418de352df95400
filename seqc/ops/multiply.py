"""Multiply layer (Keras merging.Multiply): y = x1 * x2 * ... * xn, broadcast as Keras'
merges do (seqc.ops._merge). Backward: dy times the product of the other inputs, summed over
broadcast axes.

ONNX: Mul (chained). Shape: the inputs' broadcast shape. Masks: OR of the inputs' masks when
every input carries one.
"""

from __future__ import annotations

from ._merge import ElementwiseMerge
from .base import register


@register
class Multiply(ElementwiseMerge):
    kind = "Multiply"
    summary = "Elementwise product of several inputs (a gate)."

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

    def lower_combine(self, xs, em):
        y = xs[0] if len(xs) > 1 else em.op("Identity", xs)
        for x in xs[1:]:
            y = em.op("Mul", [y, x])
        return y
