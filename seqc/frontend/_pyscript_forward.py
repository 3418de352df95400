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

This module walks the functions and expressions; applying a layer (_pyscript_forward_apply),
the statements (_stmt), recurrent outputs and states (_rnn) and merges (_merge) are mixins of
Chain, and the values passed around are in _pyscript_forward_values.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from . import _pyscript_torch_steps as steps
from ._pyscript_forward_apply import ChainLayers, _hint
from ._pyscript_forward_merge import _MERGES, ChainMerges
from ._pyscript_forward_rnn import ChainRecurrent
from ._pyscript_forward_stmt import ChainStatements
from ._pyscript_forward_values import (
    IDENTITY,
    ZERO_STATE,
    Dim,
    ShapeOf,
    State,
    Tensor,
)
from ._pyscript_names import norm
from ._pyscript_self import TRAINING, SelfMethod, SelfObj, refusal
from ._pyscript_torch_forward import SAMPLERS, sampler
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
)

if TYPE_CHECKING:
    from .pyscript import Reader

MAX_INLINE = 20  # nested script functions read inline


class Chain(ChainLayers, ChainStatements, ChainRecurrent, ChainMerges):
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

    # ---- expressions ----

    def fx(self, node: ast.AST, scope: Scope) -> Any:
        self.r.tick()
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        if not self.tensory(node, scope):
            return self.r.ev(node, scope)
        if isinstance(node, ast.Name):
            v = scope.lookup(node.id)
            if isinstance(v, (State, steps.Gone)):
                raise self.refuse(node, getattr(v, "why", "reads the state of a recurrent "
                                                         "layer"))
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
        if isinstance(callee, Sym) and any(isinstance(a, steps.Collected) for a in args):
            return steps.join(self, norm(callee.path), args, kwargs, node)  # torch.cat(outs)
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
                from ._pyscript_keras_ops import functional
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
