"""PixelShuffle (PyTorch's nn.PixelShuffle; Keras has none): rearranges (N, C·r², H, W) into
(N, C, H·r, W·r) with y[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w], r the
upscale_factor. Channels first, as in PyTorch; no weights. Backward is the inverse
rearrangement.

ONNX: DepthToSpace(blocksize=r, mode="CRD"), PyTorch's own export of pixel_shuffle.
Shape: (N, C·r², H, W) -> (N, C, H·r, W·r).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DefinitionError
from ..ir.types import TensorType
from .base import BadExample, Example, OpDef, expect_rank, positive_int, register


@dataclass(frozen=True)
class PixelShuffleAttrs:
    upscale_factor: int


@register
class PixelShuffle(OpDef):
    kind = "PixelShuffle"
    Attrs = PixelShuffleAttrs
    category = "reshaping"
    summary = ("PyTorch's PixelShuffle: moves channel blocks of r² into r×r pixels "
               "(channels first).")
    examples = [
        Example({"upscale_factor": 2}, (4, 2, 3), keras=False),
        Example({"upscale_factor": 3}, (18, 2, 2), keras=False),
        Example({"upscale_factor": 1}, (3, 2, 2), keras=False),
        Example({"upscale_factor": 2}, (8, None, None), keras=False),
    ]
    bad_examples = [
        BadExample({"upscale_factor": 0}, (4, 2, 2), "'upscale_factor'"),
        BadExample({"upscale_factor": 2}, (6, 2, 2), "divisible"),
        BadExample({"upscale_factor": 2}, (4, 2), "rank 4"),
        BadExample({"upscale_factor": 2}, (None, 2, 2), "channel"),
        BadExample({}, (4, 2, 2), "upscale_factor"),
        BadExample({"upscale_factr": 2}, (4, 2, 2), "did you mean"),
    ]

    def check(self, a: PixelShuffleAttrs) -> None:
        positive_int(a, "upscale_factor")

    def infer(self, a: PixelShuffleAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        expect_rank(x, 4, "PixelShuffle", max_rank=4)
        n, c, h, w = x.shape
        r2 = a.upscale_factor ** 2
        if c is None or c % r2:
            raise DefinitionError(
                f"PixelShuffle needs a known channel count (axis 1) divisible by "
                f"upscale_factor² = {r2}", field="upscale_factor",
                received=f"upscale_factor={a.upscale_factor}, input {x}")
        r = a.upscale_factor
        return [x.with_shape((n, c // r2, None if h is None else h * r,
                              None if w is None else w * r))]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        n, c, h, w = x.shape
        r = a.upscale_factor
        y = x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
        return [y.reshape(n, c // (r * r), h * r, w * r)], None

    def backward(self, a, params, cache, dys):
        (dy,) = dys
        n, c, hr, wr = dy.shape
        r = a.upscale_factor
        dx = dy.reshape(n, c, hr // r, r, wr // r, r).transpose(0, 1, 3, 5, 2, 4)
        return [dx.reshape(n, c * r * r, hr // r, wr // r)], {}

    layout = "custom"

    def lower(self, a, params, xs, em):
        y = em.op("DepthToSpace", [em.canonical(xs[0])], blocksize=a.upscale_factor,
                  mode="CRD")
        em.set_layout(y, None)
        return [y]
