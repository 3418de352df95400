"""GlobalAveragePooling1D: y[n, c] = mean of x[n, t, c] over the steps t (the valid steps only
when a timestep mask arrives: sum(x * m) / sum(m), as Keras; the output carries no mask).
ONNX: GlobalAveragePool on (N, C, L), then Flatten(axis=1) unless keepdims; masked: ReduceSum.
Shape: (N, L, C) -> (N, C), or (N, 1, C) with keepdims=True.
"""

from __future__ import annotations

import numpy as np

from ._pooling import GlobalPooling, GlobalPoolingAttrs, global_bad_examples, global_examples
from .base import Example, register


@register
class GlobalAveragePooling1D(GlobalPooling):
    kind = "GlobalAveragePooling1D"
    Attrs = GlobalPoolingAttrs
    nd = 1
    mode = "average"
    summary = "Average over every 1-D spatial position, per channel."
    examples = [
        *global_examples(1),
        Example({}, (4, 2), mask_lengths=(4, 1, 2)),
        Example({"keepdims": True}, (3, 2), mask_lengths=(2, 3)),
    ]
    bad_examples = global_bad_examples(1)

    def output_masked(self, a, in_masked: bool) -> bool:
        if a.data_format == "channels_first":
            # A timestep mask is (N, T) over axis 1, the channels of a channels_first input.
            self.refuse_mask(in_masked, "its channels_first input has no timestep axis 1",
                             hint="use data_format='channels_last' after a masking layer")
        return False  # Keras: the average consumes the mask

    def forward(self, a, params, xs, ctx):
        if ctx.mask is None:
            return super().forward(a, params, xs, ctx)
        (x,) = xs
        m = ctx.mask[:, :, None].astype(x.dtype)  # (N, L, 1): broadcasts over the channels
        count = m.sum(axis=1, keepdims=True)  # 0 valid steps gives NaN, as in Keras
        y = (x * m).sum(axis=1, keepdims=True) / count
        if not a.keepdims:
            y = y.reshape(x.shape[0], -1)
        return [y], ("masked", m / count)

    def backward(self, a, params, cache, dys):
        if not (isinstance(cache, tuple) and cache[0] == "masked"):
            return super().backward(a, params, cache, dys)
        dy = dys[0] if a.keepdims else dys[0][:, None, :]
        return [dy * cache[1]], {}

    def lower(self, a, params, xs, em):
        if em.mask is None:
            return super().lower(a, params, xs, em)
        # channels_last: the input arrives as (N, C, L) (see export_layout), the mask (N, L).
        m = em.op("Unsqueeze", [em.mask, em.const(np.array([1], np.int64), "axes")])
        m = em.op("Cast", [m], to=1)  # FLOAT
        axes = em.const(np.array([2], np.int64), "axes")  # ReduceSum: axes input since 13
        total = em.op("ReduceSum", [em.op("Mul", [xs[0], m]), axes], keepdims=1)
        y = em.op("Div", [total, em.op("ReduceSum", [m, axes], keepdims=1)])
        return [y if a.keepdims else em.op("Flatten", [y], axis=1)]
