"""Bound data changed or combined as numpy does, for the script reader (_pyscript_data):
`~mask`, masks combined with `|`, `&`, `^`, and the in-place update `y_A[y_A > 6] -= 2`
(Hands-On ML's split_dataset), evaluated on the data given; never the script run.
"""

from __future__ import annotations

import ast
import operator
from typing import TYPE_CHECKING, Any

import numpy as np

from ._pyscript_data import _BAD, DataArr

if TYPE_CHECKING:
    from .pyscript import Reader

_INPLACE = {ast.Add: operator.iadd, ast.Sub: operator.isub, ast.Mult: operator.imul,
            ast.Div: operator.itruediv, ast.FloorDiv: operator.ifloordiv}


def mask_binop(r: Reader, op: ast.operator, a: Any, b: Any, node: ast.AST) -> Any:
    """`(y == 5) | (y == 6)`: two boolean masks combined (None: not masks)."""
    from ._pyscript_values import Opaque

    if not isinstance(op, (ast.BitOr, ast.BitAnd, ast.BitXor)) or not all(
            isinstance(v, DataArr) and v.dtype == "bool" for v in (a, b)):
        return None
    if a.shape != b.shape:
        return Opaque(node, f"{r.seg(node)}: masks of shapes {a.shape} and {b.shape}")
    f = {ast.BitOr: np.logical_or, ast.BitAnd: np.logical_and,
         ast.BitXor: np.logical_xor}[type(op)]
    vals = None if a.values is None or b.values is None else f(a.values, b.values)
    return DataArr(a.shape, "bool", vals, a.node)


def data_unary(r: Reader, op: ast.unaryop, a: DataArr, node: ast.UnaryOp) -> Any:
    """`~mask` (a boolean mask's complement), `-x`, `+x`."""
    from ._pyscript_values import Opaque

    if isinstance(op, ast.Invert) and a.dtype == "bool":
        return DataArr(a.shape, "bool", None if a.values is None else ~a.values, a.node)
    if isinstance(op, (ast.USub, ast.UAdd)) and a.dtype != "bool":
        vals = None if a.values is None else -a.values if isinstance(
            op, ast.USub) else a.values
        return DataArr(a.shape, a.dtype, vals, a.node)
    return Opaque(node, f"{r.seg(node)} is not arithmetic seqc evaluates on data")


def data_augassign(r: Reader, st: ast.AugAssign, scope: Any) -> bool:
    """`y_A[y_A > 6] -= 2` on a bound array (Hands-On ML's split_dataset): numpy's in-place
    update of the rows a mask or an index selects, applied to the array's values (so a view
    of it, or a name bound to it, changes too, as in numpy). The arrays given themselves are
    never written: such an update is refused. False: not an update of bound data."""
    from ._pyscript_values import Opaque

    t = st.target
    if not isinstance(t, ast.Subscript) or not isinstance(t.value, ast.Name):
        return False
    try:
        a = r.name(t.value.id, t.value, scope)
    except Exception:  # noqa: BLE001 - not a name the reader knows: not data
        return False
    if not isinstance(a, DataArr):
        return False
    idx = r.index_value(t.slice, scope)
    rhs = r.ev(st.value, scope)
    fn = _INPLACE.get(type(st.op))
    given = [v for v in (r.bindings.x, r.bindings.y, r.bindings.val_x,
                         r.bindings.val_y) if isinstance(v, np.ndarray)]
    vals = a.values
    why = None
    if fn is None or not isinstance(rhs, (int, float)) or isinstance(rhs, bool):
        why = "an in-place update by a number (+=, -=, *=, /=)"
    elif idx is _BAD or isinstance(idx, Opaque):
        why = "an index seqc reads"
    elif vals is None or vals.shape != a.shape:
        why = None  # the shape stays; the values are unknown from here on
    elif any(np.shares_memory(vals, g) for g in given):
        if not r.survey:  # numpy would change every array that views them
            raise r.error(st, f"{r.seg(st)} changes the arrays given in place, and "
                                 "with them every array the script views them through; "
                                 "seqc never writes the arrays given", field="data",
                             received=r.seg(st),
                             hint="give the arrays as the script has them after the "
                                  "update, or assign a new array (y = y - 2)")
        why = "an update of the arrays given"
    if why is not None:
        scope_of = scope
        while scope_of is not None and t.value.id not in scope_of.vars:
            scope_of = scope_of.parent
        (scope_of or scope).vars[t.value.id] = Opaque(
            st, f"{r.seg(st)} changes the data in a way seqc does not evaluate "
                f"(it reads {why})")
        return True
    if vals is None or vals.shape != a.shape:
        a.values = None
        return True
    sel = np.asarray(idx.values, bool) if isinstance(idx, DataArr) else idx
    if isinstance(idx, DataArr) and (idx.values is None or idx.values.shape[0] != len(
            vals)):
        a.values = None
        return True
    try:
        with np.errstate(all="ignore"):
            vals[sel] = fn(vals[sel], rhs)  # what Python runs for `vals[sel] -= rhs`
    except (ValueError, IndexError, TypeError):  # numpy's casting rule refuses it
        a.values = None
    return True
