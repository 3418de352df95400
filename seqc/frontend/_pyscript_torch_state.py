"""A PyTorch forward that takes a recurrent state and returns it: `forward(x, hidden)` with
`out, hidden = self.lstm(x, hidden)` and `return out, hidden` (an LSTM's hidden is the pair
(h, c), a GRU's / RNN's one tensor), the pattern of the language-model and char-RNN tutorials.

The model gets one input per state tensor (h0, and c0 for an LSTM) and one output per state
tensor after its own (hn, cn): the flattened tensors torch.onnx.export gives for the module
called as (x, hidden).

Layout. PyTorch's state is (num_layers, N, hidden): the batch on axis 1. seqc's IR keeps the
batch on axis 0 for every graph value (fit, validation and the test vectors slice rows along
axis 0), so the IR's state input is (N, num_layers, hidden) and the exported ONNX model
transposes it at its boundary (Graph.states; export/onnx_export.py): the ONNX interface is
PyTorch's. Inside, the state is split per layer (Cropping1D + Reshape gives layer l's
(N, hidden)) into each stacked cell's initial_state, and the cells' final states (return_state)
are stacked back (Reshape + Concatenate).

A state input not given (validation, predict, fit without it) is zeros: the scripts'
`init_hidden`. How training carries it across batches: seqc.training.carried.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._pyscript_forward_values import RNNS, State, Tensor

if TYPE_CHECKING:
    from ..ir.types import TensorType
    from ._pyscript_forward import Chain
    from .pyscript import Reader


@dataclass(eq=False)
class StateIn:
    """The forward's state parameter (`hidden` of forward(x, hidden)): read only as the
    second argument of one nn.LSTM/GRU/RNN call."""

    arg: ast.arg
    item: int | None = None  # the chain item (the recurrent layer) it feeds
    out: int | None = None  # the chain item whose final state is returned
    flat_in: int | None = None  # the same, as flat indices of the model's modules
    flat_out: int | None = None
    outputs: list = field(default_factory=list)


def feed(chain: Chain, st: StateIn, mod: Any, node: ast.AST) -> None:
    """`self.lstm(x, hidden)`: the state parameter becomes that layer's initial state."""
    from ._pyscript_values import TorchMod

    if not (isinstance(mod, TorchMod) and mod.cls in RNNS):
        raise chain.refuse(node, f"passes the state '{st.arg.arg}' to something other than "
                                 "an nn.LSTM/GRU/RNN")
    if st.item is not None:
        raise chain.refuse(node, f"passes the state '{st.arg.arg}' to a second recurrent "
                                 "layer; seqc reads one layer taking the forward's state")
    st.item = len(chain.items)  # the item `layer()` pushes next


def returns(chain: Chain, node: ast.Tuple, scope: Any) -> Any:
    """`return out, hidden` of forward(x, hidden): a recurrent layer's final state (a name, or
    a tuple of names) may be returned beside the output."""
    def one(e: ast.AST) -> Any:
        if isinstance(e, ast.Tuple):
            return [one(x) for x in e.elts]
        v = chain.state_of(e, scope)
        return v if isinstance(v, State) else chain.fx(e, scope)

    out = [one(e) for e in node.elts]
    if any(v is chain.state for v in out):
        check_used(chain, node)  # a state never fed to a layer: a second input
        raise chain.refuse(node, "returns the state argument as it came in")
    if any(isinstance(v, (State, list)) for v in out):
        return returned(chain, out, node)
    return out


def returned(chain: Chain, out: list, node: ast.AST) -> Any:
    """`return out, hidden` / `return out, (h, c)`: the output tensor, then the whole final
    state of the recurrent layer the state was fed to, in PyTorch's order."""
    flat: list = []
    for v in out:
        flat.extend(v if isinstance(v, (list, tuple)) else [v])
    tensors = [v for v in flat if isinstance(v, Tensor)]
    states = [v for v in flat if isinstance(v, State)]
    st = chain.state
    if len(tensors) != 1 or flat[0] is not tensors[0] or len(states) != len(flat) - 1:
        raise chain.refuse(node, "returns tensors and recurrent states in a way seqc does not "
                                 "read; it reads `return out, hidden` (one tensor, then the "
                                 "layer's final state)")
    layer = {id(s.tensor) for s in states}
    which = "".join(s.which for s in states)
    item = states[0].tensor.index if states[0].tensor is not None else None
    lstm = item is not None and chain.items[item][1].cls == "LSTM"
    if len(layer) != 1 or item is None or which != ("hc" if lstm else "h"):
        raise chain.refuse(node, "returns part of a recurrent layer's state; seqc reads the "
                                 "whole final state returned ((h, c) of an LSTM, h of a "
                                 "GRU/RNN)")
    if st is None or st.item != item:
        raise chain.refuse(node, "returns the final state of a recurrent layer that does not "
                                 "take the forward's state argument; seqc reads a state "
                                 "passed in and returned by the same layer")
    st.out = item
    return tensors[0]


def check_used(chain: Chain, fn: ast.AST) -> None:
    """A state parameter never fed to a recurrent layer: a second input seqc does not read."""
    st = chain.state
    if st is not None and (st.item is None or st.out is None):
        what = "is not returned as the layer's final state" if st.item is not None else (
            "is not passed to an nn.LSTM/GRU/RNN")
        raise chain.refuse(st.arg, f"takes a second input '{st.arg.arg}', which {what}; seqc "
                                   "reads a second input only as a recurrent state passed in "
                                   "and returned (forward(x, hidden) -> (out, hidden))")


# ---- the spec layers (_pyscript_torch._graph_doc) ----

NAMES = ("h0", "c0")
OUT_NAMES = ("hn", "cn")


def wire(b: Any, docs: list[dict], cur: list[str], t: TensorType,
         step: Any) -> tuple[list[dict], dict, list[str], TensorType, list[str]]:
    """The recurrent layer taking the state: its cells (docs, chained) each read their
    layer's slice of h0 (and c0) and return their final state; after them the stacked hn
    (cn). `step(doc, input types)` checks a layer and gives its output type. Returns (layers
    with "from", the state inputs {name: spec}, the state outputs, the output type, [the
    name of the layer giving that output])."""
    from ..ir.types import batched

    lstm = b.cls == "LSTM"
    if b["bidirectional"]:
        raise b.error("a bidirectional layer taking the forward's state is not read (its "
                      "state holds both directions per layer)", "bidirectional")
    layers_n = b.int("num_layers", minimum=1)
    hidden = b.int("hidden_size", minimum=1)
    names = NAMES[:2 if lstm else 1]
    dtype = t.dtype if t.dtype.startswith("float") else "float32"
    one = batched((hidden,), dtype)
    inputs = {n: {"shape": [layers_n, hidden], "dtype": dtype} for n in names}
    out: list[dict] = []
    finals: dict[str, list[str]] = {n: [] for n in names}
    layer = 0
    for d in docs:
        src, ins = list(cur), [t]
        if d["type"] in ("LSTM", "GRU", "SimpleRNN"):
            for n in names:
                src.append(_slice(out, n, layer, layers_n, hidden))
                ins.append(one)
            d = {**d, "return_state": True}
            for k, n in enumerate(names):
                finals[n].append(f"{d['name']}:{k + 1}")
            layer += 1
        t = step(d, ins if len(ins) > 1 else ins[0])
        out.append({**d, "from": src})
        cur = [d["name"]]
    if layer != layers_n:  # pragma: no cover - _recurrent makes one cell per layer
        raise b.error("the layer's cells could not be matched to its state", "num_layers")
    last, outs = cur, []
    for n, o in zip(names, OUT_NAMES):
        parts = []
        for i, v in enumerate(finals[n]):
            name = o if layers_n == 1 else f"{o}_l{i}"
            out.append({"type": "Reshape", "name": name, "target_shape": [1, hidden],
                        "from": [v]})
            parts.append(name)
        if layers_n > 1:
            out.append({"type": "Concatenate", "name": o, "axis": 1, "from": parts})
        outs.append(o)
    return out, inputs, outs, t, last


def _slice(out: list[dict], name: str, layer: int, layers_n: int, hidden: int) -> str:
    """Layer `layer`'s (N, hidden) of a state input (N, layers, hidden)."""
    src = name
    if layers_n > 1:
        src = f"{name}_crop_l{layer}"
        out.append({"type": "Cropping1D", "name": src,
                    "cropping": [layer, layers_n - 1 - layer], "from": [name]})
    v = f"{name}_l{layer}"
    out.append({"type": "Reshape", "name": v, "target_shape": [hidden], "from": [src]})
    return v


# ---- the script around the model ----

# What a method making the model's initial state may call: PyTorch's ways of making zeros
# (`weight.new(n, b, h).zero_()`, `torch.zeros(...)`) and of placing them on a device.
_ZERO_CALLS = frozenset(("next", "parameters", "new", "zero_", "zeros", "cuda", "to",
                         "float", "detach", "tuple", "cpu"))


def zero_state_method(r: Reader, model: Any, inst: Any, meth: str) -> bool:
    """Whether `model.<meth>(...)` (the scripts' `init_hidden(batch_size)`) only makes zero
    tensors: the state a forward(x, hidden) model starts from, which seqc feeds to the state
    inputs it is not given. Anything else in the method means it is not that."""
    from ._pyscript_self import find_method

    if getattr(model, "state", None) is None or inst is None:
        return False
    fn = find_method(r, inst.cls, meth)
    if fn is None:
        return False
    for n in ast.walk(fn):
        if isinstance(n, ast.stmt) and n is not fn and not isinstance(
                n, (ast.Assign, ast.Return, ast.If, ast.Expr)):
            return False
        if isinstance(n, ast.Expr) and not isinstance(n.value, ast.Constant):
            return False  # only a docstring
        if isinstance(n, (ast.Attribute, ast.Subscript)) and not isinstance(n.ctx, ast.Load):
            return False
        if isinstance(n, ast.Call):
            f = n.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(
                f, ast.Name) else None
            if name not in _ZERO_CALLS:
                return False
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    return bool(returns) and all(n.value is not None for n in returns)


def unless_zero_state(r: Reader, base: Any, meth: str) -> Any:
    """`base`, or None where `base.<meth>(...)` is a zero-state call (zero_state_call): a
    statement calling it does not change the model."""
    return None if zero_state_call(r, base, meth) else base


def zero_state_call(r: Reader, base: Any, meth: str) -> bool:
    """`net.init_hidden(...)` in a training loop: a zero-state method (zero_state_method) of a
    forward(x, hidden) model, which changes nothing."""
    from ..errors import SeqcError
    from ._pyscript_pure import instance_of

    inst = instance_of(r, base)
    if inst is None or inst.cls.kind != "torch_module":
        return False
    try:
        return zero_state_method(r, r.resolve_obj(base), inst, meth)
    except SeqcError:
        return False  # a model that does not read is refused where it is built


# ---- the training loop: the state carried across batches or fresh per batch ----

def loop_resets(r: Reader, model: Any) -> str | None:
    """How the script's training loop feeds the state (the fit section's reset_states):

    - `h = init_hidden(...)` (or zeros) in the epoch loop, and in the batch loop the state
      detached (`h = tuple([each.data for each in h])`, `detach(h)`, `repackage_hidden(h)`)
      before `out, h = model(x, h)`: carried across batches with no gradient through it
      (truncated backpropagation), zeros at each epoch's start -> "epoch";
    - the state made afresh (zeros) in the batch loop -> "batch" (zeros every batch);
    - zeros made once before every loop and carried (detached) -> None: never reset.

    The training call is the model call `out, h = model(x, h)` in a loop whose body also
    calls `.backward()`. Anything else about the state is refused with its line; no loop
    found trains from zeros every batch ("batch")."""
    calls = _training_calls(r, model)
    if not calls:
        r.note(None, "no training loop calling the model with its state was found: fit starts "
                     "every batch from zero states")
        return "batch"
    found = {_carry(r, model, *c) for c in calls}
    if len(found) > 1:
        raise r.error(calls[0][0], "the training loops feed the model's state in different "
                                   "ways; seqc reads one", field="hidden",
                      received=r.seg(calls[0][0]))
    how = found.pop()
    r.note(calls[0][0], {"epoch": "the state is carried across batches (detached) and starts "
                                  "from zeros each epoch: fit(reset_states=\"epoch\")",
                         "batch": "the state starts from zeros every batch",
                         None: "the state is carried across batches (detached) and never "
                               "reset"}[how])
    return how


def _training_calls(r: Reader, model: Any) -> list[tuple]:
    """(call, the loop body holding it, the enclosing loops outermost first, the Assign) of
    each `a, h = f(x, h)` in a loop body that also calls .backward(): those calling the
    model by one of its names, else all (a function's parameter `net` names it there)."""
    from ._pyscript_pure import instance_of

    inst = instance_of(r, model)
    names = {n for o in (model, inst) for n in getattr(o, "names", None) or ()
             if isinstance(n, str)}
    out: list[tuple] = []

    def walk(body: list, loops: list) -> None:
        for st in body:
            if isinstance(st, (ast.For, ast.While)):
                walk(st.body, [*loops, st])
            elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
                walk(st.body, [])
            elif isinstance(st, (ast.If, ast.With, ast.Try)):
                walk(st.body, loops)
                walk(getattr(st, "orelse", []), loops)
            elif isinstance(st, ast.Assign) and loops and _model_call(st) and (
                    _backward_in(loops[-1])):
                out.append((st.value, loops[-1], loops, st))

    walk(r.tree.body, [])
    named = [c for c in out if c[0].func.id in names]
    return named or out


def _model_call(st: ast.Assign) -> bool:
    v = st.value
    return (len(st.targets) == 1 and isinstance(st.targets[0], ast.Tuple)
            and len(st.targets[0].elts) == 2 and isinstance(v, ast.Call)
            and isinstance(v.func, ast.Name) and len(v.args) == 2 and not v.keywords)


def _backward_in(loop: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "backward" for n in ast.walk(loop))


def _assigns(body: list, name: str, before: ast.AST | None = None) -> list[ast.Assign]:
    """The statements of `body` (not in nested loops or functions) assigning `name`, up to
    `before` (a statement of that body, or one nested in it)."""
    out = []
    for st in body:
        if before is not None and any(n is before for n in ast.walk(st)):
            if isinstance(st, (ast.If, ast.With, ast.Try)):
                out += _assigns(st.body, name, before)
            break
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(
                st.targets[0], ast.Name) and st.targets[0].id == name:
            out.append(st)
        elif isinstance(st, (ast.If, ast.With, ast.Try)):
            out += _assigns(st.body, name)
    return out


def _carry(r: Reader, model: Any, call: ast.Call, loop: ast.AST, loops: list,
           st: ast.Assign) -> str | None:
    arg, target = call.args[1], st.targets[0].elts[1]
    if _zeros(r, model, arg):
        return "batch"  # model(x, model.init_hidden(n)): zeros every batch
    if not (isinstance(arg, ast.Name) and isinstance(target, ast.Name)):
        raise r.error(call, "passes a state seqc does not read (it reads a name: `out, h = "
                            "model(x, h)`)", field="hidden", received=r.seg(call))
    sets = _assigns(loop.body, arg.id, st)
    last = sets[-1] if sets else None
    if last is not None and _zeros(r, model, last.value):
        return "batch"
    if arg.id != target.id:
        if last is None:
            raise r.error(call, f"passes the state '{arg.id}', which the batch loop neither "
                                "makes afresh nor takes from the call before", field="hidden",
                          received=r.seg(call))
        raise r.error(last, f"{r.seg(last)} gives the state a value seqc does not read",
                      field="hidden", received=r.seg(last))
    if last is None or not _detached(last.value, arg.id):
        at = last or call
        raise r.error(at, f"carries the state '{arg.id}' into the next batch without "
                          "detaching it (PyTorch would backpropagate into the batch before, "
                          "and fails on its freed graph)", field="hidden", received=r.seg(at),
                      hint=f"detach it first: {arg.id} = tuple([each.data for each in "
                           f"{arg.id}])")
    # where it starts from zeros: the loop around the batch loop (each epoch), or before
    outer = loops[-2] if len(loops) > 1 else None
    starts = _assigns(outer.body, arg.id, loop) if outer is not None else []
    if starts and _zeros(r, model, starts[-1].value):
        return "epoch"
    if starts:
        raise r.error(starts[-1], f"{r.seg(starts[-1])} gives the state a value seqc does "
                                  "not read (it reads zeros: init_hidden or torch.zeros)",
                      field="hidden", received=r.seg(starts[-1]))
    raise r.error(call, f"carries the state '{arg.id}' across batches from a start seqc "
                        "does not read (it reads zeros made at each epoch's start)",
                  field="hidden", received=r.seg(call),
                  hint=f"{arg.id} = model.init_hidden(batch_size) at the start of each epoch")


def _detached(v: ast.AST, name: str) -> bool:
    """`tuple([each.data for each in h])`, `[s.detach() for s in h]`, `h.detach()`,
    `detach(h)` / `repackage_hidden(h)` (a script helper by its usual names) of `name`."""
    reads = any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(v))
    if not reads:
        return False
    for n in ast.walk(v):
        if isinstance(n, ast.Attribute) and n.attr in ("data", "detach"):
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in (
                "detach", "repackage_hidden"):
            return True
    return False


def _zeros(r: Reader, model: Any, v: ast.AST) -> bool:
    """`model.init_hidden(n)` (a zero_state_method) or torch.zeros(...) (a tuple of them)."""
    from ._pyscript_pure import instance_of

    if isinstance(v, ast.Tuple):
        return bool(v.elts) and all(_zeros(r, model, e) for e in v.elts)
    if not isinstance(v, ast.Call):
        return False
    f = v.func
    if isinstance(f, ast.Attribute) and f.attr in ("to", "cuda", "float"):
        return _zeros(r, model, f.value)
    if isinstance(f, ast.Attribute) and f.attr == "zeros" and isinstance(
            f.value, ast.Name) and f.value.id == "torch":
        return True
    if isinstance(f, ast.Attribute):
        return zero_state_method(r, model, instance_of(r, model), f.attr)
    return False
