"""Selector modules: the one piece of a PyTorch forward() seqc reads. nn.LSTM/nn.GRU return
(output, state); a local nn.Module whose forward only picks the output (`x[0]`) or its last
step (`x[0][:, -1]`) is recognised on its syntax tree and becomes return_sequences.
"""

from __future__ import annotations

import ast


def selector_kind(st: ast.ClassDef) -> str | None:
    """A local nn.Module whose forward only picks the recurrent output out of the
    (output, state) tuple: `return x[0][:, -1]` -> "last", `return x[0]` -> "output".
    Anything else in the class makes it an ordinary subclassed module (None)."""
    body = [s for s in st.body if not _is_doc(s)]
    forward = None
    for s in body:
        if isinstance(s, ast.FunctionDef) and s.name == "forward":
            forward = s
        elif isinstance(s, ast.FunctionDef) and s.name == "__init__":
            if not all(_is_doc(x) or _is_super_init(x) for x in s.body):
                return None
        else:
            return None
    if forward is None or forward.decorator_list:
        return None
    a = forward.args
    params = [p.arg for p in [*a.posonlyargs, *a.args]]
    if len(params) != 2 or a.vararg or a.kwarg or a.kwonlyargs:
        return None
    x = params[1]
    outs: set[str] = set()
    stmts = [s for s in forward.body if not _is_doc(s)]
    for s in stmts[:-1]:
        if not (isinstance(s, ast.Assign) and len(s.targets) == 1):
            return None
        tgt, val = s.targets[0], s.value
        if isinstance(tgt, ast.Tuple) and len(tgt.elts) == 2 and isinstance(
                tgt.elts[0], ast.Name) and _is_name(val, x):
            outs.add(tgt.elts[0].id)
        elif isinstance(tgt, ast.Name) and _is_output(val, x, outs):
            outs.add(tgt.id)
        else:
            return None
    if not stmts or not isinstance(stmts[-1], ast.Return) or stmts[-1].value is None:
        return None
    ret = stmts[-1].value
    if _is_output(ret, x, outs):
        return "output"
    if isinstance(ret, ast.Subscript) and _is_output(ret.value, x, outs) and _is_last(ret.slice):
        return "last"
    return None


def _is_doc(s: ast.stmt) -> bool:
    return isinstance(s, ast.Pass) or isinstance(s, ast.Expr) and isinstance(
        s.value, ast.Constant) and isinstance(s.value.value, str)


def _is_super_init(s: ast.stmt) -> bool:
    if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)):
        return False
    f = s.value.func
    return (isinstance(f, ast.Attribute) and f.attr == "__init__"
            and isinstance(f.value, ast.Call) and isinstance(f.value.func, ast.Name)
            and f.value.func.id == "super" and not s.value.args)


def _is_name(n: ast.AST, ident: str) -> bool:
    return isinstance(n, ast.Name) and n.id == ident


def _is_output(n: ast.AST, x: str, outs: set[str]) -> bool:
    if isinstance(n, ast.Name) and n.id in outs:
        return True
    return (isinstance(n, ast.Subscript) and _is_name(n.value, x)
            and isinstance(n.slice, ast.Constant) and n.slice.value == 0
            and not isinstance(n.slice.value, bool))


def _is_last(s: ast.AST) -> bool:
    """`[:, -1]` or `[:, -1, :]`."""
    if not isinstance(s, ast.Tuple) or len(s.elts) not in (2, 3):
        return False
    full = [isinstance(e, ast.Slice) and e.lower is None and e.upper is None and e.step is None
            for e in s.elts]
    mid = s.elts[1]
    minus1 = (isinstance(mid, ast.UnaryOp) and isinstance(mid.op, ast.USub)
              and isinstance(mid.operand, ast.Constant) and mid.operand.value == 1)
    return full[0] and minus1 and (len(s.elts) == 2 or full[2])
