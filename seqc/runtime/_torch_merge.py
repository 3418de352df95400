"""Torch builders for the merge kinds (several inputs): Add, Subtract, Multiply, Average,
Maximum, Minimum (Keras' merge broadcasting: lower-rank inputs get size-1 axes after the
batch), Concatenate (torch.cat) and Dot (Keras' batch_dot as one matmul, with
F.normalize's clamp for `normalize`). Each builder returns fn(xs, masks).

Masked inputs: taken by the kinds in MASKED_MERGES (Add, Subtract and Average ignore the masks
in their values; Maximum and Minimum fold them in as Keras' `_apply_merge_op_and_or_mask`
does, see seqc.ops._merge.SelectMerge; Multiply fills masked-out entries with 1 and zeroes
outside the OR when every input is masked, see seqc.ops.multiply); the others' are refused at
build."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import TYPE_CHECKING, Any

from ._torch_base import F, torch

if TYPE_CHECKING:
    from .torch_runtime import Builder


def _aligned(xs: list) -> list:
    rank = max(x.dim() for x in xs)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.dim()) + x.shape[1:]) for x in xs]


def elementwise(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    combine = {
        "Add": lambda xs: reduce(torch.add, xs),
        "Subtract": lambda xs: xs[0] - xs[1],
        "Multiply": lambda xs: reduce(torch.mul, xs),
        "Average": lambda xs: reduce(torch.add, xs) / len(xs),
        "Maximum": lambda xs: reduce(torch.maximum, xs),
        "Minimum": lambda xs: reduce(torch.minimum, xs),
    }[kind]
    if kind in ("Maximum", "Minimum"):
        op = torch.maximum if kind == "Maximum" else torch.minimum
        return lambda xs, ms: (_masked_fold(op, _aligned(xs), ms) if any(
            m is not None for m in ms) else combine(_aligned(xs)))
    if kind == "Multiply":
        return lambda xs, ms: (_masked_product(_aligned(xs), ms) if any(
            m is not None for m in ms) else combine(_aligned(xs)))
    return lambda xs, ms: combine(_aligned(xs))


def _masked_fold(op: Callable, xs: list, ms: list) -> Any:
    """Keras' `_apply_merge_op_and_or_mask`: masked-out entries of each side take the other
    side's value before `op`, folding left to right ((N, T) masks over rank-3 inputs)."""
    ms = [None if m is None else m[:, :, None] for m in ms]
    out, om = xs[0], ms[0]
    for x, m in zip(xs[1:], ms[1:]):
        if m is not None:
            x = torch.where(m, x, out)
        if om is not None:
            out = torch.where(om, out, x)
        om = None if m is None or om is None else om | m
        out = op(out, x)
    return out


def _masked_product(xs: list, ms: list) -> Any:
    """Keras' `Multiply._merge_function`: masked-out entries become 1; when every input is
    masked, the product is zeroed outside the masks' OR ((N, T) masks over rank-3 inputs)."""
    ms = [None if m is None else m[:, :, None] for m in ms]
    y = reduce(torch.mul, [x if m is None else torch.where(m, x, torch.ones_like(x))
                           for x, m in zip(xs, ms)])
    if all(m is not None for m in ms):
        y = torch.where(reduce(torch.logical_or, ms), y, torch.zeros_like(y))
    return y


def concatenate(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    return lambda xs, ms: torch.cat(xs, dim=a.axis)


def dot(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    from ..ops.dot import EPS, dot_axes

    def f(xs, ms):
        x1, x2 = xs
        a1, a2 = dot_axes(a, x1.dim(), x2.dim())
        if a.normalize:  # x / max(||x||, eps): Keras' min(rsqrt(sum x^2), 1/eps)
            x1, x2 = F.normalize(x1, dim=a1, eps=EPS), F.normalize(x2, dim=a2, eps=EPS)
        xm, ym = torch.movedim(x1, a1, -1), torch.movedim(x2, a2, 1)
        n, k = xm.shape[0], xm.shape[-1]
        y = torch.bmm(xm.reshape(n, -1, k), ym.reshape(n, k, -1))
        y = y.reshape(n, *xm.shape[1:-1], *ym.shape[2:])
        return y.reshape(n, 1) if y.dim() == 1 else y
    return f


# The merges whose masked inputs the runtime takes (Concatenate, Dot: not done).
MASKED_MERGES = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"})

BUILDERS = {**dict.fromkeys(("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"),
                            elementwise),
            "Concatenate": concatenate, "Dot": dot}
