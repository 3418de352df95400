"""Training in stages in a Keras script: `model.fit(...)`, then `layer.trainable = False` (or
True), `model.compile(...)` and `model.fit(...)` again, as the transfer-learning tutorials do.
Keras applies a trainable change at the next compile, which also makes a new optimizer state;
each such fit becomes one entry of the spec's `stages` (seqc.frontend.stages), with the layers
frozen at that fit, its compile and its fit settings.

What seqc cannot honour is refused at its line: a trainable change after the last fit (or
with no compile before the next fit), a stage whose data is not shown to be the first stage's
(seqc trains every stage on the data given), a staged model seqc reads as a graph or from
PyTorch.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

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


def recompiled(r: Reader, m: ModelVal, cfg: dict, node: ast.Call) -> None:
    """`model.compile(...)` after a fit: the next fit is a new stage with these settings."""
    m.recompiled = (cfg, node)


def next_stage(r: Reader, m: ModelVal, fit: dict, xy: tuple, node: ast.Call) -> bool:
    """A fit after a fit: a new stage when a compile came between them (True), else False
    (the caller's other rules apply). A trainable change without a compile is refused."""
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
    if xy != first_xy:
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
                     "node": m.fitted_at, "xy": m.fit_xy})
    m.compile, m.fit, m.fitted_at, m.fit_repeats = cfg, fit, node, 1
    m.fit_state, m.fit_xy = layer_state(m), xy
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
    if not m.stages:
        return
    if m.framework != "keras" or m.graph is not None:
        raise r.error(m.stages[0]["node"], "training in stages (fit, change trainable, "
                                           "compile, fit) is read for Keras Sequential models "
                                           "only", field="fit", received=r.seg(m.fitted_at))
    by_doc = getattr(r, "_doc_layers", {})
    runs = [*m.stages, {"compile": m.compile, "fit": m.fit, "state": m.fit_state,
                        "node": m.fitted_at}]
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
        if r.seed is not None:
            fit["seed"] = r.seed
        out.append({"frozen": frozen, "compile": st["compile"], "fit": fit})
    doc["stages"] = out
    lines = ", then ".join(f"fit at line {st['node'].lineno}" + (
        f" with {len(o['frozen'])} layers frozen" if o["frozen"] else "")
                           for st, o in zip(runs, out))
    r.note(m.fitted_at, f"trains in {len(out)} stages, each compiled anew (a new optimizer "
                        f"state), on the same data: {lines}")
