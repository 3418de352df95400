"""ConvLSTM1D/2D/3D (Keras 3): an LSTM whose input and recurrent transforms are convolutions.

z_t = conv(x_t, kernel; strides, padding, dilation) + bias + conv(h_{t-1}, recurrent_kernel;
'same', stride 1, no dilation); gates i, f, c, o (the four filter blocks of z, Keras' order)
= rec_act / rec_act / act / rec_act; c_t = f c_{t-1} + i g, h_t = o act(c_t); h_0 = c_0 = 0.
Shape: (N, T, *S, C) -> (N, T, *S', filters) with return_sequences, else (N, *S', filters);
S' is the input conv's output size (channels_first: (N, T, C, *S) -> (N, [T,] filters, *S')).

NumPy (channels-last, time-major inside): the input conv runs once for every step as one
im2col + GEMM over (T*N, *S, C) (`_conv_math.conv_forward`); only the recurrent conv (im2col of
h + GEMM) runs per step. Backward (BPTT) keeps one loop over steps: the gate derivatives and
every factor that does not depend on the recursion are computed for all steps at once before
it; per step one recurrent `conv_backward` gives dh_{t-1} and accumulates the recurrent kernel
gradient; the input conv's gradients come from one `conv_backward` over all steps.
Masks (Keras semantics, a timestep mask (N, T)): a masked step keeps h and c. Dropout (training
only, Keras' DropoutRNNCell): four masks per call for the input and four for h, one per gate,
shared by every step; each gate then convolves its own masked input.
ONNX has no ConvLSTM operator: the input conv is one Conv over (N*T, C, *S), and the steps a
`Scan` (dynamic length) whose body holds the recurrent Conv and the gate maths
(_conv_lstm_onnx.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._conv import DataFormat, SpatialArgs, no_stride_with_dilation
from ._conv_math import ConvCache, conv_backward, conv_forward
from ._promote import always as promote_always
from ._recurrent_steps import Act, check_activation
from ._spatial import pad, plan
from .activation import ActivationSpec
from .base import Initializer, OpDef, ParamSpec, in_range, positive_int
from .dropout import inverted_mask

Array = np.ndarray


@dataclass(frozen=True)
class ConvLSTMAttrs(SpatialArgs):
    """Keras 3's ConvLSTM arguments in Keras' order, then its RNN base's (regularizers and
    constraints are training-only arguments kept beside the attrs, see OpDef.weight_args)."""

    filters: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = 1  # type: ignore[assignment]  (made (1,) * nd)
    padding: str = "valid"
    data_format: DataFormat | None = "channels_last"
    dilation_rate: tuple[int, ...] = 1  # type: ignore[assignment]
    activation: ActivationSpec = "tanh"
    recurrent_activation: ActivationSpec = "sigmoid"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    recurrent_initializer: Initializer = "orthogonal"
    bias_initializer: Initializer = "zeros"
    unit_forget_bias: bool = True
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    seed: int | None = None
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    unroll: bool = False  # accepted; seqc never unrolls
    zero_output_for_mask: bool = False


# ---- a conv per gate: Keras' dropout masks are one per gate, so with dropout each gate
# convolves its own masked input (its quarter of the kernel's filters); without, one conv ----

def gate_conv(x: Array, kernel: Array, bias: Array | None, masks: Array | None, geo: tuple,
              keep: bool) -> tuple[Array, Any]:
    """(conv(x * masks[g], kernel_g) + bias_g for the gates g, concatenated (B, *S', 4F),
    cache). x is (B, *S, C) with B = R * N (R steps, time-major); masks (4, N, *S, C) or None,
    the same for every step."""
    if masks is None:
        return conv_forward(x, kernel, bias, *geo, 1, keep)
    f = kernel.shape[-1] // 4
    ys, caches = [], []
    for g in range(4):
        xg = (x.reshape(-1, *masks.shape[1:]) * masks[g]).reshape(x.shape)
        cols = slice(g * f, (g + 1) * f)
        y, c = conv_forward(xg, kernel[..., cols], None if bias is None else bias[cols],
                            *geo, 1, keep)
        ys.append(y)
        caches.append(c)
    return np.concatenate(ys, axis=-1), caches


def gate_conv_backward(cache: Any, kernel: Array, bias: Array | None, dy: Array,
                       masks: Array | None, geo: tuple, input_grad: bool):
    """(dx or None, dkernel, dbias or None) for `gate_conv` (same `geo`: kernel, strides,
    dilation, padding)."""
    if masks is None:
        return conv_backward(cache, kernel, bias, dy, *geo[:3], 1, input_grad)
    f = kernel.shape[-1] // 4
    dx, dks, dbs = None, [], []
    for g in range(4):
        cols = slice(g * f, (g + 1) * f)
        dxg, dk, db = conv_backward(cache[g], kernel[..., cols],
                                    None if bias is None else bias[cols],
                                    np.ascontiguousarray(dy[..., cols]), *geo[:3], 1,
                                    input_grad)
        dks.append(dk)
        dbs.append(db)
        if input_grad:
            dxg = (dxg.reshape(-1, *masks.shape[1:]) * masks[g]).reshape(dxg.shape)
            dx = dxg if dx is None else dx + dxg
    return dx, np.concatenate(dks, axis=-1), None if bias is None else np.concatenate(dbs)


def rec_cache(h: Array, masks: Array | None, pads: list, out: tuple) -> Any:
    """The recurrent conv's cache for input h (per gate with masks), rebuilt in backward from
    the saved states: keeping T im2col matrices would hold k^2 times the states."""
    def one(v: Array) -> ConvCache:
        vp = pad(v, pads)
        return ConvCache(vp, False, vp.shape, pads, out)

    return one(h) if masks is None else [one(h * masks[g]) for g in range(4)]


class ConvLSTMBase(OpDef):
    weight_args = {"kernel": "kernel", "recurrent": "recurrent_kernel", "bias": "bias"}
    category = "recurrent"
    layout = "canonical"
    promotes_integers = promote_always  # Keras' conv makes an integer input float32

    # -- attributes and shapes --

    def check(self, a: ConvLSTMAttrs) -> None:
        positive_int(a, "filters")
        no_stride_with_dilation(a)
        for name in ("dropout", "recurrent_dropout"):
            in_range(a, name, 0.0, 1.0)
        for name in ("return_state", "stateful"):
            if getattr(a, name):
                raise DefinitionError(
                    f"{self.kind}({name}=True) is not supported by seqc", field=name,
                    received=f"{name}=True",
                    hint="the layer outputs its last state (return_sequences=False) or every "
                         "step (return_sequences=True); states are not carried between batches")
        check_activation(a, "activation")
        check_activation(a, "recurrent_activation")

    def _split(self, a: ConvLSTMAttrs, x: TensorType) -> tuple[tuple[int, ...], int]:
        nd = a.nd
        if x.rank != nd + 3:
            lay = ("(batch, time, channels, " if a.data_format == "channels_first"
                   else "(batch, time, ") + ", ".join(
                       {1: ["steps"], 2: ["rows", "cols"], 3: ["depth", "rows", "cols"]}[nd]) + (
                       ")" if a.data_format == "channels_first" else ", channels)")
            raise DefinitionError(
                f"{self.kind} needs an input of rank {nd + 3} {lay}", field="input",
                received=f"input {x} (rank {x.rank})",
                hint="a ConvLSTM reads a sequence of frames; use TimeDistributed layers in "
                     "front of it, or a Reshape to (time, *frame, channels)")
        first = a.data_format == "channels_first"
        sizes = tuple(x.shape[3:]) if first else tuple(x.shape[2:-1])
        c = x.shape[2] if first else x.shape[-1]
        if c is None or None in sizes:
            raise DefinitionError(
                f"{self.kind} needs known frame sizes and channels (Keras requires static "
                "spatial dimensions); only the batch and time axes may vary", field="input",
                received=f"input {x} (data_format={a.data_format})",
                hint="give every frame axis a size in input_shape, e.g. [null, 64, 64, 1]")
        return sizes, c

    def _out_sizes(self, a: ConvLSTMAttrs, sizes) -> tuple[int, ...]:
        return plan(sizes, a.kernel_size, a.strides, a.dilation_rate, a.padding)[1]

    def infer(self, a: ConvLSTMAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        sizes, _ = self._split(a, x)
        out = self._out_sizes(a, sizes)
        frame = (a.filters, *out) if a.data_format == "channels_first" else (*out, a.filters)
        lead = (x.shape[0], x.shape[1]) if a.return_sequences else (x.shape[0],)
        return [x.with_shape((*lead, *frame))]

    def params(self, a: ConvLSTMAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        _, c = self._split(a, in_types[0])
        k4 = 4 * a.filters
        specs = [ParamSpec("kernel", (*a.kernel_size, c, k4), a.kernel_initializer),
                 ParamSpec("recurrent_kernel", (*a.kernel_size, a.filters, k4),
                           a.recurrent_initializer)]
        if a.use_bias:
            init = a.bias_initializer
            if a.unit_forget_bias:
                # Keras: concat(bias_initializer(f), ones(f), bias_initializer(2f)), as LSTM.
                init = {"type": "lstm_unit_forget_bias", "units": a.filters,
                        "bias_initializer": a.bias_initializer}
            specs.append(ParamSpec("bias", (k4,), init))
        return specs

    def output_masked(self, a: ConvLSTMAttrs, in_masked: bool) -> bool:
        return in_masked and a.return_sequences

    # -- NumPy --

    @staticmethod
    def _rec_geometry(a: ConvLSTMAttrs, out: tuple[int, ...]):
        ones = (1,) * a.nd
        pads, _ = plan(out, a.kernel_size, ones, ones, "same")
        return ones, pads

    def forward(self, a, params, xs, ctx):
        x = xs[0]
        if a.data_format == "channels_first":
            x = np.moveaxis(x, 2, -1)  # (N, T, *S, C)
        n, t = x.shape[:2]
        if t == 0:
            raise DefinitionError(f"{self.kind} needs at least one timestep", field="input",
                                  received=f"input shape {xs[0].shape}")
        mask = ctx.mask
        if a.go_backwards:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        f, k = a.filters, a.kernel_size
        dtype = x.dtype
        out = self._out_sizes(a, x.shape[2:-1])
        dm, rm = self._dropout_masks(a, ctx, (n, *x.shape[2:]), (n, *out, f), dtype)
        # Time-major (T*N, *S, C): the input conv of every step is one GEMM, bias included.
        xt = np.ascontiguousarray(np.swapaxes(x, 0, 1)).reshape(t * n, *x.shape[2:])
        geo = (k, a.strides, a.dilation_rate, a.padding)
        xz, in_cache = gate_conv(xt, params["kernel"], params.get("bias"), dm, geo,
                                 ctx.need_grad)
        z = xz.reshape(t, n, *out, 4 * f)  # becomes the pre-activations
        ones, pads = self._rec_geometry(a, out)
        rgeo = (k, ones, ones, "same")
        rk = params["recurrent_kernel"]
        rec_act, act = Act(a.recurrent_activation), Act(a.activation)
        gates = np.empty_like(z)  # activated i, f, g, o
        cs = np.zeros((t + 1, n, *out, f), dtype)
        hs = np.zeros((t + 1, n, *out, f), dtype)
        tc = np.empty((t, n, *out, f), dtype)  # act(c_t)
        inv = None if mask is None else ~np.ascontiguousarray(mask.T).reshape(
            t, n, *(1,) * (len(out) + 1))
        for s in range(t):
            zs = z[s]
            if s:  # h_0 = 0: the first step has no recurrent term
                zs += gate_conv(hs[s], rk, None, rm, rgeo, False)[0]
            g = gates[s]
            rec_act.apply(zs[..., :2 * f], g[..., :2 * f])
            act.apply(zs[..., 2 * f:3 * f], g[..., 2 * f:3 * f])
            rec_act.apply(zs[..., 3 * f:], g[..., 3 * f:])
            c = np.multiply(g[..., f:2 * f], cs[s], out=cs[s + 1])
            c += g[..., :f] * g[..., 2 * f:3 * f]
            act.apply(c, tc[s])
            np.multiply(g[..., 3 * f:], tc[s], out=hs[s + 1])
            if inv is not None and inv[s].any():
                np.copyto(cs[s + 1], cs[s], where=inv[s])
                np.copyto(hs[s + 1], hs[s], where=inv[s])
        y = hs[1:] if a.return_sequences else hs[t]
        if a.zero_output_for_mask and inv is not None:
            y = y * ~(inv if a.return_sequences else inv[-1])
        y = np.swapaxes(y, 0, 1) if a.return_sequences else y
        if a.data_format == "channels_first":
            y = np.moveaxis(y, -1, 2 if a.return_sequences else 1)
        y = np.ascontiguousarray(y)
        if not ctx.need_grad:
            return [y], None
        keep_z = None if rec_act.fast and act.fast else z
        return [y], (in_cache, xt.shape, keep_z, gates, cs, hs, tc, inv, pads, dm, rm,
                     ctx.input_grad)

    def _dropout_masks(self, a, ctx, x_shape, h_shape, dtype):
        """Keras: four masks per call (one per gate), shared by every step; training only."""
        if not ctx.training:
            return None, None
        dm = rm = None
        if 0 < a.dropout < 1:
            dm = inverted_mask(ctx, a.seed, (4, *x_shape), a.dropout, dtype)
        if 0 < a.recurrent_dropout < 1:
            rm = inverted_mask(ctx, a.seed, (4, *h_shape), a.recurrent_dropout, dtype)
        return dm, rm

    def backward(self, a, params, cache, dys):
        in_cache, xt_shape, z, gates, cs, hs, tc, inv, pads, dm, rm, input_grad = cache
        dy = dys[0]
        f, k = a.filters, a.kernel_size
        t, n = gates.shape[:2]
        out = gates.shape[2:-1]
        rgeo = (k, (1,) * a.nd, (1,) * a.nd, "same")
        if a.data_format == "channels_first":
            dy = np.moveaxis(dy, 2 if a.return_sequences else 1, -1)
        dhs = dh_last = None
        if a.return_sequences:
            dhs = np.swapaxes(dy, 0, 1)  # (T, N, *S', F)
            if a.zero_output_for_mask and inv is not None:
                dhs = dhs * ~inv
        else:
            dh_last = dy * ~inv[-1] if a.zero_output_for_mask and inv is not None else dy
        rec_act, act = Act(a.recurrent_activation), Act(a.activation)
        # Every factor of dL/dz that does not depend on the recursion, for all steps at once:
        # coef = act'(z) * [g, c_prev, i, act(c)] (i, f, g, o); e = dh/dc = o act'(c).
        coef = np.empty_like(gates)
        for sl, fn in ((slice(0, 2 * f), rec_act), (slice(2 * f, 3 * f), act),
                       (slice(3 * f, 4 * f), rec_act)):
            fn_z = None if z is None else z[..., sl]
            coef[..., sl] = fn.deriv(fn_z, gates[..., sl])
        coef[..., :f] *= gates[..., 2 * f:3 * f]
        coef[..., f:2 * f] *= cs[:-1]
        coef[..., 2 * f:3 * f] *= gates[..., :f]
        coef[..., 3 * f:] *= tc
        e = act.deriv(cs[1:], tc)
        e *= gates[..., 3 * f:]
        fg = gates[..., f:2 * f]  # dc_t / dc_{t-1}
        if inv is not None:
            # A masked step passes dh and dc on unchanged and has dz = 0.
            valid = (~inv).astype(gates.dtype)
            coef *= valid
            e *= valid
            fg = fg * valid + inv
        rk = params["recurrent_kernel"]
        drk = np.zeros_like(rk)
        dz = np.empty_like(gates)
        dc = dh_rec = None
        for s in range(t - 1, -1, -1):
            if dhs is None:
                dh = dh_last if s == t - 1 else dh_rec
            else:
                dh = dhs[s] if dh_rec is None else dh_rec + dhs[s]
            dct = dh * e[s]
            if dc is not None:
                dct += dc
            dzs = dz[s]
            np.multiply(coef[s, ..., :3 * f], np.tile(dct, 3), out=dzs[..., :3 * f])
            np.multiply(coef[s, ..., 3 * f:], dh, out=dzs[..., 3 * f:])
            if s == 0:
                break
            dc = dct * fg[s]
            dh_rec, dk, _ = gate_conv_backward(rec_cache(hs[s], rm, pads, out), rk, None, dzs,
                                               rm, rgeo, True)
            drk += dk
            if inv is not None and inv[s].any():
                np.copyto(dh_rec, dh, where=np.broadcast_to(inv[s], dh.shape))
        dx, dkern, db = gate_conv_backward(in_cache, params["kernel"], params.get("bias"),
                                           dz.reshape(t * n, *out, 4 * f), dm,
                                           (k, a.strides, a.dilation_rate, a.padding),
                                           input_grad)
        grads = {"kernel": dkern, "recurrent_kernel": drk}
        if a.use_bias:
            grads["bias"] = db
        if dx is not None:
            dx = np.swapaxes(dx.reshape(t, n, *xt_shape[1:]), 0, 1)
            if a.go_backwards:
                dx = dx[:, ::-1]
            if a.data_format == "channels_first":
                dx = np.moveaxis(dx, -1, 2)
            dx = np.ascontiguousarray(dx)
        dtype = gates.dtype
        return [dx], {key: np.ascontiguousarray(v, dtype=dtype) for key, v in grads.items()}

    # -- ONNX --

    def lower(self, a, params, xs, em):
        from ._conv_lstm_onnx import lower_conv_lstm  # noqa: PLC0415 - written alongside

        sizes, c = self._split(a, em.type_of(xs[0]))
        return [lower_conv_lstm(a, params, xs[0], em, sizes, c, self._out_sizes(a, sizes))]
