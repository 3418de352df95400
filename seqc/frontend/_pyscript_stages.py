"""Training in stages in a Keras script: `model.fit(...)`, then `layer.trainable = False` (or
True), `model.compile(...)` and `model.fit(...)` again, as the transfer-learning tutorials do.
Keras applies a trainable change at the next compile, which also makes a new optimizer state;
each such fit becomes one entry of the spec's `stages` (seqc.frontend.stages), with the layers
frozen at that fit, its compile and its fit settings.

Each stage trains on the data given, or, where the stages fit arrays the script computes from
one `load_data()` (rows selected by label: `x_train[y_train < 5]`, `y_train[y_train >= 5] - 5`,
then reshape, astype, `/ 255`, to_categorical), on its own arrays: the data given binds to
load_data's names (_pyscript_binding) and each stage's arrays are those expressions evaluated
on it (_pyscript_data), never the script run. They travel with the definition
(`extra["stage_data"]`), not in the JSON spec.

What seqc cannot honour is refused at its line: a trainable change after the last fit (or
with no compile before the next fit), a stage whose data is neither shown to be the first
stage's nor evaluated from the data given, a staged model seqc reads as a graph or from
PyTorch.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

import numpy as np

from ._pyscript_values import Layer, ModelVal

if TYPE_CHECKING:
    from .pyscript import Reader


def layer_state(m: ModelVal) -> dict[int, bool]:
    """Whether each layer of `m` trains now: its own flag, and every model around it
    trainable (Keras 3: a frozen parent freezes its layers)."""
    out: dict[int, bool] = {}

    def walk(v: Any, frozen: bool) -> None:
        if isinstance(v, ModelVal):
            for _, child, _ in v.items:
                walk(child, frozen or not v.trainable)
        elif isinstance(v, Layer):
            out[id(v)] = not frozen and v.kwargs.get("trainable", True) is not False

    walk(m, False)
    return out


def _contains(m: ModelVal, obj: Any) -> bool:
    if m is obj:
        return True
    return any(v is obj or isinstance(v, ModelVal) and _contains(v, obj) for _, v, _ in m.items)


def trainable_changed(r: Reader, obj: Any, node: ast.AST, what: str) -> None:
    """`layer.trainable = ...` on a layer (or model) of a model that has been fitted: the
    change waits for that model's next compile."""
    for m in r.models:
        if m.fitted_at is not None and m.changed_at is None and _contains(m, obj):
            m.changed_at = (node, what)


def data_key(r: Reader, node: ast.Call, scope: Any) -> tuple:
    """What a fit trains on, comparable between fits: for each of x and y, the name it
    passes with the scope and the assignment that set it (a function's local is set anew in
    each call); anything but a plain name is new each time."""
    from ._pyscript_values import bind_args

    bound = bind_args(["x", "y"], node.args[:2], {k.arg: k.value for k in node.keywords
                                                  if k.arg in ("x", "y")}) or {}
    out = []
    for role in ("x", "y"):
        arg = bound.get(role)
        if not isinstance(arg, ast.Name):
            out.append(object() if arg is not None else None)
            continue
        s = scope
        while s is not None and arg.id not in s.vars:
            s = s.parent
        out.append((s, arg.id, r.lookup_def(arg.id, scope)))  # kept: no id() reuse
    return tuple(out)


def fit_arrays(args: list, kwargs: dict) -> tuple:
    """(x, y, val_x, val_y) as a fit receives them (Keras 3's positions: validation_data is
    the eighth argument)."""
    x = args[0] if args else kwargs.get("x")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    val = kwargs.get("validation_data", args[7] if len(args) > 7 else None)
    vx, vy = tuple(val)[:2] if isinstance(val, (tuple, list)) and len(val) in (2, 3) else (
        None, None)
    return x, y, vx, vy


def _unevaluated(r: Reader, arrays: tuple, node: ast.Call) -> str | None:
    """Why a stage's x or y is not an array seqc evaluated from the data given (None: both
    are)."""
    from ._pyscript_data import MAX_VALUES, DataArr
    from ._pyscript_values import Opaque

    # validation_data counts where validation arrays were given: never validated on nothing
    roles = ("x", "y", "validation_data x", "validation_data y")
    checked = 4 if r.bindings.val_x is not None and arrays[2:] != (None, None) else 2
    for role, a in list(zip(roles, arrays))[:checked]:
        if isinstance(a, DataArr) and a.values is not None:
            continue
        if isinstance(a, Opaque):
            return f"its {role}: {a.why} (line {getattr(a.node, 'lineno', node.lineno)})"
        if isinstance(a, DataArr) and None not in a.shape and np.prod(a.shape) > MAX_VALUES:
            return (f"its {role} has {np.prod(a.shape):,} values, more than the "
                    f"{MAX_VALUES:,} seqc evaluates")
        return f"its {role} is not evaluated from the data given"
    return None


def _values(a: Any) -> Any:
    from ._pyscript_data import DataArr

    return a.values if isinstance(a, DataArr) else None


def recompiled(r: Reader, m: ModelVal, cfg: dict, node: ast.Call) -> None:
    """`model.compile(...)` after a fit: the next fit is a new stage with these settings."""
    m.recompiled = (cfg, node)


def next_stage(r: Reader, m: ModelVal, fit: dict, key: tuple, node: ast.Call) -> bool:
    """A fit after a fit: a new stage when a compile came between them (True), else False
    (the caller's other rules apply). A trainable change without a compile is refused.
    `key` is (data_key, fit_arrays)."""
    xy, arrays = key
    if m.recompiled is None:
        if m.changed_at is not None:
            at, what = m.changed_at
            r.refuse(m, node, f"{r.seg(node)} trains after `{what}` (line {at.lineno}) with "
                              "no compile between them; Keras applies a trainable change at "
                              "compile, and seqc reads it only so", field="trainable",
                     received=what, hint="call model.compile(...) after changing trainable")
            return True
        return False
    first_xy = m.stages[0]["xy"] if m.stages else m.fit_xy
    if r.survey and xy != first_xy:
        r.staged_data = True  # the data given binds to load_data()'s names, if one is
    if r.staged_binding:  # each stage on its own arrays, evaluated from the data given
        for arr, at in ((m.fit_arrays, m.fitted_at), (arrays, node)):
            why = _unevaluated(r, arr, at)
            if why is not None:
                via = f", called from line {r.call_sites[0].lineno}" if r.call_sites else ""
                r.refuse(m, at, f"{r.seg(at)}{via} is a training stage on arrays seqc cannot "
                                f"evaluate from the data given (bound to load_data()'s "
                                f"names): {why}", field="fit", received=r.seg(at),
                         hint="give the arrays load_data() returns (--x/--y; --val-x/"
                              "--val-y its test arrays), and compute each stage's from them "
                              "with masks, reshape, astype, arithmetic and to_categorical")
                return True
    elif xy != first_xy:
        first = m.stages[0]["node"] if m.stages else m.fitted_at
        via = f", called from line {r.call_sites[0].lineno}" if r.call_sites else ""
        r.refuse(m, node, f"{r.seg(node)}{via} starts a training stage on data seqc cannot "
                          f"show to be the first stage's (the fit at line {first.lineno}): "
                          "it computes them anew, or names other arrays; seqc trains every "
                          "stage on the data given (it does not select rows by label)",
                 field="fit", received=r.seg(node),
                 hint="fit every stage on the same arrays, or build each stage from the "
                      "previous one's output")
        return True
    cfg, _ = m.recompiled
    m.stages.append({"compile": m.compile, "fit": m.fit, "state": m.fit_state,
                     "node": m.fitted_at, "xy": m.fit_xy, "arrays": m.fit_arrays})
    m.compile, m.fit, m.fitted_at, m.fit_repeats = cfg, fit, node, 1
    m.fit_state, m.fit_xy, m.fit_arrays = layer_state(m), xy, arrays
    m.recompiled = m.changed_at = None
    return True


def stages_doc(r: Reader, m: ModelVal, doc: dict) -> None:
    """The spec's `stages` for a model trained in stages (nothing for one trained once); a
    trainable change after the last fit is refused."""
    if m.changed_at is not None:
        at, what = m.changed_at
        raise r.error(at, f"`{what}` changes which weights train after model.fit() (line "
                          f"{m.fitted_at.lineno}), and no fit follows it; seqc trains the "
                          "stages the script fits", field="trainable", received=what,
                      hint="remove it, or compile and fit again after it")
    if m.recompiled is not None and m.recompiled[0] != m.compile:
        # After the last fit (to evaluate with other metrics): training used the earlier one.
        r.note(m.recompiled[1], f"{r.seg(m.recompiled[1])} comes after the fit at line "
                                f"{m.fitted_at.lineno}; the model trains with the compile "
                                "before it")
    from ._pyscript_reuse import pretraining

    pre = pretraining(r, m, doc)  # its first layers trained by another model first
    if not m.stages and pre is None:
        return
    if m.framework != "keras" or m.graph is not None:
        raise r.error(m.stages[0]["node"], "training in stages (fit, change trainable, "
                                           "compile, fit) is read for Keras Sequential models "
                                           "only", field="fit", received=r.seg(m.fitted_at))
    by_doc = getattr(r, "_doc_layers", {})
    runs = [*m.stages, {"compile": m.compile, "fit": m.fit, "state": m.fit_state,
                        "node": m.fitted_at, "arrays": m.fit_arrays}]
    out = []
    for st in runs:
        frozen = []
        for i, d in enumerate(doc["layers"]):
            v = by_doc.get(id(d), (None, None))[1]
            if v is None:
                raise r.error(st["node"], "training in stages: a layer of the model is not "
                                          "a plain Keras layer seqc can follow", field="fit",
                              received=r.seg(st["node"]))
            if not st["state"].get(id(v), True):
                frozen.append(i)
        fit = dict(st["fit"] or {})
        fit.pop("validation_data", None)  # the arrays given (pyscript: info), not the spec's
        if r.seed is not None:
            fit["seed"] = r.seed
        out.append({"frozen": frozen, "compile": st["compile"], "fit": fit})
    if pre is not None:
        rec = pre["rec"]
        if r.seed is not None:
            pre["stage"]["fit"]["seed"] = r.seed
        if r.staged_binding:
            why = _unevaluated(r, rec.fit_arrays, rec.fitted_at)
            if why is not None:
                raise r.error(rec.fitted_at, f"{r.seg(rec.fitted_at)} trains the layers the "
                                             "model built reuses, on arrays seqc cannot "
                                             f"evaluate from the data given: {why}",
                              field="fit", received=r.seg(rec.fitted_at),
                              hint="give the arrays load_data() returns (--x/--y), and "
                                   "compute each model's from them with masks, reshape, "
                                   "astype, arithmetic and to_categorical")
        elif rec.fit_xy != runs[0].get("xy", m.fit_xy):
            raise r.error(rec.fitted_at, f"{r.seg(rec.fitted_at)} trains the layers the model "
                                         "built reuses on other arrays than the model's fit; "
                                         "seqc evaluates each stage's arrays only from one "
                                         "load_data() whose names the data given binds to",
                          field="fit", received=r.seg(rec.fitted_at),
                          hint="load the data with one load_data() call, or fit both models "
                               "on the same arrays")
        out.insert(0, pre["stage"])
        runs.insert(0, {"node": rec.fitted_at, "arrays": rec.fit_arrays, "head": True})
    doc["stages"] = out
    if r.staged_binding:
        r.stage_data = [tuple(_values(a) for a in st["arrays"]) for st in runs]
    lines = ", then ".join(("the source model's " if st.get("head") else "") +
                           f"fit at line {st['node'].lineno}" + (
        f" with {len(o['frozen'])} layers frozen" if o["frozen"] else "") + (
        f" on {len(d[0])} rows" + ("" if d[2] is None or d[3] is None else
                                   f", validated on {len(d[2])}")
        if r.staged_binding else "") for st, o, d in zip(runs, out, r.stage_data or [
            ()] * len(out)))
    data = ("its own arrays, evaluated from the data given (bound to load_data()'s names)"
            if r.staged_binding else "the same data")
    r.note(m.fitted_at, f"trains in {len(out)} stages, each compiled anew (a new optimizer "
                        f"state), on {data}: {lines}")
