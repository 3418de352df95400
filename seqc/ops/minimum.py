"""Minimum layer (Keras merging.Minimum): y = min(x1, ..., xn) elementwise, broadcast as
Keras' merges do (seqc.ops._merge). Backward: dy to the first input holding the minimum.

ONNX: Min (variadic). Shape: the inputs' broadcast shape. Masks: refused; Keras' Minimum
replaces masked entries by the other inputs' values, which seqc does not implement.
"""

from __future__ import annotations

import numpy as np

from ._merge import ElementwiseMerge, select_grads
from .base import register


@register
class Minimum(ElementwiseMerge):
    kind = "Minimum"
    summary = "Elementwise minimum of several inputs."
    onnx_op = "Min"
    examples = [e for e in ElementwiseMerge.examples if e.mask_lengths is None]

    def output_masked(self, a, in_masked):
        return self.refuse_mask(any(in_masked), "Keras' Minimum fills masked entries from the "
                                "other inputs before comparing, which seqc does not implement")

    def combine(self, xs):
        return np.minimum.reduce(np.broadcast_arrays(*xs))

    def grads(self, xs, y, dy):
        return select_grads(xs, y, dy)
