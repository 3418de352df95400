"""Shared maths and base kinds for the convolutions (Conv, DepthwiseConv, SeparableConv and
ConvTranspose in 1-3 spatial dims), channels-last (N, *spatial, C) as in Keras.

Forward: pad -> im2col (one copy) -> ONE matmul with the kernel as (prod(k) * Cin, F), the bias
riding along as a row against a column of ones; groups are one batched matmul
(G, M, K*Cg) @ (G, K*Cg, Fg); depthwise is groups=C. Backward: dW (and the bias gradient) =
cols^T @ dy, dcols = dy @ W^T -> col2im -> unpad. A transposed conv is the adjoint of a conv:
forward = matmul + col2im + Keras' crop, backward = im2col + matmul.
ONNX: Conv (weights (F, Cin/groups, *k)) / ConvTranspose (weights (Cin, F, *k)).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from ..errors import DefinitionError, did_you_mean
from ..ir.types import TensorType
from ._conv_math import (
    conv_backward,
    conv_forward,
    onnx_kernel,
)
from ._promote import always as promote_always
from ._spatial import (
    effective,
    expand,
    lower_padding,
    onnx_pads,
    plan,
    spatial_input,
)
from .base import Initializer, OpDef, ParamSpec, fold_input_kernel, positive_int
from .emitter_api import Emitter

# ---- attributes ----

class SpatialArgs:
    """`__post_init__` shared by the conv Attrs dataclasses: Keras' "int or tuple" arguments
    made canonical (nd entries), padding lowercased and checked, data_format None -> last."""

    nd: ClassVar[int]
    paddings: ClassVar[tuple[str, ...]] = ("valid", "same")

    def __post_init__(self) -> None:
        for name in ("strides", "dilation_rate"):
            if isinstance(getattr(self, name), int):  # the defaults, spelled as Keras' docs
                object.__setattr__(self, name, (getattr(self, name),))
        expand(self, ("kernel_size", "strides", "dilation_rate"), self.nd)
        lower_padding(self)
        p = self.padding
        if p not in self.paddings:
            raise DefinitionError(
                f"'padding' must be one of {', '.join(repr(v) for v in self.paddings)}",
                field="padding", received=f"padding={p!r}",
                hint="padding='causal' exists for Conv1D only" if p == "causal"
                else did_you_mean(p, self.paddings))
        if self.data_format is None:  # Keras' global image_data_format, fixed to channels_last
            object.__setattr__(self, "data_format", "channels_last")
        op = getattr(self, "output_padding", None)
        if op is not None:
            op = tuple(op) * self.nd if len(op) == 1 else tuple(op)
            object.__setattr__(self, "output_padding", op)
            if len(op) != self.nd or any(v < 0 or v >= s for v, s in zip(op, self.strides)):
                raise DefinitionError(
                    f"'output_padding' must be {self.nd} integers, each >= 0 and strictly less "
                    "than the matching stride", field="output_padding",
                    received=f"output_padding={list(op)}, strides={list(self.strides)}")


DataFormat = Literal["channels_last", "channels_first"]


@dataclass(frozen=True)
class ConvAttrs(SpatialArgs):
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = 1  # type: ignore[assignment]  (made (1,) * nd)
    padding: str = "valid"
    data_format: DataFormat | None = "channels_last"
    dilation_rate: tuple[int, ...] = 1  # type: ignore[assignment]
    groups: int = 1
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


@dataclass(frozen=True)
class DepthwiseAttrs(SpatialArgs):
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = 1  # type: ignore[assignment]  (made (1,) * nd)
    padding: str = "valid"
    depth_multiplier: int = 1
    data_format: DataFormat | None = "channels_last"
    dilation_rate: tuple[int, ...] = 1  # type: ignore[assignment]
    use_bias: bool = True
    depthwise_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


@dataclass(frozen=True)
class SeparableAttrs(SpatialArgs):
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = 1  # type: ignore[assignment]  (made (1,) * nd)
    padding: str = "valid"
    data_format: DataFormat | None = "channels_last"
    dilation_rate: tuple[int, ...] = 1  # type: ignore[assignment]
    depth_multiplier: int = 1
    use_bias: bool = True
    depthwise_initializer: Initializer = "glorot_uniform"
    pointwise_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


@dataclass(frozen=True)
class TransposeAttrs(SpatialArgs):
    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = 1  # type: ignore[assignment]  (made (1,) * nd)
    padding: str = "valid"
    output_padding: tuple[int, ...] | None = None
    data_format: DataFormat | None = "channels_last"
    dilation_rate: tuple[int, ...] = 1  # type: ignore[assignment]
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"


class ConvFamily(OpDef):
    """What every conv kind shares: layouts, the input check, channels_first handling."""

    category = "convolution"
    splits_activation = True
    activation_index = 7
    promotes_integers = promote_always  # Keras' conv makes an integer input float32

    def export_layout(self, a: Any) -> str:
        # The IR tensor of a channels_first layer is already (N, C, *spatial): ONNX's own.
        return "canonical" if a.data_format == "channels_first" else "channels_first"

    def split_input(self, a: Any, x: TensorType) -> tuple[tuple[int | None, ...], int]:
        """(spatial sizes, channels) of the input, with the rank and channel checks."""
        spatial_input(x, a.nd, self.kind)
        first = a.data_format == "channels_first"
        sizes = tuple(x.shape[2:]) if first else tuple(x.shape[1:-1])
        c = x.shape[1] if first else x.shape[-1]
        if c is None:
            raise DefinitionError(
                f"{self.kind} needs a known number of input channels", field="input",
                received=f"input {x} (data_format={a.data_format})",
                hint="give the channel axis a size in input_shape")
        return sizes, c

    @staticmethod
    def out_type(a: Any, x: TensorType, sizes: tuple, channels: int) -> TensorType:
        if a.data_format == "channels_first":
            return x.with_shape((x.shape[0], channels, *sizes))
        return x.with_shape((x.shape[0], *sizes, channels))

    @staticmethod
    def to_last(a: Any, x: np.ndarray) -> np.ndarray:
        return np.moveaxis(x, 1, -1) if a.data_format == "channels_first" else x

    @staticmethod
    def from_last(a: Any, y: np.ndarray) -> np.ndarray:
        return np.moveaxis(y, -1, 1) if a.data_format == "channels_first" else y

    def sizes_of(self, a: Any, em: Emitter, x: str) -> tuple[int | None, ...]:
        t = em.type_of(x)  # the IR's logical type, whatever the physical layout
        return tuple(t.shape[2:]) if a.data_format == "channels_first" else tuple(t.shape[1:-1])


def no_stride_with_dilation(a: Any) -> None:
    if max(a.strides) > 1 and max(a.dilation_rate) > 1:
        raise DefinitionError(
            "strides > 1 cannot be combined with dilation_rate > 1 (Keras rejects it)",
            field="dilation_rate",
            received=f"strides={list(a.strides)}, dilation_rate={list(a.dilation_rate)}",
            hint="use strides=1 with dilation, or dilation_rate=1 with strides")


def conv_node(em: Emitter, x: str, kernel: np.ndarray, name: str, b: str | None, a: Any, sizes,
              group: int) -> str:
    """An ONNX Conv (kernel in ONNX layout, added as weight `name`) reproducing Keras' padding:
    explicit pads where they are known (any size at stride 1, since 'same' then pads k_eff - 1
    in total), SAME_UPPER (extra pixel at the end, as TF/Keras) where a strided size is not."""
    k, s, d = a.kernel_size, a.strides, a.dilation_rate
    known = tuple(8 if n is None and st == 1 else n for n, st in zip(sizes, s))
    pads, _ = plan(known, k, s, d, a.padding)
    if a.padding == "valid":
        pads = [(0, 0)] * len(k)  # whatever the sizes
    auto = any(p is None for p in pads)
    if auto and max(d) > 1:
        # onnxruntime refuses SAME_* with dilations: spell the dilated kernel out with zeros.
        full = np.zeros((*kernel.shape[:2], *effective(k, d)), kernel.dtype)
        full[(slice(None), slice(None), *(slice(None, None, di) for di in d))] = kernel
        kernel, k, d = full, full.shape[2:], (1,) * len(k)
    attrs: dict[str, Any] = {"kernel_shape": list(k), "strides": list(s), "dilations": list(d),
                             "group": group}
    if auto:
        attrs["auto_pad"] = "SAME_UPPER"
    else:
        attrs["pads"] = onnx_pads(pads)
    return em.op("Conv", [x, em.weight(name, kernel)] + ([b] if b else []), **attrs)


class ConvBase(ConvFamily):
    """Conv1D/2D/3D: kernel (*k, Cin/groups, filters), bias (filters,)."""

    weight_args = {"kernel": "kernel", "bias": "bias"}
    Attrs: ClassVar[type] = ConvAttrs

    def check(self, a: ConvAttrs) -> None:
        positive_int(a, "filters")
        positive_int(a, "groups")
        if a.filters % a.groups:
            raise DefinitionError(
                "'filters' must be divisible by 'groups'", field="groups",
                received=f"filters={a.filters}, groups={a.groups}")
        no_stride_with_dilation(a)

    def infer(self, a: ConvAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        sizes, c = self.split_input(a, x)
        if c % a.groups:
            raise DefinitionError(
                "the input channels must be divisible by 'groups'", field="groups",
                received=f"groups={a.groups}, input {x} with {c} channels")
        _, out = plan(sizes, a.kernel_size, a.strides, a.dilation_rate, a.padding)
        return [self.out_type(a, x, out, a.filters)]

    def params(self, a: ConvAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        _, c = self.split_input(a, in_types[0])
        specs = [ParamSpec("kernel", (*a.kernel_size, c // a.groups, a.filters),
                           a.kernel_initializer)]
        if a.use_bias:
            specs.append(ParamSpec("bias", (a.filters,), a.bias_initializer))
        return specs

    def forward(self, a, params, xs, ctx):
        x = self.to_last(a, xs[0])
        y, cache = conv_forward(x, params["kernel"], params.get("bias"), a.kernel_size,
                                a.strides, a.dilation_rate, a.padding, a.groups, ctx.need_grad)
        return [self.from_last(a, y)], (cache, ctx.input_grad)

    def backward(self, a, params, cache, dys):
        cache, input_grad = cache
        dy = self.to_last(a, dys[0])
        dx, dk, db = conv_backward(cache, params["kernel"], params.get("bias"), dy,
                                   a.kernel_size, a.strides, a.dilation_rate, a.groups,
                                   input_grad)
        grads = {"kernel": dk} if db is None else {"kernel": dk, "bias": db}
        return [None if dx is None else self.from_last(a, dx)], grads

    def fold_affine(self, a, params, scale, shift):
        if a.data_format == "channels_first":
            return None  # BN's last axis is not the channel axis there
        k = params["kernel"]
        return fold_bias(a, params, k.dtype, k.shape[-1], scale, shift,
                         {"kernel": k * scale})

    def fold_input_affine(self, a, params, scale, shift):
        if a.data_format == "channels_first" or a.groups != 1:
            return None
        if a.padding != "valid" and np.any(shift):
            return None  # the padding's zeros would have to become -shift / scale
        return fold_input_kernel(a, params, scale, shift)

    def lower(self, a, params, xs, em):
        b = em.weight("bias", params["bias"]) if a.use_bias else None
        return [conv_node(em, xs[0], onnx_kernel(params["kernel"]), "kernel", b, a,
                          self.sizes_of(a, em, xs[0]), a.groups)]


def fold_bias(a: Any, params: dict, dtype, n: int, scale, shift, scaled: dict) -> tuple:
    """Attrs with use_bias on, and parameters with bias * scale + shift added to `scaled`."""
    bias = params["bias"] if a.use_bias else np.zeros(n, dtype)
    out = {name: v.astype(dtype) for name, v in scaled.items()}
    out["bias"] = (bias * scale + shift).astype(dtype)
    keep = {k: v for k, v in params.items() if k not in out}
    return dataclasses.replace(a, use_bias=True), {**keep, **out}
