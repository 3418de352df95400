"""The kernel arithmetic of `fold_input_affine` shared by the kinds whose input meets a
`kernel` on its second-to-last axis (Dense, the convolutions, the recurrent layers): the
folding passes (seqc.ir.passes) call the facet to absorb a preceding Rescaling,
Normalization or BatchNormalization into the kernel's input rows and the bias."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

Array = np.ndarray


def fold_input_kernel(attrs: Any, params: dict[str, Array], scale: Array, shift: Array,
                      bias_shape: tuple[int, ...] | None = None) -> tuple[Any, dict[str, Array]]:
    """`fold_input_affine` for kinds whose input meets `kernel` on its second-to-last axis
    (Dense (in, out), convolutions (*k, in, out), recurrent (in, k*units)): the kernel's input
    rows are scaled, and shift's contribution, summed over every tap, joins the bias (the
    first row of a 2-D bias: GRU's input bias). A bias is added only when one is needed."""
    k = params["kernel"]
    k64 = k.astype(np.float64)
    out = dict(params)
    out["kernel"] = (k64 * scale[:, None]).astype(k.dtype)
    add = (k64 * shift[:, None]).reshape(-1, k.shape[-1]).sum(axis=0)
    if attrs.use_bias or np.any(add):
        bias = (params["bias"].astype(np.float64) if attrs.use_bias
                else np.zeros(bias_shape or add.shape))
        bias.reshape(-1, add.shape[0])[0] += add
        out["bias"] = bias.astype(k.dtype)
        attrs = dataclasses.replace(attrs, use_bias=True)
    return attrs, out
