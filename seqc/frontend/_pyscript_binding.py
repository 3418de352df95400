"""Which assignments of a script the data binds to, found in two passes. A survey reads the
script leniently and records, at each `fit` of a model, which assignment last set the names
it passes and, through shape-keeping steps (`astype`, `/ 255`, a scaler's `transform`,
`train_test_split`, `to_categorical`, a `load_data()` tuple), the names those came from. The
real read then binds the arrays (as DataArr values) at those assignments.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from ._pyscript_data import (
    SHAPE_KEEPING_ATTRS,
    SHAPE_KEEPING_FUNCS,
    SHAPE_KEEPING_METHODS,
    DataArr,
    rows_like,
)


def shape_source(rhs: ast.AST) -> list[tuple[str, str]]:
    """The names an assignment's value keeps the per-sample shape of, with how: "values"
    (the same values: `np.asarray(y)`, `y.astype(int)`, `df.values`), "same" (the same
    per-sample shape: `x / 255`, a scaler's transform, rows sliced), "ids"
    (`to_categorical(y)`: y holds the class ids of its one-hot rows) or "split"
    (`train_test_split(X, y)`: the i-th array of its arguments)."""
    node, how = rhs, "values"
    while True:
        if isinstance(node, ast.Name):
            return [(node.id, how)]
        if isinstance(node, (ast.BinOp, ast.UnaryOp)) or isinstance(
                node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            how = "same"  # (a shuffle `y[idx]` keeps the set of values)
        if isinstance(node, ast.BinOp):
            left, right = node.left, node.right
            if _is_number(right) or isinstance(left, ast.Name):
                node = left  # `x + noise`: x's shape (broadcasting keeps the larger one)
            elif _is_number(left) or isinstance(right, ast.Name):
                node = right
            else:
                return []
        elif isinstance(node, ast.UnaryOp):
            node = node.operand
        elif isinstance(node, ast.Attribute) and node.attr in SHAPE_KEEPING_ATTRS or (
                isinstance(node, ast.Subscript) and _rows_only(node.slice)):
            node = node.value
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(
                f, ast.Name) else ""
            if name == "to_categorical" and node.args and isinstance(node.args[0], ast.Name):
                return [(node.args[0].id, "ids")]
            if name == "train_test_split":
                return [(a.id, "split") for a in node.args if isinstance(a, ast.Name)]
            if isinstance(f, ast.Attribute) and f.attr in SHAPE_KEEPING_METHODS:
                if f.attr in ("fit_transform", "transform") and node.args:
                    node, how = node.args[0], "same"
                else:
                    node = f.value
            elif name in _SHAPE_KEEPING_NAMES and node.args:
                node = node.args[0]
            else:
                return []
        else:
            return []


_SHAPE_KEEPING_NAMES = frozenset(p.rsplit(".", 1)[1] for p in SHAPE_KEEPING_FUNCS)


def _is_number(n: ast.AST) -> bool:
    return isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(
        n.value, bool)


def _rows_only(s: ast.AST) -> bool:
    """`a[:n]`, `a[n:]` and `a[idx]` with an index array (a shuffle): rows, not per-sample
    axes."""
    return isinstance(s, (ast.Slice, ast.Name))


class DataBinding:
    """The survey and the binding of the data to assignments (a mixin of `pyscript.Reader`).
    State: `last_def[(scope id, name)]` the assignment that last set a name, `sources` what
    names each assignment's value keeps the shape of, `fit_uses` what each model.fit reads."""

    def lookup_def(self, name: str, scope: Any) -> ast.stmt | None:
        s = scope
        while s is not None:
            if name in s.vars:
                return self.last_def.get((id(s), name))
            s = s.parent
        return None

    def track_assign(self, st: ast.Assign, scope: Any) -> None:
        names: list[list[str]] = []
        for t in st.targets:
            if isinstance(t, ast.Name):
                names.append([t.id])
            elif isinstance(t, (ast.Tuple, ast.List)):
                names.append([e.id if isinstance(e, ast.Name) else "" for e in t.elts])
                # `(x_train, y_train), (x_test, y_test) = load_data()`: set here, no source
                names.append([n.id for e in t.elts if isinstance(e, (ast.Tuple, ast.List))
                              for n in ast.walk(e) if isinstance(n, ast.Name)])
        # what each name the value reads held just before (a dataset pipeline's steps)
        self.value_defs[id(st)] = {n.id: self.lookup_def(n.id, scope)
                                   for n in ast.walk(st.value) if isinstance(n, ast.Name)}
        srcs = shape_source(st.value)
        call = st.value.func if isinstance(st.value, ast.Call) else None
        if (isinstance(call, ast.Attribute) and call.attr == "load_data" or isinstance(
                call, ast.Name) and call.id == "load_data") and len(st.targets) == 1:
            # `(x_train, y_train), (x_test, y_test) = load_data()`: the test arrays have the
            # train arrays' per-sample shapes
            t = st.targets[0]
            pairs = [e.elts for e in getattr(t, "elts", []) if isinstance(e, (ast.Tuple,
                                                                               ast.List))]
            if len(pairs) == 2 and len(pairs[0]) == len(pairs[1]) == 2 and all(
                    isinstance(e, ast.Name) for p in pairs for e in p):
                self.load_sites.append((id(st), [e.id for p in pairs for e in p]))
            if len(pairs) == 2 and len(pairs[0]) == len(pairs[1]):
                sib = {a.id: [b.id] for a, b in zip(*pairs) if isinstance(a, ast.Name)
                       and isinstance(b, ast.Name)}
                sib.update({b.id: [a.id] for a, b in zip(*pairs) if isinstance(a, ast.Name)
                            and isinstance(b, ast.Name)})
                self.siblings[id(st)] = sib
        if srcs:
            rec: dict = {}
            for group in names:
                for i, n in enumerate(group):
                    if not n:
                        continue
                    if len(group) == 1 and srcs[0][1] != "split":
                        pick = srcs
                    elif srcs[0][1] == "split" and i // 2 < len(srcs):
                        pick = [srcs[i // 2]]
                    else:
                        continue
                    rec[n] = [(src, how, self.lookup_def(src, scope)) for src, how in pick]
            self.sources[id(st)] = rec
        for group in names:
            for n in group:
                if n:
                    self.last_def[(id(scope), n)] = st
        for n, arr in self.plan.get(id(st), {}).items():
            if any(n in g for g in names):
                scope.vars[n] = arr

    def record_fit(self, node: ast.Call, scope: Any) -> None:
        from ._pyscript_values import bind_args

        bound = bind_args(["x", "y"], node.args[:2], {k.arg: k.value for k in node.keywords
                                                      if k.arg in ("x", "y")}) or {}
        shown = []
        for role in ("x", "y"):
            arg = bound.get(role)
            if arg is None:
                continue
            shown.append(self.seg(arg, 30))
            if isinstance(arg, ast.Name):
                self.follow(self.lookup_def(arg.id, scope), arg.id, role, "values", set())
        if shown:
            self.fit_data.append(f"fit({', '.join(shown)}) at line {node.lineno}")
        # validation_data=(x_val, y_val): the --val-x/--val-y arrays, bound the same way
        val = next((k.value for k in node.keywords if k.arg == "validation_data"),
                   node.args[7] if len(node.args) > 7 else None)  # Keras: x, y, batch_size,
                   # epochs, verbose, callbacks, validation_split, validation_data
        if isinstance(val, (ast.Tuple, ast.List)) and len(val.elts) in (2, 3):
            for role, arg in zip(("val_x", "val_y"), val.elts):
                if isinstance(arg, ast.Name):
                    self.follow(self.lookup_def(arg.id, scope), arg.id, role, "values", set())

    def follow(self, d: ast.stmt | None, name: str, role: str, how: str, seen: set) -> None:
        if d is None or (id(d), name) in seen:
            return
        seen.add((id(d), name))
        self.fit_uses.append((id(d), name, role, how))
        for sib in self.siblings.get(id(d), {}).get(name, []):
            if (id(d), sib) not in seen:
                seen.add((id(d), sib))
                self.fit_uses.append((id(d), sib, role, "same"))
        for src, step, sd in self.sources.get(id(d), {}).get(name, []):
            if step == "ids":
                nxt = "ids" if how == "values" else "same"
            elif step in ("values", "split"):
                # A split keeps the values of the part given (the rows fit sees): enough for
                # the class count of len(np.unique(y)) or y.max() + 1.
                nxt = how
            else:
                nxt = "same"
            self.follow(sd, src, role, nxt, seen)

    def make_plan(self, x: np.ndarray | None, y: np.ndarray | None,
                  val_x: np.ndarray | None = None, val_y: np.ndarray | None = None) -> dict:
        """{id(assignment): {name: DataArr}} from the survey's fit uses. The validation
        arrays bind only names the training arrays do not (a split's common source is the
        training data's)."""
        plan: dict = {}
        given = {"x": x, "y": y, "val_x": val_x, "val_y": val_y}
        if self.staged_data and len(self.load_sites) == 1:
            # Stages fitted on arrays the script computes from one `load_data()` (rows
            # selected by label, transfer learning): the arrays given are what load_data
            # returns, each stage's are evaluated from them (_pyscript_stages).
            sid, names = self.load_sites[0]
            plan[sid] = {n: DataArr.of(np.asarray(a)) for n, a in zip(
                names, (x, y, val_x, val_y)) if a is not None}
            self.staged_binding = True
            return plan
        uses = sorted(self.fit_uses, key=lambda u: u[2].startswith("val_"))
        for sid, name, role, how in uses:
            a = given[role]
            if a is None or role.startswith("val_") and name in plan.get(sid, {}):
                continue
            a = np.asarray(a)
            if how == "ids":
                if a.ndim != 2 or a.shape[1] < 2:
                    continue
                # The class ids behind one-hot rows of C columns range over [0, C): the
                # script's own to_categorical made C columns from them, whatever rows a
                # sample of the data happens to hold.
                arr = DataArr.of(a.argmax(-1))
                arr.values = np.concatenate([np.arange(a.shape[1]), arr.values])
            elif how == "values":
                arr = DataArr.of(a)
            else:
                arr = rows_like(DataArr.of(a), None)
            plan.setdefault(sid, {})[name] = arr
        return plan
