"""Softmax layer: y = exp(x - max) / sum(exp(x - max)) along `axis`.

ONNX: Softmax(axis) (opset >= 13 normalizes along that one axis). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DefinitionError
from ._activations import ACTIVATIONS
from .base import BadExample, Example, OpDef, register

_SOFTMAX = ACTIVATIONS["softmax"]


@dataclass(frozen=True)
class SoftmaxAttrs:
    axis: int = -1


@register
class Softmax(OpDef):
    kind = "Softmax"
    Attrs = SoftmaxAttrs
    category = "activation"
    summary = "Softmax along one axis."
    examples = [
        Example({}, (4,)),
        Example({"axis": 1}, (3, 4)),
        Example({"axis": -2}, (2, 3, 2)),
    ]
    bad_examples = [
        BadExample({"axis": 2}, (4,), "axis"),
        BadExample({"axis": 0}, (4,), "batch"),
        BadExample({"axis": -3}, (4,), "axis"),
        BadExample({"axis": 1.5}, (4,), "axis"),
    ]

    def infer(self, a, in_types):
        (x,) = in_types
        r = x.rank
        if not -r <= a.axis < r:
            raise DefinitionError(f"`axis` must be in [-{r}, {r}) for a rank-{r} input",
                                  field="axis", received=f"axis={a.axis}, input {x}")
        if a.axis % r == 0:
            raise DefinitionError("softmax over the batch axis mixes samples; use a feature "
                                  "axis (1 or more, or -1)", field="axis",
                                  received=f"axis={a.axis}, input {x}")
        return list(in_types)

    def forward(self, a, params, xs, ctx):
        y = _SOFTMAX.forward(xs[0], axis=a.axis)
        return [y], y

    def backward(self, a, params, y, dys):
        return [_SOFTMAX.backward(None, y, dys[0], axis=a.axis)], {}

    def lower(self, a, params, xs, em):
        return [_SOFTMAX.lower(xs[0], em, axis=a.axis)]
