"""SimpleRNN (Keras 3): h' = act(x @ kernel + h @ recurrent_kernel + bias).

ONNX: native RNN via _recurrent_onnx. Shape: (N, T, F) -> (N, T, units) with
return_sequences, else (N, units). NumPy maths time-major (_recurrent.py), every step's state a
contiguous (N, units) block. Memory: about 3 (T, N, units) float buffers per call while
training.
"""

from __future__ import annotations

import numpy as np

from ._recurrent import RecurrentBase, SimpleRNNAttrs
from ._recurrent_steps import Steps, keep_masked
from .base import BadExample, Example, register


@register
class SimpleRNN(RecurrentBase):
    kind = "SimpleRNN"
    Attrs = SimpleRNNAttrs
    summary = "Fully connected recurrent layer over (batch, timesteps, features)."
    gates = 1
    gate_order = (0,)
    has_recurrent_activation = False
    examples = [
        Example({"units": 2}, (4, 3)),
        Example({"units": 3, "return_sequences": True}, (4, 2)),
        Example({"units": 2, "go_backwards": True, "return_sequences": True}, (4, 3)),
        Example({"units": 2, "use_bias": False, "activation": "relu"}, (4, 3),
                input_range=(-1.0, 1.0)),
        Example({"units": 2, "activation": "sigmoid"}, (None, 3)),
        Example({"units": 2, "return_sequences": True}, (4, 3), mask_lengths=(4, 2, 3)),
        Example({"units": 2, "go_backwards": True, "zero_output_for_mask": True}, (4, 3),
                mask_lengths=(4, 2, 3)),
        Example({"units": 2, "dropout": 0.3, "recurrent_dropout": 0.4}, (4, 3)),
        Example({"units": 2, "recurrent_bias": True, "return_sequences": True,
                 "bias_initializer": {"type": "RandomUniform", "minval": -0.5,
                                      "maxval": 0.5}}, (4, 3), keras=False),
    ]
    bad_examples = [
        BadExample({"units": 2}, (12,), "(batch, timesteps, features)"),
        BadExample({"units": 2, "return_state": True}, (4, 3), "return_state"),
        BadExample({"units": 2, "stateful": True}, (4, 3), "fixed batch size"),
        BadExample({"units": 0}, (4, 3), "units"),
        BadExample({"units": 2, "activaton": "relu"}, (4, 3), "did you mean"),
        BadExample({"units": 2, "dropout": 1.5}, (4, 3), "dropout"),
    ]

    def scan(self, a, acts, xp, rec, b_rec, s: Steps):
        t_steps, n, u = xp.shape
        (act,) = acts
        hs = np.empty((t_steps + 1, n, u), xp.dtype)
        hs[0] = 0 if s.init is None else s.init[0]  # a stateful layer's carried h
        tmp = np.empty((n, u), xp.dtype)
        w, rm = rec.w, rec.mask
        hm = None if rm is None else np.empty((n, u), xp.dtype)
        fast = act.name == "tanh"
        # Per-step views made once (list() of an array), not by indexing in the loop.
        zl, hl = list(xp), list(hs)
        masked = s.valid is not None
        for t in range(t_steps):
            z = zl[t]  # becomes the pre-activation
            if t or s.init is not None:  # h_0 = 0: the first step has no recurrent term
                if rm is None:
                    np.matmul(hl[t], w, out=tmp)
                else:
                    np.multiply(hl[t], rm, out=hm)
                    np.matmul(hm, w, out=tmp)
                z += tmp
            if fast:
                np.tanh(z, out=hl[t + 1])
            else:
                act.apply(z, hl[t + 1])
            if masked:
                keep_masked(hl[t + 1], hl[t], s, t)
        return hs, (xp, hs)

    def scan_back(self, a, acts, tape, dhs, dh_last, s: Steps, rec):
        z, hs = tape
        t_steps, n, u = z.shape
        # act'(z) for all steps at once. Rows a mask skipped hold the carried state, not
        # act(z): there the derivative is only finite, and zeroed by the mask, so a masked step
        # gives dz = 0 and its dh is copied past the recurrent product.
        dz = acts[0].deriv(z, hs[1:])
        if s.valid is not None:
            dz *= s.valid_f
        dzl = list(dz)
        wt, rm = rec.wt, rec.mask
        dh_bufs = np.empty((2, n, u), z.dtype)  # the recurrent dh, alternately (dh may alias one)
        dh_rec = None
        for t in range(t_steps - 1, -1, -1):
            if dhs is None:
                dh = dh_last if t == t_steps - 1 else dh_rec
            else:
                dh = dhs[t] if dh_rec is None else np.add(dhs[t], dh_rec, out=dh_rec)
            np.multiply(dh, dzl[t], out=dzl[t])
            if t == 0 and not s.init_grad:
                break
            dh_rec = np.matmul(dzl[t], wt, out=dh_bufs[t & 1])
            if rm is not None:
                dh_rec *= rm
            if s.valid is not None and s.partial[t]:
                np.copyto(dh_rec, dh, where=s.invalid[t])
        if s.init_grad:  # the loop ran step 0's recurrence too: the initial state's gradient
            s.d_init = (dh_rec.copy(),)
        return dz, rec.wgrad(hs[:-1], dz), None
