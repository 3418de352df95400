"""ELU layer: y = x for x > 0, alpha * (exp(x) - 1) otherwise.

ONNX: Elu(alpha). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._activations import ACTIVATIONS
from .base import BadExample, Example, OpDef, register

_ELU = ACTIVATIONS["elu"]


@dataclass(frozen=True)
class ELUAttrs:
    alpha: float = 1.0


@register
class ELU(OpDef):
    kind = "ELU"
    Attrs = ELUAttrs
    category = "activation"
    summary = "Exponential linear unit."
    examples = [
        Example({}, (4,)),
        Example({"alpha": 0.5}, (2, 3)),
    ]
    bad_examples = [
        BadExample({"alpha": "one"}, (3,), "alpha"),
        BadExample({"alpa": 1.0}, (3,), "did you mean"),
    ]

    def infer(self, a, in_types):
        return list(in_types)

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        return [_ELU.forward(x, alpha=a.alpha)], x

    def backward(self, a, params, x, dys):
        return [_ELU.backward(x, None, dys[0], alpha=a.alpha)], {}

    def lower(self, a, params, xs, em):
        return [_ELU.lower(xs[0], em, alpha=a.alpha)]
