"""Maximum layer (Keras merging.Maximum): y = max(x1, ..., xn) elementwise, broadcast as
Keras' merges do (seqc.ops._merge). Backward: dy to the first input holding the maximum.

ONNX: Max (variadic). Shape: the inputs' broadcast shape. Masks: refused; Keras' Maximum
replaces masked entries by the other inputs' values, which seqc does not implement.
"""

from __future__ import annotations

import numpy as np

from ._merge import ElementwiseMerge, select_grads
from .base import register


@register
class Maximum(ElementwiseMerge):
    kind = "Maximum"
    summary = "Elementwise maximum of several inputs."
    onnx_op = "Max"
    examples = [e for e in ElementwiseMerge.examples if e.mask_lengths is None]

    def output_masked(self, a, in_masked):
        return self.refuse_mask(any(in_masked), "Keras' Maximum fills masked entries from the "
                                "other inputs before comparing, which seqc does not implement")

    def combine(self, xs):
        return np.maximum.reduce(np.broadcast_arrays(*xs))

    def grads(self, xs, y, dy):
        return select_grads(xs, y, dy)
