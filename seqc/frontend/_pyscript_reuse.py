"""A Keras model reused in the same script: `model.save(p)` then `keras.models.load_model(p)`,
`keras.models.clone_model(m)`, `m2.set_weights(m.get_weights())`, and a new model built from
its layers (`Sequential(model_A.layers[:-1])`), as Hands-On ML's transfer learning does.

The reader follows where each layer's weights come from. `load_model(p)` of a file the script
saved is the model as it was at that save: new layer objects of the same configuration that
hold the weights the model had then (its initial weights, or the weights its fit trained).
`clone_model(m)` is the same architecture with fresh initial weights (Keras re-initialises);
`set_weights(m.get_weights())` copies m's weights, layer by layer. `Sequential(m.layers[:k])`
shares the layer objects, so a fit of either model trains both (the reader's sharing check).

When the model built starts with layers that hold weights another model's fit trained (the
source model: the same layers followed by its own head), seqc's build trains that model
first, as a stage with a `head` (seqc.frontend.stages), and then the model's own stages. A
load_model of a file the script does not write (pretrained weights seqc does not have), and
every reuse seqc cannot follow, is refused at its line where the model built needs it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._pyscript_values import Layer, ModelVal, Opaque

if TYPE_CHECKING:
    from .pyscript import Reader

LOAD_MODEL = ("keras.models.load_model", "keras.saving.load_model", "keras.load_model")
CLONE_MODEL = ("keras.models.clone_model", "keras.clone_model")
SAVE_MODEL = ("keras.models.save_model", "keras.saving.save_model", "keras.save_model")


@dataclass(eq=False)
class Trained:
    """A model's weights after its fit, as a save (or get_weights) caught them: the source
    of layers that carry them on. `layers` are copies of its layers at that moment (the
    architecture then), `state` which of them its fit trained."""

    owner: ModelVal
    node: ast.AST  # the save / set_weights call that caught them
    layers: list
    state: list  # per layer: whether the fit trained it (not frozen)
    compile: dict | None
    fit: dict | None
    fitted_at: ast.AST
    fit_xy: tuple
    fit_arrays: tuple
    problem: str | None = None  # why seqc cannot train it again in the build
    items: list = field(default_factory=list)


def _copy(r: Reader, v: Any) -> Any:
    """A layer of the same configuration (a new object: its own weights)."""
    if isinstance(v, Layer):
        return Layer(v.cls, list(v.args), dict(v.kwargs), v.node, auto_name=v.auto_name)
    return v


def _sources(r: Reader) -> dict:
    """id(layer) -> (Trained, index among the source's layers): where a layer's weights
    come from, when another model's fit trained them."""
    return r.__dict__.setdefault("weights_from", {})


def _layers(m: ModelVal) -> list:
    """A Sequential's `model.layers` (Keras 3 keeps an Input out of it), as
    _pyscript_model.model_layers (not imported: that module imports this one)."""
    return [v for _, v, _ in m.items if not (isinstance(v, Layer) and v.cls in (
        "Input", "InputLayer"))]


def _config(v: Any) -> Any:
    """What set_weights needs alike in two layers: class and constant arguments, the name and
    trainable flag aside (None: not a layer of constant arguments)."""
    from ._pyscript_values import is_const

    if not isinstance(v, Layer) or not all(is_const(a) for a in [*v.args,
                                                                  *v.kwargs.values()]):
        return None
    return v.cls, repr(v.args), repr(sorted((k, a) for k, a in v.kwargs.items()
                                            if k not in ("name", "trainable")))


def caught(r: Reader, m: ModelVal, node: ast.AST) -> Trained | None:
    """The weights `m` holds now, when its fit trained them (None: initial weights)."""
    if m.fitted_at is None:
        return None
    layers = _layers(m)
    state = m.fit_state  # which layers trained at its (one) fit
    problem = None
    if m.framework != "keras" or m.graph is not None or m.functional:
        problem = "seqc trains such a source model again only for a Keras Sequential model"
    elif any(not isinstance(v, Layer) for v in layers):
        problem = "its layers include a nested model"
    elif m.stages or m.recompiled is not None and m.changed_at is not None:
        problem = "it was trained in stages"
    elif m.reloaded is not None or m.init_from is not None:
        problem = "it loaded weights before"
    elif any(id(v) in _sources(r) for v in layers):
        problem = "its own layers came from another model's training"
    elif _trained_elsewhere(r, layers, m):
        problem = "another model's fit trains its layers too"
    copies = {id(v): _copy(r, v) for v in layers}
    rec = Trained(m, node, list(copies.values()), [state.get(id(v), True) for v in layers],
                  m.compile, m.fit, m.fitted_at, m.fit_xy, m.fit_arrays, problem,
                  items=[(n, copies.get(id(v), v), at) for n, v, at in m.items])
    if r.survey:
        r.staged_data = True  # the source's fit may train on other arrays: load_data's
    return rec


def _trained_elsewhere(r: Reader, layers: list, but: ModelVal | None) -> bool:
    """Whether a fitted model other than `but` holds one of these layer objects (Keras
    shares them: its fit changed their weights)."""
    mine = {id(v) for v in layers}
    return any(other is not but and other.fitted_at is not None and any(
        id(v) in mine for v in _layers(other)) for other in r.models)


def saved_model(r: Reader, m: ModelVal, path: ast.AST, node: ast.AST) -> None:
    """`model.save(p)`: the model as it is now, for a later `load_model(p)`."""
    saves = r.__dict__.setdefault("model_saves", {})
    saves[r.path_key(path)] = (node.lineno, m, [(n, _copy(r, v), at) for n, v, at in m.items],
                               caught(r, m, node))


def reuse_call(r: Reader, p: str, args: list, kwargs: dict, node: ast.Call) -> Any:
    """keras.models.load_model / clone_model / save_model."""
    if p in SAVE_MODEL:
        model = args[0] if args else kwargs.get("model")
        path = node.args[1] if len(node.args) > 1 else next(
            (k.value for k in node.keywords if k.arg in ("filepath", "filename")), None)
        if isinstance(model, ModelVal) and model.framework == "keras" and path is not None:
            r.saved_at(path, node, model)
            saved_model(r, model, path, node)
        r.skipped_at(node)
        return None
    if p in LOAD_MODEL:
        arg = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg in ("filepath", "filename")), None)
        saved = r.__dict__.get("model_saves", {}).get(r.path_key(arg)) if arg else None
        if saved is None or set(kwargs) - {"filepath", "filename", "compile"}:
            return Opaque(node, f"{r.seg(node)} loads a model from a file this script does not "
                                "write (pretrained weights, which seqc's build does not have)"
                          if saved is None else f"{r.seg(node)}: arguments seqc does not read")
        line, owner, items, rec = saved
        if any(not isinstance(v, Layer) for _, v, _ in items) or owner.graph is not None:
            return Opaque(node, f"{r.seg(node)}: seqc reloads a Sequential model of plain "
                                "layers (this one holds a nested model or is a graph)")
        m = ModelVal("keras", node)
        r.models.append(m)
        for n, v, at in items:
            m.append(n, _copy(r, v), at)
        m.build_shape, m.trainable = owner.build_shape, owner.trainable
        _carry(r, m, rec)
        r.note(node, f"{r.seg(node)} is the model saved at line {line}: its layers, with the "
                     + ("weights its fit at line " f"{rec.fitted_at.lineno} trained"
                        if rec is not None else "initial weights it had then"))
        return m
    src = args[0] if len(args) == 1 and not kwargs else None
    if isinstance(src, Opaque):
        return src  # a model seqc could not read: its own reason
    if not isinstance(src, ModelVal) or src.framework != "keras" or src.graph is not None or (
            any(not isinstance(v, Layer) for _, v, _ in src.items)):
        return Opaque(node, f"{r.seg(node)}: seqc clones a Keras Sequential model of plain "
                            "layers, given alone (no input_tensors or clone_function)")
    m = ModelVal("keras", node)
    r.models.append(m)
    for n, v, at in src.items:
        m.append(n, _copy(r, v), at)  # Keras re-initialises a clone's weights
    m.build_shape, m.trainable = src.build_shape, src.trainable
    return m


def _carry(r: Reader, m: ModelVal, rec: Trained | None) -> None:
    """m's layers hold the weights rec caught (its i-th layer the source's i-th)."""
    src = _sources(r)
    for i, v in enumerate(_layers(m)):
        if rec is None:
            src.pop(id(v), None)
        else:
            src[id(v)] = (rec, i)


def set_weights(r: Reader, m: ModelVal, node: ast.Call) -> bool:
    """`m.set_weights(other.get_weights())`: m's layers take other's weights (its current
    ones: trained by its fit, carried from a load, or initial). Any other set_weights is
    refused, on the model and on each of its layers (a model built from them has them)."""
    arg = node.args[0] if len(node.args) == 1 and not node.keywords else None
    other = r.resolve_obj(r.ev(arg.func.value, r.call_scope)) if (
        isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute)
        and arg.func.attr == "get_weights" and not arg.args and not arg.keywords) else None
    mine = _layers(m)
    theirs = _layers(other) if isinstance(other, ModelVal) else []

    if m.framework != "keras" or not isinstance(other, ModelVal) or _trained_elsewhere(
            r, theirs, other) or (
            m.fitted_at is not None or len(mine) != len(theirs) or any(
            _config(a) is None or _config(a) != _config(b) for a, b in zip(mine, theirs))):
        for obj in (m, *mine):  # a model built from its layers has those weights too
            r.refuse(obj, node, f"{r.seg(node)}: seqc reads set_weights(other.get_weights()) "
                                "between Keras models of the same layers, before the model "
                                "is fitted, from a model no other fit shares layers with",
                     field="set_weights", received=r.seg(node),
                     hint="build the model from the other's layers, or remove the call")
        return True
    src = _sources(r)
    rec = caught(r, other, node) if other.fitted_at is not None else None
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if rec is not None:
            src[id(a)] = (rec, i)
        elif id(b) in src:
            src[id(a)] = src[id(b)]
        else:
            src.pop(id(a), None)  # initial weights: drawn from the same initializers
    r.note(node, f"{r.seg(node)}: the model's layers take the other model's weights")
    return True


def pretraining(r: Reader, m: ModelVal, doc: dict) -> dict | None:
    """The stage that trains the source model of m's first layers, when they carry weights
    another model's fit trained: {"stage": spec stage, "rec": Trained}; None when none do."""
    src = _sources(r)
    layers = _layers(m) if m.framework == "keras" and m.graph is None else []
    marks = [src.get(id(v)) for v in layers]
    if not any(marks):
        return None
    rec = next(x for x in marks if x)[0]
    where = m.fitted_at or m.node

    def refuse(why: str, at: ast.AST = where) -> None:
        raise r.error(at, f"the model's layers hold the weights that the fit at line "
                          f"{rec.fitted_at.lineno} trained ({r.seg(rec.node)}, line "
                          f"{rec.node.lineno}); {why}", field="fit", received=r.seg(at),
                      hint="build the model from fresh layers, or train it in one script per "
                           "model (seqc build, then build the next from its output)")

    k = next((i for i, x in enumerate(marks) if not x), len(marks))
    if any(x and x[0] is not rec for x in marks):
        refuse("some of them came from another model: seqc follows one source model")
    if any(marks[k:]) or any(x[1] != i for i, x in enumerate(marks[:k])):
        refuse("seqc reads a model whose first layers are the source model's first layers, "
               "in order (Sequential(model.layers[:-1]) and new layers after them)")
    if rec.problem:
        refuse(f"seqc cannot train the source model again: {rec.problem}")
    if m.fitted_at is None:
        refuse("the model is not fitted, and seqc's build has such weights only by training")
    if k == len(layers):
        refuse("the model is the source model itself, trained again; seqc trains a source "
               "model only under another head")
    if rec.compile is None:
        refuse("the source model was fitted without compile settings")
    by_doc = getattr(r, "_doc_layers", {})
    mine = layers[:k]
    n_mine = sum(1 for d in doc["layers"] if by_doc.get(id(d), (None, None))[1] in mine)
    shell = ModelVal("keras", rec.owner.node)
    shell.items, shell.build_shape = rec.items, rec.owner.build_shape
    theirs, _ = r.keras_doc(shell)
    copies = rec.layers

    def bare(d: dict) -> dict:
        return {k: v for k, v in d.items() if k not in ("name", "trainable", "input_shape")}

    # the source's Input is not among its `layers` (Keras 3), so not in the model built
    body = [d for d in theirs["layers"] if d.get("type") != "InputLayer"]
    head = [d for d in body if by_doc.get(id(d), (None, None))[1] in copies[k:]]
    shared = [d for d in body if by_doc.get(id(d), (None, None))[1] in copies[:k]]
    if len(shared) != n_mine or any(by_doc.get(id(d), (None, None))[1] not in mine
                                    for d in doc["layers"][:n_mine]) or any(
            bare(a) != bare(b) for a, b in zip(doc["layers"], shared)) or len(
            body) != len(shared) + len(head) or not head or None not in (
            _input_shape(theirs), _input_shape(doc)) and _input_shape(
            theirs) != _input_shape(doc):
        refuse("seqc cannot match the source model's layers to this model's")
    frozen = [i for i, d in enumerate(body) if not rec.state[
        copies.index(by_doc[id(d)][1])]]
    fit = {k: v for k, v in (rec.fit or {}).items() if k != "validation_data"}
    stage = {"head": {"drop": len(doc["layers"]) - n_mine, "layers": head},
             "frozen": frozen, "compile": rec.compile, "fit": fit}
    return {"stage": stage, "rec": rec}


def _input_shape(doc: dict) -> list | None:
    """A sequential doc's per-sample input shape, where it gives one."""
    if doc.get("input_shape") is not None:
        return list(doc["input_shape"])
    first = doc["layers"][0] if doc["layers"] else {}
    if first.get("type") == "InputLayer" and first.get("shape") is not None:
        return list(first["shape"])
    return list(first["input_shape"]) if first.get("input_shape") is not None else None
