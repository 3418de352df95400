"""ConvLSTM1D/2D/3D -> ONNX (no ConvLSTM operator exists): one Conv and a Scan.

The input term of every step is one Conv over the N*T frames (bias included), reshaped to
(T, N, 4F, *S'). A Scan over time carries h and c (N, F, *S'); its body holds the recurrent Conv
('same', stride 1, the recurrent kernel an outer-graph weight it reads by name), the gate split
and activations, and the masked-step `Where`s. go_backwards reverses the scanned inputs, so
outputs come in Keras' processing order. Channels-first inside, Keras' layout at both ends.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from ._conv import conv_node
from ._conv_math import onnx_kernel
from .activation import resolve
from .emitter_api import Emitter

INT64_MIN = np.iinfo(np.int64).min


def _i64(em: Emitter, v: Any, hint: str) -> str:
    return em.const(np.asarray(v, np.int64), hint)


def _activation(em: Emitter, spec: Any, x: str) -> str:
    fn, kw = resolve(spec)
    return fn.lower(x, em, **kw)


def lower_conv_lstm(a: Any, params: dict, x: str, em: Emitter, sizes: tuple, c: int,
                    out: tuple) -> str:
    """Input Conv over (N*T, C, *S) -> (T, N, 4F, *S'), then a Scan over time whose body runs
    the recurrent Conv ('same', stride 1) and the gates; channels-first inside. `sizes`, `c`:
    the input frame's sizes and channels; `out`: the output frame's sizes."""
    nd, f = a.nd, a.filters
    first = a.data_format == "channels_first"
    # (N, T, *S, C) -> (N*T, C, *S): the input conv of every step is one Conv.
    flat = em.op("Reshape", [x, _i64(em, [-1, c, *sizes] if first else [-1, *sizes, c],
                                     "frames")])
    if not first:
        flat = em.op("Transpose", [flat], perm=[0, nd + 1, *range(1, nd + 1)])
    b = em.weight("bias", params["bias"]) if a.use_bias else None
    xz = conv_node(em, flat, onnx_kernel(params["kernel"]), "kernel", b, a, sizes, 1)
    shape = em.op("Shape", [x])
    nt = em.op("Slice", [shape, _i64(em, [0], "zero1"), _i64(em, [2], "two1")])  # [N, T]
    n = em.op("Slice", [shape, _i64(em, [0], "zero1"), _i64(em, [1], "one1")])
    xz = em.op("Reshape", [xz, em.op("Concat", [nt, _i64(em, [4 * f, *out], "gate_frame")],
                                     axis=0)])
    xz = em.op("Transpose", [xz], perm=[1, 0, *range(2, nd + 3)])  # (T, N, 4F, *S')
    scans = [xz]
    mask = em.mask
    if mask is not None:
        scans.append(em.op("Transpose", [mask], perm=[1, 0]))  # (T, N) bool
    if a.go_backwards:
        scans = [em.op("Slice", [v, _i64(em, [-1], "start"), _i64(em, [INT64_MIN], "end"),
                                 _i64(em, [0], "axis0"), _i64(em, [-1], "step")])
                 for v in scans]
    state0 = em.op("ConstantOfShape", [em.op("Concat", [n, _i64(em, [f, *out], "frame")],
                                              axis=0)],
                   value=np.zeros(1, np.float32))  # (N, F, *S')
    ones = (1,) * nd
    rec = types.SimpleNamespace(kernel_size=a.kernel_size, strides=ones, dilation_rate=ones,
                                padding="same")
    rk = onnx_kernel(params["recurrent_kernel"])
    split = _i64(em, [f] * 4, "gate_split")
    zero_out = a.zero_output_for_mask and mask is not None

    def body(names: list[str]) -> list[str]:
        h, cprev, zt = names[:3]
        z = em.op("Add", [zt, conv_node(em, h, rk, "recurrent_kernel", None, rec, out, 1)])
        zi, zf, zg, zo = em.op("Split", [z, split], n_out=4, axis=1)
        i = _activation(em, a.recurrent_activation, zi)
        fgate = _activation(em, a.recurrent_activation, zf)
        g = _activation(em, a.activation, zg)
        o = _activation(em, a.recurrent_activation, zo)
        cnew = em.op("Add", [em.op("Mul", [fgate, cprev]), em.op("Mul", [i, g])])
        hnew = em.op("Mul", [o, _activation(em, a.activation, cnew)])
        y = hnew
        if mask is not None:
            m = em.op("Reshape", [names[3], _i64(em, [-1, *(1,) * (nd + 1)], "mask_shape")])
            cnew = em.op("Where", [m, cnew, cprev])
            hnew = em.op("Where", [m, hnew, h])
            y = em.op("Where", [m, hnew, em.const(np.array(0.0, np.float32), "zero")]) \
                if zero_out else hnew
        return [hnew, cnew, y]

    state = (None, f, *out)
    inputs = [("h", "float32", state), ("c", "float32", state),
              ("z", "float32", (None, 4 * f, *out))]
    if mask is not None:
        inputs.append(("mask", "bool", (None,)))
    graph = em.subgraph("step", inputs, body, [state] * 3)
    h_last, _, ys = em.op("Scan", [state0, state0, *scans], n_out=3, body=graph,
                          num_scan_inputs=len(scans))
    if a.return_sequences:  # (T, N, F, *S') -> (N, T, F, *S') or (N, T, *S', F)
        perm = [1, 0, 2, *range(3, nd + 3)] if first else [1, 0, *range(3, nd + 3), 2]
        return em.op("Transpose", [ys], perm=perm)
    if zero_out:
        # The last processed step's output is zeroed when that step is masked.
        last = em.op("Gather", [mask, _i64(em, 0 if a.go_backwards else -1, "last_step")],
                     axis=1)
        keep = em.op("Cast", [em.op("Reshape", [last, _i64(em, [-1, *(1,) * (nd + 1)],
                                                              "mask_shape")])], to=1)
        h_last = em.op("Mul", [h_last, keep])
    if first:
        return h_last
    return em.op("Transpose", [h_last], perm=[0, *range(2, nd + 2), 1])
