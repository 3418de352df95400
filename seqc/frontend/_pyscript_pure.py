"""Whether a method of a script-defined module only computes (a helper such as the spatial
transformer's `stn(x)`, called to show its output): such a call leaves the model as it is,
so the reader does not run it.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from ._pyscript_self import MAX_METHOD_DEPTH, find_method
from ._pyscript_values import Instance

if TYPE_CHECKING:
    from .pyscript import Reader


# Methods that change a module or a tensor they are called on (besides the in-place `*_`).
_MUTATORS = frozenset(("train", "eval", "half", "double", "bfloat16", "load_state_dict",
                       "register_buffer", "register_parameter", "add_module", "apply",
                       "register_forward_hook", "register_forward_pre_hook", "step",
                       "backward", "zero_grad", "append", "extend", "insert", "pop",
                       "update", "setdefault", "clear", "remove"))
_PURE_BUILTINS = frozenset(("len", "range", "print", "min", "max", "abs", "int", "float",
                            "bool", "sum", "zip", "enumerate", "list", "tuple", "isinstance",
                            "round", "super"))
_PURE_STMTS = (ast.Assign, ast.AnnAssign, ast.Return, ast.If, ast.For, ast.Pass, ast.Expr,
               ast.With)


def instance_of(r: Reader, v: Any) -> Instance | None:
    """The script-defined module instance v is, or was read into (read_instance's cache)."""
    if isinstance(v, Instance):
        return v
    cache = r.__dict__.get("_subclass_models", {})
    return next((inst for inst, m in cache.values() if m is v), None)


def pure_method(r: Reader, inst: Instance, meth: str, depth: int = 0) -> bool:
    """Whether `model.<meth>(...)` on a script-defined module only computes (a helper such as
    the spatial transformer's `stn(x)`, called to show its output): assignments to local
    names only, no in-place or mutating method, no other script method that is not pure, no
    function but a few builtins called by name (setattr, exec, a script function), the module
    itself handed to no call. Such a call leaves the model as it is: it is not run."""
    from ..errors import SeqcError

    def method(name: str) -> ast.FunctionDef | None:
        try:
            return find_method(r, inst.cls, name)
        except SeqcError:  # decorated: not read, so not known to be pure
            return None

    fn = method(meth) if not meth.startswith("_") else None
    if fn is None or depth > MAX_METHOD_DEPTH:
        return False
    me = fn.args.args[0].arg if fn.args.args else None
    for n in ast.walk(fn):
        if isinstance(n, ast.stmt) and n is not fn and not isinstance(n, _PURE_STMTS):
            return False
        if isinstance(n, (ast.Attribute, ast.Subscript)) and not isinstance(n.ctx, ast.Load):
            return False  # self.x = ..., t[i] = ..., del ...
        if isinstance(n, (ast.NamedExpr, ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom)):
            return False
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and (
                n.func.id not in _PURE_BUILTINS):
            return False  # setattr, exec, a script function that may change its arguments
        if isinstance(n, ast.Call) and me is not None and any(
                isinstance(a, ast.Name) and a.id == me
                for a in [*n.args, *(k.value for k in n.keywords)]):
            return False  # the module itself handed to another function
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            attr = n.func.attr
            if attr.endswith("_") or attr in _MUTATORS:
                return False
            base = n.func.value
            if isinstance(base, ast.Name) and base.id == me and method(
                    attr) is not None and attr != meth and (
                    not pure_method(r, inst, attr, depth + 1)):
                return False  # self.helper(...) that changes something
    return True
