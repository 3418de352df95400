"""Identity: y = x (Keras 3's placeholder layer); passes a timestep mask on.

ONNX: nothing (the input value is returned). Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import BadExample, Example, PassThrough, register


@dataclass(frozen=True)
class IdentityAttrs:
    pass


@register
class Identity(PassThrough):
    kind = "Identity"
    Attrs = IdentityAttrs
    supports_masking = True
    summary = "Returns its input unchanged."
    examples = [
        Example({}, (3,)),
        Example({}, (None, 4)),
        Example({}, (3, 4, 2)),
        Example({}, (3,), input_dtype="int32", input_range=(0, 9)),
    ]
    bad_examples = [BadExample({"units": 3}, (3,), "Valid arguments")]
