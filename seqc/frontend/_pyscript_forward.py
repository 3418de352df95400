"""forward()/call() of a subclassed model, and the body of a Lambda, read as a chain: each
step passes the one current tensor through a layer (an attribute made in __init__, an
nn.Sequential, a script module), a functional call (`F.relu`, `torch.flatten(x, 1)`,
`x.view(...)`, `tf.nn.relu`), or a script function / lambda (read inline), and the last
tensor is returned. In a PyTorch forward a tensor may be used twice and merged (`x +
self.block(x)`, `out += identity`, `torch.cat([a, b], dim=1)`, `torch.add`): the chain then
records what each item reads (`Chain.srcs`) and is built as a graph (_pyscript_torch). A
Keras call() may do the same, with Keras' merges too (`self.cat([a, b])`,
`layers.concatenate`, `keras.ops.add/concatenate`) and a layer called twice sharing its
weights; it is built as a functional graph (_pyscript_subclass.keras_graph ->
_pyscript_functional.graph_doc). A Lambda body stays one chain. A torch module with weights
applied twice (shared weights), a value never read and any other statement are refused,
located. Plain helper methods (`self.encode(x)`) are read inline.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._pyscript_names import norm
from ._pyscript_subclass import TRAINING, SelfMethod, SelfObj, read_instance, refusal
from ._pyscript_torch_forward import SAMPLERS, sampler
from ._pyscript_torch_state import RNNS  # torch modules returning (output, state)
from ._pyscript_values import (
    Func,
    Instance,
    Lam,
    Layer,
    ModelVal,
    Opaque,
    Scope,
    Sym,
    TorchMod,
    is_const,
)

if TYPE_CHECKING:
    from .pyscript import Reader

MAX_INLINE = 20  # nested script functions read inline

# Torch modules and Keras layers without weights: applying one twice shares nothing.
_TORCH_FREE = {"ReLU", "Sigmoid", "Tanh", "Identity", "GELU", "LeakyReLU", "ELU", "Softmax",
               "LogSoftmax", "SiLU", "ReLU6", "SELU", "Softplus", "Softsign", "Mish",
               "Hardsigmoid", "Hardswish", "Dropout", "Flatten", "MaxPool1d", "MaxPool2d",
               "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
               "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"}
_KERAS_FREE = ("Flatten", "Dropout", "MaxPool", "AveragePool", "AvgPool", "GlobalAverage",
               "GlobalMax", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Reshape",
               "Permute", "ZeroPadding", "Cropping", "UpSampling", "RepeatVector",
               "SpatialDropout", "GaussianNoise", "GaussianDropout", "<")


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


def _zero_state(v: Any) -> bool:
    """None, zeros, or an (h0, c0) pair of zeros: PyTorch's default initial state."""
    if isinstance(v, (tuple, list)):
        return bool(v) and all(x is ZERO_STATE for x in v)
    return v is None or v is ZERO_STATE


class Chain:
    """The layers a forward()/call() (or a Lambda body) applies, in order."""

    def __init__(self, r: Reader, framework: str, owner: str,
                 selfobj: SelfObj | None = None) -> None:
        self.r, self.fw, self.owner, self.selfobj = r, framework, owner, selfobj
        self.items: list[tuple[str | None, Any, ast.AST]] = []
        self.names = selfobj.names() if selfobj is not None else {}
        self.taken = set(selfobj.attrs) if selfobj is not None else set()
        self.given: set[str] = set()
        self.counters: dict[str, int] = {}
        self.applied: dict[int, ast.AST] = {}
        self.current: Tensor | None = None
        self.depth = 0
        # PyTorch forwards may branch: the items each item reads (-1: the input), and
        # whether any item reads other than the one before it (a graph)
        self.srcs: list[list[int]] = []
        self.is_graph = False
        # forwards and call()s may branch (not a Lambda body: one layer chain in Keras)
        self.graphs = framework == "torch" or selfobj is not None
        self.outputs: list[int] | None = None  # a forward returning a tuple of tensors
        self.state: Any = None  # forward(x, hidden): a recurrent state in and out

    def refuse(self, node: ast.AST, what: str, hint: str | None = None) -> Exception:
        return refusal(self.r, node, self.owner, what, hint)

    # ---- functions ----

    def run(self, fn: ast.FunctionDef | ast.Lambda, where: Scope, *, method: bool,
            args: list | None = None, kwargs: dict | None = None) -> Tensor:
        """Reads fn applied to a fresh input tensor (method: self is the SelfObj)."""
        x = Tensor(fn)
        self.current = x
        if method and self.fw == "torch" and isinstance(fn, ast.FunctionDef):
            self.sampling(fn, where)
        out = self.apply_fn(fn, where, x, method=method, args=args or [], kwargs=kwargs or {})
        if self.state is not None:
            from ._pyscript_torch_state import check_used

            check_used(self, fn)
            self.is_graph, self.outputs = True, [out.index]  # the state outputs follow
        return out

    def apply_fn(self, fn: ast.FunctionDef | ast.Lambda, where: Scope, x: Tensor, *,
                 method: bool, args: list, kwargs: dict) -> Tensor:
        self.depth += 1
        if self.depth > MAX_INLINE:
            raise self.refuse(fn, "functions nest too deeply (recursion?)")
        a = fn.args
        params = [*a.posonlyargs, *a.args]
        defaults = [None] * (len(params) - len(a.defaults)) + list(a.defaults)
        scope = Scope(where)
        if method:
            scope.vars[params[0].arg] = self.selfobj
            params, defaults = params[1:], defaults[1:]
        if not params:
            raise self.refuse(fn, "takes no input tensor")
        scope.vars[params[0].arg] = x
        for i, (p, d) in enumerate(zip(params[1:], defaults[1:])):
            scope.vars[p.arg] = self._param(p, d, where, args, kwargs, i)
        for p, d in zip(a.kwonlyargs, a.kw_defaults):
            scope.vars[p.arg] = self._param(p, d, where, [], kwargs, 0)
        for p in (a.vararg, a.kwarg):
            if p is not None:
                scope.vars[p.arg] = Opaque(p, f"'{p.arg}' is a parameter")
        if isinstance(fn, ast.Lambda):
            out = self.fx(fn.body, scope)
        else:
            out = self.block(fn.body, scope)
            if out is None:
                raise self.refuse(fn, "returns no tensor")
        self.depth -= 1
        return self.result(out, fn.body if isinstance(fn, ast.Lambda) else fn)

    def _param(self, p: ast.arg, d: ast.AST | None, where: Scope, args: list, kwargs: dict,
               i: int) -> Any:
        if i < len(args):
            return args[i]
        if p.arg in kwargs:
            return kwargs[p.arg]
        if p.arg == "training":
            return TRAINING
        if p.arg == "mask":
            return None
        if d is not None:
            return self.r.ev(d, where)
        if self.fw == "torch" and self.depth == 1 and i == 0 and self.state is None:
            from ._pyscript_torch_state import StateIn

            self.state = StateIn(p)  # forward(x, hidden): read where a recurrent layer takes it
            return self.state
        raise self.refuse(p, f"takes a second input '{p.arg}'; seqc reads models with one "
                             "input", hint=None if self.fw != "torch" else (
                                 f"if '{p.arg}' is a recurrent state passed in and returned "
                                 "(forward(x, hidden) -> (out, hidden)): seqc does not read "
                                 "that from PyTorch; it reads the same model "
                                 "with Keras' initial_state and return_state in the "
                                 "functional API, or a stateful=True layer for a state "
                                 "carried across batches"))

    def returns(self, node: ast.Tuple, scope: Scope) -> Any:
        """`return out, hidden` of forward(x, hidden): a recurrent layer's final state (a
        name, or a tuple of names) may be returned beside the output."""
        def one(e: ast.AST) -> Any:
            if isinstance(e, ast.Tuple):
                return [one(x) for x in e.elts]
            v = self.state_of(e, scope)
            return v if isinstance(v, State) else self.fx(e, scope)

        out = [one(e) for e in node.elts]
        if any(v is self.state for v in out):
            from ._pyscript_torch_state import check_used

            check_used(self, node)  # a state never fed to a layer: a second input
            raise self.refuse(node, "returns the state argument as it came in")
        if any(isinstance(v, (State, list)) for v in out):
            from ._pyscript_torch_state import returned

            return returned(self, out, node)
        return out

    def result(self, out: Any, node: ast.AST) -> Tensor:
        if self.fw == "torch" and self.depth == 0 and isinstance(out, (list, tuple)) and len(
                out) > 1 and all(isinstance(t, Tensor) for t in out):
            # `return action_prob, state_values`: a model with several outputs
            outs = [self.select(t, "output", node) if t.rnn == "seq" else t for t in out]
            if any(t.rnn is not None for t in outs):
                raise self.refuse(node, "returns the (output, state) tuple of a recurrent "
                                        "layer")
            self.is_graph = True
            self.outputs = [t.index for t in outs]
            self.check_read(set(self.outputs), node)
            return outs[0]
        if not isinstance(out, Tensor):
            raise self.refuse(node, "does not return a tensor computed from its input")
        if out.rnn == "seq":
            out = self.select(out, "output", node)
        if out.rnn is not None:
            raise self.refuse(node, "returns the (output, state) tuple of a recurrent layer")
        if out is not self.current:
            raise self.refuse(node, "returns a tensor that is not the last one computed")
        if self.is_graph and self.depth == 0:
            self.check_read({out.index}, node)
        return out

    def check_read(self, outs: set[int], node: ast.AST) -> None:
        """Every value computed is read or returned: PyTorch counts the weights of a layer
        whose value nothing reads, and seqc builds no dead branch."""
        if any(i < 0 for i in outs):
            raise self.refuse(node, "returns its input unchanged as an output")
        read = {j for s in self.srcs for j in s} | outs
        dead = next((it for i, it in enumerate(self.items) if i not in read), None)
        if dead is not None:
            raise self.refuse(dead[2], "computes a value nothing reads (PyTorch counts the "
                                       "weights of its layers; seqc builds no dead branch)",
                              hint="remove the call")

    # ---- statements ----

    def block(self, body: list[ast.stmt], scope: Scope) -> Any:
        for st in body:
            self.r.tick()
            if isinstance(st, ast.Pass) or isinstance(st, ast.Expr) and isinstance(
                    st.value, ast.Constant):
                continue
            if isinstance(st, ast.Assign) and len(st.targets) == 1 or isinstance(
                    st, ast.AnnAssign) and st.value is not None:
                t = st.targets[0] if isinstance(st, ast.Assign) else st.target
                self.assign(t, self.fx(st.value, scope), scope, st)
            elif isinstance(st, ast.Return):
                if st.value is None:
                    raise self.refuse(st, "returns nothing")
                out = self.fx(st.value, scope) if not (self.state is not None and isinstance(
                    st.value, ast.Tuple) and self.depth == 1) else self.returns(st.value, scope)
                if isinstance(out, (list, tuple)) and len(out) > 1 and all(
                        isinstance(t, Tensor) for t in out) and not (
                        self.fw == "torch" and self.depth == 1):
                    raise self.refuse(st, "returns several tensors (a model with several "
                                          "outputs), which seqc reads from a PyTorch "
                                          "forward() only", hint="return one tensor")
                return out
            elif isinstance(st, ast.If):
                test = _truth(self.const(st.test, scope))
                if not is_const(test):  # self.training: train and predict differ
                    raise self.refuse(st, "branches on a value known only at run time "
                                          f"({self.r.seg(st.test)})")
                r = self.block(st.body if test else st.orelse, scope)
                if r is not None:
                    return r
            elif isinstance(st, ast.For):
                seq = self.r.iterate(self.const(st.iter, scope))
                if seq is None:
                    raise self.refuse(st, "loops over a value that is not a constant list, "
                                          "range or nn.ModuleList")
                for v in seq:
                    self.r.bind(st.target, v, scope, st.iter)
                    r = self.block(st.body, scope)
                    if r is not None:
                        return r
            elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and isinstance(
                    st.value.func, ast.Name) and st.value.func.id == "print":
                continue  # a debugging print changes nothing
            elif self.collects(st, scope):
                f = st.value.func
                raise self.refuse(st, f"{self.r.seg(st.value)} collects tensors in the Python "
                                      f"list '{f.value.id}' (intermediate values kept, e.g. "
                                      "for plotting); a forward that returns such a list has "
                                      "outputs that are not tensors, which seqc cannot build",
                                  hint="return the model's output tensor(s) only; the lists "
                                       "serve the script's plots, not its training")
            elif isinstance(st, ast.AugAssign) and self.graphs and isinstance(
                    st.target, ast.Name):  # out += identity
                v = self.binop(st.op, self.fx(st.target, scope), self.fx(st.value, scope), st)
                scope.vars[st.target.id] = v
            elif isinstance(st, ast.AugAssign):
                raise self.refuse(st, "updates a tensor in place (x += ...: a residual "
                                      "connection or arithmetic on tensors)")
            else:
                kind = {"Expr": "an expression"}.get(type(st).__name__, f"a {type(st).__name__}")
                raise self.refuse(st, f"{kind} statement is not read in a "
                                      "layer chain")
        return None

    def collects(self, st: ast.stmt, scope: Scope) -> bool:
        """`pre_activation.append(x)`: a tensor appended to a Python list in the forward."""
        if not (isinstance(st, ast.Expr) and isinstance(st.value, ast.Call)):
            return False
        f = st.value.func
        if not (isinstance(f, ast.Attribute) and f.attr in ("append", "extend", "insert")
                and isinstance(f.value, ast.Name)):
            return False
        try:
            target = scope.lookup(f.value.id)
        except KeyError:
            return False
        return isinstance(target, list) and self.tensory(st.value, scope)

    def sampling(self, fn: ast.FunctionDef, where: Scope) -> None:
        """A forward that draws random numbers (a VAE's `eps = torch.randn_like(std)`, in
        the forward or a helper method it calls) is refused at that call: PyTorch samples at
        prediction as well as in training, and seqc has no layer that samples."""
        from ..errors import SeqcError
        from ._pyscript_subclass import _method

        cls = self.selfobj.inst.cls
        todo, seen = [fn], {fn.name}
        while todo:
            f = todo.pop()
            me = f.args.args[0].arg if f.args.args else None
            for n in ast.walk(f):
                if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)):
                    continue
                attr = n.func.attr
                if isinstance(n.func.value, ast.Name) and n.func.value.id == me and (
                        attr not in seen):
                    m = _method(self.r, cls, attr)
                    if m is not None:
                        seen.add(attr)
                        todo.append(m)
                    continue
                base = n.func
                while isinstance(base, ast.Attribute):
                    base = base.value
                try:  # a dotted name only (torch.randn_like): evaluating a call could make
                    # a layer (nn.Linear(3, 3).forward(x)) as a side effect
                    v = self.r.ev(n.func, where) if isinstance(base, ast.Name) else None
                except (SeqcError, KeyError):
                    v = None
                path = norm(v.path) if isinstance(v, Sym) else None
                if path in _RANDOM or path is None and attr in _RANDOM_INPLACE:
                    raise refusal(
                        self.r, n, f"{cls.node.name}.{f.name}()",
                        f"{self.r.seg(n)} draws random numbers in the forward pass (such "
                        "as a variational autoencoder's sampling): PyTorch samples at "
                        "prediction as well as in training, and seqc has no layer that "
                        "samples",
                        hint="seqc reads forwards that give one output for one input; a VAE "
                             "also trains with a loss over its several outputs "
                             "(reconstruction + KL term), which seqc does not read from a "
                             "script either")

    def assign(self, t: ast.AST, v: Any, scope: Scope, st: ast.stmt) -> None:
        if isinstance(t, ast.Name):
            scope.vars[t.id] = v
        elif isinstance(t, ast.Tuple) and isinstance(v, Tensor) and v.rnn == "tuple" and len(
                t.elts) == 2:
            v.rnn = "seq"  # out, (h, c) = self.lstm(x)
            self.assign(t.elts[0], v, scope, st)
            lstm = self.items[v.index][1].cls == "LSTM"
            s = t.elts[1]
            if isinstance(s, ast.Name):
                scope.vars[s.id] = State(st, v, "hc" if lstm else "h")
            elif isinstance(s, ast.Tuple) and lstm and len(s.elts) == 2 and all(
                    isinstance(e, ast.Name) for e in s.elts):
                scope.vars[s.elts[0].id] = State(st, v, "h")
                scope.vars[s.elts[1].id] = State(st, v, "c")
            else:
                for n in ast.walk(s):
                    if isinstance(n, ast.Name):
                        scope.vars[n.id] = State(st)
        else:
            raise self.refuse(st, "an assignment seqc does not read in a layer chain")

    def tensory(self, node: ast.AST, scope: Scope) -> bool:
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                try:
                    v = scope.lookup(n.id)
                except KeyError:
                    continue
                if isinstance(v, (Tensor, ShapeOf, Dim, State)) or (
                        v is not None and v is self.state):
                    return True
        return False

    def const(self, node: ast.AST, scope: Scope) -> Any:
        node = self.on_cpu(node, scope)
        if self.tensory(node, scope):
            raise self.refuse(node, "a condition or loop depends on a tensor")
        v = self.r.ev(node, scope)
        if isinstance(v, Opaque):
            raise self.refuse(node, f"depends on a value seqc cannot read ({v.why})")
        return v

    def on_cpu(self, node: ast.AST, scope: Scope) -> ast.AST:
        """A condition on where a tensor lives (`x.is_cuda`, `x.is_xpu`, `x.device.type ==
        'cuda'`) read as seqc runs it, on the CPU: such an attribute is not a value of the
        tensor, and the branches it picks between (`nn.parallel.data_parallel(self.main, x)`
        or `self.main(x)`) compute the same function. Noted once per condition."""
        if self.fw != "torch":
            return node
        r, hit = self, False

        class CPU(ast.NodeTransformer):
            def visit_Attribute(self, n: ast.Attribute) -> ast.AST:
                nonlocal hit
                base = n.value
                if isinstance(base, ast.Attribute) and base.attr == "device" and n.attr == \
                        "type" and r.tensory(base.value, scope):
                    hit = True
                    return ast.copy_location(ast.Constant("cpu"), n)
                if n.attr in _DEVICE_FLAGS and r.tensory(base, scope):
                    hit = True
                    return ast.copy_location(ast.Constant(n.attr == "is_cpu"), n)
                return self.generic_visit(n)

        out = CPU().visit(copy.deepcopy(node))
        if hit:
            self.r.warn(node, f"{self.r.seg(node)} is read on the CPU, where seqc runs the "
                              "model (a device test, not a value of the tensor)")
        return out

    # ---- expressions ----

    def fx(self, node: ast.AST, scope: Scope) -> Any:
        self.r.tick()
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        if not self.tensory(node, scope):
            return self.r.ev(node, scope)
        if isinstance(node, ast.Name):
            v = scope.lookup(node.id)
            if isinstance(v, State):
                raise self.refuse(node, "reads the state of a recurrent layer")
            return v
        if isinstance(node, ast.Attribute):
            base = self.fx(node.value, scope)
            if isinstance(base, Tensor) and node.attr == "shape":
                return ShapeOf(base)
        elif isinstance(node, ast.Subscript) and isinstance(self.state_of(node.value, scope),
                                                            State):
            return self.state_item(self.state_of(node.value, scope), node, scope)
        elif isinstance(node, ast.Subscript):
            base = self.fx(node.value, scope)
            if isinstance(base, ShapeOf) and not isinstance(node.slice, ast.Slice):
                idx = self.const(node.slice, scope)
                if isinstance(idx, int) and not isinstance(idx, bool):
                    return Dim(base.tensor, idx)
            if isinstance(base, Tensor):
                return self.subscript(base, node, scope)
        elif isinstance(node, ast.BinOp) and self.graphs:
            return self.binop(node.op, self.fx(node.left, scope), self.fx(node.right, scope),
                              node)
        elif isinstance(node, (ast.BinOp, ast.UnaryOp)):
            raise self.refuse(node, "computes with tensors (a residual connection or "
                                    "arithmetic seqc has no layer for)")
        elif isinstance(node, (ast.Tuple, ast.List)):
            return [self.fx(e, scope) for e in node.elts]
        raise self.refuse(node, "an expression on tensors seqc does not read")

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
        from ._pyscript_torch import Bound

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

    def call_args(self, node: ast.Call, scope: Scope) -> tuple[list, dict]:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
                k.arg is None for k in node.keywords):
            raise self.refuse(node, "passes *args or **kwargs")
        return ([self.fx(a, scope) for a in node.args],
                {k.arg: self.fx(k.value, scope) for k in node.keywords})

    def call(self, node: ast.Call, scope: Scope) -> Any:
        f = node.func
        if not self.tensory(node, scope):
            return self.r.ev(node, scope)  # a constant, or a layer made inline
        if isinstance(f, ast.Attribute) and isinstance(self.state_of(f.value, scope), State):
            st = self.state_of(f.value, scope)
            args, kwargs = self.call_args(node, scope)
            if f.attr == "squeeze" and args in ([0], [-3]) and not kwargs and self.layers_of(
                    st, node) == (1, False):
                return self.last_state(st, node)  # h.squeeze(0): one layer, one direction
            raise self.refuse(node, "reads the state of a recurrent layer other than as "
                                    "h_n[-1] (its last output)")
        if isinstance(f, ast.Attribute) and self.tensory(f.value, scope):
            base = self.fx(f.value, scope)
            args, kwargs = self.call_args(node, scope)
            if base is ZERO_STATE and f.attr in ("to", "cuda", "float", "detach",
                                                 "requires_grad_"):
                return ZERO_STATE  # torch.zeros(...).to(device)
            if isinstance(base, Tensor):
                return self.method(base, f.attr, args, kwargs, node)
            raise self.refuse(node, "a method call seqc does not read")
        if self.tensory(f, scope):
            raise self.refuse(node, "calls a tensor")
        callee = self.r.ev(f, scope)
        args, kwargs = self.call_args(node, scope)
        if isinstance(callee, Sym) and norm(callee.path) in ("torch.zeros", "torch.zeros_like"):
            return ZERO_STATE  # h0 = torch.zeros(layers, x.size(0), hidden): the default state
        if isinstance(callee, Sym) and self.fw == "torch" and norm(callee.path) in _MERGES:
            return self.torch_merge(norm(callee.path), args, kwargs, node)
        if isinstance(callee, Sym) and self.fw == "torch" and norm(callee.path) in SAMPLERS:
            return sampler(self, norm(callee.path), args, kwargs, node)
        if self.fw == "keras" and self.graphs:
            merged = self.keras_merge(callee, args, kwargs, node)
            if merged is not None:
                return merged
        tensors = [a for a in [*args, *kwargs.values()] if isinstance(a, Tensor)]
        if isinstance(callee, Sym) and norm(callee.path) in (
                "tensorflow.shape", "keras.ops.shape") and len(args) == 1 and tensors:
            return ShapeOf(args[0])
        if len(tensors) != 1 or not args or args[0] is not tensors[0]:
            raise self.refuse(node, "passes several tensors, or the tensor not first (a merge "
                                    "or a branch)" if len(tensors) > 1 else
                              "calls a function with a tensor in a way seqc does not read")
        x, rest = args[0], args[1:]
        if isinstance(callee, Opaque):
            raise self.refuse(node, f"calls something seqc cannot read: {callee.why}")
        if isinstance(callee, SelfMethod):  # self.encode(x): a helper method, inline
            return self.apply_fn(callee.fn, self.selfobj.inst.cls.scope or Scope(),
                                 self.ready(x, node), method=True, args=rest, kwargs=kwargs)
        if isinstance(callee, (Func, Lam)):
            fn = callee.node
            where = callee.scope
            return self.apply_fn(fn, where, self.ready(x, node), method=False, args=rest,
                                 kwargs=kwargs)
        if isinstance(callee, Sym):
            if self.fw == "torch":
                from ._pyscript_torch_forward import functional
            else:
                from ._pyscript_keras_lambda import functional
            mod = functional(self, norm(callee.path), rest, kwargs, node)
            if mod is IDENTITY:
                return self.ready(x, node)
            return self.apply(mod, x, node, _hint(mod))
        if isinstance(callee, (TorchMod, Layer, ModelVal, Instance)):
            return self.layer(callee, x, rest, kwargs, node)
        raise self.refuse(node, "calls something that is not a layer")

    def method(self, t: Tensor, name: str, args: list, kwargs: dict, node: ast.Call) -> Any:
        if name == "size":
            if not args and not kwargs:
                return ShapeOf(t)
            if len(args) == 1 and isinstance(args[0], int) and not isinstance(args[0], bool):
                return Dim(t, args[0])
        if name in ("contiguous", "float") and not args and not kwargs:
            return t
        if name == "long" and t.index == -1 and not args and not kwargs and self.fw == "torch":
            return t  # x.long() of the token ids an Embedding reads: ids already
        if self.fw == "torch":
            from ._pyscript_torch_forward import tensor_method

            mod = tensor_method(self, t, name, args, kwargs, node)
            if mod is IDENTITY:
                return self.ready(t, node)
            return self.apply(mod, t, node, _hint(mod))
        raise self.refuse(node, f"calls the tensor method .{name}()")

    def layer(self, mod: Any, x: Tensor, args: list, kwargs: dict, node: ast.Call) -> Tensor:
        if args and isinstance(mod, TorchMod) and mod.cls in RNNS and len(args) == 1 \
                and _zero_state(args[0]):
            args = []  # PyTorch's default initial state: zeros (None or torch.zeros(...))
        if len(args) == 1 and args[0] is self.state and self.state is not None:
            from ._pyscript_torch_state import feed

            feed(self, self.state, mod, node)  # self.lstm(x, hidden): the forward's state
            args = []
        if args:
            raise self.refuse(node, "calls a layer with more than its input")
        training = kwargs.pop("training", TRAINING)
        if kwargs.pop("mask", None) is not None:
            raise self.refuse(node, "calls a layer with mask=...")
        if kwargs:
            raise self.refuse(node, f"calls a layer with {', '.join(kwargs)}=...")
        name = self.names.get(id(mod))
        if isinstance(mod, Instance):
            mod = read_instance(self.r, mod)
            self.names.setdefault(id(mod), name)
        if isinstance(mod, ModelVal) and mod.graph is not None:
            self.is_graph = True  # a branching Keras block: inlined into this graph
        fw = mod.framework if isinstance(mod, ModelVal) else (
            "torch" if isinstance(mod, TorchMod) else "keras")
        if fw != self.fw:
            raise self.refuse(node, "applies a layer of the other framework")
        if training is not TRAINING and training is not None:
            cls = getattr(mod, "cls", "")
            if training is False and cls in ("Dropout", "GaussianNoise", "GaussianDropout",
                                             "SpatialDropout1D", "SpatialDropout2D"):
                return self.ready(x, node)  # never active: nothing to apply
            raise self.refuse(node, f"fixes training={training!r} for a layer; seqc's layers "
                                    "follow the model's training phase",
                              hint="pass training=training (or leave it out)")
        return self.apply(mod, x, node, name or _hint(mod), named=name is not None)

    def unique(self, base: str) -> str:
        """base, base_1, base_2, ...: the first not taken (a counter per base keeps a long
        unrolled loop linear)."""
        i = self.counters.get(base, 0)
        name = base if i == 0 else f"{base}_{i}"
        while name in self.taken:
            i += 1
            name = f"{base}_{i}"
        self.counters[base] = i + 1
        return name

    def ready(self, x: Tensor, node: ast.AST) -> Tensor:
        """x as the input of the next step: the current tensor, an rnn output selected."""
        if x.rnn == "state":
            raise self.refuse(node, "reads both the output and the final state of a "
                                    "recurrent layer; seqc reads one of them")
        if x.rnn == "tuple":
            raise self.refuse(node, "passes the (output, state) tuple of a recurrent layer on; "
                                    "take its output first (out, _ = self.lstm(x))")
        if x.rnn == "seq":
            x = self.select(x, "output", node)
        if self.graphs and (x.used is not None or x is not self.current):
            self.is_graph = True  # a branch or a residual: read as a graph
            return x
        if x.used is not None:
            raise self.refuse(node, "uses a tensor a second time (first at line "
                                    f"{x.used.lineno}): a branch or a residual connection")
        if x is not self.current:
            raise self.refuse(node, "uses a tensor that is not the last one computed (a "
                                    "branch)")
        return x

    def apply(self, mod: Any, x: Tensor, node: ast.AST, hint: str, *,
              named: bool = False) -> Tensor:
        x = self.ready(x, node)
        for part in _parts(mod):  # a module, or one inside an nn.Sequential applied before
            if not _has_weights(part):
                continue
            if id(part) in self.applied and self.fw == "keras" and self.graphs:
                self.is_graph = True  # a layer called again: Keras shares its weights
            elif id(part) in self.applied:
                first = self.applied[id(part)]
                raise self.refuse(node, f"applies the layer {hint} a second time (first at "
                                        f"line {first.lineno}): shared weights",
                                  hint="make a separate layer for each use")
            self.applied[id(part)] = node
        if self.fw == "keras":
            name = None
        else:
            # an attribute keeps its path (the weights' names); a reused parameter-free
            # module and a functional call get a fresh name
            name = hint if named and hint not in self.given else self.unique(hint)
            self.taken.add(name)
            self.given.add(name)
        return self.push(name, mod, node, [x])

    def push(self, name: str | None, mod: Any, node: ast.AST, xs: list[Tensor]) -> Tensor:
        self.items.append((name, mod, node))
        self.srcs.append([x.index for x in xs])
        for x in xs:
            x.used = node
        out = Tensor(node, index=len(self.items) - 1)
        if isinstance(mod, TorchMod) and mod.cls in RNNS:
            out.rnn = "tuple"
        self.current = out
        return out

    # ---- merges (PyTorch forwards: residual adds, torch.cat) ----

    def binop(self, op: ast.operator, a: Any, b: Any, node: ast.AST) -> Tensor:
        kind = {ast.Add: "Add", ast.Sub: "Subtract", ast.Mult: "Multiply"}.get(type(op))
        if isinstance(a, Dim) and isinstance(b, Dim) and 0 in (a.index, b.index):
            raise self.refuse(node, "multiplies the batch size by another size: a view to "
                                    "(N * T, ...) folds the time steps into the batch (one "
                                    "row per step), which seqc does not read yet")
        if not (isinstance(a, Tensor) and isinstance(b, Tensor)) or kind is None:
            raise self.refuse(node, "computes with tensors in a way seqc has no layer for "
                                    "(two tensors added, subtracted or multiplied are read)")
        return self.merge(kind, [a, b], {}, node)

    def torch_merge(self, path: str, args: list, kwargs: dict, node: ast.Call) -> Tensor:
        """torch.cat([a, b], dim=1), torch.add(a, b), torch.mul(a, b), torch.sub(a, b)."""
        kind, params = _MERGES[path]
        vals = dict(zip(params, args))
        if len(args) > len(params) or any(k not in params or k in vals for k in kwargs):
            raise self.refuse(node, f"{self.r.seg(node.func)}() with arguments seqc does not "
                                    "read")
        vals.update(kwargs)
        if kind == "Concatenate":
            ts, dim = vals.get("tensors"), vals.get("dim", 0)
            if not isinstance(ts, list) or len(ts) < 2 or not all(
                    isinstance(t, Tensor) for t in ts):
                raise self.refuse(node, "torch.cat() of something other than a list of "
                                        "tensors")
            if not isinstance(dim, int) or isinstance(dim, bool) or dim == 0:
                raise self.refuse(node, f"torch.cat(dim={dim!r}): seqc concatenates along a "
                                        "non-batch dimension given as an integer")
            # seqc keeps PyTorch's layout (N, C, ...) for torch scripts: the same axis
            return self.merge(kind, ts, {"axis": dim}, node)
        a, b = vals.get("input"), vals.get("other")
        if vals.get("alpha", 1) != 1 or not (isinstance(a, Tensor) and isinstance(b, Tensor)):
            raise self.refuse(node, f"{self.r.seg(node.func)}() of two tensors is read, "
                                    "without alpha")
        return self.merge(kind, [a, b], {}, node)

    def merge(self, kind: str, ts: list[Tensor], attrs: dict, node: ast.AST, *,
              base: str | None = None) -> Tensor:
        xs = []
        for t in ts:
            if t.rnn == "state":
                raise self.refuse(node, "reads both the output and the final state of a "
                                        "recurrent layer; seqc reads one of them")
            if t.rnn == "tuple":
                raise self.refuse(node, "merges the (output, state) tuple of a recurrent "
                                        "layer; take its output first")
            xs.append(self.select(t, "output", node) if t.rnn == "seq" else t)
        self.is_graph = True
        if self.fw == "keras":  # a Keras merge layer, named as Keras names it
            lay = Layer(kind, [], attrs, node, auto_name=self.r.auto_name(kind))
            return self.push(None, lay, node, xs)
        name = self.unique(base or kind.lower())
        self.taken.add(name)
        self.given.add(name)
        cls = kind if kind.startswith("<") else f"<merge:{kind}>"  # "<affine_grid>"
        return self.push(name, TorchMod(cls, [], attrs, node), node, xs)

    def keras_merge(self, callee: Any, args: list, kwargs: dict, node: ast.Call) -> Any:
        """In a Keras call(): a merge layer called on a list of tensors (`self.add([x, y])`,
        `layers.Concatenate()([a, b])`), `layers.concatenate([a, b])`, `keras.ops.add(x,
        y)`, `keras.ops.concatenate([a, b], axis=-1)`; None for any other call."""
        from ._pyscript_functional import _OPS, _OPS_MODULES, MERGE_FUNCTIONS
        from ._pyscript_names import keras_member

        def tensors(v: Any) -> list | None:
            return v if isinstance(v, (list, tuple)) and len(v) >= 2 and all(
                isinstance(t, Tensor) for t in v) else None

        if isinstance(callee, Layer) and callee.cls in _MERGE_KINDS:
            ts = tensors(args[0]) if len(args) == 1 and not kwargs else None
            if ts is None:
                raise self.refuse(node, f"calls the merge layer {callee.cls} on something "
                                        "other than one list of tensors")
            return self.push(None, callee, node, self.merge_inputs(ts, node))
        if not isinstance(callee, Sym):
            return None
        path = norm(callee.path)
        fn = keras_member(path, "layers")
        if fn in MERGE_FUNCTIONS:
            ts = tensors(args[0]) if args else None
            names = ["inputs", "axes", "normalize"] if fn == "dot" else ["inputs"]
            if ts is None or len(args) > len(names) or "inputs" in kwargs:
                raise self.refuse(node, f"layers.{fn}() is read on one list of tensors")
            attrs = {**dict(zip(names[1:], args[1:])), **kwargs}
            return self.merge(MERGE_FUNCTIONS[fn], ts, attrs, node)
        mod, _, name = path.rpartition(".")
        if mod + "." not in _OPS_MODULES:
            return None
        if name in _OPS and len(args) == 2 and not kwargs:
            return self.binop(_OPS[name], args[0], args[1], node)
        if name in ("concatenate", "concat"):
            ts = tensors(args[0]) if args else None
            axis = args[1] if len(args) > 1 else kwargs.get("axis", 0 if name ==
                                                            "concatenate" else None)
            if ts is None or len(args) > 2 or set(kwargs) - {"axis"}:
                raise self.refuse(node, f"{name}() is read on one list of tensors and an axis")
            if not isinstance(axis, int) or isinstance(axis, bool) or axis == 0:
                raise self.refuse(node, f"{name}(axis={axis!r}): seqc concatenates along a "
                                        "non-batch axis given as an integer")
            return self.merge("Concatenate", ts, {"axis": axis}, node)
        return None

    def merge_inputs(self, ts: list, node: ast.AST) -> list:
        self.is_graph = True
        return [self.ready(t, node) for t in ts]


_DEVICE_FLAGS = ("is_cuda", "is_xpu", "is_mps", "is_cpu")
# random draws in a forward: torch's functions and a tensor's in-place samplers
_RANDOM = frozenset(f"torch.{n}" for n in (
    "randn_like", "rand_like", "randint_like", "randn", "rand", "randint", "randperm",
    "normal", "bernoulli", "multinomial", "poisson"))
_RANDOM_INPLACE = frozenset(("normal_", "uniform_", "bernoulli_", "exponential_", "random_",
                             "cauchy_", "log_normal_", "geometric_"))
_MERGE_KINDS = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
                "Dot")
_MERGES = {"torch.cat": ("Concatenate", ["tensors", "dim"]),
           "torch.concat": ("Concatenate", ["tensors", "dim"]),
           "torch.add": ("Add", ["input", "other", "alpha"]),
           "torch.sub": ("Subtract", ["input", "other", "alpha"]),
           "torch.mul": ("Multiply", ["input", "other"])}


def _parts(mod: Any) -> list:
    """The module and those it holds (an nn.Sequential's, recursively)."""
    out, todo = [], [mod]
    while todo:
        m = todo.pop()
        out.append(m)
        if isinstance(m, ModelVal):
            todo.extend(v for _, v, _ in m.items)
    return out


def _truth(v: Any) -> Any:
    """`if self.downsample:`: a module is true (an nn.Sequential when it holds modules, as
    its len() decides in Python); other values as they are."""
    if isinstance(v, ModelVal):
        return bool(v.items)
    if isinstance(v, (TorchMod, Layer, Instance)):
        return True
    return v


def _hint(mod: Any) -> str:
    if isinstance(mod, TorchMod):
        return getattr(mod, "fn", None) or mod.cls.strip("<>").split(":")[0].lower()
    if isinstance(mod, Layer):
        return mod.cls.lower()
    return "module"




def _has_weights(mod: Any) -> bool:
    if isinstance(mod, TorchMod):
        return mod.cls not in _TORCH_FREE and not mod.cls.startswith("<")
    if isinstance(mod, Layer):
        return not mod.cls.startswith(_KERAS_FREE)
    return True


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
