"""LeakyReLU layer: y = x for x >= 0, negative_slope * x below (Keras 3 default 0.3; `alpha`
is Keras' deprecated alias). ONNX: LeakyRelu(alpha=negative_slope). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._activations import ACTIVATIONS
from .activation import FunctionLayer
from .base import BadExample, Example, in_range, register

_LEAKY = ACTIVATIONS["leaky_relu"]


@dataclass(frozen=True)
class LeakyReLUAttrs:
    negative_slope: float = 0.3


@register
class LeakyReLU(FunctionLayer):
    kind = "LeakyReLU"
    Attrs = LeakyReLUAttrs
    aliases = {"alpha": "negative_slope"}
    summary = "Leaky rectified linear unit (slope 0.3 below zero by default)."
    examples = [
        Example({}, (4,)),
        Example({"negative_slope": 0.01}, (2, 3)),
        Example({"alpha": 0.5}, (3,)),
    ]
    bad_examples = [
        BadExample({"negative_slope": -0.5}, (3,), "negative_slope"),
        BadExample({"negative_slope": None}, (3,), "negative_slope"),
        BadExample({"alpha": 0.1, "negative_slope": 0.2}, (3,), "alias"),
    ]

    def check(self, a: LeakyReLUAttrs) -> None:
        in_range(a, "negative_slope", 0.0, float("inf"))

    def function(self, a):
        return _LEAKY, {"negative_slope": a.negative_slope}
