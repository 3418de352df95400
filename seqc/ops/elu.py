"""ELU layer: y = x for x > 0, alpha * (exp(x) - 1) otherwise.

ONNX: Elu(alpha). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._activations import ACTIVATIONS
from .activation import FunctionLayer
from .base import BadExample, Example, register

_ELU = ACTIVATIONS["elu"]


@dataclass(frozen=True)
class ELUAttrs:
    alpha: float = 1.0


@register
class ELU(FunctionLayer):
    kind = "ELU"
    Attrs = ELUAttrs
    summary = "Exponential linear unit."
    examples = [
        Example({}, (4,)),
        Example({"alpha": 0.5}, (2, 3)),
    ]
    bad_examples = [
        BadExample({"alpha": "one"}, (3,), "alpha"),
        BadExample({"alpa": 1.0}, (3,), "did you mean"),
    ]

    def function(self, a):
        return _ELU, {"alpha": a.alpha}
