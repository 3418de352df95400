"""Python's builtins called on constants, folded: `range`, `len`, `int`, `zip`, `enumerate`,
... (`BUILTINS`), and `isinstance(m, nn.Conv2d)` on a module of a PyTorch model; Opaque for
anything else.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from ._pyscript_names import norm
from ._pyscript_values import ModelVal, Opaque, Sym, TorchMod, is_const

if TYPE_CHECKING:
    from ._pyscript_expr import ExprReader

# The builtins folded on constants: a name the script does not set reads as `builtins.<name>`.
BUILTINS = ("range", "len", "int", "float", "bool", "str", "abs", "min", "max", "round",
            "tuple", "list", "sum", "dict", "enumerate", "zip", "reversed", "isinstance")


def _torch_isinstance(obj: Any, classes: Any) -> bool | None:
    """isinstance(m, nn.Conv2d) / isinstance(m, (nn.Linear, nn.Conv2d)) on a module of a
    PyTorch model (a model.apply(fn) function); None for anything else."""
    classes = classes if isinstance(classes, (list, tuple)) else [classes]
    if not all(isinstance(c, Sym) for c in classes):
        return None
    names = []
    for c in classes:
        mod, _, cls = norm(c.path).rpartition(".")
        if mod not in ("torch.nn", "torch.nn.modules"):
            return None
        names.append(cls)
    if isinstance(obj, TorchMod) and not obj.cls.startswith("<"):
        return obj.cls in names or "Module" in names
    if isinstance(obj, ModelVal) and obj.framework == "torch":
        return "Module" in names or "Sequential" in names and obj.name is None
    return None


def fold_builtin(r: ExprReader, name: str, args: list, kwargs: dict, node: ast.Call) -> Any:
    """`range`, `len`, `int`, `zip`, ... called on constants, folded; Opaque otherwise."""
    if name == "len" and len(args) == 1 and not kwargs and isinstance(args[0], list):
        return len(args[0])  # a list of layers (an nn.ModuleList) has a constant length
    if name == "isinstance" and len(args) == 2 and not kwargs:
        got = _torch_isinstance(*args)
        if got is not None:
            return got
    unknown = next((a for a in [*args, *kwargs.values()] if isinstance(a, Opaque)), None)
    if name == "len" and len(args) == 1 and not kwargs and unknown is args[0] and (
            unknown.name and f"len({unknown.name})" in r.defines):
        # --define 'len(chars)=83' for `len(self.chars)` of a `chars` passed in to __init__
        return r.defined(f"len({unknown.name})", unknown)
    if unknown is not None and name in ("enumerate", "zip", "reversed", "tuple", "list"):
        return unknown  # the reason an argument is unknown, from where it comes from
    if not all(is_const(a) for a in args) or not all(is_const(v) for v in kwargs.values()):
        return Opaque(node, f"{r.seg(node)} is not computed from constants")
    try:
        if name == "range":
            if kwargs or not all(isinstance(a, int) for a in args):
                return Opaque(node, "range() of non-integers")
            return range(*args)
        if name in ("tuple", "list"):
            seq = r.iterate(args[0]) if args else []
            if seq is None or kwargs:
                return Opaque(node, f"{r.seg(node)} is not a constant sequence")
            return tuple(seq) if name == "tuple" else list(seq)
        if name == "dict":
            return Opaque(node, "dict() is not folded")
        if name in ("enumerate", "zip", "reversed") and not kwargs:
            seqs = [r.iterate(a) for a in args]
            if not seqs or any(s is None for s in seqs) or (name != "zip" and len(seqs) != 1):
                return Opaque(node, f"{r.seg(node)} is not over constant sequences")
            if name == "enumerate":
                return list(enumerate(seqs[0]))
            return list(reversed(seqs[0])) if name == "reversed" else list(zip(*seqs))
        if name in ("int", "float", "bool", "abs", "round", "str") and len(args) <= 2:
            if name == "str" and not isinstance(args[0], (int, float, str, bool)):
                return Opaque(node, "str() of a container")
            return {"int": int, "float": float, "bool": bool, "abs": abs, "round": round,
                    "str": str}[name](*args, **kwargs)
        if name in ("len", "min", "max", "sum"):
            fn = {"len": len, "min": min, "max": max, "sum": sum}[name]
            return fn(*args, **kwargs)
    except (TypeError, ValueError, ArithmeticError):
        return Opaque(node, f"{r.seg(node)} fails")
    return Opaque(node, f"{name}() is not folded")
