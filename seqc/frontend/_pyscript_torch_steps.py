"""Recurrent PyTorch forwards over time: nn.LSTM/GRU/RNN with batch_first=False (PyTorch's
default, time-major (T, N, F) input) and a loop of nn.LSTMCell/GRUCell/RNNCell over the
steps of the input (`for x_t in x.split(1, dim=1)`).

Time-major layers. seqc's IR puts the batch on axis 0 of every tensor (ir/types.py): its
training splits batches there, its ONNX export names that axis N. A (T, N, F) input cannot
be one of its tensors without a second notion of batch axis threaded through the data
pipeline, the trainer, validation and export. So a time-major layer is built as the same
layer batch-first: the model takes (N, T, F) samples, the script's tensors transposed, and
gives the same values. That is exact only where nothing but the recurrent layer sees the
time axis: its input is the forward's input through layers that act on the last axis alone
(nn.Embedding, nn.Linear, activations, dropout), and what the forward reads of it is its
final state (h_n[-1], hidden[0]) or its last step (out[-1]), both (N, H) in either layout.
Anything else (out as a sequence, out[:, -1], a view or merge on the time-major input) is
refused. The reader notes the layout once, so the user feeds (N, T, F) data.

Cell loops. `for x_t in x.split(k, dim=1):` over an (N, T) input whose body applies cells
`h, c = self.cell(x_t, (h, c))` (states made by torch.zeros before the loop, so zero
initial states), per-step layers (nn.Linear, activations) and collects one tensor per step
(`outputs += [y]`, `outputs.append(y)`), with `torch.cat(outputs, dim=1)` or
`torch.stack(outputs, dim=1)` after it, is the same computation as recurrent layers over the
whole sequence with return_sequences: Reshape (T/k, k) -> LSTM/GRU/SimpleRNN per cell ->
the per-step layers on (N, T/k, H) -> Flatten (cat) or nothing (stack). The body is read
once, symbolically: a state read other than as its cell's state argument (the previous
step's value), a state or step value read after the loop (the last step, or a recurrence
continued past the input, such as time_sequence_prediction's `future` steps fed back from
the output) and any other statement are refused with their line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import SeqcError
from ._pyscript_forward_values import ZERO_STATE, Tensor
from ._pyscript_values import TorchMod

if TYPE_CHECKING:
    from ._pyscript_forward import Chain
    from ._pyscript_values import Scope

# This module imports neither the chain (_pyscript_forward*) nor the module mapper
# (_pyscript_torch_layers), which both import it: the mapper hands over its initializer.

CELLS = {"LSTMCell": "LSTM", "GRUCell": "GRU", "RNNCell": "RNN"}
# modules that act on the last axis only (or on each value): the same on (T, N, F) and
# (N, T, F), and on one step (N, F) and all steps (N, T, F)
_LAST_AXIS = frozenset(("Linear", "Dropout", "ReLU", "Sigmoid", "Tanh", "GELU", "LeakyReLU",
                        "ELU", "SiLU", "ReLU6", "SELU", "Softplus", "Softsign", "Mish",
                        "Hardsigmoid", "Hardswish", "Identity"))


# ---- time-major nn.LSTM/GRU/RNN ----


def last_step(chain: Chain, t: Tensor, node: ast.Subscript) -> Tensor:
    """out[-1] (out[-1, :, :]) of a time-major output: its last step; any other index is
    refused (out[:, -1] is the last sample of the batch there)."""
    s = node.slice
    first, rest = (s.elts[0], s.elts[1:]) if isinstance(s, ast.Tuple) else (s, [])
    minus1 = isinstance(first, ast.UnaryOp) and isinstance(first.op, ast.USub) and isinstance(
        first.operand, ast.Constant) and first.operand.value == 1
    full = all(isinstance(e, ast.Slice) and e.lower is None and e.upper is None
               and e.step is None for e in rest)
    if minus1 and full and len(rest) <= 2:
        return chain.select(t, "last", node)
    raise chain.refuse(node, "indexes the (T, N, H) output of a recurrent layer with "
                             "batch_first=False; seqc reads its last step out[-1] (or the "
                             "final state h_n[-1])",
                       hint="out[:, -1] of a time-major output is the last sample of the "
                            "batch, not the last step")


def select_attrs(chain: Chain, t: Tensor, kind: str, node: ast.AST) -> dict:
    """The select's attributes for t, a time-major output: {"time_major": True} when it is
    read as seqc can build it batch-first (its last step, on the forward's input through
    last-axis layers); other reads are refused."""
    if kind != "last":
        raise chain.refuse(node, "reads the (T, N, H) output sequence of a recurrent layer "
                                 "with batch_first=False; seqc builds it batch-first and "
                                 "reads its last step (out[-1]) or final state (h_n[-1]) only",
                           hint="pass batch_first=True and feed (N, T, F) batches to read "
                                "the whole output sequence")
    j = chain.srcs[t.index]
    while j != [-1]:
        mod = chain.items[j[0]][1] if len(j) == 1 else None
        if not (isinstance(mod, TorchMod) and (mod.cls in _LAST_AXIS or mod.cls == "Embedding")):
            raise chain.refuse(chain.items[t.index][2], "feeds a recurrent layer with "
                                                         "batch_first=False from a value other "
                                                         "than the forward's input (through "
                                                         "Embedding, Linear, activations or "
                                                         "dropout); seqc builds time-major "
                                                         "layers batch-first and cannot move "
                                                         "the batch axis of other values",
                               hint="pass batch_first=True and feed (N, T, F) batches")
        j = chain.srcs[j[0]]
    return {"time_major": True}


def note_time_major(b: Any) -> None:
    """The layout note of a time-major layer (the model takes (N, T, F) samples)."""
    b.r.note(b.node, f"nn.{b.cls}(batch_first=False) reads time-major (T, N, F) tensors in "
                     "PyTorch; seqc models take the batch on axis 0, so this model is built "
                     "batch-first with the same weights and outputs: it takes (N, T, F) "
                     "samples (the script's tensors transposed, x.transpose(0, 1)), so give "
                     "--x of shape (N, T, F)")


# ---- loops of cells over the steps of the input ----


@dataclass(eq=False)
class Gone:
    """A name no longer readable: a state before its cell's call in the loop, a cell state,
    a value of the loop after it. The chain refuses to read it, with `why`."""

    node: ast.AST
    why: str


@dataclass(eq=False)
class Collected:
    """A Python list that a loop over time steps appended one step value to per step: the
    sequence of those values, (N, T, ...) as `tensor`."""

    tensor: Any
    node: ast.AST


def _const_int(chain: Chain, node: ast.AST | None, scope: Scope, default: Any) -> Any:
    return default if node is None else chain.const(node, scope)


def over_steps(chain: Chain, st: ast.For, scope: Scope) -> bool:
    """Reads `for x_t in x.split(k, dim=1): ...` as layers over the whole sequence (the
    module docstring); False when st loops over something else."""
    it = st.iter
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute)
            and it.func.attr == "split" and chain.tensory(it.func.value, scope)):
        return False
    x = chain.fx(it.func.value, scope)
    if not isinstance(x, Tensor) or x.rnn is not None:
        return False
    if len(it.args) > 2 or set(k.arg for k in it.keywords) - {"split_size", "dim",
                                                             "split_size_or_sections"}:
        raise chain.refuse(it, "x.split() with arguments seqc does not read")
    kw = {k.arg: k.value for k in it.keywords}
    size = _const_int(chain, it.args[0] if it.args else kw.get("split_size", kw.get(
        "split_size_or_sections")), scope, None)
    dim = _const_int(chain, it.args[1] if len(it.args) > 1 else kw.get("dim"), scope, 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or dim not in (1, -1):
        raise chain.refuse(it, f"loops over {chain.r.seg(it)}; seqc reads a loop over the time "
                               "steps of an (N, T) input as x.split(k, dim=1) with a constant "
                               "k")
    if not isinstance(st.target, ast.Name) or st.orelse:
        raise chain.refuse(st, "a loop over time steps with a target other than one name, or "
                               "an else clause")
    _Loop(chain, st, scope).read(x, size)
    return True


class _Loop:
    def __init__(self, chain: Chain, st: ast.For, scope: Scope) -> None:
        self.chain, self.st, self.scope = chain, st, scope
        self.assigned: dict[str, ast.AST] = {}
        self.collected: set[str] = set()
        self.states: set[str] = set()

    def refuse(self, node: ast.AST, what: str, hint: str | None = None) -> Exception:
        return self.chain.refuse(node, what, hint)

    def read(self, x: Tensor, size: int) -> None:
        chain, st, scope = self.chain, self.st, self.scope
        # the steps as one (N, T / k, k) sequence: x.view(x.size(0), -1, k) of an (N, T) x
        view = TorchMod("<view>", [0, ("const", -1), ("const", size)], {}, st.iter)
        view.fn, view.rank = "steps", 2
        scope.vars[st.target.id] = chain.apply(view, x, st.iter, "steps")
        self.assigned[st.target.id] = st
        cells = [s for s in st.body if self.cell_call(s) is not None]
        for s in cells:  # each state: zeros before the loop, the previous step's in it
            for e in self.state_names(s):
                self.states.add(e.id)
                if self.scope.lookup(e.id) is not ZERO_STATE:
                    raise self.refuse(e, f"passes '{e.id}' as a cell's state; seqc reads a "
                                         "state made by torch.zeros(...) before the loop "
                                         "and carried by that cell alone")
                scope.vars[e.id] = Gone(e, f"reads '{e.id}', the previous step's state, "
                                              "other than as its cell's state argument")
        for s in st.body:
            chain.r.tick()
            if isinstance(s, ast.Pass) or isinstance(s, ast.Expr) and isinstance(
                    s.value, ast.Constant):
                continue
            if s in cells:
                self.cell(s)
            elif self.collect(s):
                continue
            elif isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(
                    s.targets[0], ast.Name):
                self.step_value(s)
            else:
                raise self.refuse(s, "a statement seqc does not read in a loop over time "
                                     "steps (it reads cells, layers on each step and one "
                                     "value collected per step)")
        for name, node in self.assigned.items():
            scope.vars[name] = Gone(node, f"reads '{name}' after the loop over time steps "
                                             "(its last step's value, or a recurrence "
                                             "continued past the input, as with outputs fed "
                                             "back); seqc builds the loop as layers over the "
                                             "whole sequence and reads the values collected")

    def cell_call(self, s: ast.stmt) -> ast.Call | None:
        """The call of `h, c = self.cell(x_t, (h, c))` / `h = self.cell(x_t, h)`."""
        if not (isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(
                s.value, ast.Call) and not self.chain.tensory(s.value.func, self.scope)):
            return None
        base = s.value.func
        while isinstance(base, ast.Attribute):
            base = base.value
        if not isinstance(base, ast.Name):  # a dotted name only: evaluating a call could
            return None  # make a layer as a side effect
        try:
            callee = self.chain.r.ev(s.value.func, self.scope)
        except (SeqcError, KeyError):  # not a module: the step_value path reports it
            return None
        return s.value if isinstance(callee, TorchMod) and callee.cls in CELLS else None

    def state_names(self, s: ast.Assign) -> list[ast.Name]:
        call = self.cell_call(s)
        mod = self.chain.r.ev(call.func, self.scope)
        lstm = mod.cls == "LSTMCell"
        hx = call.args[1] if len(call.args) > 1 else next(
            (k.value for k in call.keywords if k.arg == "hx"), None)
        names = hx.elts if lstm and isinstance(hx, ast.Tuple) else [hx]
        target = s.targets[0]
        outs = target.elts if lstm and isinstance(target, ast.Tuple) else [target]
        if len(call.args) + len(call.keywords) != 2 or not all(
                isinstance(e, ast.Name) for e in names) or len(names) != (2 if lstm else 1):
            raise self.refuse(call, f"applies nn.{mod.cls} without its state from the step "
                                    "before; seqc reads " + (
                                        "h, c = self.cell(x_t, (h, c))" if lstm else
                                        "h = self.cell(x_t, h)"))
        if [getattr(e, "id", None) for e in outs] != [e.id for e in names]:
            raise self.refuse(s, "assigns a cell's new state to names other than the state "
                                 "it was given; seqc reads the state carried from step to "
                                 "step (h, c = self.cell(x_t, (h, c)))")
        return names

    def cell(self, s: ast.Assign) -> None:
        chain = self.chain
        call = self.cell_call(s)
        mod = chain.r.ev(call.func, self.scope)
        names = self.state_names(s)
        x = chain.fx(call.args[0], self.scope)
        if not isinstance(x, Tensor):
            raise self.refuse(call, f"applies nn.{mod.cls} to something other than a step "
                                    "tensor")
        mod.over_steps = True
        out = chain.layer(mod, x, [], {}, call)
        self.scope.vars[names[0].id] = out
        self.assigned[names[0].id] = s
        for e in names[1:]:  # LSTMCell's c: no output of a Keras layer
            self.scope.vars[e.id] = Gone(e, f"reads '{e.id}', an LSTM cell state, which "
                                               "seqc's LSTM layer keeps inside")
            self.assigned[e.id] = s

    def step_value(self, s: ast.Assign) -> None:
        """`y = self.linear(h)`: layers that act on each step alike (last axis only)."""
        chain = self.chain
        name = s.targets[0].id
        if name in self.states:  # the next step's cell would get this value as its state
            raise self.refuse(s, f"changes '{name}', a cell's state, between steps; seqc "
                                 "reads the state each cell carries unchanged to its next step")
        n0 = len(chain.items)
        v = chain.fx(s.value, self.scope)
        for _, mod, node in chain.items[n0:]:
            if not (isinstance(mod, TorchMod) and mod.cls in _LAST_AXIS):
                raise self.refuse(node, f"{chain.r.seg(node)} in a loop over time steps: "
                                        "seqc reads layers that act on each step alike "
                                        "(nn.Linear, activations, dropout) there")
        if not isinstance(v, Tensor) or v.rnn is not None:
            raise self.refuse(s, "assigns a value other than a tensor in a loop over time "
                                 "steps")
        self.scope.vars[name] = v
        self.assigned[name] = s

    def collect(self, s: ast.stmt) -> bool:
        """`outputs += [y]` / `outputs.append(y)` on a list that is empty before the loop."""
        if isinstance(s, ast.AugAssign) and isinstance(s.op, ast.Add) and isinstance(
                s.target, ast.Name) and isinstance(s.value, ast.List) and len(
                s.value.elts) == 1:
            name, value = s.target.id, s.value.elts[0]
        elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and isinstance(
                s.value.func, ast.Attribute) and s.value.func.attr == "append" and isinstance(
                s.value.func.value, ast.Name) and len(s.value.args) == 1:
            name, value = s.value.func.value.id, s.value.args[0]
        else:
            return False
        try:
            before = self.scope.lookup(name)
        except KeyError:
            before = None
        if before != [] or not isinstance(before, list) or name in self.collected:
            raise self.refuse(s, f"collects into '{name}', which is not a list left empty "
                                 "before the loop; seqc reads one value collected per step")
        v = self.chain.fx(value, self.scope)
        if not isinstance(v, Tensor) or v.rnn is not None:
            raise self.refuse(s, "collects a value other than a step tensor")
        self.collected.add(name)
        self.scope.vars[name] = Collected(v, s)
        return True


def join(chain: Chain, path: str, args: list, kwargs: dict, node: ast.Call) -> Any:
    """`torch.cat(outputs, dim=1)` of (N, O) steps -> (N, T * O): a Flatten of the (N, T, O)
    sequence; `torch.stack(outputs, dim=1)` -> that sequence as it is."""
    vals = dict(zip(["tensors", "dim"], args))
    if path not in ("torch.cat", "torch.concat", "torch.stack") or len(args) > 2 or any(
            k not in ("tensors", "dim") or k in vals for k in kwargs):
        raise chain.refuse(node, f"{chain.r.seg(node.func)}() of the values collected in a "
                                 "loop over time steps; seqc reads torch.cat(values, dim=1) "
                                 "and torch.stack(values, dim=1)")
    vals.update(kwargs)
    seq, dim = vals.get("tensors"), vals.get("dim", 0)
    if not isinstance(seq, Collected) or dim not in (1, -1 if path != "torch.stack" else 1):
        raise chain.refuse(node, f"{chain.r.seg(node)}: seqc joins the values collected per "
                                 "step along dim=1, the time axis")
    if path == "torch.stack":
        return chain.ready(seq.tensor, node)
    flat = TorchMod("<view>", [0, ("const", -1)], {}, node)
    flat.fn = "cat"
    return chain.apply(flat, seq.tensor, node, "cat")


def cell_layers(b: Any, init: dict) -> list[dict]:
    """nn.LSTMCell/GRUCell/RNNCell applied over the steps of a sequence (over_steps marks
    it) -> the recurrent layer over them with return_sequences (`init`: PyTorch's
    U(-1/sqrt(hidden), 1/sqrt(hidden)); the caller checked input_size)."""
    if not getattr(b.mod, "over_steps", False):
        raise b.r.error(b.node, f"nn.{b.cls} is read as a cell applied over the steps of a "
                                "sequence in a forward() loop (for x_t in x.split(1, dim=1): "
                                "h, c = self.cell(x_t, (h, c)))", field="layer",
                        received=b.r.seg(b.node),
                        hint=f"use nn.{CELLS[b.cls]}(..., batch_first=True)")
    return [rnn_cell(b, CELLS[b.cls], b.int("hidden_size", minimum=1), True, b.name, init)]


def double(r: Any, model: Any, node: ast.Call) -> Any:
    """`model.double()`: PyTorch then computes in float64. seqc's models compute in float32
    (its kinds, trainer and ONNX export are float32), so the model is built as float32, the
    same function at single precision, and the reader says so."""
    r.note(node, f"{r.seg(node)} makes PyTorch compute in float64; seqc models compute in "
                 "float32, so this model is built in float32 (the same layers and weights at "
                 "single precision; float64 data is cast to float32)")
    return model


def rnn_cell(b: Any, kind: str, hidden: int, seq: bool, name: str | None, k: dict) -> dict:
    """One PyTorch recurrent layer (or cell over steps) of kind LSTM/GRU/RNN as seqc's, its
    weights and biases drawn from the initializer k."""
    cell = {"type": "SimpleRNN" if kind == "RNN" else kind, "units": hidden,
            "use_bias": bool(b["bias"]),
            "return_sequences": seq, "kernel_initializer": k, "recurrent_initializer": k,
            "bias_initializer": k}
    if name is not None:
        cell["name"] = name
    if kind == "LSTM":
        # PyTorch's b_ih and b_hh, each U(-k, k): the same parameters and training
        cell["unit_forget_bias"] = False
        cell["recurrent_bias"] = bool(b["bias"])
    elif kind == "RNN":  # h' = nonlinearity(W x + b_ih + U h + b_hh)
        if b["nonlinearity"] not in ("tanh", "relu"):
            raise b.error("nonlinearity must be 'tanh' or 'relu'", "nonlinearity")
        cell["activation"] = b["nonlinearity"]
        cell["recurrent_bias"] = bool(b["bias"])
    else:
        cell["reset_after"] = True  # PyTorch's n = tanh(W x + b + r * (U h + b_h))
    return cell
