"""UnitNormalization: y = x · min(1 / sqrt(sum(x²)), 1e12), the sum over `axis` per sample (Keras'
ops.normalize with order 2 and epsilon 1e-12).

ONNX: ReduceSumSquare, Sqrt, Max(·, 1e-12), Div. Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._layout import in_place_input, physical_axis, set_output_layout
from .base import BadExample, Example, OpDef, known_axes, register

_EPSILON = 1e-12  # Keras' UnitNormalization passes this to ops.normalize


@dataclass(frozen=True)
class UnitNormalizationAttrs:
    axis: tuple[int, ...] = (-1,)


@register
class UnitNormalization(OpDef):
    kind = "UnitNormalization"
    Attrs = UnitNormalizationAttrs
    supports_masking = True  # passes a timestep mask on, as in Keras
    category = "normalization"
    summary = "Scales each sample to unit L2 norm over the given axes."
    examples = [
        Example({}, (5,)),
        Example({"axis": [1, 2]}, (3, 4)),
        Example({"axis": 1}, (3, 2, 2)),
        Example({"axis": [-2, -1]}, (2, 3, 2)),
        Example({}, (None, 3)),
        Example({}, (4,), input_dtype="int32", input_range=(1, 9)),
    ]
    bad_examples = [
        BadExample({"axis": 0}, (4,), "batch"),
        BadExample({"axis": 2}, (4,), "axis"),
        BadExample({"axis": [1, 1]}, (4, 2), "twice"),
        BadExample({"axis": 1}, (None, 3), "unknown"),
        BadExample({"axis": "last"}, (4,), "axis"),
    ]

    def check(self, a: UnitNormalizationAttrs) -> None:
        if not a.axis:
            raise DefinitionError("'axis' must name at least one axis", field="axis",
                                  received="axis=[]")

    def infer(self, a, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        known_axes(a.axis, x, unique=True)
        return [TensorType(x.shape, x.dtype if x.dtype.startswith("float") else "float32")]

    def _axes(self, a, rank: int) -> tuple[int, ...]:
        return tuple(sorted(d % rank for d in a.axis))

    def forward(self, a, params, xs, ctx):
        x = xs[0]
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        axes = self._axes(a, x.ndim)
        norm = np.sqrt(np.square(x).sum(axis=axes, keepdims=True))
        inv = 1.0 / np.maximum(norm, np.asarray(_EPSILON, x.dtype))
        y = x * inv
        return [y], (y, inv, norm >= _EPSILON, axes)

    def backward(self, a, params, cache, dys):
        y, inv, scaled, axes = cache
        (dy,) = dys
        # Where the norm is above epsilon, y = x / |x| and dx = (dy - y <dy, y>) / |x|; below
        # it the factor is the constant 1 / epsilon.
        proj = np.where(scaled, (dy * y).sum(axis=axes, keepdims=True), 0.0)
        return [(dy - y * proj) * inv], {}

    # Elementwise but for its sums: a channels-first value (after a convolution) is normalized
    # where it is, its axes renumbered, so no Transpose is needed around it.
    layout = "custom"

    def lower(self, a, params, xs, em):
        x, first = in_place_input(xs[0], em)
        t = em.type_of(xs[0])
        if not t.dtype.startswith("float"):
            x = em.op("Cast", [x], to=1)  # TensorProto.FLOAT
        axes = sorted(physical_axis(d, t.rank, first) for d in self._axes(a, t.rank))
        if em.opset >= 18:
            ss = em.op("ReduceSumSquare", [x, em.const(np.asarray(axes, np.int64), "axes")],
                       keepdims=1)
        else:
            ss = em.op("ReduceSumSquare", [x], axes=axes, keepdims=1)
        norm = em.op("Max", [em.op("Sqrt", [ss]), em.const(np.float32(_EPSILON), "epsilon")])
        return [set_output_layout(em.op("Div", [x, norm]), first, em)]
