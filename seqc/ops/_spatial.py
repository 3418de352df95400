"""Shared maths for the spatial kinds (convolutions, pooling, padding), written once for any
number of spatial dimensions. Tensors are channels-last: (N, *spatial, C).

- `expand(attrs, names, nd)`: Keras' "an integer or a tuple of nd integers" arguments, made
  canonical (always nd entries) so configs compare equal however they were written.
- `plan(...)`: Keras' padding rule -> per-axis (before, after) pads and output sizes, with the
  errors for impossible shapes (kernel larger than its input, a size shrunk to 0).
- `windows(xp, ...)`: every kernel window of a padded input as a strided view
  (N, *out, *kernel, C), no copy; reshaping it to (N*prod(out), prod(kernel)*C) is im2col.
- `col2im(dwin, ...)`: the adjoint of `windows` (scatter-add back), one vectorized add per
  kernel tap: the Python loop runs over the prod(kernel) taps, never over samples or pixels.

Keras' padding (TensorFlow's rule, which every Keras 3 backend reproduces):
  valid:  out = floor((in - k_eff) / s) + 1, no pads
  same:   out = ceil(in / s); total = max((out - 1) * s + k_eff - in, 0);
          before = total // 2, after = total - before  (the extra pixel goes at the end:
          ONNX's SAME_UPPER)
  causal: (1-D only) before = k_eff - 1, after = 0, out = ceil(in / s)
where k_eff = (k - 1) * dilation + 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType

AXIS_NAMES = {1: ("steps",), 2: ("rows", "cols"), 3: ("depth", "rows", "cols")}


def expand(attrs: Any, names: tuple[str, ...], nd: int) -> None:
    """In a frozen Attrs' __post_init__: turn 1-entry tuples into nd entries, check lengths and
    positivity. Fields that are None are left alone (pooling's strides default)."""
    for name in names:
        v = getattr(attrs, name)
        if v is None:
            continue
        if len(v) == 1 and nd > 1:
            v = tuple(v) * nd
            object.__setattr__(attrs, name, v)
        if len(v) != nd:
            raise DefinitionError(
                f"'{name}' must be an integer or a list of {nd} integers", field=name,
                received=f"{name}={list(v)}")
        if any(d <= 0 for d in v):
            raise DefinitionError(
                f"'{name}' entries must be positive integers", field=name,
                received=f"{name}={list(v)}",
                hint="a stride or size of 0 would never move or never see the input"
                if any(d == 0 for d in v) else None)


def lower_padding(attrs: Any) -> None:
    """Keras accepts 'SAME'/'Valid' as well (it lowercases); keep the canonical spelling."""
    p = getattr(attrs, "padding", None)
    if isinstance(p, str) and p != p.lower():
        object.__setattr__(attrs, "padding", p.lower())


def effective(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    return tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))


def plan(
    sizes: tuple[int | None, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: str,
    *,
    field: str = "kernel_size",
    what: str = "kernel",
) -> tuple[list[tuple[int, int] | None], tuple[int | None, ...]]:
    """(pads per spatial axis, output sizes). An unknown (None) size gives None for both; the
    forward pass calls this again with the actual sizes. Raises DefinitionError naming `field`
    when the output would be empty."""
    pads: list[tuple[int, int] | None] = []
    out: list[int | None] = []
    for i, (n, k, s, ke) in enumerate(zip(sizes, kernel, strides, effective(kernel, dilation))):
        if padding == "causal":
            pads.append((ke - 1, 0))
            out.append(None if n is None else -(-n // s))
            continue
        if n is None:
            pads.append(None)
            out.append(None)
            continue
        if padding == "same":
            o = -(-n // s)
            total = max((o - 1) * s + ke - n, 0)
            pads.append((total // 2, total - total // 2))
            out.append(o)
            continue
        if ke > n:
            axis = AXIS_NAMES.get(len(sizes), ())[i] if len(sizes) in AXIS_NAMES else str(i)
            dilated = f" (dilated to {ke})" if ke != k else ""
            raise DefinitionError(
                f"the {what} ({k}{dilated}) is larger than the input along spatial axis {i + 1} "
                f"({axis}, size {n}) with padding='valid', so the output would be empty",
                field=field, received=f"{field}={list(kernel)}, input spatial size {n}",
                hint="use padding='same', a smaller " + what + ", or a larger input")
        pads.append((0, 0))
        out.append((n - ke) // s + 1)
    return pads, tuple(out)


def spatial_input(x: TensorType, nd: int, kind: str) -> tuple[int | None, ...]:
    """The spatial sizes of a channels-last input of rank nd + 2, or a clear rank error."""
    if x.rank != nd + 2:
        layout = {1: "(batch, steps, channels)", 2: "(batch, rows, cols, channels)",
                  3: "(batch, depth, rows, cols, channels)"}[nd]
        raise DefinitionError(
            f"{kind} needs an input of rank {nd + 2} {layout}", field="input",
            received=f"input {x} (rank {x.rank})",
            hint=f"add a Reshape to give each sample {nd + 1} axes, e.g. "
                 f"{[8] * nd + [1]} for single-channel data" if x.rank < nd + 2 else None)
    return tuple(x.shape[1:-1])


def pad(x: np.ndarray, pads: list[tuple[int, int]], value: float = 0.0) -> np.ndarray:
    """Pad the spatial axes of (N, *spatial, C); returns x itself when no pad is needed."""
    if not any(b or a for b, a in pads):
        return x
    return np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=value)


def unpad(dxp: np.ndarray, pads: list[tuple[int, int]]) -> np.ndarray:
    """The inverse of `pad` for gradients: the interior of the padded array."""
    if not any(b or a for b, a in pads):
        return dxp
    return dxp[(slice(None), *(slice(b, dxp.shape[i + 1] - a) for i, (b, a) in enumerate(pads)),
                slice(None))]


def windows(xp: np.ndarray, kernel: tuple[int, ...], strides: tuple[int, ...],
            dilation: tuple[int, ...]) -> np.ndarray:
    """Read-only view (N, *out, *kernel, C) of every window of the padded (N, *spatial, C).

    No memory is allocated. Copying it into im2col form (reshape to rows of prod(kernel) * C)
    costs N * prod(out) * prod(kernel) * C elements: for a 3x3 conv that is 9x the input, e.g.
    128 digits of 6x6 outputs with 1 channel = 41k floats, or a 128x32x32x64 batch = 302 MB in
    float32, which is why callers build it per batch and free it after the backward pass.
    """
    nd = len(kernel)
    sizes = xp.shape[1:1 + nd]
    out = tuple((n - ke) // s + 1
                for n, ke, s in zip(sizes, effective(kernel, dilation), strides))
    st = xp.strides
    shape = (xp.shape[0], *out, *kernel, xp.shape[-1])
    strides_ = (st[0], *(st[1 + i] * strides[i] for i in range(nd)),
                *(st[1 + i] * dilation[i] for i in range(nd)), st[-1])
    return np.lib.stride_tricks.as_strided(xp, shape, strides_, writeable=False)


def col2im(dwin: np.ndarray, padded_shape: tuple[int, ...], kernel: tuple[int, ...],
           strides: tuple[int, ...], dilation: tuple[int, ...]) -> np.ndarray:
    """Adjoint of `windows`: add dwin (N, *out, *kernel, C) back into a zero (N, *padded, C).
    Overlapping windows sum, as the chain rule requires."""
    nd = len(kernel)
    out = dwin.shape[1:1 + nd]
    dxp = np.zeros(padded_shape, dwin.dtype)
    lead = (slice(None),) * (1 + nd)
    for tap in np.ndindex(*kernel):
        region = tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                       for t, d, o, s in zip(tap, dilation, out, strides))
        dxp[(slice(None), *region, slice(None))] += dwin[(*lead, *tap)]
    return dxp


def im2col(xp: np.ndarray, kernel: tuple[int, ...], strides: tuple[int, ...],
           dilation: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    """(cols of shape (N * prod(out), prod(kernel) * C), out sizes): one contiguous copy of
    `windows`, ready for a single matmul with a kernel reshaped to (prod(kernel) * C, F)."""
    w = windows(xp, kernel, strides, dilation)
    nd = len(kernel)
    out = w.shape[1:1 + nd]
    return w.reshape(xp.shape[0] * math.prod(out), -1), out


def onnx_pads(pads: list[tuple[int, int]]) -> list[int]:
    """Per-axis (before, after) pairs -> ONNX's [b1, b2, ..., a1, a2, ...]."""
    return [b for b, _ in pads] + [a for _, a in pads]
