"""RandomCrop: in training, when the image is larger than (height, width) on both axes, one
random (height, width) window per batch (Keras crops every image of a batch alike);
otherwise, and at inference, the central window of the target aspect ratio resized
bilinearly (half-pixel centres, no antialiasing) to (height, width), as Keras computes it.

ONNX: Slice (when the window is smaller than the image) + Resize linear half_pixel (when the
window differs from the target size); nothing when both are the identity. Shape: the spatial
axes become (height, width). Backward: dy padded back into the window / the resizes' adjoint.

Keras documents this inference window (as Keras 2 computed it, and as
keras.ops.image.resize(crop_to_aspect_ratio=True) computes it); Keras 3.15's layer instead
returns x uncropped at inference, against its own compute_output_shape, so seqc follows the
documentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DefinitionError
from ._augment import AugmentBase, generator
from ._resize import (
    apply_matrices,
    channels_first,
    finish_format,
    layout_for,
    linear_matrix,
    spatial_axes,
)
from .base import BadExample, Example, register


@dataclass(frozen=True)
class RandomCropAttrs:
    height: int
    width: int
    # Kept for Keras configs; windows come from the run's generator (ctx.rng), as for Dropout.
    seed: int | None = None
    data_format: Literal["channels_last", "channels_first"] | None = None

    def __post_init__(self):
        finish_format(self)
        for name in ("height", "width"):
            if getattr(self, name) < 1:
                raise DefinitionError(f"'{name}' must be a positive integer", field=name,
                                      received=f"{name}={getattr(self, name)}")


@register
class RandomCrop(AugmentBase):
    inference_identity = False  # crops at inference
    kind = "RandomCrop"
    Attrs = RandomCropAttrs
    summary = "Crops a random window in training; a central window, resized, at inference."
    examples = [
        Example({"height": 3, "width": 2}, (5, 4, 2), keras=False),
        Example({"height": 4, "width": 4}, (6, 5, 1), keras=False),
        Example({"height": 5, "width": 3, "seed": 2}, (4, 4, 2), keras=False),
        Example({"height": 2, "width": 3, "data_format": "channels_first"}, (2, 4, 5),
                keras=False),
        # Keras draws a seed when none is given (and saves it): one is given here.
        Example({"height": 4, "width": 3, "seed": 5}, (4, 3, 2)),
    ]
    bad_examples = [
        BadExample({"height": 0, "width": 2}, (4, 4, 1), "height"),
        BadExample({"height": 2}, (4, 4, 1), "width"),
        BadExample({"height": 2, "width": 2}, (None, 4, 1), "height and width"),
        BadExample({"height": 2, "width": 2}, (4, 4), "rank 4"),
    ]

    def infer(self, a, in_types):
        (x,) = in_types
        h, w = self.image_sizes(a, x)
        if h is None or w is None:
            raise DefinitionError(f"{self.kind} needs images of a known height and width",
                                  field="input", received=f"input {x}",
                                  hint="declare the image size in the input shape")
        s = list(x.shape)
        for ax, n in zip(spatial_axes(2, a), (a.height, a.width)):
            s[ax] = n
        return [x.with_shape(tuple(s))]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        axes = spatial_axes(2, a)
        h, w = (x.shape[ax] for ax in axes)
        if ctx.training and h > a.height and w > a.width:
            rng = generator(ctx, a.seed)
            # Keras: int(uniform(0, n - size + 1)), one window for the whole batch.
            hs = int(rng.uniform(0, h - a.height + 1))
            ws = int(rng.uniform(0, w - a.width + 1))
            idx = [slice(None)] * x.ndim
            idx[axes[0]], idx[axes[1]] = slice(hs, hs + a.height), slice(ws, ws + a.width)
            return [np.ascontiguousarray(x[tuple(idx)])], (x.shape, tuple(idx))
        mats = [m.astype(x.dtype) for m in inference_matrices(h, w, a.height, a.width)]
        return [apply_matrices(x, mats, axes)], mats

    def backward(self, a, params, cache, dys):
        (dy,) = dys
        if isinstance(cache, tuple):
            shape, idx = cache
            dx = np.zeros(shape, dy.dtype)
            dx[idx] = dy
            return [dx], {}
        return [apply_matrices(dy, [m.T for m in cache], spatial_axes(2, a))], {}

    def export_layout(self, a):
        return layout_for(a)

    def lower(self, a, params, xs, em):
        t = em.type_of(xs[0])
        h, w = t.shape[2:] if channels_first(a) else t.shape[1:3]
        (ch, cw), (hs, ws) = window(h, w, a.height, a.width)
        y = xs[0]
        if (ch, cw) != (h, w):  # ONNX data here is (N, C, H, W)
            c = [em.const(np.array(v, np.int64), n) for v, n in
                 (([hs, ws], "starts"), ([hs + ch, ws + cw], "ends"), ([2, 3], "axes"))]
            y = em.op("Slice", [y, *c])
        if (ch, cw) != (a.height, a.width):
            # half_pixel linear without antialiasing: torch's interpolate(bilinear,
            # align_corners=False), which Keras' resize calls.
            def i64(v, hint):
                return em.const(np.array(v, np.int64), hint)

            # Shape's start/end attributes need opset 15; a Slice of it works from 13.
            nc = em.op("Slice", [em.op("Shape", [y]), i64([0], "starts"), i64([2], "ends")])
            sizes = em.op("Concat", [nc, i64([a.height, a.width], "sizes")], axis=0)
            y = em.op("Resize", [y, "", "", sizes], mode="linear",
                      coordinate_transformation_mode="half_pixel")
        return [y]


def window(h: int, w: int, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras' inference window: the central crop of the target aspect ratio, as
    ((crop_h, crop_w), (h_start, w_start))."""
    ch = max(min(h, int(float(w * height) / width)), 1)
    cw = max(min(w, int(float(h * width) / height)), 1)
    return (ch, cw), (int(float(h - ch) / 2), int(float(w - cw) / 2))


def inference_matrices(h: int, w: int, height: int, width: int) -> list[np.ndarray]:
    """(height, h) and (width, w) matrices: the inference window's rows (columns) resized."""
    (ch, cw), (hs, ws) = window(h, w, height, width)
    out = []
    for n, crop, start, size in ((h, ch, hs, height), (w, cw, ws, width)):
        m = np.zeros((size, n))
        m[:, start:start + crop] = linear_matrix(crop, size)
        out.append(m)
    return out
