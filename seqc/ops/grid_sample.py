"""GridSample (PyTorch's F.grid_sample, 2-D, bilinear; Keras has none): samples the image x at
the points of a grid (N, Ho, Wo, 2) of normalized (x, y) coordinates in [-1, 1]. A point maps
to the pixel position ix = ((gx + 1)·W - 1) / 2 (align_corners=False, PyTorch's default; the
corners -1 and 1 are then the outer edges of the edge pixels) or (gx + 1)·(W - 1) / 2 (True),
and y[n, :, i, j] is the bilinear mix of its four neighbours: zeros outside the image
(padding_mode="zeros") or the coordinates clamped to the border ("border"). No weights.
Backward: to x, each output's gradient scattered to its four neighbours with their weights;
to the grid, the slope of the bilinear mix in ix, iy times dix/dgx (W/2 or (W-1)/2; zero
where "border" clamps, the border included, as in PyTorch).

ONNX: GridSample (opset 16; mode "linear" from opset 20). Shape: x (N, H, W, C) or (N, C, H,
W) with data_format="channels_first" (PyTorch's layout), grid (N, Ho, Wo, 2) -> (N, Ho, Wo,
C) / (N, C, Ho, Wo).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DefinitionError, ExportError
from ..ir.types import TensorType
from .base import BadExample, Example, OpDef, register

_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))  # (dy, dx) offsets from the top-left neighbour


@dataclass(frozen=True)
class GridSampleAttrs:
    mode: Literal["bilinear"] = "bilinear"
    padding_mode: Literal["zeros", "border"] = "zeros"
    align_corners: bool = False
    data_format: Literal["channels_last", "channels_first"] = "channels_last"


def _pixels(g: np.ndarray, size: int, a: GridSampleAttrs) -> tuple[np.ndarray, np.ndarray]:
    """(pixel coordinate, d coordinate / d g) of normalized coordinates g along an axis of
    `size` pixels, after the padding mode's clamp."""
    scale = (size - 1) / 2 if a.align_corners else size / 2
    pos = (g + 1) * scale - (0 if a.align_corners else 0.5)
    slope = np.full(g.shape, scale, dtype=g.dtype)
    if a.padding_mode == "border":
        inside = (pos > 0) & (pos < size - 1)  # PyTorch: the border itself clamps too
        pos = np.clip(pos, 0, size - 1)
        slope = slope * inside
    # Far outside the image every neighbour is padding: clip so floor() stays a small integer
    # (an infinite or NaN coordinate samples zeros); the weights there multiply zeros.
    pos = np.nan_to_num(pos, nan=-2.0, posinf=size + 1.0, neginf=-2.0)
    return np.clip(pos, -2.0, size + 1.0), slope


def _first(x: np.ndarray, a: GridSampleAttrs) -> np.ndarray:
    return x if a.data_format == "channels_first" else np.moveaxis(x, -1, 1)


@register
class GridSample(OpDef):
    kind = "GridSample"
    Attrs = GridSampleAttrs
    category = "reshaping"
    summary = ("PyTorch's grid_sample: bilinear samples of an image at the (x, y) points of "
               "a grid (a spatial transformer's sampler).")
    layout = "custom"
    multi_input = True
    arity = (2, 2)
    examples = [
        Example({}, input_shapes=((4, 5, 2), (3, 2, 2)), input_range=(-1.2, 1.2),
                keras=False),
        Example({"align_corners": True, "padding_mode": "border"},
                input_shapes=((3, 4, 1), (2, 5, 2)), input_range=(-1.3, 1.3), keras=False),
        Example({"data_format": "channels_first"}, input_shapes=((2, 4, 3), (2, 2, 2)),
                input_range=(-1.2, 1.2), keras=False),
        Example({"data_format": "channels_first", "padding_mode": "border"},
                input_shapes=((1, 1, 3), (3, 3, 2)), keras=False),
    ]
    bad_examples = [
        BadExample({"mode": "nearest"}, input_shapes=((4, 4, 1), (2, 2, 2)), match="'mode'"),
        BadExample({"padding_mode": "reflection"}, input_shapes=((4, 4, 1), (2, 2, 2)),
                   match="'padding_mode'"),
        BadExample({}, input_shapes=((4, 4, 1), (2, 2, 3)), match="grid"),
        BadExample({}, input_shapes=((4, 4), (2, 2, 2)), match="rank 4"),
        BadExample({}, input_shapes=((None, 4, 1), (2, 2, 2)), match="known"),
        BadExample({"align_corner": True}, input_shapes=((4, 4, 1), (2, 2, 2)),
                   match="did you mean"),
    ]

    def infer(self, a: GridSampleAttrs, in_types: list[TensorType]) -> list[TensorType]:
        x, grid = in_types
        if x.rank != 4:
            raise DefinitionError("GridSample samples images: the input must be of rank 4 "
                                  "(N, H, W, C), or (N, C, H, W) with channels_first",
                                  field="input", received=f"input {x}")
        first = a.data_format == "channels_first"
        h, w = x.shape[2:] if first else x.shape[1:3]
        if h is None or w is None:
            raise DefinitionError("GridSample needs a known image height and width",
                                  field="input", received=f"input {x}")
        if grid.rank != 4 or grid.shape[-1] != 2 or None in grid.shape[1:3]:
            raise DefinitionError("the grid must be (N, Ho, Wo, 2): one (x, y) point per "
                                  "output pixel, of known Ho and Wo", field="grid",
                                  received=f"grid {grid}")
        if not (x.dtype.startswith("float") and grid.dtype.startswith("float")):
            raise DefinitionError("GridSample needs float inputs", field="input",
                                  received=f"input {x}, grid {grid}")
        ho, wo = grid.shape[1:3]
        c = x.shape[1] if first else x.shape[3]
        shape = (x.shape[0], c, ho, wo) if first else (x.shape[0], ho, wo, c)
        return [x.with_shape(shape)]

    def forward(self, a, params, xs, ctx):
        x, grid = xs
        img = _first(x, a)
        n, c, h, w = img.shape
        ix, sx = _pixels(grid[..., 0], w, a)
        iy, sy = _pixels(grid[..., 1], h, a)
        x0, y0 = np.floor(ix), np.floor(iy)
        fx, fy = ix - x0, iy - y0
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        flat = img.reshape(n, c, h * w)
        out = np.zeros((n, c, *grid.shape[1:3]), dtype=x.dtype)
        corners = []
        for dy_, dx_ in _CORNERS:
            xc, yc = x0 + dx_, y0 + dy_
            valid = (xc >= 0) & (xc < w) & (yc >= 0) & (yc < h)
            idx = np.where(valid, yc * w + xc, 0).reshape(n, 1, -1)
            vals = np.take_along_axis(flat, np.broadcast_to(idx, (n, c, idx.shape[2])), axis=2)
            vals = vals.reshape(out.shape) * valid[:, None]
            wgt = (fx if dx_ else 1 - fx) * (fy if dy_ else 1 - fy)
            out += wgt[:, None] * vals
            corners.append((idx, valid, vals))
        y = out if a.data_format == "channels_first" else np.moveaxis(out, 1, -1)
        return [np.ascontiguousarray(y)], (img.shape, fx, fy, sx, sy, corners)

    def backward(self, a, params, cache, dys):
        (dy,) = dys
        shape, fx, fy, sx, sy, corners = cache
        n, c, h, w = shape
        g = _first(dy, a)  # (N, C, Ho, Wo)
        dflat = np.zeros(n * c * h * w, dtype=dy.dtype)
        base = (np.arange(n * c) * h * w).reshape(n, c, 1)
        vals = {}
        for (dy_, dx_), (idx, valid, v) in zip(_CORNERS, corners):
            wgt = (fx if dx_ else 1 - fx) * (fy if dy_ else 1 - fy) * valid
            contrib = (g * wgt[:, None]).reshape(n, c, -1)
            dflat += np.bincount((base + idx).ravel(), contrib.ravel(), n * c * h * w).astype(
                dy.dtype, copy=False)
            vals[dy_, dx_] = v
        # the bilinear mix's slopes in ix and iy, summed over channels
        dix = ((vals[0, 1] - vals[0, 0]) * (1 - fy)[:, None]
               + (vals[1, 1] - vals[1, 0]) * fy[:, None])
        diy = ((vals[1, 0] - vals[0, 0]) * (1 - fx)[:, None]
               + (vals[1, 1] - vals[0, 1]) * fx[:, None])
        dgrid = np.stack([(g * dix).sum(axis=1) * sx, (g * diy).sum(axis=1) * sy], axis=-1)
        dimg = dflat.reshape(shape)
        dx = dimg if a.data_format == "channels_first" else np.moveaxis(dimg, 1, -1)
        return [np.ascontiguousarray(dx), dgrid.astype(dy.dtype, copy=False)], {}

    def lower(self, a, params, xs, em):
        if em.opset < 16:
            raise ExportError(f"GridSample needs ONNX opset 16 or later (exporting opset "
                              f"{em.opset})", field="opset", hint="export with --opset 17")
        first = a.data_format == "channels_first"
        img = em.canonical(xs[0]) if first else em.channels_first(xs[0])
        y = em.op("GridSample", [img, em.canonical(xs[1])],
                  mode="linear" if em.opset >= 20 else "bilinear",
                  padding_mode=a.padding_mode, align_corners=int(a.align_corners))
        em.set_layout(y, None if first else em.CHANNELS_FIRST)
        return [y]
