"""GroupNormalization: the `axis` channels split into `groups` (-1: one per channel), each sample
normalized per group over that group's channels and every other non-batch axis:
y = (x - mean) / sqrt(var + epsilon) · gamma + beta, gamma and beta per channel.

ONNX: Reshape (N, groups, -1) + InstanceNormalization + Reshape when the grouped axis is axis 1
of the value ONNX holds (the channels of a channels-first image, or of a 2-D input), else a
ReduceMean decomposition; then Mul/Add per channel. Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._layout import in_place_input, physical_axis, set_output_layout
from .base import BadExample, Example, Initializer, OpDef, ParamSpec, register
from .layer_normalization import _reduce_mean


@dataclass(frozen=True)
class GroupNormalizationAttrs:
    groups: int = 32
    axis: int = -1
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"


def _axis(a: GroupNormalizationAttrs, rank: int) -> int:
    return a.axis % rank


def _groups(a: GroupNormalizationAttrs, channels: int) -> int:
    return channels if a.groups == -1 else a.groups


def _grouped(x: np.ndarray, axis: int, groups: int) -> np.ndarray:
    """x with its `axis` split into (groups, channels per group)."""
    s = x.shape
    return x.reshape(s[:axis] + (groups, s[axis] // groups) + s[axis + 1:])


@register
class GroupNormalization(OpDef):
    kind = "GroupNormalization"
    Attrs = GroupNormalizationAttrs
    supports_masking = True  # passes a timestep mask on, as in Keras
    category = "normalization"
    summary = "Normalizes each sample over groups of channels, then scales and shifts."
    examples = [
        Example({"groups": 2}, (4, 4, 6)),
        Example({"groups": 3, "epsilon": 0.1}, (6,)),
        Example({"groups": -1}, (5, 3)),
        Example({"groups": 1, "center": False}, (3, 3, 2)),
        Example({"groups": 2, "scale": False}, (2, 2, 2, 4)),
        Example({"groups": 2, "axis": 1}, (4, 3)),
        Example({"groups": 2, "axis": -2}, (2, 4, 3)),
        Example({"groups": 2}, (None, 4)),
    ]
    bad_examples = [
        BadExample({"groups": 0}, (4,), "groups"),
        BadExample({"groups": 3}, (4,), "divide"),
        BadExample({"groups": 8}, (4,), "more"),
        BadExample({"groups": 2, "axis": 0}, (4,), "batch"),
        BadExample({"groups": 2, "axis": 3}, (4,), "axis"),
        BadExample({"groups": 2, "axis": 1}, (None, 4), "unknown"),
        BadExample({"groups": 2, "epsilon": -1.0}, (4,), "epsilon"),
    ]

    def check(self, a: GroupNormalizationAttrs) -> None:
        if a.groups <= 0 and a.groups != -1:
            raise DefinitionError(
                "'groups' must be a positive integer (or -1 for instance normalization)",
                field="groups", received=f"groups={a.groups}")
        if a.epsilon < 0:
            raise DefinitionError("'epsilon' must be >= 0", field="epsilon",
                                  received=f"epsilon={a.epsilon}")

    def infer(self, a: GroupNormalizationAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        r = x.rank
        received = f"axis={a.axis}, groups={a.groups}, input {x}"
        if not -r <= a.axis < r or a.axis % r == 0:
            raise DefinitionError(f"`axis` must name a non-batch axis of the rank-{r} input, "
                                  f"in [1, {r}) or [-{r - 1}, -1]", field="axis",
                                  received=received)
        c = x.shape[_axis(a, r)]
        if c is None:
            raise DefinitionError("the grouped axis needs a known size, and it is unknown",
                                  field="axis", received=received)
        g = _groups(a, c)
        if g > c:
            raise DefinitionError(f"{g} groups are more than the {c} channels", field="groups",
                                  received=received)
        if c % g:
            raise DefinitionError(f"{g} groups must divide the {c} channels", field="groups",
                                  received=received)
        return [TensorType(x.shape, x.dtype if x.dtype.startswith("float") else "float32")]

    def params(self, a: GroupNormalizationAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        x = in_types[0]
        c = x.shape[_axis(a, x.rank)]
        specs = []
        if a.scale:
            specs.append(ParamSpec("gamma", (c,), a.gamma_initializer))
        if a.center:
            specs.append(ParamSpec("beta", (c,), a.beta_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        x = xs[0]
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(next(iter(params.values())).dtype if params else np.float32)
        axis = _axis(a, x.ndim)
        g = _groups(a, x.shape[axis])
        xg = _grouped(x, axis, g)
        red = tuple(d for d in range(1, xg.ndim) if d != axis)
        cshape = [1] * xg.ndim  # per-channel parameters, broadcast against xg
        cshape[axis], cshape[axis + 1] = xg.shape[axis], xg.shape[axis + 1]
        xc = xg - xg.mean(axis=red, keepdims=True)
        inv = 1.0 / np.sqrt(np.square(xc).mean(axis=red, keepdims=True)
                            + np.asarray(a.epsilon, x.dtype))
        xhat = xc * inv
        gamma = params["gamma"].astype(x.dtype).reshape(cshape) if a.scale else None
        y = xhat * gamma if gamma is not None else xhat.copy()
        if a.center:
            y += params["beta"].astype(x.dtype).reshape(cshape)
        cache = (xhat, inv, gamma, red, axis, x.shape) if ctx.need_grad else None
        return [y.reshape(x.shape)], cache

    def backward(self, a, params, cache, dys):
        xhat, inv, gamma, red, axis, shape = cache
        dy = dys[0].reshape(xhat.shape)
        keep = tuple(d for d in range(dy.ndim) if d not in (axis, axis + 1))
        grads = {}
        if gamma is not None:
            grads["gamma"] = (dy * xhat).sum(axis=keep).reshape(-1)
        if a.center:
            grads["beta"] = dy.sum(axis=keep).reshape(-1)
        dz = dy * gamma if gamma is not None else dy
        dx = inv * (dz - dz.mean(axis=red, keepdims=True)
                    - xhat * (dz * xhat).mean(axis=red, keepdims=True))
        return [dx.reshape(shape)], {k: v.astype(params[k].dtype, copy=False)
                                     for k, v in grads.items()}

    # A channels-first value (after a convolution) is normalized where it is, its channels
    # then on axis 1, the layout InstanceNormalization reads; any other stays as it is.
    layout = "custom"

    def lower(self, a, params, xs, em):
        x, first = in_place_input(xs[0], em)
        t = em.type_of(xs[0])
        if not t.dtype.startswith("float"):
            x = em.op("Cast", [x], to=1)  # TensorProto.FLOAT
        c = t.shape[_axis(a, t.rank)]
        g = _groups(a, c)
        axis = physical_axis(_axis(a, t.rank), t.rank, first)
        shape = em.op("Shape", [x])
        if axis == 1:
            # InstanceNormalization normalizes each (sample, channel) over the rest: with the
            # groups as its channels, that is the group statistics.
            xg = em.op("Reshape", [x, em.const(np.array([0, g, -1], np.int64), "groups")])
            y = em.op("InstanceNormalization",
                      [xg, em.const(np.ones(g, np.float32), "ones"),
                       em.const(np.zeros(g, np.float32), "zeros")], epsilon=a.epsilon)
        else:
            parts = [em.op("Slice", [shape, em.const(np.array([0], np.int64), "zero"),
                                     em.const(np.array([axis], np.int64), "axis")]),
                     em.const(np.array([g, c // g], np.int64), "groups"),
                     em.op("Slice", [shape, em.const(np.array([axis + 1], np.int64), "after"),
                                     em.const(np.array([t.rank], np.int64), "rank")])]
            xg = em.op("Reshape", [x, em.op("Concat", parts, axis=0)])
            red = tuple(d for d in range(1, t.rank + 1) if d != axis)
            xc = em.op("Sub", [xg, _reduce_mean(em, xg, red)])
            var = _reduce_mean(em, em.op("Mul", [xc, xc]), red)
            std = em.op("Sqrt", [em.op("Add", [var, em.const(np.float32(a.epsilon), "epsilon")])])
            y = em.op("Div", [xc, std])
        y = em.op("Reshape", [y, shape])
        bshape = [1] * t.rank
        bshape[axis] = c
        if a.scale:
            y = em.op("Mul", [y, em.weight("gamma", params["gamma"].reshape(bshape))])
        if a.center:
            y = em.op("Add", [y, em.weight("beta", params["beta"].reshape(bshape))])
        return [set_output_layout(y, first, em)]
