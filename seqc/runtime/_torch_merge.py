"""Torch builders for the merge kinds (several inputs): Add, Subtract, Multiply, Average,
Maximum, Minimum (Keras' merge broadcasting: lower-rank inputs get size-1 axes after the
batch), Concatenate (torch.cat) and Dot (Keras' batch_dot as one matmul, with
F.normalize's clamp for `normalize`). Each builder returns fn(xs, masks)."""

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
    return lambda xs, ms: combine(_aligned(xs))


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


BUILDERS = {**dict.fromkeys(("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"),
                            elementwise),
            "Concatenate": concatenate, "Dot": dot}
