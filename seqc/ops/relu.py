"""ReLU layer: y = x for x >= threshold, negative_slope * (x - threshold) below, capped at
max_value (Keras 3). ONNX: Relu, LeakyRelu, or Where/Min for threshold and cap (shared with
the `relu` activation in _activations.py). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DefinitionError
from ._activations import ACTIVATIONS
from .activation import FunctionLayer
from .base import BadExample, Example, register

_RELU = ACTIVATIONS["relu"]


@dataclass(frozen=True)
class ReLUAttrs:
    max_value: float | None = None
    negative_slope: float = 0.0
    threshold: float = 0.0


@register
class ReLU(FunctionLayer):
    kind = "ReLU"
    Attrs = ReLUAttrs
    summary = "Rectified linear unit with optional cap, slope and threshold."
    examples = [
        Example({}, (4,)),
        Example({"max_value": 6.0}, (4,), input_range=(-8.0, 8.0)),
        Example({"negative_slope": 0.1}, (2, 3)),
        Example({"max_value": 1.0, "negative_slope": 0.2, "threshold": 0.5}, (5,)),
    ]
    bad_examples = [
        BadExample({"max_value": -1.0}, (3,), "max_value"),
        BadExample({"negative_slope": -0.1}, (3,), "negative_slope"),
        BadExample({"threshold": -1.0}, (3,), "threshold"),
        BadExample({"negative_slope": None}, (3,), "negative_slope"),
    ]

    def check(self, a: ReLUAttrs) -> None:
        for name in ("max_value", "negative_slope", "threshold"):
            v = getattr(a, name)
            if v is not None and v < 0:
                raise DefinitionError(f"`{name}` of a ReLU layer cannot be negative",
                                      field=name, received=f"{name}={v}")

    def function(self, a):
        return _RELU, {"max_value": a.max_value, "negative_slope": a.negative_slope,
                       "threshold": a.threshold}
