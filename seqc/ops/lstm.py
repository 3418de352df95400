"""LSTM (Keras 3): gates i, f, c, o = rec_act / rec_act / act / rec_act of
x @ kernel + h @ recurrent_kernel + bias; c' = f c + i g, h' = o act(c').

ONNX: native LSTM (gates reordered to ONNX's i, o, f, c) via _recurrent_onnx. Shape:
(N, T, F) -> (N, T, units) with return_sequences, else (N, units). NumPy maths in time-major
buffers (_recurrent.py); internally the gates run as i, f, o, c so the three sigmoid gates are
one slice. Memory: about 7 (T, N, units) float buffers per call while training.
"""

from __future__ import annotations

import numpy as np

from ._recurrent import LSTMAttrs, RecurrentBase, Steps, keep_masked, split_masked
from .base import BadExample, Example, register


@register
class LSTM(RecurrentBase):
    kind = "LSTM"
    Attrs = LSTMAttrs
    summary = "Long short-term memory layer over (batch, timesteps, features)."
    gates = 4
    gate_order = (0, 1, 3, 2)  # i, f, o, c
    rec_gates = 3
    examples = [
        Example({"units": 2}, (4, 3)),
        Example({"units": 3, "return_sequences": True}, (4, 2)),
        Example({"units": 2, "go_backwards": True, "return_sequences": True}, (4, 3)),
        Example({"units": 2, "use_bias": False, "unit_forget_bias": False}, (3, 2)),
        Example({"units": 2, "activation": "relu", "recurrent_activation": "hard_sigmoid"},
                (4, 3), input_range=(-1.0, 1.0)),
        Example({"units": 2, "return_sequences": True}, (None, 3)),
        Example({"units": 2, "return_sequences": True}, (4, 3), mask_lengths=(4, 2, 3)),
        Example({"units": 2}, (4, 3), mask_lengths=(4, 2, 3)),
        Example({"units": 2, "go_backwards": True}, (4, 2), mask_lengths=(4, 2, 3)),
        Example({"units": 2, "return_sequences": True, "zero_output_for_mask": True}, (4, 3),
                mask_lengths=(4, 2, 3)),
        Example({"units": 2, "dropout": 0.3}, (4, 3)),
        Example({"units": 2, "dropout": 0.3, "recurrent_dropout": 0.4,
                 "return_sequences": True}, (4, 3)),
    ]
    bad_examples = [
        BadExample({"units": 2}, (12,), "(batch, timesteps, features)"),
        BadExample({"units": 2, "return_state": True}, (4, 3), "return_state"),
        BadExample({"units": 2, "stateful": True}, (4, 3), "stateful"),
        BadExample({"units": 0}, (4, 3), "units"),
        BadExample({"unit": 2}, (4, 3), "did you mean"),
        BadExample({"units": 2, "dropout": 1.5}, (4, 3), "dropout"),
        BadExample({"units": 2, "recurrent_activation": "softmax"}, (4, 3), "elementwise"),
    ]

    def bias_initializer(self, a):
        if not a.unit_forget_bias:
            return a.bias_initializer
        # Keras: concat(bias_initializer(u), ones(u), bias_initializer(2u)).
        return {"type": "lstm_unit_forget_bias", "units": a.units,
                "bias_initializer": a.bias_initializer}

    def scan(self, a, acts, xp, rec, b_rec, s: Steps):
        t_steps, n, _ = xp.shape
        u = a.units
        dtype = xp.dtype
        hs = np.zeros((t_steps + 1, n, u), dtype)
        cs = np.zeros((t_steps + 1, n, u), dtype)
        gates = np.empty_like(xp)  # activations i, f, o, g per step
        tc = np.empty((t_steps, n, u), dtype)  # act(c) per step
        tmp = np.empty((n, 4 * u), dtype)
        ig = np.empty((n, u), dtype)
        rec_act, act = acts
        fused = rec_act.name == "sigmoid" and act.name == "tanh"
        # The common case (no recurrent dropout, no mask) calls NumPy directly: at these sizes
        # a step is about 15 us, and each Python-level wrapper call adds about half a microsecond.
        w = rec.w if rec.mask is None else None
        masked = s.valid is not None
        for t in range(t_steps):
            z = xp[t]  # becomes the pre-activation (kept for non-fast activations)
            if w is not None:
                np.matmul(hs[t], w, out=tmp)
            else:
                rec.fwd(hs[t], out=tmp)
            z += tmp
            g = gates[t]
            if fused:
                # sigmoid columns were pre-scaled by 1/2: one tanh for all four gates.
                np.tanh(z, out=g)
                sg = g[:, :3 * u]
                sg *= 0.5
                sg += 0.5
            else:
                rec_act.apply(z[:, :3 * u], g[:, :3 * u])
                act.apply(z[:, 3 * u:], g[:, 3 * u:])
            c = cs[t + 1]
            np.multiply(g[:, u:2 * u], cs[t], out=c)
            np.multiply(g[:, :u], g[:, 3 * u:], out=ig)
            c += ig
            if fused:
                np.tanh(c, out=tc[t])
            else:
                act.apply(c, tc[t])
            np.multiply(g[:, 2 * u:3 * u], tc[t], out=hs[t + 1])
            if masked:
                keep_masked(hs[t + 1], hs[t], s, t)
                keep_masked(c, cs[t], s, t)
        return hs, (gates, xp if not fused else None, hs, cs, tc)

    def scan_back(self, a, acts, tape, dhs, dh_last, s: Steps, rec):
        gates, z, hs, cs, tc = tape
        t_steps, n, _ = gates.shape
        u = a.units
        rec_act, act = acts
        # Everything in dL/dz that does not depend on the recursion, for all steps at once:
        # coef = act'(gate) * [g, c_prev, act(c), i] (i, f, o, g blocks), so a step needs one
        # broadcast product for the i, f, g blocks and one for o (which takes dh, not dc).
        coef = np.empty_like(gates)
        coef[..., :3 * u] = rec_act.deriv(None if z is None else z[..., :3 * u],
                                          gates[..., :3 * u])
        coef[..., 3 * u:] = act.deriv(None if z is None else z[..., 3 * u:],
                                      gates[..., 3 * u:])
        c4 = coef.reshape(t_steps, n, 4, u)
        c4[:, :, 0] *= gates[..., 3 * u:]
        c4[:, :, 1] *= cs[:-1]
        c4[:, :, 2] *= tc
        c4[:, :, 3] *= gates[..., :u]
        e = gates[..., 2 * u:3 * u] * act.deriv(cs[1:], tc)  # dh'/dc' = o act'(c')
        f_g = gates[..., u:2 * u]
        dz = np.empty_like(gates)
        dz4 = dz.reshape(t_steps, n, 4, u)
        wt = rec.wt if rec.mask is None else None
        dh_rec = dc = None
        for t in range(t_steps - 1, -1, -1):
            if dhs is None:
                dh = dh_last if t == t_steps - 1 else dh_rec
            else:
                dh = dhs[t] if dh_rec is None else np.add(dhs[t], dh_rec, out=dh_rec)
            dh, carry = split_masked(dh, s, t)
            dct = dh * e[t]
            ccarry = None
            if dc is not None:
                dcn, ccarry = split_masked(dc, s, t)
                dct += dcn
            np.multiply(c4[t], dct[:, None, :], out=dz4[t])
            np.multiply(dh, c4[t, :, 2], out=dz4[t, :, 2])
            if t == 0:
                break
            dc = np.multiply(dct, f_g[t], out=dct)
            if ccarry is not None:
                dc += ccarry
            dh_rec = np.matmul(dz[t], wt) if wt is not None else rec.bwd(dz[t])
            if carry is not None:
                dh_rec += carry
        return dz, rec.wgrad(hs[:-1], dz), None
