"""Softmax layer: y = exp(x - max) / sum(exp(x - max)) along `axis`.

ONNX: Softmax(axis) (opset >= 13 normalizes along that one axis). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._activations import ACTIVATIONS
from .activation import FunctionLayer, check_feature_axis
from .base import BadExample, Example, register

_SOFTMAX = ACTIVATIONS["softmax"]


@dataclass(frozen=True)
class SoftmaxAttrs:
    axis: int = -1


@register
class Softmax(FunctionLayer):
    kind = "Softmax"

    def output_masked(self, a, in_masked):
        return self.refuse_mask(in_masked, "Keras' Softmax would broadcast that (N, T) mask "
                                "against the last axes of its input, which seqc does not "
                                "implement", "use Dense(..., activation='softmax') instead: "
                                "its activation does not read the mask")
    Attrs = SoftmaxAttrs
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

    def function(self, a):
        return _SOFTMAX, {"axis": a.axis}

    def loss_fusion(self, a, rank):
        return "softmax" if int(a.axis) % rank == rank - 1 else None

    def infer(self, a, in_types):
        check_feature_axis(a.axis, in_types[0], "axis")
        return list(in_types)
