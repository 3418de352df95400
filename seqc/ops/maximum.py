"""Maximum layer (Keras merging.Maximum): y = max(x1, ..., xn) elementwise, broadcast as
Keras' merges do (seqc.ops._merge). Backward: dy to the first input holding the maximum.

ONNX: Max (variadic). Shape: the inputs' broadcast shape. Masks (Keras'
`_apply_merge_op_and_or_mask`, see seqc.ops._merge.SelectMerge): inputs folded left to right,
masked-out entries of one side filled from the other before each Max, as a Where; the output
mask is the OR of the inputs' masks when every input carries one.
"""

from __future__ import annotations

import numpy as np

from ._merge import SelectMerge
from .base import register


@register
class Maximum(SelectMerge):
    kind = "Maximum"
    summary = "Elementwise maximum of several inputs."
    onnx_op = "Max"
    np_op = np.maximum
