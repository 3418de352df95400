"""UpSampling3D: y[:, d, r, c] = x[:, d // s0, r // s1, c // s2] (nearest repeat per axis).

ONNX: Resize (nearest, asymmetric, floor; scales input [1, 1, *size]) on (N, C, d, r, c).
Shape: each spatial size is multiplied by its factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._resize import UpSamplingBase, finish_format
from ._spatial import expand
from .base import BadExample, Example, register


@dataclass(frozen=True)
class UpSampling3DAttrs:
    size: tuple[int, ...] = (2, 2, 2)
    data_format: Literal["channels_last", "channels_first"] | None = "channels_last"

    def __post_init__(self) -> None:
        expand(self, ("size",), 3)
        finish_format(self)


@register
class UpSampling3D(UpSamplingBase):
    kind = "UpSampling3D"
    Attrs = UpSampling3DAttrs
    nd = 3
    summary = "Upsamples each volume by repeating entries along depth, rows and cols."
    examples = [
        Example({}, (2, 1, 2, 1)),
        Example({"size": [1, 2, 3]}, (2, 2, 1, 1)),
        Example({"size": 2, "data_format": "channels_first"}, (1, 2, 1, 2)),
        Example({"size": [2, 1, 1]}, (None, 2, 2, 1)),
    ]
    bad_examples = [
        BadExample({"size": [2, 0, 2]}, (2, 2, 2, 1), "positive"),
        BadExample({"size": [2, 2]}, (2, 2, 2, 1), "size"),
        BadExample({}, (2, 2, 1), "rank 5"),
        BadExample({"sizes": 2}, (2, 2, 2, 1), "did you mean"),
    ]
