"""GRU (Keras 3): z, r = rec_act(x Wz + h Uz + b), hh = act(x Wh + r * (h Uh + bh)) with
reset_after (default; bias (2, 3*units): input row, recurrent row), else act(x Wh + (r h) Uh +
b); h' = z h + (1 - z) hh. Gates z, r, h as in Keras.

ONNX: native GRU (z, r, h kept; reset_after -> linear_before_reset=1) via _recurrent_onnx.
Shape: (N, T, F) -> (N, T, units) with return_sequences, else (N, units). NumPy maths in
time-major, gate-major buffers (_recurrent.py): internally the gates run as h, z, r, each step's
gate a contiguous (N, units) block. Memory: about 20 (T, N, units) float buffers per call while
training.
"""

from __future__ import annotations

import numpy as np

from . import _recurrent_fused
from ._recurrent import GRUAttrs, RecurrentBase
from ._recurrent_steps import Steps, keep_masked
from .base import BadExample, Example, register


@register
class GRU(RecurrentBase):
    kind = "GRU"
    Attrs = GRUAttrs
    summary = "Gated recurrent unit layer over (batch, timesteps, features)."
    gates = 3
    # Internally h, z, r: backward writes a step's gradients as one row [h, z, r, h Uh] whose
    # first three blocks are the input-side gates and (reset_after) last three the recurrent
    # ones, so both matmuls read it in place.
    gate_order = (2, 0, 1)
    rec_gates = 2
    rec_gate_start = 1
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
        BadExample({"units": 2, "stateful": True}, (4, 3), "fixed batch size"),
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
        fused = rec_act.name == "sigmoid" and act.name == "tanh"
        # Gate-major buffers, every gate of a step one contiguous (N, u) block (NumPy's
        # elementwise kernels run 2-3x slower on column slices of an (N, 3u) row):
        # zg: input terms that become the pre-activations in place, [h, z, r], and with
        # reset_after [h, h Uh + bh, z, r]: that block starts as bh, so one add puts a step's
        # batched recurrent matmul [h Uh, h Uz, h Ur] in place; gs: activations hh, z, r;
        # hs: the state each step starts from, then the next.
        ra = a.reset_after
        if ra and _recurrent_fused.usable(acts, rec, dtype):
            h0 = 0 if s.init is None else s.init[0]
            res = _recurrent_fused.run_gru_forward(xp, rec.w, b_rec, h0, s)
            if res is not None:  # the compiled loop (numba) ran
                gs, hs, side = res
                return hs, (gs, None, hs, side)
        o = 1 if ra else 0  # z, r are blocks o + 1, o + 2 of zg
        xg = xp.reshape(t_steps, n, 3, u).transpose(0, 2, 1, 3)
        if ra:
            zg = np.empty((t_steps, 4, n, u), dtype)
            zg[:, 0] = xg[:, 0]
            zg[:, 2:] = xg[:, 1:]
            if b_rec is not None:
                zg[:, 1] = b_rec[:u]
                zg[:, 2:] += b_rec[u:].reshape(2, 1, u)  # z and r just add theirs
            else:
                zg[:, 1] = 0
        else:
            zg = np.ascontiguousarray(xg)
        gs = np.empty((t_steps, 3, n, u), dtype)
        hs = np.empty((t_steps + 1, n, u), dtype)
        hs[0] = 0 if s.init is None else s.init[0]  # a stateful layer's carried h
        tmp = np.empty((n, u), dtype)
        rm = rec.mask  # None or (3, N, u) per gate, internal order
        w = rec.w.reshape(u, 3, u).transpose(1, 0, 2)  # (3, u, u): h @ w[g] is gate g's term
        if ra:
            w3 = np.ascontiguousarray(w)
            rt = np.empty((3, n, u), dtype)
            hm = None if rm is None else np.empty((3, n, u), dtype)
            side = zg[:, 1]  # h Uh + bh, kept for backward (dL/dr)
        else:
            # side[t] = r * h, the candidate's recurrent input (kept for the kernel gradient)
            side = np.empty((t_steps, n, u), dtype)
            w2, wh = np.ascontiguousarray(w[1:]), np.ascontiguousarray(w[0])
            rt = np.empty((2, n, u), dtype)
            hm = None if rm is None else np.empty((2, n, u), dtype)
        # Per-step views made once (list() of an array), not by indexing in the loop.
        zh, zzr, zrec = list(zg[:, 0]), list(zg[:, o + 1:]), list(zg[:, 1:])
        hh, zgt, rg, gzr = list(gs[:, 0]), list(gs[:, 1]), list(gs[:, 2]), list(gs[:, 1:])
        hl, sl = list(hs), list(side)
        masked = s.valid is not None
        for t in range(t_steps):
            h = hl[t]
            if t or s.init is not None:  # h_0 = 0: the first step has no recurrent term
                if rm is not None:
                    np.multiply(h, rm[3 - len(rt):], out=hm)
                np.matmul(h if rm is None else hm, w3 if ra else w2, out=rt)
                zrec[t] += rt  # reset_after: [h Uh + bh, z, r]; before: [z, r]
            if fused:
                # sigmoid columns were pre-scaled by 1/2: sigmoid = 0.5 tanh + 0.5
                g = np.tanh(zzr[t], out=gzr[t])
                g *= 0.5
                g += 0.5
            else:
                rec_act.apply(zzr[t], gzr[t])
            if ra:
                np.multiply(rg[t], sl[t], out=tmp)
                zh[t] += tmp
            elif t or s.init is not None:
                np.multiply(rg[t], h, out=sl[t])
                if rm is not None:
                    np.multiply(sl[t], rm[0], out=hm[0])
                    np.matmul(hm[0], wh, out=tmp)
                else:
                    np.matmul(sl[t], wh, out=tmp)
                zh[t] += tmp
            else:
                sl[t][...] = 0
            if fused:
                np.tanh(zh[t], out=hh[t])
            else:
                act.apply(zh[t], hh[t])
            # h' = hh + z (h - hh)
            np.subtract(h, hh[t], out=tmp)
            tmp *= zgt[t]
            np.add(hh[t], tmp, out=hl[t + 1])
            if masked:
                keep_masked(hl[t + 1], h, s, t)
        return hs, (gs, None if fused else zg, hs, side)

    def scan_back(self, a, acts, tape, dhs, dh_last, s: Steps, rec):
        gs, zg, hs, side = tape
        t_steps, _, n, u = gs.shape
        dtype = gs.dtype
        rec_act, act = acts
        ra = a.reset_after
        hprev = hs[:-1]
        # the compiled loop computes no initial-state gradient
        if ra and zg is None and not s.init_grad and _recurrent_fused.usable(acts, rec, dtype):
            wg = rec.w.reshape(u, 3, u)
            ut = np.concatenate([wg[:, 1], wg[:, 2], wg[:, 0]], 1).T  # as below
            rows = _recurrent_fused.run_gru_backward(gs, hs, side, ut, dhs, dh_last, s)
            if rows is not None:  # the compiled loop (numba) ran
                return self._rec_grads(a, rows, hprev, side, None, dtype)
        hh, zgt, rg = gs[:, 0], gs[:, 1], gs[:, 2]
        # Everything in dL/d(pre-activations) that does not depend on the recursion, for all
        # steps at once, so a step's gradients are one broadcast product dh * coef[t]:
        #   dhh_pre = dh (1 - z) act'(hh)                       (q)
        #   dz_pre  = dh (h - hh) rec_act'(z)                   (p)
        #   reset_after:  dr_pre = q (h Uh + bh) rec_act'(r),  d(h Uh + bh) = q r
        #                 dh_prev = dh z + [dz, dr, d(h Uh)] @ [Uz, Ur, Uh]^T
        #   before:       d(r h) = dhh_pre @ Uh^T,  dr_pre = d(r h) h rec_act'(r)
        #                 dh_prev = dh z + d(r h) r + [dz, dr] @ [Uz, Ur]^T
        # coef blocks: reset_after [q, p, dr/dh, q r, z]; before [z, q, p, h r', r].
        nb = 5
        coef = np.empty((t_steps, nb, n, u), dtype)
        o = 1 if ra else 0  # zg blocks: h, (h Uh + bh,) z, r
        if ra:
            iq, ip, ir, iz = 0, 1, 2, 4
        else:
            iz, iq, ip, ir = 0, 1, 2, 3
        cq, cp, cr = coef[:, iq], coef[:, ip], coef[:, ir]
        # rec_act' of z and r (adjacent blocks of coef, gs and zg) in one go, act' of hh
        rec_act.deriv(None if zg is None else zg[:, o + 1:], gs[:, 1:], out=coef[:, ip:ir + 1])
        act.deriv(None if zg is None else zg[:, 0], hh, out=cq)
        tmp = np.subtract(hprev, hh)
        cp *= tmp
        np.subtract(1, zgt, out=tmp)
        cq *= tmp
        if ra:
            cr *= side
            cr *= cq
            np.multiply(cq, rg, out=coef[:, 3])
        else:
            cr *= hprev
            coef[:, 4] = rg
        np.copyto(coef[:, iz], zgt)
        if s.valid is not None:
            # A masked step passes dh through unchanged and has zero gate gradients: zero its
            # coefficients and make its dh/dh_prev 1.
            vf = s.valid_f[:, None]
            if ra:
                coef[:, :4] *= vf
            else:
                coef[:, 1:4] *= vf  # r (block 4) only multiplies d(r h), zero there already
            coef[:, iz] *= s.valid_f
            coef[:, iz] += s.invalid_f
        del tmp
        # rows[t] = [dhh_pre, dz_pre, dr_pre(, d(h Uh + bh))]: its first 3u columns are the
        # input-side gradients (internal order h, z, r); with reset_after its last 3u the
        # recurrent matmul's (z, r, h) and before, columns u..3u the [z, r] one's.
        rows = np.empty((t_steps, n, (4 if ra else 3) * u), dtype)
        rv = list(rows.reshape(t_steps, n, -1, u).transpose(0, 2, 1, 3))
        rl = list(rows)
        cl = list(coef)
        d = np.empty((nb, n, u), dtype)
        dh_bufs = np.empty((2, n, u), dtype)  # the recurrent dh, alternately (dh may alias one)
        rm = rec.mask  # None or (3, N, u), internal order h, z, r
        wg = rec.w.reshape(u, 3, u)  # [:, g] = gate g's (u, u) block, internal order
        if ra:
            # (3u, u): [Uz; Ur; Uh]^T rows in the order of rows[t][:, u:]
            ut = np.ascontiguousarray(np.concatenate([wg[:, 1], wg[:, 2], wg[:, 0]], 1).T)
            rm_zrh = None if rm is None else rm[[1, 2, 0]]
            ut3 = None if rm is None else np.ascontiguousarray(ut.reshape(3, u, u))
            prod = None if rm is None else np.empty((3, n, u), dtype)
        else:
            ut = np.ascontiguousarray(np.concatenate([wg[:, 1], wg[:, 2]], 1).T)  # (2u, u)
            uht = np.ascontiguousarray(wg[:, 0].T)
            drh = np.empty((n, u), dtype)
            ut3 = None if rm is None else np.ascontiguousarray(ut.reshape(2, u, u))
            prod = None if rm is None else np.empty((2, n, u), dtype)
        dh_rec = None
        for t in range(t_steps - 1, -1, -1):
            if dhs is None:
                dh = dh_last if t == t_steps - 1 else dh_rec
            else:
                dh = dhs[t] if dh_rec is None else np.add(dhs[t], dh_rec, out=dh_rec)
            row = rl[t]
            out = dh_bufs[t & 1]
            if ra:
                np.multiply(dh, cl[t], out=d)  # [dhh_pre, dz, dr, d(h Uh + bh), dh z]
                np.copyto(rv[t], d[:4])
                if t == 0 and not s.init_grad:
                    break
                if rm is None:
                    np.matmul(row[:, u:], ut, out=out)
                else:
                    np.matmul(d[1:4], ut3, out=prod)
                    prod *= rm_zrh
                    np.add(prod[0], prod[1], out=out)
                    out += prod[2]
                out += d[4]
            else:
                np.multiply(dh, cl[t][:3], out=d[:3])  # [dh z, dhh_pre, dz]
                np.matmul(d[1], uht, out=drh)  # d(r h), masked by the dropout below
                if rm is not None:
                    drh *= rm[0]
                np.multiply(drh, cl[t][3:], out=d[3:])  # [dr, d(r h) r]
                np.copyto(rv[t], d[1:4])
                if t == 0 and not s.init_grad:
                    break
                if rm is None:
                    np.matmul(row[:, u:], ut, out=out)
                else:
                    np.matmul(d[2:4], ut3, out=prod)
                    prod *= rm[1:]
                    np.add(prod[0], prod[1], out=out)
                out += d[0]
                out += d[4]
            dh_rec = out
        if s.init_grad:  # the loop ran step 0's recurrence too: the initial state's gradient
            s.d_init = (dh_rec.copy(),)
        return self._rec_grads(a, rows, hprev, side, rm, dtype)

    def _rec_grads(self, a, rows, hprev, side, rm, dtype):
        """(input-side gradients, recurrent kernel gradient, recurrent bias gradient) from
        the per-step rows scan_back (or the compiled loop) made."""
        u = a.units
        ra = a.reset_after
        # recurrent kernel gradient (internal order h, z, r), from the stacked steps
        flat = hprev.reshape(-1, u)
        drk = np.empty((u, 3 * u), dtype)
        if ra and rm is None:
            m = flat.T @ rows[..., u:].reshape(-1, 3 * u)  # gates z, r, h
            drk[:, :u], drk[:, u:] = m[:, 2 * u:], m[:, :2 * u]
        else:
            g_cols = [(1, 1), (2, 2), (3, 0)] if ra else [(1, 1), (2, 2)]  # (row block, gate)
            for blk, g in g_cols:
                hin = flat if rm is None else (hprev * rm[g]).reshape(-1, u)
                drk[:, g * u:(g + 1) * u] = \
                    hin.T @ rows[..., blk * u:(blk + 1) * u].reshape(-1, u)
        db_rec = None
        if not ra:
            rh = side if rm is None else side * rm[0]
            drk[:, :u] = rh.reshape(-1, u).T @ rows[..., :u].reshape(-1, u)
        elif a.use_bias:
            db = rows[..., u:].reshape(-1, 3 * u).sum(axis=0)
            db_rec = np.concatenate([db[2 * u:], db[:2 * u]])
        return rows[..., :3 * u], drk, db_rec
