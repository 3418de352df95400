"""Average layer (Keras merging.Average): y = (x1 + ... + xn) / n, broadcast as Keras'
merges do (seqc.ops._merge). Backward: dy / n to every input, summed over broadcast axes.

ONNX: Sum, then Div by n. Shape: the inputs' broadcast shape. Masks: OR of the inputs' masks
when every input carries one.
"""

from __future__ import annotations

import numpy as np

from ._merge import ElementwiseMerge
from .base import register


@register
class Average(ElementwiseMerge):
    kind = "Average"
    summary = "Mean of several inputs."

    def combine(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y / np.asarray(len(xs), dtype=y.dtype)

    def grads(self, xs, y, dy):
        return [dy / np.asarray(len(xs), dtype=dy.dtype)] * len(xs)

    def lower_combine(self, xs, em):
        s = em.op("Sum", xs)
        return em.op("Div", [s, em.const(np.array(len(xs), np.float32), "count")])
