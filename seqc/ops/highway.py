"""Highway (Srivastava et al. 2015, "Highway Networks"): y = H(x)·T(x) + x·(1 − T(x)) over the
last axis, with H(x) = activation(x @ kernel + bias) and the transform gate
T(x) = sigmoid(x @ transform_kernel + transform_bias); all four weights are (d, d) / (d,), d the
input width, so the output has the input's shape.

Keras 3 has no Highway; Keras 1 and 2 had one (keras.layers.Highway, then
keras.legacy.layers.Highway), whose weights W, W_carry, b, b_carry are, in that order,
kernel, transform_kernel, bias, transform_bias here (its "carry" weights drive the transform
gate). The gate bias starts at a constant: -1 by default, as in the paper's advice and in
Tacotron's CBHG; Keras 2 initialised it to 1 and Keras 1 to `transform_bias` (-2), which the
Keras readers set explicitly (docs/keras.md).

ONNX: one MatMul of x with the concatenated [kernel | transform_kernel] (and one Add of the
concatenated biases), a Split, the activation, a Sigmoid, and the blend t * (h - x) + x.
Shape: (N, ..., d) -> (N, ..., d).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._activations import sigmoid
from ._promote import always as promote_always
from .activation import ActivationSpec, resolve
from .base import BadExample, Example, FrozenDict, Initializer, OpDef, ParamSpec, register

# The gate bias default: -1, the Highway paper's negative start (carry behaviour first) as
# Tacotron's CBHG uses it.
GATE_BIAS = FrozenDict({"type": "Constant", "value": -1.0})


@dataclass(frozen=True)
class HighwayAttrs:
    activation: ActivationSpec = "linear"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    transform_bias_initializer: Initializer = GATE_BIAS


@register
class Highway(OpDef):
    kind = "Highway"
    # Keras 2's legacy Highway regularized and constrained only W and b; seqc lets every
    # weight take them (the Keras 2 reader maps W_* / b_* onto kernel_* / bias_*).
    weight_args = {"kernel": "kernel", "bias": "bias", "transform_kernel": "transform_kernel",
                   "transform_bias": "transform_bias"}
    supports_masking = True  # per-step, like Dense: a timestep mask passes on
    Attrs = HighwayAttrs
    promotes_integers = promote_always  # its Dense parts make an integer input float32
    summary = "Highway layer: a sigmoid transform gate blends Dense(x) with x."
    examples = [
        Example({}, (4,), keras=False),
        Example({"activation": "relu"}, (3, 5), input_range=(-2.0, 2.0), keras=False),
        Example({"activation": "tanh", "use_bias": False}, (6,), keras=False),
        Example({"activation": "tanh"}, (4, 3), mask_lengths=(4, 2), keras=False),
        Example({"activation": "softmax",
                 "transform_bias_initializer": {"type": "Constant", "value": 1.0}}, (2, 2, 3),
                keras=False),
    ]
    bad_examples = [
        BadExample({}, (), "rank"),
        BadExample({"activation": "nope"}, (3,), "activation"),
        BadExample({"transform_bias_initializer": 3}, (3,), "transform_bias_initializer"),
        BadExample({"units": 4}, (3,), "units"),
    ]

    def infer(self, a: HighwayAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        if x.rank < 2 or x.shape[-1] is None:
            raise DefinitionError(
                "Highway needs an input of rank >= 2 (batch included) with a known last "
                "dimension", field="input", received=f"input {x}",
                hint="add a Flatten or an input_shape such as [30]" if x.rank < 2 else None)
        return [x]

    def params(self, a: HighwayAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        d = in_types[0].shape[-1]
        # Keras 2's weight order (W, W_carry, b, b_carry): its .h5 files load as they are.
        # One kernel initializer for both kernels, as Keras 1/2's `init`.
        specs = [ParamSpec("kernel", (d, d), a.kernel_initializer),
                 ParamSpec("transform_kernel", (d, d), a.kernel_initializer)]
        if a.use_bias:
            specs += [ParamSpec("bias", (d,), a.bias_initializer),
                      ParamSpec("transform_bias", (d,), a.transform_bias_initializer)]
        return specs

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        fn, kw = resolve(a.activation)
        zh = x @ params["kernel"]
        zt = x @ params["transform_kernel"]
        if a.use_bias:
            zh += params["bias"]  # in place: fresh matmul results
            zt += params["transform_bias"]
        h = fn.forward(zh, **kw)
        t = sigmoid(zt)
        y = t * (h - x) + x
        return [y.astype(x.dtype, copy=False)], (x, zh, h, t, ctx.input_grad)

    def backward(self, a, params, cache, dys):
        x, zh, h, t, input_grad = cache
        (dy,) = dys
        fn, kw = resolve(a.activation)
        dzh = fn.backward(zh, h, dy * t, **kw)
        dzt = dy * (h - x) * t * (1 - t)
        d = x.shape[-1]
        x2, dzh2, dzt2 = x.reshape(-1, d), dzh.reshape(-1, d), dzt.reshape(-1, d)
        grads = {"kernel": x2.T @ dzh2, "transform_kernel": x2.T @ dzt2}
        if a.use_bias:
            grads["bias"] = dzh2.sum(axis=0)
            grads["transform_bias"] = dzt2.sum(axis=0)
        dx = None
        if input_grad:
            dx = (dy * (1 - t) + dzh @ params["kernel"].T
                  + dzt @ params["transform_kernel"].T).astype(x.dtype, copy=False)
        return [dx], grads

    def lower(self, a, params, xs, em):
        x = em.canonical(xs[0])
        d = params["kernel"].shape[0]
        w = em.weight("kernel", np.concatenate([params["kernel"], params["transform_kernel"]],
                                               axis=1))
        z = em.op("MatMul", [x, w])
        if a.use_bias:
            b = np.concatenate([params["bias"], params["transform_bias"]])
            z = em.op("Add", [z, em.weight("bias", b)])
        zh, zt = em.op("Split", [z, em.const(np.array([d, d], np.int64), "split")], n_out=2,
                       axis=-1)
        fn, kw = resolve(a.activation)
        h = fn.lower(zh, em, **kw)
        t = em.op("Sigmoid", [zt])
        return [em.op("Add", [em.op("Mul", [t, em.op("Sub", [h, x])]), x])]
