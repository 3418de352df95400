"""Torch builders for the spatial kinds: convolutions (F.conv*d; depthwise as groups=C,
separable as depthwise then a 1x1 conv; transposed with Keras' output-size rule), pooling
(padded max/avg pools averaging real pixels only, global pools), padding, cropping and
upsampling. Each permutes the channels-last IR tensor to torch's (N, C, *spatial) and back."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._torch_base import (
    F,
    channels_last,
    fpad,
    from_cf,
    keras_pads,
    pad_spatial,
    tensor,
    to_cf,
    torch,
)

if TYPE_CHECKING:
    from .torch_runtime import Builder


def _conv_weight(kernel: np.ndarray) -> Any:
    """Keras (*k, in, out) -> torch (out, in, *k); for a transposed conv's (*k, filters, in),
    torch's (in, filters, *k)."""
    nd = kernel.ndim - 2
    return tensor(kernel).permute(nd + 1, nd, *range(nd)).contiguous()


def _keras_padded(xcf: Any, a: Any, kernel: tuple[int, ...], dilation: tuple[int, ...],
                  value: float = 0.0) -> tuple[Any, list[tuple[int, int]]]:
    """(N, C, *spatial) padded by Keras' rule for `a.padding` and `a.strides`, and the pads."""
    pads = keras_pads(tuple(xcf.shape[2:]), kernel, a.strides, dilation, a.padding)
    return pad_spatial(xcf, pads, value), pads


def conv(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    if kind.endswith("Transpose"):
        return _conv_transpose(b, kind, a, p)
    nd = len(a.kernel_size)
    conv_nd = getattr(F, f"conv{nd}d")
    if kind.startswith("Depthwise") or kind.startswith("Separable"):
        dk = p["kernel" if kind.startswith("Depthwise") else "depthwise_kernel"]
        c, dm = dk.shape[-2:]
        # (*k, C, dm) -> (C*dm, 1, *k): output channel c*dm + j, as Keras/TF order them.
        w = tensor(dk.reshape(*dk.shape[:-2], c * dm)).permute(nd, *range(nd)).unsqueeze(1)
        w, groups = w.contiguous(), c
    else:
        w, groups = _conv_weight(p["kernel"]), a.groups
    bias = tensor(p["bias"]) if a.use_bias else None
    pw = None
    if kind.startswith("Separable"):
        pw = _conv_weight(p["pointwise_kernel"])
        conv_bias, pw_bias = None, bias
    else:
        conv_bias, pw_bias = bias, None

    def f(x, m):
        xp, _ = _keras_padded(to_cf(x, a), a, a.kernel_size, a.dilation_rate)
        y = conv_nd(xp, w, conv_bias, stride=a.strides, dilation=a.dilation_rate, groups=groups)
        if pw is not None:
            y = conv_nd(y, pw, pw_bias)
        return from_cf(y, a)
    return f


def _conv_transpose(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    nd = len(a.kernel_size)
    convt = getattr(F, f"conv_transpose{nd}d")
    # Keras (*k, filters, in): the adjoint of a conv from filters to in.
    w = _conv_weight(p["kernel"])
    bias = tensor(p["bias"]).reshape(1, -1, *(1,) * nd) if a.use_bias else None
    crops = []
    for i in range(nd):
        ke = (a.kernel_size[i] - 1) * a.dilation_rate[i] + 1
        s = a.strides[i]
        op = None if a.output_padding is None else a.output_padding[i]
        # Keras' output size rule (as its JAX/TF backends: the transposed conv is a conv of
        # the stride-dilated input padded by (left, right)); torch's full transposed conv
        # is that input padded by ke - 1 on both sides, so crop the difference (a negative
        # crop appends zeros). Worked out here, not taken from seqc.ops._conv_math
        # (transpose_crops): a cross-check must not share the maths it checks.
        if a.padding == "valid":
            left, right = ke - 1, ke - 1 + (max(ke, s) - ke if op is None else op)
        else:
            total = s + ke - 2 if op is None else ke + ke % 2 - 2 + op
            left = min(total // 2 + total % 2, ke - 1)
            right = total - left
        crops.append((ke - 1 - left, ke - 1 - right))

    def f(x, m):
        y = convt(to_cf(x, a), w, None, stride=a.strides, dilation=a.dilation_rate)
        y = F.pad(y, fpad([(-lo, -hi) for lo, hi in crops]))  # negative pads crop
        if bias is not None:
            y = y + bias
        return from_cf(y, a)
    return f


# ---- pooling ----

def pool(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    if kind.startswith("Global"):
        return _global_pool(b, kind, a, p)
    nd = len(a.pool_size)
    ones = (1,) * nd
    if kind.startswith("Max"):
        max_pool = getattr(F, f"max_pool{nd}d")

        def f(x, m):
            xp, _ = _keras_padded(to_cf(x, a), a, a.pool_size, ones, -math.inf)
            return from_cf(max_pool(xp, a.pool_size, a.strides), a)
        return f
    avg = getattr(F, f"avg_pool{nd}d")

    def g(x, m):
        xcf = to_cf(x, a)
        xp, pads = _keras_padded(xcf, a, a.pool_size, ones)
        y = avg(xp, a.pool_size, a.strides)
        if any(lo or hi for lo, hi in pads):
            # Keras averages the real pixels only: divide by the share of each window
            # that lies inside the input.
            inside = torch.ones((1, 1, *xcf.shape[2:]), dtype=xcf.dtype)
            y = y / avg(pad_spatial(inside, pads), a.pool_size, a.strides)
        return from_cf(y, a)
    return g


def _global_pool(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    rank = b.in_type.rank
    axes = list(range(1, rank - 1)) if channels_last(a) else list(range(2, rank))
    average = "Average" in kind

    def f(x, m):
        if average and m is not None:
            w = m.to(x.dtype).unsqueeze(-1)  # (N, T, 1): the valid steps only (Keras)
            y = (x * w).sum(dim=1, keepdim=True) / w.sum(dim=1, keepdim=True)
        else:
            y = x.mean(dim=axes, keepdim=True) if average else x.amax(dim=axes, keepdim=True)
        return y if a.keepdims else y.reshape(x.shape[0], -1)
    return f


# ---- padding, cropping, upsampling ----

def resize(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    nd = int(kind[-2])
    first = 1 if channels_last(a) else 2
    axes = list(range(first, first + nd))
    rank = b.in_type.rank
    if kind.startswith("ZeroPadding") or kind.startswith("Cropping"):
        crop = kind.startswith("Cropping")
        v = a.cropping if crop else a.padding
        pairs = [tuple(v)] if nd == 1 else [tuple(e) for e in v]
        per_axis = [(0, 0)] * rank
        for ax, (lo, hi) in zip(axes, pairs):
            per_axis[ax] = (-lo, -hi) if crop else (lo, hi)
        lst = fpad(per_axis[1:])  # F.pad never touches the batch axis here
        return lambda x, m: F.pad(x, lst)
    sizes = a.size if isinstance(a.size, tuple) else (a.size,)
    if getattr(a, "interpolation", "nearest") == "bilinear":
        def bilinear(x, m):
            # Keras: ops.image.resize(antialias=False), half-pixel centres = torch's
            # align_corners=False.
            y = F.interpolate(to_cf(x, a), scale_factor=tuple(float(s) for s in sizes),
                              mode="bilinear", align_corners=False)
            return from_cf(y, a)
        return bilinear

    def nearest(x, m):
        for ax, s in zip(axes, sizes):
            if s != 1:
                x = torch.repeat_interleave(x, s, dim=ax)
        return x
    return nearest


def reflection_pad(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    """PyTorch's own reflection pad (F.pad mode="reflect") on the (N, C, H, W) view."""
    lst = fpad([tuple(e) for e in a.padding])
    return lambda x, m: from_cf(F.pad(to_cf(x, a), lst, mode="reflect"), a)


def keras_resize(xcf: Any, size: tuple[int, int], interpolation: str = "bilinear",
                 antialias: bool = False, crop_to_aspect_ratio: bool = False,
                 pad_to_aspect_ratio: bool = False, fill_value: float = 0.0) -> Any:
    """Keras 3's torch backend `ops.image.resize` on (N, C, H, W): the central crop or the
    fill_value padding to the target aspect ratio, then F.interpolate as Keras calls it
    (bilinear/bicubic with align_corners=False, nearest as "nearest-exact", antialias only
    for bilinear and bicubic)."""
    h, w = xcf.shape[2:]
    th, tw = size
    if crop_to_aspect_ratio:
        ch = max(min(h, int(float(w * th) / tw)), 1)
        cw = max(min(w, int(float(h * tw) / th)), 1)
        hs, ws = int(float(h - ch) / 2), int(float(w - cw) / 2)
        xcf = xcf[:, :, hs:hs + ch, ws:ws + cw]
    elif pad_to_aspect_ratio:
        # Keras pads int((pad - size) / 2) on both sides of the short axis.
        ph = int(float(max(h, int(float(w * th) / tw)) - h) / 2)
        pw = int(float(max(w, int(float(h * tw) / th)) - w) / 2)
        xcf = F.pad(xcf, [pw, pw, ph, ph], value=fill_value)
    if interpolation == "nearest":
        return F.interpolate(xcf, size=size, mode="nearest-exact")
    return F.interpolate(xcf, size=size, mode=interpolation, align_corners=False,
                         antialias=antialias)


def resizing(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    if a.interpolation not in ("bilinear", "bicubic", "nearest"):
        # Keras' torch backend refuses lanczos; area is TensorFlow's only.
        raise b.refuse(f"Resizing(interpolation={a.interpolation!r})")

    def f(x, m):
        y = keras_resize(to_cf(x, a), (a.height, a.width), a.interpolation, a.antialias,
                         a.crop_to_aspect_ratio, a.pad_to_aspect_ratio, a.fill_value)
        return from_cf(y, a)
    return f


def center_crop(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    """Keras' CenterCrop: the central window by slicing; an input smaller on either axis goes
    through smart_resize (crop to the target aspect ratio, bilinear resize)."""
    def f(x, m):
        y = to_cf(x, a)
        h, w = y.shape[2:]
        if h >= a.height and w >= a.width:
            hs, ws = (h - a.height) // 2, (w - a.width) // 2
            y = y[:, :, hs:hs + a.height, ws:ws + a.width]
        else:
            y = keras_resize(y, (a.height, a.width), crop_to_aspect_ratio=True)
        return from_cf(y, a)
    return f


def random_crop(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    """Keras' documented inference window: the largest central crop of the target aspect
    ratio, resized with torch's bilinear interpolate (half-pixel, no antialiasing)."""
    def f(x, m):
        y = to_cf(x, a)
        if tuple(y.shape[2:]) != (a.height, a.width):
            y = keras_resize(y, (a.height, a.width), crop_to_aspect_ratio=True)
        return from_cf(y, a)
    return f


FAMILIES = (
    ("RandomCrop", random_crop), ("Resizing", resizing), ("CenterCrop", center_crop),
    ("ConvLSTM", None),  # PyTorch has no convolutional LSTM: refused by name
    ("Conv", conv), ("DepthwiseConv", conv), ("SeparableConv", conv),
    ("MaxPooling", pool), ("AveragePooling", pool),
    ("GlobalMaxPooling", pool), ("GlobalAveragePooling", pool),
    ("ZeroPadding", resize), ("Cropping", resize), ("UpSampling", resize),
    ("ReflectionPadding", reflection_pad),
)
