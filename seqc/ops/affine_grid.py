"""AffineGrid (PyTorch's F.affine_grid, 2-D; Keras has none): the sampling grid of a spatial
transformer. Each output pixel (h, w) of an H x W map gets the point theta[n] @ (x_w, y_h, 1),
where x_w, y_h are the pixel's normalized coordinates in [-1, 1]: with align_corners=False
(PyTorch's default) the pixel centres (2i + 1) / W - 1, with True the corners -1 + 2i / (W - 1).
grid[..., 0] is x (width), grid[..., 1] is y (height), as F.grid_sample reads it. No weights;
backward: dtheta[n] = dgrid[n]^T @ base.

ONNX: the constant base grid (H·W, 3) MatMul theta^T, reshaped (any opset; ONNX's own
AffineGrid needs opset 20). Shape: theta (N, 2, 3) -> (N, H, W, 2), size = (H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from .base import BadExample, Example, OpDef, register


@dataclass(frozen=True)
class AffineGridAttrs:
    size: tuple[int, ...]
    align_corners: bool = False


def base_grid(h: int, w: int, align_corners: bool) -> np.ndarray:
    """(H·W, 3) rows (x_w, y_h, 1) in row-major pixel order, as PyTorch's affine_grid."""

    def coords(n: int) -> np.ndarray:
        if n == 1:  # the centre, with or without corners (PyTorch >= 1.3)
            return np.zeros(1)
        if align_corners:
            return np.linspace(-1.0, 1.0, n)
        return (2.0 * np.arange(n) + 1.0) / n - 1.0

    ys, xs = np.meshgrid(coords(h), coords(w), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)], axis=1)


@register
class AffineGrid(OpDef):
    kind = "AffineGrid"
    Attrs = AffineGridAttrs
    category = "reshaping"
    summary = ("PyTorch's affine_grid: the (N, H, W, 2) sampling grid of the affine maps "
               "theta (N, 2, 3), for GridSample.")
    layout = "canonical"
    examples = [
        Example({"size": [4, 5]}, (2, 3), keras=False),
        Example({"size": [3, 2], "align_corners": True}, (2, 3), keras=False),
        Example({"size": [1, 3]}, (2, 3), keras=False),
        Example({"size": [1, 1], "align_corners": True}, (2, 3), keras=False),
    ]
    bad_examples = [
        BadExample({"size": [0, 4]}, (2, 3), "'size'"),
        BadExample({"size": [4, 4, 4]}, (2, 3), "'size'"),
        BadExample({"size": [4, 4]}, (3, 3), "(2, 3)"),
        BadExample({"size": [4, 4]}, (6,), "(2, 3)"),
        BadExample({}, (2, 3), "size"),
        BadExample({"size": [4, 4], "align_corner": True}, (2, 3), "did you mean"),
    ]

    def check(self, a: AffineGridAttrs) -> None:
        if len(a.size) != 2 or any(isinstance(d, bool) or d < 1 for d in a.size):
            raise DefinitionError("'size' must be the output's (height, width), two positive "
                                  "integers (3-D grids are not supported)", field="size",
                                  received=f"size={list(a.size)}")

    def infer(self, a: AffineGridAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (t,) = in_types
        if tuple(t.shape[1:]) != (2, 3):
            raise DefinitionError("AffineGrid reads one (2, 3) affine matrix per sample",
                                  field="input", received=f"input {t}",
                                  hint="reshape the 6 values to (2, 3) first")
        if not t.dtype.startswith("float"):
            raise DefinitionError("AffineGrid needs a float input", field="input",
                                  received=f"input {t}")
        h, w = a.size
        return [t.with_shape((t.shape[0], h, w, 2))]

    def forward(self, a, params, xs, ctx):
        (theta,) = xs
        h, w = a.size
        base = base_grid(h, w, a.align_corners).astype(theta.dtype)
        grid = base @ theta.transpose(0, 2, 1)  # (N, H·W, 2)
        return [grid.reshape(len(theta), h, w, 2)], base

    def backward(self, a, params, cache, dys):
        (dy,) = dys
        base = cache
        dflat = dy.reshape(len(dy), -1, 2)
        return [dflat.transpose(0, 2, 1) @ base], {}

    def lower(self, a, params, xs, em):
        h, w = a.size
        base = em.const(base_grid(h, w, a.align_corners).astype(np.float32), "base_grid")
        theta_t = em.op("Transpose", [xs[0]], perm=[0, 2, 1])
        flat = em.op("MatMul", [base, theta_t])
        return [em.op("Reshape", [flat, em.const(np.array([-1, h, w, 2], np.int64), "shape")])]
