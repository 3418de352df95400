"""Masking: m = any(x != mask_value, -1); y = x * m (masked steps become 0) and m is the mask.

ONNX: Not(Equal(x, v)) -> Cast float -> ReduceMax over the last axis -> Mul; mask = Cast bool.
Shape: (N, T, F) -> (N, T, F); the output carries the timestep mask (N, T).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.types import TensorType
from .base import BadExample, Example, OpDef, expect_rank, register


@dataclass(frozen=True)
class MaskingAttrs:
    mask_value: float = 0.0


def _step_mask(x: np.ndarray, value: float) -> np.ndarray:
    return np.any(x != value, axis=-1)


def _reduce_max_last(em, x: str, keepdims: int) -> str:
    # ReduceMax took its axes as an attribute until opset 18, an input from 18 on.
    if em.opset >= 18:
        return em.op("ReduceMax", [x, em.const(np.array([-1], np.int64), "axes")],
                     keepdims=keepdims)
    return em.op("ReduceMax", [x], axes=[-1], keepdims=keepdims)


@register
class Masking(OpDef):
    kind = "Masking"
    Attrs = MaskingAttrs
    category = "core"
    summary = "Masks the timesteps whose features all equal mask_value (sets them to 0)."
    examples = [
        Example({}, (4, 3)),
        Example({"mask_value": 0.5}, (3, 2)),
        Example({"mask_value": -1.0}, (None, 2)),
    ]
    bad_examples = [
        BadExample({}, (3,), "rank 3"),
        BadExample({}, (2, 3, 4), "rank 3"),
        BadExample({"mask_value": "zero"}, (3, 2), "mask_value"),
        BadExample({"mask_val": 0.0}, (3, 2), "did you mean"),
    ]

    def infer(self, a: MaskingAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        # Keras' mask is any() over the last axis; seqc's masks are timestep masks (N, T), so
        # the input is (N, T, features).
        expect_rank(x, 3, "Masking", max_rank=3)
        return [x]

    def output_masked(self, a: MaskingAttrs, in_masked: bool) -> bool:
        return True  # a new mask replaces any incoming one, as in Keras

    def compute_mask(self, a, xs, mask):
        return _step_mask(xs[0], a.mask_value)

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        keep = _step_mask(x, a.mask_value)[..., None].astype(x.dtype)
        return [x * keep], keep

    def backward(self, a, params, cache, dys):
        return [dys[0] * cache], {}

    def _keep(self, a, x, em, keepdims: int) -> str:
        value = em.const(np.array(a.mask_value, np.float32), "mask_value")
        differs = em.op("Cast", [em.op("Not", [em.op("Equal", [x, value])])], to=1)  # FLOAT
        return _reduce_max_last(em, differs, keepdims)

    def lower(self, a, params, xs, em):
        return [em.op("Mul", [xs[0], self._keep(a, xs[0], em, 1)])]

    def lower_mask(self, a, xs, mask, em):
        return em.op("Cast", [self._keep(a, xs[0], em, 0)], to=9)  # BOOL
