"""The values a forward()/call() walk passes around besides layers: the current tensor (and
which item computed it), `x.shape` / `x.size(i)`, a recurrent layer's final state, the
zeros of a default initial state, and the marker of a call that changes nothing. A leaf:
the walker (_pyscript_forward) and the call tables (_pyscript_torch_forward,
_pyscript_keras_lambda) import these, never each other for them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

RNNS = ("LSTM", "GRU", "RNN")  # torch modules returning (output, state)


@dataclass(eq=False)
class Tensor:
    node: ast.AST
    used: ast.AST | None = None
    rnn: str | None = None  # "tuple": nn.LSTM/GRU's (output, state); "seq": its output
    index: int = -1  # the item that computed it (-1: the forward's input)


@dataclass(eq=False)
class ShapeOf:
    """`x.shape`, `x.size()`, `tf.shape(x)`."""

    tensor: Tensor


@dataclass(eq=False)
class Dim:
    """`x.size(i)`, `x.shape[i]`: resolved where the layer's input shape is known."""

    tensor: Tensor
    index: int


@dataclass(eq=False)
class Fold:
    """`x.size(0) * x.size(1)`: N * T, the size of a view folding a recurrent layer's
    (N, T, H) output into (N * T, H) rows (read by `_pyscript_torch_forward.is_fold`)."""

    tensor: Tensor


@dataclass(eq=False)
class State:
    """The final state of nn.LSTM/GRU: `which` is "h" (h_n), "c" (c_n) or "hc" (LSTM's
    (h_n, c_n) pair). h_n[-1] is the top layer's last output, so `self.fc(h[-1])` (or
    `h.squeeze(0)` of a one-layer, one-direction layer) is the last step; the rest is
    refused."""

    node: ast.AST
    tensor: Any = None  # the layer's (output, state) Tensor
    which: str = "h"


IDENTITY = object()  # a call that leaves the tensor as it is (F.dropout(training=False))


class _ZeroState:
    """`torch.zeros(...)` in a forward(): a recurrent layer's initial state, all zeros."""

    def __repr__(self) -> str:
        return "zeros"


ZERO_STATE = _ZeroState()


def zero_state(v: Any) -> bool:
    """None, zeros, or an (h0, c0) pair of zeros: PyTorch's default initial state."""
    if isinstance(v, (tuple, list)):
        return bool(v) and all(x is ZERO_STATE for x in v)
    return v is None or v is ZERO_STATE
