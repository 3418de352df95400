"""Torch builders for SimpleRNN/LSTM/GRU (nn.RNN/LSTM/GRU; GRU gates z,r,h -> torch's r,z,n),
Bidirectional (two of them, merged as Keras) and TimeDistributed (the inner layer's builder over
N*T samples). Masked inputs step through torch's cells, keeping the state on masked steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._torch_base import nn, tensor, torch

if TYPE_CHECKING:
    from .torch_runtime import Builder


def _check_activations(b: Builder, kind: str, a: Any) -> None:
    """Refuse what torch's recurrent layers cannot compute."""
    if kind == "GRU" and not a.reset_after:
        raise b.refuse("GRU(reset_after=False)",
                       hint="torch's GRU applies the reset gate after the recurrent "
                            "matmul (Keras' reset_after=True, the default)")
    if kind == "SimpleRNN":
        if a.activation not in ("tanh", "relu"):
            raise b.refuse(f"SimpleRNN(activation={a.activation!r})",
                           hint="torch's RNN supports activation 'tanh' or 'relu'")
    elif a.activation != "tanh" or a.recurrent_activation != "sigmoid":
        raise b.refuse(
            f"{kind}(activation={a.activation!r}, "
            f"recurrent_activation={a.recurrent_activation!r})",
            hint=f"torch's {kind} uses activation 'tanh' and recurrent_activation "
                 "'sigmoid' (Keras' defaults)")


def rnn(b: Builder, kind: str, a: Any, p: dict, *, prefix: str = "") -> Callable:
    _check_activations(b, kind, a)
    u = a.units
    kernel = p[prefix + "kernel"]
    rec = p[prefix + "recurrent_kernel"]
    bias = p.get(prefix + "bias") if a.use_bias else None
    f_in = kernel.shape[0]
    gates = kernel.shape[1] // u
    b_in = b_rec = None
    if kind == "GRU":
        order = np.r_[u:2 * u, 0:u, 2 * u:3 * u]  # Keras z,r,h -> torch r,z,n
        kernel, rec = kernel[:, order], rec[:, order]
        if bias is not None:
            b_in, b_rec = bias[0][order], bias[1][order]
    elif bias is not None and bias.ndim == 2:  # LSTM recurrent_bias: torch's b_ih, b_hh
        b_in, b_rec = bias[0], bias[1]
    elif bias is not None:  # LSTM gates i,f,c,o are torch's i,f,g,o
        b_in, b_rec = bias, np.zeros_like(bias)
    assert kernel.shape[1] == gates * u
    if kind == "SimpleRNN":
        seq = nn.RNN(f_in, u, nonlinearity=a.activation, bias=a.use_bias, batch_first=True)
        cell = nn.RNNCell(f_in, u, bias=a.use_bias, nonlinearity=a.activation)
    else:
        seq = getattr(nn, kind)(f_in, u, bias=a.use_bias, batch_first=True)
        cell = getattr(nn, kind + "Cell")(f_in, u, bias=a.use_bias)
    with torch.no_grad():
        for w_name, arr in (("weight_ih", kernel.T), ("weight_hh", rec.T),
                            ("bias_ih", b_in), ("bias_hh", b_rec)):
            if arr is None:
                continue
            getattr(seq, w_name + "_l0").copy_(tensor(arr))
            getattr(cell, w_name).copy_(tensor(arr))
    b.modules += [seq, cell]
    lstm = kind == "LSTM"

    def f(x, m):
        if a.go_backwards:
            x = x.flip(1)
            m = None if m is None else m.flip(1)
        if m is None:
            out, _ = seq(x)
            return out if a.return_sequences else out[:, -1]
        # Keras' masks: a masked step keeps the state and repeats the previous output
        # (zeros with zero_output_for_mask); torch's packed sequences only model
        # right-padding, so step through torch's cell instead.
        n, t = x.shape[:2]
        h = x.new_zeros(n, u)
        c = x.new_zeros(n, u) if lstm else None
        outs = []
        for i in range(t):
            valid = m[:, i:i + 1]
            if lstm:
                h_new, c_new = cell(x[:, i], (h, c))
                c = torch.where(valid, c_new, c)
            else:
                h_new = cell(x[:, i], h)
            h = torch.where(valid, h_new, h)
            outs.append(torch.where(valid, h, torch.zeros_like(h))
                        if a.zero_output_for_mask else h)
        return torch.stack(outs, 1) if a.return_sequences else outs[-1]
    return f


def bidirectional(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    from ..ops.bidirectional import layers

    (fw_op, fa), (bw_op, ba) = layers(a)
    fw = rnn(b, fw_op.kind, fa, p, prefix="forward/")
    bw = rnn(b, bw_op.kind, ba, p, prefix="backward/")
    mode = a.merge_mode

    def f(x, m):
        yf, yb = fw(x, m), bw(x, m)
        if fa.return_sequences:
            yb = yb.flip(1)  # back into time order, as Keras
        if mode == "concat":
            return torch.cat([yf, yb], dim=-1)
        if mode == "sum":
            return yf + yb
        if mode == "ave":
            return (yf + yb) / 2
        if mode == "mul":
            return yf * yb
        raise b.refuse(f"Bidirectional(merge_mode={mode!r})")
    return f


def time_distributed(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    from ..ir.types import TensorType
    from ..ops.time_distributed import inner

    op, attrs, act = inner(a)
    sub = b.child(f"{b.label[:-1]}, wrapping {op.kind})",
                  TensorType((None, *b.in_type.shape[2:]), b.in_type.dtype))
    fn = sub.build(op.kind, attrs, p)
    act_fn = None if act is None else b.activation(act.activation)

    def f(x, m):
        n, t = x.shape[:2]
        y = fn(x.reshape(n * t, *x.shape[2:]), None)
        if act_fn is not None:
            y = act_fn(y)
        return y.reshape(n, t, *y.shape[1:])
    return f


BUILDERS = {"SimpleRNN": rnn, "LSTM": rnn, "GRU": rnn, "Bidirectional": bidirectional,
            "TimeDistributed": time_distributed}
