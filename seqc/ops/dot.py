"""Dot layer (Keras merging.Dot): the per-sample dot product of two inputs along
`axes` (one axis each; an int names the same axis of both, a negative one counts from each
input's end; never the batch axis). With `normalize`, each input is first L2-normalised
along its axis as Keras' ops.normalize does: x * min(1/sqrt(sum x^2), 1/1e-7).

Output (keras batch_dot): x's shape without its axis, then y's without batch and its axis;
a result of rank 1 becomes (N, 1). In NumPy: x's axis moved last, (N, P, K); y's moved to 1,
(N, K, Q); y = x @ y, (N, P, Q), reshaped. Backward: the two matmul gradients (and the
normalisation's, x r - x r^3 sum(g x), r held where it is clipped).

ONNX: Transpose/Reshape to (N, P, K) and (N, K, Q), MatMul, Reshape (to sizes read with
Shape where a kept axis has a variable length); the normalisation is
ReduceSumSquare, Sqrt, Max(., 1e-7), Div. Masks: none (Keras' Dot returns no mask).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._merge import merge_dtype
from .base import BadExample, Example, OpDef, register

EPS = 1e-7  # keras.backend.epsilon(), ops.normalize's default


@dataclass(frozen=True)
class DotAttrs:
    axes: int | tuple[int, int]
    normalize: bool = False


def dot_axes(a: DotAttrs, r1: int, r2: int) -> tuple[int, int]:
    """Keras' axes resolution: an int applies to both (negative: from each input's end)."""
    raw = (a.axes, a.axes) if isinstance(a.axes, int) else a.axes
    out = []
    for ax, r in zip(raw, (r1, r2)):
        if not -r <= ax < r or ax % r == 0:
            raise DefinitionError(
                f"'axes' must name feature axes (1 to {r - 1} for a rank-{r} input, or "
                "negative from its end; never the batch axis 0)", field="axes",
                received=f"axes={a.axes}")
        out.append(ax % r)
    return out[0], out[1]


@register
class Dot(OpDef):
    kind = "Dot"
    Attrs = DotAttrs
    category = "merging"
    summary = "Per-sample dot product of two inputs along given axes."
    multi_input = True
    arity = (2, 2)
    supports_masking = False
    examples = [
        Example({"axes": 1}, input_shapes=((4,), (4,))),
        Example({"axes": -1, "normalize": True}, input_shapes=((3, 4), (5, 4))),
        Example({"axes": [1, 2]}, input_shapes=((3, 4), (2, 3))),
        Example({"axes": [2, 1]}, input_shapes=((3, 4, 2), (4, 5))),
        Example({"axes": 1, "normalize": True}, input_shapes=((4,), (4,))),
        Example({"axes": 2}, input_shapes=((None, 3), (None, 3))),  # (N, T, T) scores
    ]
    bad_examples = [
        BadExample({"axes": 1}, input_shapes=((4,), (3,)), match="4 vs 3"),
        BadExample({"axes": 0}, input_shapes=((4,), (4,)), match="batch"),
        BadExample({}, input_shapes=((4,), (4,)), match="axes"),
        BadExample({"axes": 1}, input_shapes=((4,), (4,), (4,)), match="exactly 2 inputs"),
    ]

    def infer(self, a, in_types):
        dtype = merge_dtype(self, in_types)
        t1, t2 = in_types
        a1, a2 = dot_axes(a, t1.rank, t2.rank)
        d1, d2 = t1.shape[a1], t2.shape[a2]
        if d1 is not None and d2 is not None and d1 != d2:
            raise DefinitionError(
                f"Dot's axes have different sizes ({d1} vs {d2})", field="axes",
                received=f"axes={a.axes}, input shapes {t1}, {t2}")
        if d1 is None or d2 is None:
            raise DefinitionError("Dot needs the size of the summed axes known", field="axes",
                                  received=f"axes={a.axes}, input shapes {t1}, {t2}")
        shape = [d for i, d in enumerate(t1.shape) if i != a1] + \
            [d for i, d in enumerate(t2.shape) if i not in (0, a2)]
        if len(shape) == 1:
            shape.append(1)
        return [TensorType(tuple(shape), dtype)]

    def output_masked(self, a, in_masked):
        return False  # Keras' Dot.compute_mask returns None

    def forward(self, a, params, xs, ctx):
        x1, x2 = xs
        a1, a2 = dot_axes(a, x1.ndim, x2.ndim)
        n1 = _normalize(x1, a1) if a.normalize else (x1, None)
        n2 = _normalize(x2, a2) if a.normalize else (x2, None)
        xm = np.moveaxis(n1[0], a1, -1)
        ym = np.moveaxis(n2[0], a2, 1)
        n, k = xm.shape[0], xm.shape[-1]
        p3 = xm.reshape(n, -1, k)
        q3 = ym.reshape(n, k, -1)
        y = np.matmul(p3, q3).reshape(n, *xm.shape[1:-1], *ym.shape[2:])
        if y.ndim == 1:
            y = y.reshape(n, 1)
        cache = (a1, a2, xm.shape, ym.shape, p3, q3, n1, n2) if ctx.need_grad else None
        return [y], cache

    def backward(self, a, params, cache, dys):
        a1, a2, xs_, ys_, p3, q3, n1, n2 = cache
        n = p3.shape[0]
        g = dys[0].reshape(n, p3.shape[1], q3.shape[2])
        dp = np.matmul(g, np.swapaxes(q3, 1, 2)).reshape(xs_)
        dq = np.matmul(np.swapaxes(p3, 1, 2), g).reshape(ys_)
        dx1 = np.moveaxis(dp, -1, a1)
        dx2 = np.moveaxis(dq, 1, a2)
        if a.normalize:
            dx1, dx2 = _normalize_grad(n1, dx1, a1), _normalize_grad(n2, dx2, a2)
        return [dx1, dx2], {}

    def lower(self, a, params, xs, em):
        x1, x2 = xs
        r1, r2 = em.type_of(x1).rank, em.type_of(x2).rank
        s1, s2 = em.type_of(x1).shape, em.type_of(x2).shape
        a1, a2 = dot_axes(a, r1, r2)
        if a.normalize:
            x1, x2 = _lower_normalize(x1, a1, em), _lower_normalize(x2, a2, em)
        k = s1[a1]
        p1 = [i for i in range(r1) if i != a1] + [a1]
        p2 = [0, a2] + [i for i in range(1, r2) if i != a2]
        xm = em.op("Transpose", [x1], perm=p1) if p1 != list(range(r1)) else x1
        ym = em.op("Transpose", [x2], perm=p2) if p2 != list(range(r2)) else x2
        xm = em.op("Reshape", [xm, em.const(np.array([0, -1, k], np.int64), "shape")])
        ym = em.op("Reshape", [ym, em.const(np.array([0, k, -1], np.int64), "shape")])
        y = em.op("MatMul", [xm, ym])
        keep1 = [i for i in range(1, r1) if i != a1]
        keep2 = [i for i in range(1, r2) if i != a2]
        rest = [s1[i] for i in keep1] + [s2[i] for i in keep2]
        if None not in rest:
            shape = em.const(np.array([0, *(rest or [1])], np.int64), "shape")
        else:  # a variable length kept: the sizes are read at run time
            shape = em.op("Concat", [
                em.op("Gather", [em.op("Shape", [x]), em.const(np.array(idx, np.int64), "axes")])
                for x, idx in ((x1, [0, *keep1]), (x2, keep2)) if idx], axis=0)
        return [em.op("Reshape", [y, shape])]


def _normalize(x: np.ndarray, axis: int) -> tuple[np.ndarray, tuple]:
    s = (x * x).sum(axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        inv = 1.0 / np.sqrt(s)
    clipped = inv > 1.0 / EPS
    r = np.where(clipped, 1.0 / EPS, inv).astype(x.dtype)
    return x * r, (x, r, clipped)


def _normalize_grad(n: tuple, g: np.ndarray, axis: int) -> np.ndarray:
    _, (x, r, clipped) = n
    gx = (g * x).sum(axis=axis, keepdims=True)
    return (g * r - np.where(clipped, 0, x * r ** 3 * gx)).astype(g.dtype)


def _lower_normalize(x: str, axis: int, em) -> str:
    sq = em.op("Mul", [x, x])
    # ReduceSum takes its axes as an input from opset 13 on.
    s = em.op("ReduceSum", [sq, em.const(np.array([axis], np.int64), "axes")], keepdims=1)
    norm = em.op("Max", [em.op("Sqrt", [s]), em.const(np.array(EPS, np.float32), "eps")])
    return em.op("Div", [x, norm])
