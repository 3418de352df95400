"""Minimum layer (Keras merging.Minimum): y = min(x1, ..., xn) elementwise, broadcast as
Keras' merges do (seqc.ops._merge). Backward: dy to the first input holding the minimum.

ONNX: Min (variadic). Shape: the inputs' broadcast shape. Masks (Keras'
`_apply_merge_op_and_or_mask`, see seqc.ops._merge.SelectMerge): inputs folded left to right,
masked-out entries of one side filled from the other before each Min, as a Where; the output
mask is the OR of the inputs' masks when every input carries one.
"""

from __future__ import annotations

import numpy as np

from ._merge import SelectMerge
from .base import register


@register
class Minimum(SelectMerge):
    kind = "Minimum"
    summary = "Elementwise minimum of several inputs."
    onnx_op = "Min"
    np_op = np.minimum
