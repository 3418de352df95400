"""Multiply layer (Keras merging.Multiply): y = x1 * x2 * ... * xn, broadcast as Keras'
merges do (seqc.ops._merge). Backward: dy times the product of the other inputs, summed over
broadcast axes.

ONNX: Mul (chained). Shape: the inputs' broadcast shape. Masks: refused; Keras' Multiply
replaces masked-out entries by 1 (and zeroes the output outside the masks' OR when every input
is masked), which seqc does not implement.
"""

from __future__ import annotations

from ._merge import ElementwiseMerge
from .base import register


@register
class Multiply(ElementwiseMerge):
    kind = "Multiply"
    summary = "Elementwise product of several inputs (a gate)."
    examples = [e for e in ElementwiseMerge.examples if e.mask_lengths is None]

    def output_masked(self, a, in_masked):
        return self.refuse_mask(any(in_masked), "Keras' Multiply replaces masked-out entries "
                                "by 1 before multiplying, which seqc does not implement")

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
