"""The safe constant evaluator: folds literals, arithmetic, comparisons, f-strings, indexing
and comprehensions over constants (builtins called on them: `_pyscript_builtins`); anything
else becomes an Opaque value. `const` turns a folded value into a JSON value for the spec
doc (a located error for what it cannot be).
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from ._pyscript_argparse import ArgParser, Namespace
from ._pyscript_builtins import BUILTINS
from ._pyscript_data import DataArr
from ._pyscript_data_update import data_unary, mask_binop
from ._pyscript_generators import ImageGen
from ._pyscript_model import Params, is_model_object
from ._pyscript_names import function_name
from ._pyscript_self import SelfObj
from ._pyscript_subclass import subclass_attribute
from ._pyscript_torch_init import is_param, param_attr
from ._pyscript_values import (
    MAX_INT,
    MAX_ITER,
    MAX_SEQ,
    MODEL_METHODS,
    PASSTHROUGH_METHODS,
    STR_METHODS,
    BoundMethod,
    ClassOf,
    Func,
    Instance,
    Lam,
    LocalClass,
    ModelVal,
    Obj,
    Opaque,
    Scope,
    Sym,
    is_const,
)

_ARITH = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b, ast.Pow: lambda a, b: a**b,
}
_COMPARE = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}

class ExprReader:
    """Expression evaluation of the script reader (a mixin of `pyscript.Reader`)."""

    def name(self, ident: str, node: ast.AST, scope: Scope) -> Any:
        try:
            v = scope.lookup(ident)
            return self.defined(ident, v) if isinstance(v, Opaque) else v
        except KeyError:
            pass
        if ident in self.defines:
            return self.defined(ident, None)
        if ident == "__name__":
            return "__main__"
        if ident in BUILTINS:
            return Sym(f"builtins.{ident}")
        for mod in self.star_modules:
            if ident[:1].isupper() and (mod.startswith("keras") or mod.startswith("torch")):
                return Sym(f"{mod}.{ident}")
        return Opaque(node, f"'{ident}' is not defined by a statement seqc can read",
                      name=ident)

    def ev(self, node: ast.AST, scope: Scope) -> Any:
        v = self.ev_node(node, scope)
        if isinstance(v, Opaque) and self.expr_defines and isinstance(
                node, (ast.Call, ast.Subscript, ast.Attribute, ast.BinOp)):
            # --define 'len(chars)=57': the script's own expression, matched by its text
            return self.defined(ast.unparse(node), v)
        return v

    def ev_node(self, node: ast.AST, scope: Scope) -> Any:  # noqa: C901 (one dispatch)
        self.tick()
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, (bytes, complex)) or v is Ellipsis:
                return Opaque(node, f"a {type(v).__name__} constant")
            return v
        if isinstance(node, ast.Name):
            return self.name(node.id, node, scope)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if len(node.elts) > MAX_SEQ:  # embedded data, not a model setting
                return Opaque(node, "a literal too long to fold")
            out: list = []
            for e in node.elts:
                if isinstance(e, ast.Starred):
                    seq = self.iterate(self.ev(e.value, scope))
                    if seq is None:
                        return Opaque(e, f"{self.seg(e)} is not a constant sequence")
                    out.extend(seq)
                else:
                    out.append(self.ev(e, scope))
            if len(out) > MAX_SEQ:
                return Opaque(node, "a sequence too long to fold")
            return tuple(out) if isinstance(node, ast.Tuple) else out
        if isinstance(node, ast.Dict):
            d = {}
            for k, v in zip(node.keys, node.values):
                if k is None:
                    return Opaque(node, "a ** expansion in a dict")
                kv = self.ev(k, scope)
                if not isinstance(kv, (int, float, str, bool)) or isinstance(kv, Opaque):
                    return Opaque(k, "a dict key that is not a constant")
                d[kv] = self.ev(v, scope)
            return d
        if isinstance(node, ast.Attribute):
            base = self.ev(node.value, scope)
            if isinstance(base, Opaque):
                dotted = _dotted(node)
                if dotted is None:
                    return base
                # `args.hidden`: located here, and --define args.hidden=... can supply it
                return self.defined(dotted, Opaque(node, f"{dotted} comes from {base.why}",
                                                   name=dotted))
            if isinstance(base, DataArr):
                return self.data_attr(base, node.attr, node)
            if isinstance(base, Namespace):
                return self.namespace_attr(base, node, _dotted(node))
            if isinstance(base, (ArgParser, ImageGen)):
                return BoundMethod(base, node.attr)
            if isinstance(base, (int, float)) and node.attr in ("numpy", "item"):
                return BoundMethod(base, node.attr)
            if isinstance(base, Sym):
                return Sym(f"{base.path}.{node.attr}")
            if is_param(base):  # fc.weight.data, fc.weight.normal_
                return param_attr(self, base, node.attr, node)
            if isinstance(base, ClassOf) and node.attr == "__name__":
                return base.name  # m.__class__.__name__ in a torch init function
            if isinstance(base, str) and node.attr in STR_METHODS:
                return BoundMethod(base, node.attr)
            if isinstance(base, ModelVal) and node.attr in MODEL_METHODS + PASSTHROUGH_METHODS:
                return BoundMethod(base, node.attr)
            if is_model_object(base):
                return self.model_attr(base, node.attr, node)
            if isinstance(base, list) and node.attr in ("append", "extend", "insert"):
                return BoundMethod(base, node.attr)
            if isinstance(base, BoundMethod) and is_model_object(base.obj):
                # `model.layers[-1].bias` then `.assign(...)`: the chain stays on its model,
                # so a write to one of its variables is refused, never skipped
                return BoundMethod(base.obj, f"{base.name}.{node.attr}")
            hooked = subclass_attribute(base, node)  # self.<attr>, model.compile of a subclass
            if hooked is not None or isinstance(base, SelfObj):  # self.downsample = None
                return hooked
            return Opaque(node, f"{self.seg(node)} is an attribute of a run-time value")
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.ev(node.left, scope), self.ev(node.right, scope),
                              node)
        if isinstance(node, ast.UnaryOp):
            v = self.ev(node.operand, scope)
            if isinstance(v, DataArr):  # `~mask`, `-x`: _pyscript_data_update
                return data_unary(self, node.op, v, node)
            if isinstance(v, Opaque) and isinstance(node.op, ast.Invert):
                return v  # `~mask` of a mask seqc could not evaluate: its own reason
            if isinstance(node.op, ast.Not) and is_const(v):
                return not v
            if isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, bool) \
                    and not isinstance(node.op, ast.Invert):
                if isinstance(node.op, ast.USub):
                    return -v
                if isinstance(node.op, ast.UAdd):
                    return +v
            return Opaque(node, f"{self.seg(node)} is not constant arithmetic")
        if isinstance(node, ast.BoolOp):
            vals = [self.ev(v, scope) for v in node.values]
            if not all(is_const(v) for v in vals):
                return Opaque(node, f"{self.seg(node)} is not a constant condition")
            r = vals[0]
            for v in vals[1:]:
                r = (r and v) if isinstance(node.op, ast.And) else (r or v)
            return r
        if isinstance(node, ast.Compare):
            return self.compare(node, scope)
        if isinstance(node, ast.IfExp):
            t = self.ev(node.test, scope)
            if not is_const(t):
                return Opaque(node, f"{self.seg(node.test)} is not a constant condition")
            return self.ev(node.body if t else node.orelse, scope)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, scope)
        if isinstance(node, ast.JoinedStr):
            return self.fstring(node, scope)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self.listcomp(node, scope)
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        if isinstance(node, ast.Lambda):  # kept as code: a Lambda layer/module reads its body
            return Lam(node, scope)
        if isinstance(node, ast.NamedExpr):
            v = self.ev(node.value, scope)
            self.bind(node.target, v, scope, node.value)
            return v
        return Opaque(node, f"{type(node).__name__} expressions are not read")

    def iterate(self, v: Any) -> list | None:
        if isinstance(v, Params):
            # `for p in m.parameters()`: one stand-in for all of them; what the loop does to
            # it (requires_grad = False) applies to every parameter of m.
            return [v]
        if isinstance(v, range):
            return list(v) if len(v) <= MAX_ITER else None
        if isinstance(v, (list, tuple)) and len(v) <= MAX_ITER:
            return list(v)
        if isinstance(v, str) and len(v) <= MAX_ITER:
            return list(v)
        if isinstance(v, dict) and len(v) <= MAX_ITER:
            return list(v)
        return None

    def binop(self, op: ast.operator, a: Any, b: Any, node: ast.AST) -> Any:
        def bad(why: str) -> Opaque:
            return Opaque(node, why)

        if isinstance(a, Opaque):
            return a
        if isinstance(b, Opaque):
            return b
        merged = self.tensor_binop(op, a, b, node)  # _pyscript_functional: x + y
        if merged is not None:
            return merged
        if isinstance(a, DataArr) or isinstance(b, DataArr):
            return mask_binop(self, op, a, b, node) or self.data_binop(op, a, b, node)
        num = (int, float)
        try:
            if isinstance(a, num) and isinstance(b, num):
                if isinstance(op, ast.Pow) and isinstance(a, int) and isinstance(b, int) \
                        and abs(a) > 1 and b > 0 and b * math.log2(abs(a)) > 64:
                    return bad(f"{self.seg(node)} is too large")
                fn = _ARITH.get(type(op))
                if fn is None:
                    return bad(f"the operator in {self.seg(node)} is not folded")
                r = fn(a, b)
                if isinstance(r, complex) or isinstance(r, int) and abs(r) >= MAX_INT:
                    return bad(f"{self.seg(node)} is out of range")
                return r
            if isinstance(op, ast.Add) and type(a) is type(b) and isinstance(a, (str, list,
                                                                                 tuple)):
                if len(a) + len(b) > MAX_SEQ:
                    return bad("a sequence too long to fold")
                return a + b
            if isinstance(op, ast.Mult) and (isinstance(a, (str, list, tuple)) and isinstance(
                    b, int) or isinstance(b, (str, list, tuple)) and isinstance(a, int)):
                seq, n = (a, b) if isinstance(b, int) else (b, a)
                if len(seq) * max(n, 0) > MAX_SEQ:
                    return bad("a sequence too long to fold")
                return seq * n
        except (ArithmeticError, ValueError, TypeError) as e:
            return bad(f"{self.seg(node)} fails: {type(e).__name__}")
        return bad(f"{self.seg(node)} is not constant arithmetic")

    def compare(self, node: ast.Compare, scope: Scope) -> Any:
        left = self.ev(node.left, scope)
        if isinstance(left, DataArr) and len(node.ops) == 1:  # a mask: `y_train < 5`
            return self.data_compare(node.ops[0], left, self.ev(node.comparators[0], scope),
                                     node)
        ok = True
        for op, rnode in zip(node.ops, node.comparators):
            right = self.ev(rnode, scope)
            if not (is_const(left) and is_const(right)):
                return Opaque(node, f"{self.seg(node)} is not a constant condition")
            fn = _COMPARE[type(op)]
            try:
                ok = ok and fn(left, right)
            except TypeError:
                return Opaque(node, f"{self.seg(node)} compares unlike values")
            left = right
        return ok

    def subscript(self, node: ast.Subscript, scope: Scope) -> Any:
        base = self.ev(node.value, scope)
        if isinstance(base, DataArr):
            return self.data_subscript(base, node, scope)
        if getattr(base, "unordered", False):  # _pyscript_model.LayersView of a graph
            raise self.error(node, f"{self.seg(node)}: model.layers of a functional graph is in "
                                   "Keras' order by depth, which seqc does not follow",
                             field="layers", received=self.seg(node),
                             hint="name the layer (name=...) and use model.get_layer(name), "
                                  "or loop over all of model.layers")
        if isinstance(node.slice, ast.Slice):
            parts = [self.ev(p, scope) if p is not None else None
                     for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            if isinstance(base, (list, tuple, str)) and all(
                    p is None or isinstance(p, int) and not isinstance(p, bool) for p in parts):
                if parts[2] == 0:
                    return Opaque(node, "a zero slice step")
                return base[slice(*parts)]
        else:
            idx = self.ev(node.slice, scope)
            if isinstance(base, (list, tuple, str)) and isinstance(idx, int) \
                    and not isinstance(idx, bool) and -len(base) <= idx < len(base):
                return base[idx]
            if isinstance(base, dict) and is_const(idx) and idx in base:
                return base[idx]
            if isinstance(base, ModelVal) and isinstance(idx, int) and not isinstance(
                    idx, bool) and -len(base.items) <= idx < len(base.items):
                return base.items[idx][1]  # nn.Sequential indexing: model[0]
        if isinstance(base, Opaque):
            return base
        if isinstance(base, BoundMethod) and is_model_object(base.obj):
            return BoundMethod(base.obj, f"{base.name}[]")  # model.weights[0]: see above
        return Opaque(node, f"{self.seg(node)} indexes a run-time value")

    def fstring(self, node: ast.JoinedStr, scope: Scope) -> Any:
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
                continue
            v = self.ev(part.value, scope)
            spec = self.fstring(part.format_spec, scope) if part.format_spec else ""
            if not is_const(v) or not isinstance(spec, str) or re.search(r"\d{4,}", spec):
                return Opaque(node, f"{self.seg(node)} is not a constant string")
            try:
                conv = {115: str, 114: repr, 97: ascii}.get(part.conversion)
                out.append(format(conv(v) if conv else v, spec))
            except (ValueError, TypeError):
                return Opaque(node, f"{self.seg(node)} cannot be formatted")
        s = "".join(out)
        return s if len(s) <= MAX_SEQ else Opaque(node, "a string too long to fold")

    def listcomp(self, node: ast.ListComp | ast.GeneratorExp, scope: Scope) -> Any:
        if len(node.generators) != 1 or node.generators[0].is_async:
            return Opaque(node, "a comprehension with several for clauses")
        gen = node.generators[0]
        it = self.ev(gen.iter, scope)
        if isinstance(it, Opaque):  # the reason it is unknown, from where it comes from
            return it
        seq = self.iterate(it)
        if seq is None:
            return Opaque(node, f"{self.seg(gen.iter)} is not a constant sequence")
        inner = Scope(scope)
        out = []
        for v in seq:
            self.bind(gen.target, v, inner, gen.iter)
            conds = [self.ev(c, inner) for c in gen.ifs]
            if not all(is_const(c) for c in conds):
                return Opaque(node, "a comprehension filter that is not constant")
            if all(conds):
                out.append(self.ev(node.elt, inner))
        return out

    def args(self, node: ast.Call, scope: Scope) -> tuple[list, dict] | Opaque:
        args: list = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                seq = self.iterate(self.ev(a.value, scope))
                if seq is None:
                    return Opaque(a, f"*{self.seg(a.value)} is not a constant sequence")
                args.extend(seq)
            else:
                args.append(self.ev(a, scope))
        kwargs: dict = {}
        for k in node.keywords:
            if k.arg is None:
                d = self.ev(k.value, scope)
                if not isinstance(d, dict) or not all(isinstance(x, str) for x in d):
                    return Opaque(k.value, f"**{self.seg(k.value)} is not a constant dict")
                kwargs.update(d)
            else:
                kwargs[k.arg] = self.ev(k.value, scope)
        return args, kwargs

    def const(self, v: Any, node: ast.AST, what: str) -> Any:
        """A JSON value for the spec doc; Opaque and non-values are located errors."""
        if isinstance(v, Opaque):
            raise self.opaque_error(v, what)
        if v is None or isinstance(v, (bool, int, float, str)):
            if isinstance(v, float) and not math.isfinite(v):
                raise self.error(node, f"{what} is not a finite number", received=repr(v))
            return v
        if isinstance(v, (list, tuple)):
            return [self.const(x, node, what) for x in v]
        if isinstance(v, dict):
            return {str(k): self.const(x, node, what) for k, x in v.items()}
        if isinstance(v, Obj):
            return v.spec
        if isinstance(v, Sym):
            fn = function_name(v.path)
            if fn is not None:
                return fn
            raise self.error(node, f"{what}: {v.path} is a module or class, not a value",
                             received=v.path)
        if isinstance(v, range):
            return list(v)
        if isinstance(v, DataArr):
            raise self.error(node, f"{what} is an array of the data, not a value",
                             received=f"an array of shape {list(v.shape)}",
                             hint="use its .shape or len(), e.g. x_train.shape[1:]")
        if isinstance(v, (Func, LocalClass)):
            raise self.error(node, f"{what}: {v.node.name} is defined in the script (line "
                                   f"{v.node.lineno}); seqc does not run script code",
                             received=v.node.name,
                             hint="use a built-in name, e.g. loss=\"mse\"")
        if isinstance(v, Instance):  # e.g. kernel_regularizer=MyRegularizer()
            raise self.error(node, f"{what}: an instance of {v.cls.node.name}, a class the "
                                   f"script defines (line {v.cls.node.lineno}); seqc has no "
                                   "code for it and does not run script code",
                             received=f"{v.cls.node.name}(...)",
                             hint="use a Keras built-in (keras.regularizers.L2, "
                                  "keras.constraints.MaxNorm, ...)"
                             if re.search(r"_(regularizer|constraint)\b", what) else None)
        raise self.error(node, f"{what} is not a value seqc can read",
                         received=type(v).__name__)


def _dotted(node: ast.AST) -> str | None:
    """`args.epochs` -> "args.epochs"; None for anything but a chain of names."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])
