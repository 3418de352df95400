"""Base kinds for DepthwiseConv, SeparableConv and ConvTranspose (1-3 spatial dims), on the
kernels of _conv_math.py. ONNX: Conv with group=C (depthwise), two Convs (separable),
ConvTranspose with Keras' output sizes (transposed).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..errors import DefinitionError
from ._conv import (
    ConvFamily,
    DepthwiseAttrs,
    SeparableAttrs,
    TransposeAttrs,
    conv_node,
    fold_bias,
    no_stride_with_dilation,
)
from ._conv_math import (
    depthwise_backward,
    depthwise_forward,
    depthwise_onnx,
    onnx_kernel,
    sum_rows,
    transpose_backward,
    transpose_crops,
    transpose_forward,
    transpose_sizes,
)
from ._spatial import (
    onnx_pads,
    plan,
)
from .base import ParamSpec, positive_int


class DepthwiseBase(ConvFamily):
    """DepthwiseConv1D/2D: kernel (*k, C, depth_multiplier), bias (C * depth_multiplier,)."""

    weight_args = {"depthwise": "kernel", "bias": "bias"}  # Keras names it `kernel` too
    Attrs: ClassVar[type] = DepthwiseAttrs
    activation_index = 6

    def check(self, a: DepthwiseAttrs) -> None:
        positive_int(a, "depth_multiplier")

    def infer(self, a, in_types):
        (x,) = in_types
        sizes, c = self.split_input(a, x)
        _, out = plan(sizes, a.kernel_size, a.strides, a.dilation_rate, a.padding)
        return [self.out_type(a, x, out, c * a.depth_multiplier)]

    def params(self, a, in_types):
        _, c = self.split_input(a, in_types[0])
        specs = [ParamSpec("kernel", (*a.kernel_size, c, a.depth_multiplier),
                           a.depthwise_initializer)]
        if a.use_bias:
            specs.append(ParamSpec("bias", (c * a.depth_multiplier,), a.bias_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        y, cache = depthwise_forward(self.to_last(a, xs[0]), params["kernel"],
                                     params.get("bias"), a, ctx.need_grad)
        return [self.from_last(a, y)], (cache, ctx.input_grad)

    def backward(self, a, params, cache, dys):
        cache, input_grad = cache
        dy = self.to_last(a, dys[0])
        dx, dk, db = depthwise_backward(cache, params["kernel"], params.get("bias"), dy, a,
                                        input_grad)
        grads = {"kernel": dk} if db is None else {"kernel": dk, "bias": db}
        return [None if dx is None else self.from_last(a, dx)], grads

    def fold_affine(self, a, params, scale, shift):
        if a.data_format == "channels_first":
            return None
        k = params["kernel"]
        return fold_bias(a, params, k.dtype, k.shape[-2] * k.shape[-1], scale, shift,
                         {"kernel": k * np.reshape(scale, k.shape[-2:])})

    def lower(self, a, params, xs, em):
        k = params["kernel"]
        b = em.weight("bias", params["bias"]) if a.use_bias else None
        return [conv_node(em, xs[0], depthwise_onnx(k), "kernel", b, a,
                          self.sizes_of(a, em, xs[0]), k.shape[-2])]


class SeparableBase(ConvFamily):
    """SeparableConv1D/2D: a depthwise conv (depthwise_kernel (*k, C, dm)), then a 1x1 conv
    (pointwise_kernel (1.., C*dm, filters)) and the bias (filters,)."""

    weight_args = {"depthwise": "depthwise_kernel", "pointwise": "pointwise_kernel",
                   "bias": "bias"}
    Attrs: ClassVar[type] = SeparableAttrs

    def check(self, a: SeparableAttrs) -> None:
        positive_int(a, "filters")
        positive_int(a, "depth_multiplier")

    def infer(self, a, in_types):
        (x,) = in_types
        sizes, _ = self.split_input(a, x)
        _, out = plan(sizes, a.kernel_size, a.strides, a.dilation_rate, a.padding)
        return [self.out_type(a, x, out, a.filters)]

    def params(self, a, in_types):
        _, c = self.split_input(a, in_types[0])
        dm = a.depth_multiplier
        specs = [ParamSpec("depthwise_kernel", (*a.kernel_size, c, dm), a.depthwise_initializer),
                 ParamSpec("pointwise_kernel", (*(1,) * a.nd, c * dm, a.filters),
                           a.pointwise_initializer)]
        if a.use_bias:
            specs.append(ParamSpec("bias", (a.filters,), a.bias_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        z, dcache = depthwise_forward(self.to_last(a, xs[0]), params["depthwise_kernel"], None,
                                      a, ctx.need_grad)
        pw = params["pointwise_kernel"]
        y = z @ pw.reshape(pw.shape[-2:])
        if a.use_bias:
            y += params["bias"]
        return [self.from_last(a, y)], (dcache, z, ctx.input_grad)

    def backward(self, a, params, cache, dys):
        dcache, z, input_grad = cache
        dy = self.to_last(a, dys[0])
        pw = params["pointwise_kernel"]
        dy2 = dy.reshape(-1, dy.shape[-1])
        grads = {"pointwise_kernel": (z.reshape(-1, z.shape[-1]).T @ dy2).reshape(pw.shape)}
        dz = dy @ pw.reshape(pw.shape[-2:]).T
        dx, grads["depthwise_kernel"], _ = depthwise_backward(
            dcache, params["depthwise_kernel"], None, dz, a, input_grad)
        if a.use_bias:
            grads["bias"] = sum_rows(dy2)
        return [None if dx is None else self.from_last(a, dx)], grads

    def fold_affine(self, a, params, scale, shift):
        if a.data_format == "channels_first":
            return None
        pw = params["pointwise_kernel"]
        return fold_bias(a, params, pw.dtype, pw.shape[-1], scale, shift,
                         {"pointwise_kernel": pw * scale})

    def lower(self, a, params, xs, em):
        dk = params["depthwise_kernel"]
        z = conv_node(em, xs[0], depthwise_onnx(dk), "depthwise_kernel", None, a,
                      self.sizes_of(a, em, xs[0]), dk.shape[-2])
        pw = em.weight("pointwise_kernel", onnx_kernel(params["pointwise_kernel"]))
        b = em.weight("bias", params["bias"]) if a.use_bias else None
        ones = (1,) * a.nd
        return [em.op("Conv", [z, pw] + ([b] if b else []), kernel_shape=list(ones),
                      strides=list(ones), pads=[0] * (2 * a.nd))]


class TransposeBase(ConvFamily):
    """Conv1D/2D/3DTranspose: kernel (*k, filters, Cin), bias (filters,); output sizes by
    Keras' compute_conv_transpose_output_shape."""

    weight_args = {"kernel": "kernel", "bias": "bias"}
    Attrs: ClassVar[type] = TransposeAttrs

    def check(self, a) -> None:
        positive_int(a, "filters")
        no_stride_with_dilation(a)

    def crops(self, a) -> list[tuple[int, int]]:
        return transpose_crops(a.kernel_size, a.strides, a.dilation_rate, a.padding,
                               a.output_padding)

    def infer(self, a, in_types):
        (x,) = in_types
        sizes, _ = self.split_input(a, x)
        out = transpose_sizes(sizes, a.kernel_size, a.strides, a.dilation_rate, self.crops(a))
        if any(o is not None and o <= 0 for o in out):
            raise DefinitionError(
                "the output would be empty: with padding='same' and this output_padding, "
                "(size - 1) * strides + kernel_size % 2 + output_padding is 0",
                field="output_padding",
                received=f"output_padding={list(a.output_padding or ())}, input {x}",
                hint="use a larger output_padding, an odd kernel_size or output_padding=None")
        return [self.out_type(a, x, out, a.filters)]

    def params(self, a, in_types):
        _, c = self.split_input(a, in_types[0])
        specs = [ParamSpec("kernel", (*a.kernel_size, a.filters, c), a.kernel_initializer)]
        if a.use_bias:
            specs.append(ParamSpec("bias", (a.filters,), a.bias_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        x = self.to_last(a, xs[0])
        y = transpose_forward(x, params["kernel"], a.kernel_size, a.strides, a.dilation_rate,
                              self.crops(a))
        if a.use_bias:
            y += params["bias"]  # in place: y is (a view of) the fresh col2im buffer
        return [self.from_last(a, y)], (x, ctx.input_grad)

    def backward(self, a, params, cache, dys):
        x, input_grad = cache
        dy = self.to_last(a, dys[0])
        dx, dk = transpose_backward(x, params["kernel"], dy, a.kernel_size, a.strides,
                                    a.dilation_rate, self.crops(a), input_grad)
        grads = {"kernel": dk}
        if a.use_bias:
            grads["bias"] = sum_rows(dy)
        return [None if dx is None else self.from_last(a, dx)], grads

    def fold_affine(self, a, params, scale, shift):
        if a.data_format == "channels_first":
            return None
        k = params["kernel"]  # (*k, F, Cin): the output channel is axis -2
        return fold_bias(a, params, k.dtype, k.shape[-2], scale, shift,
                         {"kernel": k * np.reshape(scale, (-1, 1))})

    def lower(self, a, params, xs, em):
        w = em.weight("kernel", onnx_kernel(params["kernel"]))
        b = em.weight("bias", params["bias"]) if a.use_bias else None
        crops = self.crops(a)
        # ONNX crops with pads and appends with output_padding (its values there are zeros
        # plus bias, like Keras'); neither depends on the input size, so unknown sizes work.
        pads = onnx_pads([(max(c0, 0), max(c1, 0)) for c0, c1 in crops])
        return [em.op("ConvTranspose", [xs[0], w] + ([b] if b else []),
                      kernel_shape=list(a.kernel_size), strides=list(a.strides),
                      dilations=list(a.dilation_rate), pads=pads,
                      output_padding=[max(-c1, 0) for _, c1 in crops])]
