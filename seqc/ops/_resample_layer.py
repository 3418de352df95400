"""The image-resampling kinds' shared facets (Resizing, CenterCrop, and any kind whose inference
is a fixed crop or resize) and the ONNX lowering of a resampling Plan (see _resample.py)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._resample import Plan, apply_plan, apply_plan_backward, is_identity
from ._resize import channels_first, spatial_axes, spatial_sizes, with_sizes
from .base import OpDef, positive_int

# ---- ONNX lowering of a plan on an (N, C, H, W) value ----

# An axis whose output pixels each read at most this many input pixels is lowered as that many
# Gathers with per-pixel weights (bilinear: 2, bicubic upsampling: 4, nearest: 1 and no
# weights); a wider one as a MatMul by its matrix. Not ONNX Resize: onnxruntime computes its
# coordinates differently (1e-4 apart from Keras at 480x640 -> 224 on noise), and moves a
# neighbouring Transpose through a cubic Resize into a form that refuses to downsample.
MAX_GATHER_TAPS = 4


def lower_plan(plan: Plan, x: str, em) -> str:
    """ONNX nodes applying `plan` to the channels-first value x: a Slice for the crop window,
    then per resized axis Gathers (few taps) or a MatMul, then the fill's constant."""
    (h0, h1), (w0, w1) = plan.window
    if (h0, h1, w0, w1) != (0, plan.in_size[0], 0, plan.in_size[1]):
        c = [em.const(np.array(v, np.int64), hint)
             for v, hint in (([h0, w0], "starts"), ([h1, w1], "ends"), ([2, 3], "axes"))]
        x = em.op("Slice", [x, *c])
    for axis, m in ((2, plan.mats[0]), (3, plan.mats[1])):
        if not is_identity(m):
            x = _lower_axis(x, m, axis, em)
    if plan.const is not None:
        x = em.op("Add", [x, em.const(plan.const.astype(np.float32), "fill")])
    return x


def _lower_axis(x: str, m: np.ndarray, axis: int, em) -> str:
    taps = int((m != 0).sum(axis=1).max())
    if taps > MAX_GATHER_TAPS:
        if axis == 2:  # (out_h, h) @ (N, C, h, w)
            return em.op("MatMul", [em.const(m.astype(np.float32), "rows"), x])
        # (N, C, h', w) @ (w, out_w)
        return em.op("MatMul", [x, em.const(np.ascontiguousarray(m.T, np.float32), "cols")])
    # Row j's nonzero columns and weights, padded with weight-0 reads of column 0.
    order = np.argsort(m == 0, axis=1, kind="stable")[:, :max(taps, 1)]
    weights = np.take_along_axis(m, order, axis=1)
    index = np.where(weights != 0, order, 0)
    shape = (-1, 1) if axis == 2 else (-1,)
    y = None
    for k in range(index.shape[1]):
        g = em.op("Gather", [x, em.const(index[:, k].astype(np.int64), "indices")], axis=axis)
        if not np.all(weights[:, k] == 1):
            g = em.op("Mul", [g, em.const(weights[:, k].astype(np.float32).reshape(shape),
                                           "weights")])
        y = g if y is None else em.op("Add", [y, g])
    return y


def lower_bilinear_dynamic(x: str, out_size: tuple[int, int], em) -> str:
    """bilinear on an (N, C, H, W) value whose H, W are known only at run time: per axis the
    source x = fl32(scale · (j + 0.5) - 0.5), scale = fl32(in) / fl32(out), clamped at 0,
    computed as torch does (the fused multiply-add as one double expression rounded once),
    then two Gathers weighted 1 - t and t."""
    shape = em.op("Shape", [x])
    for axis, n_out in ((2, out_size[0]), (3, out_size[1])):
        n_in = em.op("Gather", [shape, em.const(np.array(axis, np.int64), f"axis{axis}")])
        last = em.op("Sub", [n_in, em.const(np.array(1, np.int64), "one")])
        scale = em.op("Div", [em.op("Cast", [n_in], to=1),
                              em.const(np.float32(n_out), "out_size")])
        # In double (the emitter's constants are float32, exact for these values).
        j = em.op("Cast", [em.const(np.arange(n_out, dtype=np.float32) + np.float32(0.5),
                                    "centres")], to=11)
        half = em.op("Cast", [em.const(np.float32(0.5), "half")], to=11)
        src = em.op("Sub", [em.op("Mul", [em.op("Cast", [scale], to=11), j]), half])
        src = em.op("Max", [em.op("Cast", [src], to=1), em.const(np.float32(0), "zero32")])
        i0 = em.op("Min", [em.op("Cast", [em.op("Floor", [src])], to=7), last])
        i1 = em.op("Min", [em.op("Add", [i0, em.const(np.array(1, np.int64), "one")]), last])
        t = em.op("Clip", [em.op("Sub", [src, em.op("Cast", [i0], to=1)]),
                           em.const(np.float32(0), "zero32"), em.const(np.float32(1), "one32")])
        t = em.op("Unsqueeze", [t, em.const(np.array([1], np.int64), "last")]) if axis == 2 else t
        u = em.op("Sub", [em.const(np.float32(1), "one32"), t])
        x = em.op("Add", [em.op("Mul", [em.op("Gather", [x, i0], axis=axis), u]),
                          em.op("Mul", [em.op("Gather", [x, i1], axis=axis), t])])
    return x


def lower_nearest_dynamic(x: str, out_size: tuple[int, int], em) -> str:
    """nearest on an (N, C, H, W) value whose H, W are known only at run time: the indices
    min(floor((j + 0.5) · fl32(in / out)), in - 1) are computed in float32 as torch does."""
    shape = em.op("Shape", [x])
    for axis, n_out in ((2, out_size[0]), (3, out_size[1])):
        n_in = em.op("Gather", [shape, em.const(np.array(axis, np.int64), f"axis{axis}")])
        scale = em.op("Div", [em.op("Cast", [n_in], to=1),
                              em.const(np.float32(n_out), "out_size")])
        j = em.const(np.arange(n_out, dtype=np.float32) + np.float32(0.5), "centres")
        idx = em.op("Cast", [em.op("Floor", [em.op("Mul", [j, scale])])], to=7)
        idx = em.op("Min", [idx, em.op("Sub", [n_in, em.const(np.array(1, np.int64), "one")])])
        x = em.op("Gather", [x, idx], axis=axis)
    return x


class ImageResampleBase(OpDef):
    """A kind mapping (N, H, W, C) images (or (N, C, H, W) with data_format="channels_first")
    to (N, height, width, C) through a Plan. Subclasses give `plan(attrs, in_size)`, and
    `dynamic_ok(attrs)` when their lowering takes any input size (`lower_dynamic`)."""

    category = "preprocessing"
    # Appended to the fixed-size error's hint: what does take any size.
    any_size_hint: ClassVar[str] = ""

    def plan(self, a: Any, in_size: tuple[int, int]) -> Plan:
        raise NotImplementedError

    def dynamic_ok(self, a: Any) -> bool:
        return False

    def check(self, a: Any) -> None:
        positive_int(a, "height")
        positive_int(a, "width")

    def infer(self, a, in_types):
        (x,) = in_types
        sizes = spatial_sizes(x, 2, self.kind, a)
        if None in sizes and not self.dynamic_ok(a):
            raise DefinitionError(
                f"{self.kind} needs the input's height and width at build time here (its crop "
                "window and interpolation weights are computed once from them)", field="input",
                received=f"input {x}",
                hint="give the Input a fixed image size" + self.any_size_hint)
        dtype = x.dtype if x.dtype.startswith("float") else "float32"
        return [TensorType(with_sizes(x, a, (a.height, a.width)).shape, dtype)]

    def _axes(self, a) -> tuple[int, int]:
        return spatial_axes(2, a)  # type: ignore[return-value]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        axes = self._axes(a)
        plan = self.plan(a, (x.shape[axes[0]], x.shape[axes[1]]))
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)  # Keras casts to its float32 compute dtype
        return [apply_plan(plan, x, axes)], plan

    def backward(self, a, params, plan, dys):
        return [apply_plan_backward(plan, dys[0], self._axes(a))], {}

    # ONNX works on (N, C, H, W): a channels_last kind converts its input (once per value, as
    # for "channels_first" kinds) unless the resize changes nothing, which then costs no node.
    layout = "custom"

    def lower(self, a, params, xs, em):
        (x,) = xs
        t = em.type_of(x)
        sizes = t.shape[2:] if channels_first(a) else t.shape[1:3]
        plan = None if None in sizes else self.plan(a, tuple(sizes))
        if plan is not None and plan.is_noop and t.dtype.startswith("float"):
            return [x]
        x = em.canonical(x) if channels_first(a) else em.channels_first(x)
        if not t.dtype.startswith("float"):
            x = em.op("Cast", [x], to=1)  # TensorProto.FLOAT
        y = self.lower_dynamic(a, x, em) if plan is None else self.lower_static(a, plan, x, em)
        em.set_layout(y, None if channels_first(a) else em.CHANNELS_FIRST)
        return [y]

    def commutes_affine(self, a, in_type: TensorType, scale: np.ndarray,
                        shift: np.ndarray) -> bool:
        # Per-channel values would act on the width axis of a channels-first image.
        if channels_first(a) and (np.ptp(scale) or np.ptp(shift)):
            return False
        sizes = spatial_sizes(in_type, 2, self.kind, a)
        if None in sizes:
            return True  # bilinear and nearest: each output a convex combination
        plan = self.plan(a, tuple(sizes))
        if plan.const is not None:
            return False  # the padding's fill would be scaled too
        # A shift passes through when every output pixel's weights sum to 1 (not next to a
        # zero padding, for instance).
        return not np.any(shift) or all(m is None or np.allclose(m.sum(axis=1), 1.0, atol=1e-9)
                                        for m in plan.mats)

    def lower_static(self, a, plan: Plan, x: str, em) -> str:
        return lower_plan(plan, x, em)

    def lower_dynamic(self, a, x: str, em) -> str:
        raise NotImplementedError
