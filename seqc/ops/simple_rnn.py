"""SimpleRNN (Keras 3): h' = act(x @ kernel + h @ recurrent_kernel + bias).

ONNX: native RNN via _recurrent_onnx. Shape: (N, T, F) -> (N, T, units) with
return_sequences, else (N, units). Memory: about 2 (T, N, units) float buffers per call while
training.
"""

from __future__ import annotations

import numpy as np

from ._recurrent import RecurrentBase, SimpleRNNAttrs, Steps, keep_masked, split_masked
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
    ]
    bad_examples = [
        BadExample({"units": 2}, (12,), "(batch, timesteps, features)"),
        BadExample({"units": 2, "return_state": True}, (4, 3), "return_state"),
        BadExample({"units": 2, "stateful": True}, (4, 3), "stateful"),
        BadExample({"units": 0}, (4, 3), "units"),
        BadExample({"units": 2, "activaton": "relu"}, (4, 3), "did you mean"),
        BadExample({"units": 2, "dropout": 1.5}, (4, 3), "dropout"),
    ]

    def scan(self, a, acts, xp, rec, b_rec, s: Steps):
        t_steps, n, u = xp.shape
        (act,) = acts
        hs = np.zeros((t_steps + 1, n, u), xp.dtype)
        tmp = np.empty((n, u), xp.dtype)
        for t in range(t_steps):
            z = xp[t]  # becomes the pre-activation
            rec.fwd(hs[t], out=tmp)
            z += tmp
            act.apply(z, hs[t + 1])
            keep_masked(hs[t + 1], hs[t], s, t)
        return hs, (xp, hs)

    def scan_back(self, a, acts, tape, dhs, dh_last, s: Steps, rec):
        z, hs = tape
        t_steps = z.shape[0]
        # Rows a mask skipped hold the carried state, not act(z); their gradient is zero, so
        # the derivative there only has to be finite.
        dz = acts[0].deriv(z, hs[1:])
        dh_rec = None
        for t in range(t_steps - 1, -1, -1):
            if dhs is None:
                dh = dh_last if t == t_steps - 1 else dh_rec
            else:
                dh = dhs[t] if dh_rec is None else np.add(dhs[t], dh_rec, out=dh_rec)
            dh, carry = split_masked(dh, s, t)
            np.multiply(dh, dz[t], out=dz[t])
            if t == 0:
                break
            dh_rec = rec.bwd(dz[t])
            if carry is not None:
                dh_rec += carry
        return dz, rec.wgrad(hs[:-1], dz), None
