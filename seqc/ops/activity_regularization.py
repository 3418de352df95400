"""ActivityRegularization(l1, l2): y = x; in training the loss gains
(l1 * sum|x| + l2 * sum x**2) / batch size (Keras' activity regularizer, applied by
seqc.training.penalties through `activity_penalty`).

ONNX: absent (identity; the input value is returned). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import BadExample, Example, PassThrough, in_range, register


@dataclass(frozen=True)
class ActivityRegularizationAttrs:
    l1: float = 0.0
    l2: float = 0.0


@register
class ActivityRegularization(PassThrough):
    kind = "ActivityRegularization"
    supports_masking = True  # passes a timestep mask on, as in Keras
    Attrs = ActivityRegularizationAttrs
    category = "regularization"
    summary = "Identity that adds an L1/L2 penalty on its input to the training loss."
    examples = [
        Example({}, (4,)),
        Example({"l1": 0.01, "l2": 0.02}, (2, 3)),
    ]
    bad_examples = [
        BadExample({"l1": -0.1}, (3,), "l1"),
        BadExample({"l2": "big"}, (3,), "l2"),
        BadExample({"activity_regularizer": "l2"}, (3,), "activity_regularizer"),
    ]

    def check(self, a: ActivityRegularizationAttrs) -> None:
        in_range(a, "l1", 0.0, float("inf"))
        in_range(a, "l2", 0.0, float("inf"))

    def activity_penalty(self, a: ActivityRegularizationAttrs) -> dict | None:
        if not (a.l1 or a.l2):
            return None
        return {"type": "L1L2", "l1": a.l1, "l2": a.l2}
