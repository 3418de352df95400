"""GRU (Keras 3): z, r = rec_act(x Wz + h Uz + b), hh = act(x Wh + r * (h Uh + bh)) with
reset_after (default; bias (2, 3*units): input row, recurrent row), else act(x Wh + (r h) Uh +
b); h' = z h + (1 - z) hh. Gates z, r, h as in Keras.

ONNX: native GRU (z, r, h kept; reset_after -> linear_before_reset=1) via _recurrent_onnx.
Shape: (N, T, F) -> (N, T, units) with return_sequences, else (N, units). Memory: about 6
(T, N, units) float buffers per call while training.
"""

from __future__ import annotations

import numpy as np

from ._recurrent import GRUAttrs, RecurrentBase, Steps, keep_masked, split_masked
from .base import BadExample, Example, register


@register
class GRU(RecurrentBase):
    kind = "GRU"
    Attrs = GRUAttrs
    summary = "Gated recurrent unit layer over (batch, timesteps, features)."
    gates = 3
    gate_order = (0, 1, 2)
    rec_gates = 2
    examples = [
        Example({"units": 2}, (4, 3)),
        Example({"units": 3, "return_sequences": True}, (4, 2)),
        Example({"units": 2, "reset_after": False}, (4, 3)),
        Example({"units": 2, "reset_after": False, "return_sequences": True,
                 "go_backwards": True}, (4, 3)),
        Example({"units": 2, "go_backwards": True}, (4, 3)),
        Example({"units": 2, "use_bias": False}, (3, 2)),
        Example({"units": 2, "use_bias": False, "reset_after": False}, (3, 2)),
        Example({"units": 2, "activation": "relu", "recurrent_activation": "hard_sigmoid"},
                (4, 3), input_range=(-1.0, 1.0)),
        Example({"units": 2, "return_sequences": True}, (None, 3)),
        Example({"units": 2, "return_sequences": True}, (4, 3), mask_lengths=(4, 2, 3)),
        Example({"units": 2, "reset_after": False}, (4, 3), mask_lengths=(4, 2, 3)),
        Example({"units": 2, "zero_output_for_mask": True}, (4, 3), mask_lengths=(3, 4, 2)),
        Example({"units": 2, "dropout": 0.3}, (4, 3)),
        Example({"units": 2, "dropout": 0.3, "recurrent_dropout": 0.4}, (4, 3)),
        Example({"units": 2, "recurrent_dropout": 0.4, "reset_after": False,
                 "return_sequences": True}, (4, 3)),
    ]
    bad_examples = [
        BadExample({"units": 2}, (12,), "(batch, timesteps, features)"),
        BadExample({"units": 2, "return_state": True}, (4, 3), "return_state"),
        BadExample({"units": 2, "stateful": True}, (4, 3), "stateful"),
        BadExample({"units": 0}, (4, 3), "units"),
        BadExample({"units": 2, "reset_afer": False}, (4, 3), "did you mean"),
        BadExample({"units": 2, "dropout": 1.5}, (4, 3), "dropout"),
    ]

    def bias_shape(self, a):
        return (2, 3 * a.units) if a.reset_after else (3 * a.units,)

    def split_bias(self, a, b, k):
        if b is None or not a.reset_after:
            return b, None
        return b[0], b[1]

    def join_bias(self, a, db_in, db_rec):
        return np.stack([db_in, db_rec]) if a.reset_after else db_in

    def scan(self, a, acts, xp, rec, b_rec, s: Steps):
        t_steps, n, _ = xp.shape
        u = a.units
        dtype = xp.dtype
        rec_act, act = acts
        hs = np.zeros((t_steps + 1, n, u), dtype)
        gates = np.empty_like(xp)  # z, r, hh per step
        side = np.empty((t_steps, n, u), dtype)  # h Uh + bh (reset_after) or r * h (before)
        tmp = np.empty((n, u), dtype)
        if a.reset_after:
            hr = np.empty((n, 3 * u), dtype)
            if b_rec is not None:
                xp[..., :2 * u] += b_rec[:2 * u]  # z and r just add it: fold it in once
                bh = b_rec[2 * u:]
        else:
            hr = np.empty((n, 2 * u), dtype)
            rec_zr, rec_h = rec.gates(0, 2, u), rec.gates(2, 3, u)
        for t in range(t_steps):
            z = xp[t]
            g = gates[t]
            if a.reset_after:
                rec.fwd(hs[t], out=hr)
                if b_rec is not None:
                    np.add(hr[:, 2 * u:], bh, out=side[t])
                else:
                    side[t] = hr[:, 2 * u:]
            else:
                rec_zr.fwd(hs[t], out=hr)
            z[:, :2 * u] += hr[:, :2 * u]
            rec_act.apply(z[:, :2 * u], g[:, :2 * u])
            if a.reset_after:
                np.multiply(g[:, u:2 * u], side[t], out=tmp)
            else:
                np.multiply(g[:, u:2 * u], hs[t], out=side[t])
                rec_h.fwd(side[t], out=tmp)
            z[:, 2 * u:] += tmp
            hh = g[:, 2 * u:]
            act.apply(z[:, 2 * u:], hh)
            np.subtract(hs[t], hh, out=tmp)
            tmp *= g[:, :u]
            np.add(hh, tmp, out=hs[t + 1])
            keep_masked(hs[t + 1], hs[t], s, t)
        return hs, (gates, xp, hs, side)

    def scan_back(self, a, acts, tape, dhs, dh_last, s: Steps, rec):
        gates, zpre, hs, side = tape
        t_steps, n, _ = gates.shape
        u = a.units
        rec_act, act = acts
        zg, rg, hh = gates[..., :u], gates[..., u:2 * u], gates[..., 2 * u:]
        d_zr = rec_act.deriv(zpre[..., :2 * u], gates[..., :2 * u])
        d_h = act.deriv(zpre[..., 2 * u:], hh)
        p = (hs[:-1] - hh) * d_zr[..., :u]  # dL/dz_pre = dh' * p
        q = (1 - zg) * d_h  # dL/dhh_pre = dh' * q
        if a.reset_after:
            w = side * d_zr[..., u:]  # dL/dr_pre = dhh_pre * (h Uh + bh) * r'
            drec = np.empty((t_steps, n, 3 * u), gates.dtype)  # grads of h @ U (+ b_rec)
        else:
            rec_zr, rec_h = rec.gates(0, 2, u), rec.gates(2, 3, u)
            w = hs[:-1] * d_zr[..., u:]  # dL/dr_pre = d(r h) * h * r'
            drec = np.empty((t_steps, n, 2 * u), gates.dtype)
        dzh = np.empty((t_steps, n, u), gates.dtype)  # grads of the candidate's pre-activation
        dh_rec = None
        for t in range(t_steps - 1, -1, -1):
            if dhs is None:
                dh = dh_last if t == t_steps - 1 else dh_rec
            else:
                dh = dhs[t] if dh_rec is None else np.add(dhs[t], dh_rec, out=dh_rec)
            dh, carry = split_masked(dh, s, t)
            d = drec[t]
            np.multiply(dh, p[t], out=d[:, :u])
            np.multiply(dh, q[t], out=dzh[t])
            if a.reset_after:
                np.multiply(dzh[t], w[t], out=d[:, u:2 * u])
                np.multiply(dzh[t], rg[t], out=d[:, 2 * u:])
                if t == 0:
                    break
                dh_rec = rec.bwd(d)
            else:
                drh = rec_h.bwd(dzh[t])  # gradient of r * h
                np.multiply(drh, w[t], out=d[:, u:2 * u])
                if t == 0:
                    break
                dh_rec = rec_zr.bwd(d)
                drh *= rg[t]
                dh_rec += drh
            dh_rec += dh * zg[t]
            if carry is not None:
                dh_rec += carry
        if a.reset_after:
            dxp = np.concatenate([drec[..., :2 * u], dzh], axis=-1)
            db_rec = drec.sum(axis=(0, 1)) if a.use_bias else None
            return dxp, rec.wgrad(hs[:-1], drec), db_rec
        dxp = np.concatenate([drec, dzh], axis=-1)
        drk = np.concatenate([rec_zr.wgrad(hs[:-1], drec), rec_h.wgrad(side, dzh)], axis=1)
        return dxp, drk, None
