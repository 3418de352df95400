"""Subtract layer (Keras merging.Subtract): y = x1 - x2, exactly two inputs, broadcast as
Keras' merges do (seqc.ops._merge). Backward: dy and -dy, summed over broadcast axes.

ONNX: Sub. Shape: the inputs' broadcast shape. Masks: OR of both masks when both carry one.
"""

from __future__ import annotations

from ._merge import ElementwiseMerge
from .base import BadExample, register


@register
class Subtract(ElementwiseMerge):
    kind = "Subtract"
    summary = "Difference of two inputs."
    onnx_op = "Sub"
    arity = (2, 2)
    examples = [e for e in ElementwiseMerge.examples if len(e.shapes) == 2]
    bad_examples = [*ElementwiseMerge.bad_examples,
                    BadExample({}, input_shapes=((4,), (4,), (4,)), match="exactly 2 inputs")]

    def combine(self, xs):
        return xs[0] - xs[1]

    def grads(self, xs, y, dy):
        return [dy, -dy]


