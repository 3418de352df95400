"""Recurrent layers in a forward() (a mixin of `_pyscript_forward.Chain`): nn.LSTM/GRU's
(output, state) tuple, its output selected (`self.lstm(x)[0]`, `out, _ = ...`), the final
state h_n read as the top layer's last output (`h[-1]`, `h.squeeze(0)`), and `x[:, -1]`,
the last step of a sequence.
"""

from __future__ import annotations

import ast
from typing import Any

from ._pyscript_forward_values import State, Tensor
from ._pyscript_torch_bound import Bound
from ._pyscript_values import Layer, Scope, TorchMod


class ChainRecurrent:
    """Recurrent outputs and states of the layer-chain reader."""

    def state_of(self, node: ast.AST, scope: Scope) -> Any:
        if isinstance(node, ast.Name):
            try:
                return scope.lookup(node.id)
            except KeyError:
                return None
        if isinstance(node, ast.Subscript) and isinstance(self.state_of(node.value, scope),
                                                          State):
            st = self.state_of(node.value, scope)
            idx = self.const(node.slice, scope) if not isinstance(node.slice, ast.Slice) \
                else None
            if st.which == "hc" and idx in (0, 1):  # hidden[0]: h_n of an LSTM's pair
                return State(st.node, st.tensor, "hc"[idx])
        return None

    def layers_of(self, st: State, node: ast.AST) -> tuple[int, bool]:
        """(layers, bidirectional) of the layer whose h_n st is; refused where it is not h_n."""
        if st.tensor is None or st.which != "h":
            raise self.refuse(node, "reads the state of a recurrent layer" + {
                "c": " (c_n, an LSTM's cell state, is no output of a Keras layer)",
                "hc": " (the (h_n, c_n) pair of an LSTM; seqc reads h_n[-1], its last "
                      "output)"}.get(st.which, ""))
        b = Bound(self.r, self.items[st.tensor.index][1].cls, "state", self.items[
            st.tensor.index][1])
        return int(b["num_layers"]), bool(b["bidirectional"])

    def state_item(self, st: State, node: ast.Subscript, scope: Scope) -> Tensor:
        """h_n[-1] (h_n[0] of one layer): the top layer's final state = its last output,
        for one direction; a bidirectional h_n[-1] is the backward direction alone."""
        sub = self.state_of(node, scope)
        if isinstance(sub, State):
            raise self.refuse(node, "reads the (h_n, c_n) pair of an LSTM; seqc reads its "
                                    "h_n[-1] (the last output)")
        idx = None if isinstance(node.slice, ast.Slice) else self.const(node.slice, scope)
        n, bidir = self.layers_of(st, node)
        if bidir:
            raise self.refuse(node, "reads h_n of a bidirectional layer, whose entries are "
                                    "each direction's final state; seqc reads out[:, -1]",
                              hint="use out[:, -1, :] (the last step of both directions)")
        if idx == -1 or idx == n - 1 and isinstance(idx, int) and not isinstance(idx, bool):
            return self.last_state(st, node)
        raise self.refuse(node, f"reads h_n[{self.r.seg(node.slice)}], the state of a layer "
                                "below the top; seqc reads h_n[-1] (the last output)")

    def last_state(self, st: State, node: ast.AST) -> Tensor:
        t = st.tensor
        if t.rnn != "seq" or t.used is not None:
            raise self.refuse(node, "reads both the output and the final state of a "
                                    "recurrent layer; seqc reads one of them")
        out = self.select(t, "last", node)
        t.rnn = "state"  # its output may no longer be read: it became the last step only
        return out

    def subscript(self, t: Tensor, node: ast.Subscript, scope: Scope) -> Tensor:
        s = node.slice
        if t.rnn == "state":
            raise self.refuse(node, "reads both the output and the final state of a "
                                    "recurrent layer; seqc reads one of them")
        if t.rnn == "tuple" and isinstance(s, ast.Constant) and s.value == 0:
            t.rnn = "seq"  # self.lstm(x)[0]
            return t
        if _is_last(s):
            if t.rnn == "seq":
                return self.select(t, "last", node)
            if self.fw == "keras":
                return self.apply(Layer("<last_step>", [], {}, node), t, node, "last_step")
        raise self.refuse(node, "indexes a tensor; seqc reads x[:, -1] only (the last step of "
                                "a sequence)")

    def select(self, t: Tensor, kind: str, node: ast.AST) -> Tensor:
        t.rnn = None
        return self.apply(TorchMod(f"<select:{kind}>", [], {}, node), t, node, "select")


def _is_last(s: ast.AST) -> bool:
    """`[:, -1]` or `[:, -1, :]`."""
    if not isinstance(s, ast.Tuple) or len(s.elts) not in (2, 3):
        return False

    def full(e: ast.AST) -> bool:
        return isinstance(e, ast.Slice) and e.lower is None and e.upper is None \
            and e.step is None

    mid = s.elts[1]
    minus1 = (isinstance(mid, ast.UnaryOp) and isinstance(mid.op, ast.USub)
              and isinstance(mid.operand, ast.Constant) and mid.operand.value == 1)
    return full(s.elts[0]) and minus1 and (len(s.elts) == 2 or full(s.elts[2]))

