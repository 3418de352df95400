"""LayerNormalization: y = (x - mean) / sqrt(var + epsilon) * gamma + beta, statistics per sample
over `axis`; rms_scaling: y = x / sqrt(var + epsilon) * gamma (Keras 3's deprecated form).
ONNX: LayerNormalization (opset >= 17, trailing axes), else ReduceMean-based. Shape: same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from .base import BadExample, Example, Initializer, OpDef, ParamSpec, known_axes, register


@dataclass(frozen=True)
class LayerNormalizationAttrs:
    axis: tuple[int, ...] = (-1,)
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"
    # A keyword-only argument in Keras 3 (not positional), hence last.
    rms_scaling: bool = False


def _axes(a: LayerNormalizationAttrs, rank: int) -> tuple[int, ...]:
    return tuple(sorted(d % rank for d in a.axis))


def _bshape(a: LayerNormalizationAttrs, shape: tuple) -> tuple[int, ...]:
    """Broadcast shape of gamma/beta. Keras reshapes (row-major, no transpose) its weights of
    shape [shape[d] for d in sorted(axis)] into this, which only differs from a transpose when
    `axis` mixes negative and positive entries; reshaping here keeps that quirk identical."""
    axes = _axes(a, len(shape))
    return tuple(shape[d] if d in axes else 1 for d in range(len(shape)))


def _has_gamma(a) -> bool:
    return a.scale or a.rms_scaling


def _has_beta(a) -> bool:
    return a.center and not a.rms_scaling


@register
class LayerNormalization(OpDef):
    kind = "LayerNormalization"
    weight_args = {"beta": "beta", "gamma": "gamma"}
    supports_masking = True  # passes a timestep mask on, as in Keras
    Attrs = LayerNormalizationAttrs
    category = "normalization"
    summary = "Normalizes each sample over the given axes, then scales and shifts."
    examples = [
        Example({}, (4,)),
        Example({"epsilon": 0.1}, (3, 4)),
        Example({"axis": [1, 2]}, (3, 2)),  # trailing axes: one ONNX LayerNormalization
        Example({"axis": [1, 3]}, (2, 2, 3)),  # not trailing: ReduceMean decomposition
        Example({"axis": [-1, 1]}, (3, 4, 2)),  # mixed signs: Keras' reshape of gamma
        Example({"center": False, "scale": False}, (4,)),
        Example({"center": False}, (3, 3)),
        Example({"rms_scaling": True}, (5,)),
        Example({"rms_scaling": True, "axis": [-2, -1]}, (2, 3)),
        Example({}, (None, 3)),
    ]
    bad_examples = [
        BadExample({"axis": 0}, (4,), "batch"),
        BadExample({"axis": 3}, (4,), "axis"),
        BadExample({"axis": [1, -1]}, (4,), "twice"),
        BadExample({"axis": 1}, (None, 3), "unknown"),
        BadExample({"epsilon": -0.5}, (4,), "epsilon"),
        BadExample({"axis": "last"}, (4,), "axis"),
        BadExample({"rms_scale": True}, (4,), "did you mean"),
    ]

    def check(self, a: LayerNormalizationAttrs) -> None:
        if a.epsilon < 0:
            raise DefinitionError("'epsilon' must be >= 0", field="epsilon",
                                  received=f"epsilon={a.epsilon}")
        if not a.axis:
            raise DefinitionError("'axis' must name at least one axis", field="axis",
                                  received="axis=[]")

    def infer(self, a: LayerNormalizationAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        known_axes(a.axis, x, unique=True)
        return [TensorType(x.shape, x.dtype if x.dtype.startswith("float") else "float32")]

    def params(self, a: LayerNormalizationAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        x = in_types[0]
        # Keras: shape[d] for d in sorted(axis) as written (negative entries sort first).
        shape = tuple(x.shape[d] for d in sorted(a.axis))
        specs = []
        if _has_gamma(a):
            specs.append(ParamSpec("gamma", shape, a.gamma_initializer))
        if _has_beta(a):
            specs.append(ParamSpec("beta", shape, a.beta_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        x = xs[0]
        if not np.issubdtype(x.dtype, np.floating):
            # Keras computes in at least float32; the parameters' dtype is float32 in normal
            # use (float64 in gradient checks).
            x = x.astype(next(iter(params.values())).dtype if params else np.float32)
        axes = _axes(a, x.ndim)
        b = _bshape(a, x.shape)
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean  # input-sized temporaries: xc and xhat (kept for backward)
        inv = 1.0 / np.sqrt(np.square(xc).mean(axis=axes, keepdims=True)
                            + np.asarray(a.epsilon, x.dtype))
        # rms_scaling scales x itself (not x - mean) by the inverse standard deviation.
        xhat = x * inv if a.rms_scaling else xc * inv
        gamma = params["gamma"].astype(x.dtype).reshape(b) if _has_gamma(a) else None
        y = xhat * gamma if gamma is not None else xhat.copy()
        if _has_beta(a):
            y += params["beta"].astype(x.dtype).reshape(b)
        cache = (x, xc, xhat, inv, gamma, axes) if ctx.need_grad else None
        return [y], cache

    def backward(self, a, params, cache, dys):
        x, xc, xhat, inv, gamma, axes = cache
        (dy,) = dys
        keep = tuple(d for d in range(dy.ndim) if d not in axes)
        grads = {}
        if gamma is not None:
            grads["gamma"] = (dy * xhat).sum(axis=keep).reshape(params["gamma"].shape)
        if _has_beta(a):
            grads["beta"] = dy.sum(axis=keep).reshape(params["beta"].shape)
        dz = dy * gamma if gamma is not None else dy
        if a.rms_scaling:
            # y = x * inv, inv = (var + eps)^-1/2, dvar/dx = 2 (x - mean) / n.
            dx = inv * dz - inv**3 * xc * (dz * x).mean(axis=axes, keepdims=True)
        else:
            dx = inv * (dz - dz.mean(axis=axes, keepdims=True)
                        - xhat * (dz * xhat).mean(axis=axes, keepdims=True))
        # Integer inputs compute in float32; gradients keep each parameter's own dtype.
        return [dx], {k: g.astype(params[k].dtype, copy=False) for k, g in grads.items()}

    def lower(self, a, params, xs, em):
        (x,) = xs
        t = em.type_of(x)
        if not t.dtype.startswith("float"):
            x = em.op("Cast", [x], to=1)  # TensorProto.FLOAT
        rank = t.rank
        axes = _axes(a, rank)
        b = _bshape(a, tuple(1 if d is None else d for d in t.shape))
        gamma = params["gamma"].reshape(b) if _has_gamma(a) else None
        beta = params["beta"].reshape(b) if _has_beta(a) else None
        first = rank - len(axes)
        if em.opset >= 17 and not a.rms_scaling and axes == tuple(range(first, rank)):
            # Scale is required; B is optional. Both are shaped like x.shape[first:].
            trailing = b[first:]
            g = gamma if gamma is not None else np.ones(trailing, np.float32)
            inputs = [x, em.weight("gamma", g.reshape(trailing))]
            if beta is not None:
                inputs.append(em.weight("beta", beta.reshape(trailing)))
            return [em.op("LayerNormalization", inputs, axis=first, epsilon=a.epsilon)]
        mean = _reduce_mean(em, x, axes)
        xc = em.op("Sub", [x, mean])
        var = _reduce_mean(em, em.op("Mul", [xc, xc]), axes)
        std = em.op("Sqrt", [em.op("Add", [var, em.const(np.float32(a.epsilon), "epsilon")])])
        y = em.op("Div", [x if a.rms_scaling else xc, std])
        if gamma is not None:
            y = em.op("Mul", [y, em.weight("gamma", gamma)])
        if beta is not None:
            y = em.op("Add", [y, em.weight("beta", beta)])
        return [y]


def _reduce_mean(em, x: str, axes: tuple[int, ...]) -> str:
    # ReduceMean takes `axes` as an attribute up to opset 17 and as an input from opset 18.
    if em.opset >= 18:
        return em.op("ReduceMean", [x, em.const(np.asarray(axes, np.int64), "axes")],
                     keepdims=1)
    return em.op("ReduceMean", [x], axes=list(axes), keepdims=1)
