"""Add layer (Keras merging.Add): y = x1 + x2 + ... + xn, broadcast as Keras' merges do
(seqc.ops._merge). Backward: dy to every input, summed over its broadcast axes.

ONNX: Sum (variadic, broadcasting). Shape: the inputs' broadcast shape. Masks: OR of the
inputs' masks when every input carries one.
"""

from __future__ import annotations

from ._merge import ElementwiseMerge
from .base import register


@register
class Add(ElementwiseMerge):
    kind = "Add"
    summary = "Sum of several inputs (a residual connection)."
    onnx_op = "Sum"

    def combine(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y

    def grads(self, xs, y, dy):
        return [dy] * len(xs)


