"""LSTM (Keras 3): gates i, f, c, o = rec_act / rec_act / act / rec_act of
x @ kernel + h @ recurrent_kernel + bias; c' = f c + i g, h' = o act(c').

ONNX: native LSTM (gates reordered to ONNX's i, o, f, c) via _recurrent_onnx. Shape:
(N, T, F) -> (N, T, units) with return_sequences, else (N, units). NumPy maths in time-major,
gate-major buffers (_recurrent.py): internally the gates run as o, i, f, c, each step's gate a
contiguous (N, units) block, so the three sigmoid gates are one block and [i, f] * [c, c_prev]
one product. Memory: about 16 (T, N, units) float buffers per call while training.
"""

from __future__ import annotations

import numpy as np

from . import _recurrent_fused
from ._recurrent import LSTMAttrs, RecurrentBase
from ._recurrent_steps import Steps, keep_masked
from .base import BadExample, Example, register


@register
class LSTM(RecurrentBase):
    kind = "LSTM"
    Attrs = LSTMAttrs
    summary = "Long short-term memory layer over (batch, timesteps, features)."
    gates = 4
    gate_order = (3, 0, 1, 2)  # o, i, f, c
    rec_gates = 3
    n_states = 2  # h, c
    arity = (1, 3)
    examples = [
        Example({"units": 2}, (4, 3)),
        Example({"units": 3, "return_sequences": True}, (4, 2)),
        Example({"units": 2, "go_backwards": True, "return_sequences": True}, (4, 3)),
        Example({"units": 2, "use_bias": False, "unit_forget_bias": False}, (3, 2)),
        Example({"units": 2, "recurrent_bias": True, "unit_forget_bias": False,
                 "bias_initializer": {"type": "RandomUniform", "minval": -0.5,
                                      "maxval": 0.5}}, (4, 3), keras=False),
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
        BadExample({"units": 2, "stateful": True}, (4, 3), "fixed batch size"),
        BadExample({"units": 0}, (4, 3), "units"),
        BadExample({"unit": 2}, (4, 3), "did you mean"),
        BadExample({"units": 2, "dropout": 1.5}, (4, 3), "dropout"),
        BadExample({"units": 2, "recurrent_activation": "softmax"}, (4, 3), "elementwise"),
        BadExample({"units": 2, "recurrent_bias": True}, (4, 3), "unit_forget_bias"),
    ]

    def check(self, a):
        super().check(a)
        if a.recurrent_bias and a.unit_forget_bias and a.use_bias:
            from ..errors import DefinitionError

            raise DefinitionError(
                "recurrent_bias (PyTorch's second bias) goes with unit_forget_bias=False",
                field="unit_forget_bias", received="recurrent_bias=True, unit_forget_bias=True",
                hint="set unit_forget_bias=False, as a PyTorch LSTM has no such initializer")

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
        # Gate-major buffers: each gate of a step is one contiguous (N, u) block, because NumPy's
        # elementwise kernels run 2-3x slower on column slices of an (N, 4u) row. A step's block
        # of `big` is (6, N, u): activations o, i, f, g, then the cell state and the output the
        # step starts from. So [i, f] * [g, c_prev] is one product, a step writes its new state
        # straight into the next step's block, and a mask keeps [c, h] with one copy.
        big = np.empty((t_steps + 1, 6, n, u), dtype)
        if s.init is None:
            big[0, 4:] = 0
        else:  # a stateful layer's carried state (h, c), Keras' order
            big[0, 5], big[0, 4] = s.init
        tc = np.empty((t_steps, n, u), dtype)  # act(c) per step
        if _recurrent_fused.usable(acts, rec, dtype) and _recurrent_fused.run_forward(
                xp, rec.w, big, tc, s.init is not None, s):
            return big[:, 5], (big, None, tc)  # the compiled loop (numba) ran
        zg = np.ascontiguousarray(xp.reshape(t_steps, n, 4, u).transpose(0, 2, 1, 3))
        tmp = np.empty((4, n, u), dtype)
        prod = np.empty((2, n, u), dtype)
        rec_act, act = acts
        fused = rec_act.name == "sigmoid" and act.name == "tanh"
        # Per-step views made once, in C (list() of an array), not by indexing in the loop:
        # at these sizes a step is about 9 us and each view or wrapper call adds ~0.3 us.
        zs, gs, sig, o_l = list(zg), list(big[:, :4]), list(big[:, :3]), list(big[:, 0])
        i_f, g_c, c_l, hl = list(big[:, 1:3]), list(big[:, 3:5]), list(big[:, 4]), list(big[:, 5])
        state, tcl = list(big[:, 4:]), list(tc)
        # (4, u, u): h @ w4 is the step's recurrent term, gate-major
        w4 = None if rec.mask is not None else \
            np.ascontiguousarray(rec.w.reshape(u, 4, u).transpose(1, 0, 2))
        masked = s.valid is not None
        for t in range(t_steps):
            z = zs[t]  # becomes the pre-activation (kept for non-fast activations)
            if t or s.init is not None:  # h_0 = 0: the first step has no recurrent term
                if w4 is not None:
                    np.matmul(hl[t], w4, out=tmp)
                else:
                    np.copyto(tmp, rec.fwd(hl[t]).reshape(n, 4, u).transpose(1, 0, 2))
                z += tmp
            if fused:
                # sigmoid columns were pre-scaled by 1/2: one tanh for all four gates.
                np.tanh(z, out=gs[t])
                sg = sig[t]
                sg *= 0.5
                sg += 0.5
            else:
                rec_act.apply(z[:3], sig[t])
                act.apply(z[3], gs[t][3])
            np.multiply(i_f[t], g_c[t], out=prod)
            c = np.add(prod[0], prod[1], out=c_l[t + 1])
            if fused:
                np.tanh(c, out=tcl[t])
            else:
                act.apply(c, tcl[t])
            np.multiply(o_l[t], tcl[t], out=hl[t + 1])
            if masked:
                keep_masked(state[t + 1], state[t], s, t)
        return big[:, 5], (big, zg if not fused else None, tc)

    def scan_back(self, a, acts, tape, dhs, dh_last, s: Steps, rec):
        big, zg, tc = tape
        t_steps, n, u = tc.shape
        dtype = tc.dtype
        rec_act, act = acts
        # the compiled loop computes no initial-state gradient and takes no final-c gradient
        if zg is None and not s.init_grad and s.dc_last is None and _recurrent_fused.usable(
                acts, rec, dtype):
            dz = _recurrent_fused.run_backward(big, tc, rec.wt, dhs, dh_last, s)
            if dz is not None:  # the compiled loop (numba) ran
                return dz, rec.wgrad(np.ascontiguousarray(big[:-1, 5]), dz), None
        gates = big[:-1, :4]  # (T, 4, N, u): o, i, f, g
        # Everything in dL/dz that does not depend on the recursion, for all steps at once:
        # coef = act'(gate) * [act(c), g, c_prev, i] (o, i, f, g), so a step needs one
        # broadcast product for the i, f, g blocks (times dc) and one for o (times dh).
        coef = np.empty((t_steps, 4, n, u), dtype)
        rec_act.deriv(None if zg is None else zg[:, :3], gates[:, :3], out=coef[:, :3])
        act.deriv(None if zg is None else zg[:, 3], gates[:, 3], out=coef[:, 3])
        coef[:, 0] *= tc
        coef[:, 1] *= gates[:, 3]
        coef[:, 2] *= big[:-1, 4]
        coef[:, 3] *= gates[:, 1]
        e = act.deriv(big[1:, 4], tc)  # dh'/dc' = o act'(c')
        e *= gates[:, 0]
        fg = gates[:, 2]  # dc/dc_prev
        if s.valid is not None:
            # A masked step passes dh and dc through unchanged and has dz = 0: zero its
            # coefficients, make its dc/dc_prev 1, and copy its dh past the recurrent product.
            coef *= s.valid_f[:, None]
            e *= s.valid_f
            fg = fg * s.valid_f + s.invalid_f
        # dz is returned in row layout (T, N, 4u); each step's gate-major result is copied in.
        dz = np.empty((t_steps, n, 4 * u), dtype)
        dzg = np.empty((4, n, u), dtype)
        dct = np.empty((n, u), dtype)
        dh_bufs = np.empty((2, n, u), dtype)  # the recurrent dh, alternately (dh may alias one)
        # per-step views, made once (see scan)
        co, c3, el, fl = list(coef[:, 0]), list(coef[:, 1:]), list(e), list(fg)
        dzl, dz4 = list(dz), list(dz.reshape(t_steps, n, 4, u).transpose(0, 2, 1, 3))
        wt = rec.wt if rec.mask is None else None
        dh_rec = None
        dc = None if s.dc_last is None else s.dc_last.astype(dtype, copy=True)
        for t in range(t_steps - 1, -1, -1):
            if dhs is None:
                dh = dh_last if t == t_steps - 1 else dh_rec
            else:
                dh = dhs[t] if dh_rec is None else np.add(dhs[t], dh_rec, out=dh_rec)
            np.multiply(dh, el[t], out=dct)
            if dc is not None:
                dct += dc
            np.multiply(c3[t], dct, out=dzg[1:])
            np.multiply(dh, co[t], out=dzg[0])
            np.copyto(dz4[t], dzg)
            if t == 0 and not s.init_grad:
                break
            dc = np.multiply(dct, fl[t], out=dc)
            out = dh_bufs[t & 1]
            dh_rec = np.matmul(dzl[t], wt, out=out) if wt is not None else rec.bwd(dzl[t], out)
            if s.valid is not None and s.partial[t]:
                np.copyto(dh_rec, dh, where=s.invalid[t])
        if s.init_grad:  # the loop ran step 0's recurrence too: the initial state's gradient
            s.d_init = (dh_rec.copy(), dc.copy())
        return dz, rec.wgrad(np.ascontiguousarray(big[:-1, 5]), dz), None

    def final_state(self, hs, tape):
        big = tape[0]
        return big[-1, 5].copy(), big[-1, 4].copy()
