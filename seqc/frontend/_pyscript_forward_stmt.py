"""The statements of a forward()/call() (a mixin of `_pyscript_forward.Chain`): assignments
(an nn.LSTM's `out, (h, c) = ...` too), return, `if` on a constant or a module, `for` over a
constant list, range or nn.ModuleList, `out += identity`, a debugging print; the conditions
they read (constants, a device test read on the CPU), and the refusal of a forward that
draws random numbers. Any other statement is refused, located.
"""

from __future__ import annotations

import ast
import copy
from typing import Any

from . import _pyscript_torch_steps as steps
from ._pyscript_forward_values import Dim, ShapeOf, State, Tensor
from ._pyscript_names import norm
from ._pyscript_self import find_method, refusal
from ._pyscript_torch_state import returns
from ._pyscript_values import Instance, Layer, ModelVal, Opaque, Scope, Sym, TorchMod, is_const

_DEVICE_FLAGS = ("is_cuda", "is_xpu", "is_mps", "is_cpu")
# random draws in a forward: torch's functions and a tensor's in-place samplers
_RANDOM = frozenset(f"torch.{n}" for n in (
    "randn_like", "rand_like", "randint_like", "randn", "rand", "randint", "randperm",
    "normal", "bernoulli", "multinomial", "poisson"))
_RANDOM_INPLACE = frozenset(("normal_", "uniform_", "bernoulli_", "exponential_", "random_",
                             "cauchy_", "log_normal_", "geometric_"))


class ChainStatements:
    """Statements and conditions of the layer-chain reader."""

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
                    st.value, ast.Tuple) and self.depth == 1) else returns(self, st.value, scope)
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
            elif isinstance(st, ast.For) and self.fw == "torch" and steps.over_steps(
                    self, st, scope):
                continue  # for x_t in x.split(1, dim=1): cells over the time steps
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
                    m = find_method(self.r, cls, attr)
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
                if isinstance(v, (Tensor, ShapeOf, Dim, State, steps.Gone, steps.Collected)) or (
                        v is not None and v is self.state):  # forward(x, hidden)'s state
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


def _truth(v: Any) -> Any:
    """`if self.downsample:`: a module is true (an nn.Sequential when it holds modules, as
    its len() decides in Python); other values as they are."""
    if isinstance(v, ModelVal):
        return bool(v.items)
    if isinstance(v, (TorchMod, Layer, Instance)):
        return True
    return v

