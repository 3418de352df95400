"""BatchNormalization: y = (x - mean) / sqrt(var + epsilon) * gamma + beta per index of `axis`;
batch statistics (biased variance) in training, moving statistics in inference.
ONNX: BatchNormalization on (N, C, *spatial) for the channel axis or axis 1, else Mul + Add.
Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from .base import BadExample, Example, Initializer, OpDef, ParamSpec, in_range, register


@dataclass(frozen=True)
class BatchNormalizationAttrs:
    axis: int = -1
    momentum: float = 0.99
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"
    moving_mean_initializer: Initializer = "zeros"
    moving_variance_initializer: Initializer = "ones"
    # Batch renormalization is not implemented; the arguments exist so Keras configs (which
    # always carry them) parse, and renorm=True is refused with a clear error.
    renorm: bool = False
    renorm_momentum: float = 0.99


def _shape(axis: int, rank: int) -> tuple[int, ...]:
    """Broadcast shape of the per-channel vectors: -1 on `axis`, 1 elsewhere."""
    s = [1] * rank
    s[axis] = -1
    return tuple(s)


def _affine(a: BatchNormalizationAttrs, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """Inference BN as y = x * scale + shift per channel, in float64."""
    get = {k: np.asarray(v, np.float64) for k, v in params.items()}
    scale = 1.0 / np.sqrt(get["moving_variance"] + a.epsilon)
    if a.scale:
        scale = scale * get["gamma"]
    shift = -get["moving_mean"] * scale
    if a.center:
        shift = shift + get["beta"]
    return scale, shift


def _float(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    # Keras computes in at least float32: integer inputs are cast to the parameters' dtype
    # (float32 in normal use; float64 in gradient checks).
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(like.dtype)


@register
class BatchNormalization(OpDef):
    kind = "BatchNormalization"
    weight_args = {"beta": "beta", "gamma": "gamma"}

    def output_masked(self, a, in_masked):
        return self.refuse_mask(in_masked, "Keras would compute masked batch moments in "
                                "training, which seqc does not implement")
    Attrs = BatchNormalizationAttrs
    category = "normalization"
    summary = "Normalizes each channel by batch statistics (training) or moving ones."
    layout = "custom"  # ONNX BatchNormalization wants (N, C, *spatial); see lower
    examples = [
        Example({}, (4,)),
        Example({"momentum": 0.9, "epsilon": 0.01}, (3, 3, 2)),
        Example({"center": False}, (4, 3)),
        Example({"scale": False}, (2, 2, 2)),
        Example({"axis": 1}, (3, 2)),  # not the channel axis: Mul + Add
        Example({"axis": -2, "center": False, "scale": False}, (2, 3, 2)),
        Example({}, (None, 3)),  # variable length
        Example({}, (3,), input_dtype="int32", input_range=(0, 5)),
    ]
    bad_examples = [
        BadExample({"axis": 0}, (4,), "batch"),
        BadExample({"axis": 3}, (4, 2), "axis"),
        BadExample({"axis": [1, 2]}, (4, 2), "axis"),
        BadExample({"axis": 1}, (None, 2), "unknown"),
        BadExample({"momentum": 1.5}, (4,), "momentum"),
        BadExample({"epsilon": -1.0}, (4,), "epsilon"),
        BadExample({"renorm": True}, (4,), "renorm"),
        BadExample({"scael": False}, (4,), "did you mean"),
    ]

    def check(self, a: BatchNormalizationAttrs) -> None:
        in_range(a, "momentum", 0.0, 1.0, hi_open=False)
        if a.epsilon < 0:
            raise DefinitionError("'epsilon' must be >= 0", field="epsilon",
                                  received=f"epsilon={a.epsilon}")
        if a.renorm:
            raise DefinitionError(
                "batch renormalization (renorm=True) is not supported", field="renorm",
                received="renorm=True", hint="use renorm=False (the default)")

    def infer(self, a: BatchNormalizationAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        r = x.rank
        if not -r <= a.axis < r:
            raise DefinitionError(f"`axis` must be in [-{r}, {r}) for a rank-{r} input",
                                  field="axis", received=f"axis={a.axis}, input {x}")
        ax = a.axis % r
        if x.shape[ax] is None:
            what = "the batch axis" if ax == 0 else f"axis {ax}"
            raise DefinitionError(
                f"the normalized axis needs a known size, and {what} is unknown", field="axis",
                received=f"axis={a.axis}, input {x}",
                hint="the batch is axis 0; feature axes count from 1 (or use -1)" if ax == 0
                else None)
        dtype = x.dtype if x.dtype.startswith("float") else "float32"
        return [TensorType(x.shape, dtype)]

    def params(self, a: BatchNormalizationAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        c = (in_types[0].shape[a.axis],)
        specs = []
        if a.scale:
            specs.append(ParamSpec("gamma", c, a.gamma_initializer))
        if a.center:
            specs.append(ParamSpec("beta", c, a.beta_initializer))
        return specs + [
            ParamSpec("moving_mean", c, a.moving_mean_initializer, trainable=False),
            ParamSpec("moving_variance", c, a.moving_variance_initializer, trainable=False,
                      domain="positive")]

    def forward(self, a, params, xs, ctx):
        x = _float(xs[0], params["moving_mean"])
        ax = a.axis % x.ndim
        shape = _shape(ax, x.ndim)
        reduce = tuple(d for d in range(x.ndim) if d != ax)
        # Keras 3 runs a frozen (trainable=False) BatchNormalization in inference mode.
        batch_stats = ctx.training and ctx.node_trainable
        if batch_stats:
            mean = x.mean(axis=reduce, keepdims=True)
            xc = x - mean
            # Biased (population) variance, as keras.ops.moments; two passes, not Keras'
            # E[x^2] - E[x]^2, which cancels catastrophically when |mean| >> std.
            var = np.square(xc).mean(axis=reduce, keepdims=True)
            m = params["moving_mean"]
            ctx.update("moving_mean", m * a.momentum + mean.reshape(-1).astype(m.dtype)
                       * (1.0 - a.momentum))
            v = params["moving_variance"]
            ctx.update("moving_variance", v * a.momentum + var.reshape(-1).astype(v.dtype)
                       * (1.0 - a.momentum))
        else:
            xc = x - params["moving_mean"].astype(x.dtype, copy=False).reshape(shape)
            var = params["moving_variance"].astype(x.dtype, copy=False).reshape(shape)
        inv = 1.0 / np.sqrt(var + np.asarray(a.epsilon, x.dtype))
        xhat = xc * inv  # one input-sized temporary kept for backward
        y = xhat * params["gamma"].astype(x.dtype).reshape(shape) if a.scale else xhat.copy()
        if a.center:
            y += params["beta"].astype(x.dtype).reshape(shape)
        return [y], ((xhat, inv, batch_stats, ax) if ctx.need_grad else None)

    def backward(self, a, params, cache, dys):
        xhat, inv, batch_stats, ax = cache
        (dy,) = dys
        reduce = tuple(d for d in range(dy.ndim) if d != ax)
        shape = _shape(ax, dy.ndim)
        grads = {}
        if a.scale:
            grads["gamma"] = (dy * xhat).sum(axis=reduce)
        if a.center:
            grads["beta"] = dy.sum(axis=reduce)
        dxhat = dy * params["gamma"].astype(dy.dtype).reshape(shape) if a.scale else dy
        if batch_stats:
            # Through the batch mean and variance too: the centred, decorrelated projection.
            dx = inv * (dxhat - dxhat.mean(axis=reduce, keepdims=True)
                        - xhat * (dxhat * xhat).mean(axis=reduce, keepdims=True))
        else:
            dx = dxhat * inv
        # Integer inputs compute in float32; gradients keep each parameter's own dtype.
        return [dx], {k: g.astype(params[k].dtype, copy=False) for k, g in grads.items()}

    def affine(self, a, params, in_type):
        scale, shift = _affine(a, params)
        shape = _shape(a.axis, in_type.rank)
        return scale.reshape(shape), shift.reshape(shape)

    def lower(self, a, params, xs, em):
        (x,) = xs
        t = em.type_of(x)
        rank, ax = t.rank, a.axis % t.rank
        layout = em.layout_of(x)
        # ONNX BatchNormalization normalizes axis 1: the channel of a channels-first tensor
        # (rank >= 3), of a rank-2 one, and the IR's own axis 1. A flattened channels-first
        # tensor (rank 2, permuted features) is read as it is, with permuted channel vectors.
        # Other axes get Mul + Add: in onnxruntime (CPU, 2 threads) BatchNormalization is
        # one pass and measured 1-2.7x faster than Mul + Add, so it is used wherever it fits.
        perm = layout if isinstance(layout, np.ndarray) else None
        if ax == rank - 1:
            x = x if perm is not None else em.channels_first(x)
            out_layout = perm if perm is not None else em.layout_of(x)
        else:
            x, perm, out_layout = em.canonical(x), None, None
        if not t.dtype.startswith("float"):
            x = em.op("Cast", [x], to=1)  # TensorProto.FLOAT: Keras computes in float32
        if ax in (1, rank - 1):
            c = t.shape[ax]
            vectors = {"gamma": params["gamma"] if a.scale else np.ones(c, np.float32),
                       "beta": params["beta"] if a.center else np.zeros(c, np.float32),
                       "moving_mean": params["moving_mean"],
                       "moving_variance": params["moving_variance"]}
            names = [em.weight(k, w if perm is None else w[perm]) for k, w in vectors.items()]
            y = em.op("BatchNormalization", [x, *names], epsilon=a.epsilon)
        else:
            scale, shift = _affine(a, params)
            shape = _shape(ax, rank)
            y = em.op("Mul", [x, em.weight("scale", scale.astype(np.float32).reshape(shape))])
            y = em.op("Add", [y, em.weight("shift", shift.astype(np.float32).reshape(shape))])
        em.set_layout(y, out_layout)
        return [y]
