"""Rescaling: y = x * scale + offset (each a number, or a list broadcast like NumPy).

ONNX: Mul (+ Add when offset is not 0), after a Cast for integer inputs. Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._numbers import Numbers
from .base import BadExample, Example, OpDef, register


@dataclass(frozen=True)
class RescalingAttrs:
    scale: Numbers
    offset: Numbers = 0.0


@register
class Rescaling(OpDef):
    kind = "Rescaling"
    supports_masking = True  # passes a timestep mask on, as in Keras
    Attrs = RescalingAttrs
    category = "preprocessing"
    summary = "Multiplies inputs by scale and adds offset (e.g. 1/255 for pixels)."
    examples = [
        Example({"scale": 1.0 / 255}, (4,), input_range=(0.0, 255.0)),
        Example({"scale": 2.0, "offset": -1.0}, (2, 3)),
        Example({"scale": [1.0, 2.0, 0.5], "offset": [0.0, 1.0, -1.0]}, (2, 3)),
        Example({"scale": [[0.5], [2.0]]}, (2, 3)),
        Example({"scale": 0.5}, (3,), input_dtype="int32", input_range=(0, 255)),
    ]
    bad_examples = [
        BadExample({"scale": "big"}, (3,), "scale"),
        BadExample({}, (3,), "scale"),
        BadExample({"scale": [1.0, 2.0]}, (3,), "broadcast"),
        BadExample({"scale": 1.0, "offset": [1.0, 2.0, 3.0, 4.0]}, (3,), "broadcast"),
        BadExample({"scale": [[1.0, 2.0], [3.0]]}, (3,), "rectangular"),
    ]

    def infer(self, a: RescalingAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        # Unknown dims as 1: a constant must not stretch them, so it may only be 1 there.
        shape = tuple(1 if d is None else d for d in x.shape)
        for name in ("scale", "offset"):
            c = np.asarray(getattr(a, name))
            try:
                ok = c.ndim <= x.rank and np.broadcast_shapes(shape, c.shape) == shape
            except ValueError:
                ok = False
            if not ok:
                raise DefinitionError(
                    f"`{name}` must broadcast to the input without enlarging it",
                    field=name, received=f"{name} shape {c.shape}, input {x}")
        dtype = x.dtype if x.dtype.startswith("float") else "float32"
        return [TensorType(x.shape, dtype)]

    def forward(self, a, params, xs, ctx):
        x = xs[0]
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        scale = np.asarray(a.scale, x.dtype)
        return [x * scale + np.asarray(a.offset, x.dtype)], scale

    def backward(self, a, params, scale, dys):
        return [dys[0] * scale], {}

    def affine(self, a, params, in_type):
        return np.asarray(a.scale, np.float64), np.asarray(a.offset, np.float64)

    def export_layout(self, a):
        # Scalars broadcast in any layout; per-channel lists need the IR's channels-last one.
        return "agnostic" if np.ndim(a.scale) == 0 and np.ndim(a.offset) == 0 else "canonical"

    def lower(self, a, params, xs, em):
        (x,) = xs
        if not em.type_of(x).dtype.startswith("float"):
            x = em.op("Cast", [x], to=1)  # TensorProto.FLOAT
        y = em.op("Mul", [x, em.const(np.asarray(a.scale, np.float32), "scale")])
        if np.any(np.asarray(a.offset) != 0):
            y = em.op("Add", [y, em.const(np.asarray(a.offset, np.float32), "offset")])
        return [y]
