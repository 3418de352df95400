"""Dense: y = x @ kernel + bias over the last axis; kernel (in, units) as in Keras.

ONNX: Gemm for a rank-2 input, MatMul + Add for higher ranks (Gemm is 2-D only).
Shape: (N, ..., in) -> (N, ..., units).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from . import _dense_fused
from ._promote import always as promote_always
from .base import (
    BadExample,
    Example,
    Initializer,
    OpDef,
    ParamSpec,
    fold_input_kernel,
    positive_int,
    register,
)


@dataclass(frozen=True)
class DenseAttrs:
    units: int
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


@register
class Dense(OpDef):
    kind = "Dense"
    weight_args = {"kernel": "kernel", "bias": "bias"}
    supports_masking = True  # passes a timestep mask on, as in Keras
    Attrs = DenseAttrs
    splits_activation = True
    promotes_integers = promote_always  # Keras' matmul makes an integer input float32
    summary = "Fully connected layer over the last axis."
    examples = [
        Example({"units": 4}, (3,)),
        Example({"units": 2, "use_bias": False}, (5,)),
        Example({"units": 3}, (2, 4)),  # rank 3: lowered to MatMul + Add
    ]
    bad_examples = [
        BadExample({"units": 0}, (3,), "units"),
        BadExample({"units": 2.5}, (3,), "units"),
        BadExample({"units": 4}, (), "rank"),
        BadExample({"unit": 4}, (3,), "did you mean"),
    ]

    def check(self, a: DenseAttrs) -> None:
        positive_int(a, "units")

    def infer(self, a: DenseAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        if x.rank < 2 or x.shape[-1] is None:
            raise DefinitionError(
                "Dense needs an input of rank >= 2 (batch included) with a known last dimension",
                field="input", received=f"input {x}",
                hint="add a Flatten or an input_shape such as [30]" if x.rank < 2 else None,
            )
        return [x.with_shape((*x.shape[:-1], a.units))]

    def params(self, a: DenseAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        n_in = in_types[0].shape[-1]
        specs = [ParamSpec("kernel", (n_in, a.units), a.kernel_initializer)]
        if a.use_bias:
            specs.append(ParamSpec("bias", (a.units,), a.bias_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        y = x @ params["kernel"]
        if a.use_bias:
            y += params["bias"]  # in place: y is a fresh matmul result
        return [y], (x, ctx.input_grad)

    def backward(self, a, params, cache, dys):
        (dy,) = dys
        return self._backward(a, params, cache, dy, None)

    def _backward(self, a, params, cache, dy, bias_grad):
        x, input_grad = cache
        # Collapse leading axes so one matmul gives the kernel gradient for any rank.
        x2 = x.reshape(-1, x.shape[-1])
        dy2 = dy.reshape(-1, dy.shape[-1])
        grads = {"kernel": x2.T @ dy2}
        if a.use_bias:
            grads["bias"] = dy2.sum(axis=0) if bias_grad is None else bias_grad
        return [dy @ params["kernel"].T if input_grad else None], grads

    # Dense then a plain relu whose input nothing else reads: the executor runs the pair as
    # one (training/executor.py, _fused_pairs), bias add and relu in one pass over the
    # product, relu mask and bias gradient in one over dy (ops/_dense_fused.py).
    def forward_relu(self, a, params, xs, ctx):
        """(relu output, this node's cache, the relu node's cache (x, y) with x = y)."""
        (x,) = xs
        y = _dense_fused.forward(x @ params["kernel"], params["bias"] if a.use_bias else None)
        return y, (x, ctx.input_grad), (y, y)

    def backward_relu(self, a, params, cache, relu_out, dy):
        """(dxs, grads) of this node from the gradient at the relu's output."""
        g, bias_grad = _dense_fused.backward(dy, relu_out, a.use_bias)
        return self._backward(a, params, cache, g, bias_grad)

    layout = "custom"

    def fold_affine(self, a, params, scale, shift):
        kernel = params["kernel"]
        bias = params["bias"] if a.use_bias else np.zeros(kernel.shape[-1], kernel.dtype)
        return dataclasses.replace(a, use_bias=True), {
            "kernel": (kernel * scale).astype(kernel.dtype),
            "bias": (bias * scale + shift).astype(kernel.dtype)}

    def fold_input_affine(self, a, params, scale, shift):
        return fold_input_kernel(a, params, scale, shift)

    def lower(self, a, params, xs, em):
        (x,) = xs
        kernel = params["kernel"]
        perm = em.layout_of(x)
        if isinstance(perm, np.ndarray) and em.type_of(x).rank == 2:
            # A flattened channels-first tensor (Flatten after a conv): permuting the kernel's
            # rows reads it directly, so no Transpose runs at inference.
            kernel = kernel[perm]
        else:
            x = em.canonical(x)
        w = em.weight("kernel", kernel)
        if em.type_of(x).rank == 2:
            inputs = [x, w] + ([em.weight("bias", params["bias"])] if a.use_bias else [])
            return [em.op("Gemm", inputs)]
        y = em.op("MatMul", [x, w])
        if a.use_bias:
            y = em.op("Add", [y, em.weight("bias", params["bias"])])
        return [y]
