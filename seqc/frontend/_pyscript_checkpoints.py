"""Weights a script saves and loads back: where `model.save_weights(p)` /
`torch.save(model.state_dict(), p)` write, and whether a later `load_weights` /
`load_state_dict` reloads the script's own checkpoint (the trained weights, as seqc's build
has them), a snapshot of initial weights, or another model's weights (refused).

`torch.save(obj, f)` of a value the reader knows (constants, the unknowns it came from, a
model's `state_dict()`, in dicts, lists and tuples), to a path or to `f` of
`with open(path, "wb") as f`, is remembered; a later `torch.load` of that file (a path, or
`f` of `open(path, "rb")`) gives the value back as it was at the save (the char-RNN's
checkpoint dict). A torch.load of any other file stays unknown.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass
from typing import Any

from ._pyscript_values import Layer, ModelVal, Opaque, TorchMod, is_const

_TORCH_LOAD_KWARGS = frozenset(("map_location", "weights_only", "mmap"))


@dataclass(eq=False)
class OpenFile(Opaque):
    """`f` of `with open(path, mode) as f`: unknown, as any with-statement value, but it knows
    its file (the path's key) where the mode is a binary write ("w") or read ("r")."""

    key: Any = None
    mode: str = ""


@dataclass(eq=False)
class StateDict(Opaque):
    """`model.state_dict()` of a PyTorch model: not run; `saved_line` is set on the copy that
    torch.save wrote (the model's weights at that save)."""

    owner: Any = None
    saved_line: int | None = None


_UNKNOWN = object()  # a value torch.save writes that the reader does not copy


def _snapshot(v: Any, line: int) -> Any:
    """The value as `torch.save` at `line` writes it: containers copied, a state_dict()
    marked with the save; _UNKNOWN where it holds anything else (a model, data)."""
    if isinstance(v, StateDict):
        return dataclasses.replace(v, saved_line=line if v.saved_line is None else v.saved_line)
    if type(v) in (list, tuple):
        parts = [_snapshot(x, line) for x in v]
        return _UNKNOWN if any(x is _UNKNOWN for x in parts) else type(v)(parts)
    if type(v) is dict:
        items = {k: _snapshot(x, line) for k, x in v.items()}
        return _UNKNOWN if any(x is _UNKNOWN for x in items.values()) else items
    if type(v) is Opaque or is_const(v) and not isinstance(v, (list, tuple, dict)):
        return v  # a constant, or the same unknown (the data's characters)
    return _UNKNOWN


def _copied(v: Any) -> Any:
    if type(v) in (list, tuple):
        return type(v)(_copied(x) for x in v)
    return {k: _copied(x) for k, x in v.items()} if type(v) is dict else v


def _builtin_open(f: ast.AST, scope: Any) -> bool:
    """`open`, Python's own (the script does not bind the name)."""
    if not (isinstance(f, ast.Name) and f.id == "open"):
        return False
    try:
        scope.lookup("open")
    except KeyError:
        return True
    return False


def _call_name(n: ast.Call) -> str | None:
    f = n.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def _savers(tree: ast.AST) -> set[str]:
    """"save" and the script's functions and methods that call it (or call one that does)."""
    defs = [d for d in ast.walk(tree) if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef))]
    calls = {id(d): {_call_name(n) for n in ast.walk(d) if isinstance(n, ast.Call)}
             for d in defs}
    found = {"save"}
    while True:
        more = {d.name for d in defs if calls[id(d)] & found} - found
        if not more:
            return found
        found |= more


def _structure(v: Any) -> Any:
    """What makes two models of a script the same weights: their modules' classes and
    constant arguments, in order (None where an argument is not a constant)."""
    if isinstance(v, ModelVal):
        parts = [(n, _structure(c)) for n, c, _ in v.items]
        return None if any(p is None for _, p in parts) else (v.framework, tuple(parts))
    if isinstance(v, (Layer, TorchMod)) and all(is_const(a) for a in [
            *v.args, *v.kwargs.values()]):
        return v.cls, repr(v.args), repr(sorted(v.kwargs.items())), getattr(
            v, "trainable", True), repr(sorted((k, i[0]) for k, i in getattr(
                v, "inits", {}).items()))
    return None



class CheckpointStatements:
    """Saving and reloading weights (a mixin of `pyscript.Reader`)."""

    def saved_at(self, path: ast.AST, node: ast.AST, owner: Any = None) -> None:
        """`model.save_weights(p)`, `torch.save(model.state_dict(), p)`: where the script
        writes its weights (the key is the path's value, or its text), and which model
        writes them when the reader knows it (a Keras model's own save)."""
        # a Keras snapshot of initial weights (restore_initial); PyTorch reloads are the
        # script's own checkpoint or a fresh instance's (below)
        initial = isinstance(owner, ModelVal) and owner.framework == "keras" and (
            owner.fitted_at is None) and (
            owner.reloaded is None and owner.init_from is None and not self.owns_refusal(owner))
        self.saved_paths.setdefault(self.path_key(path), (node.lineno, owner, initial))

    def state_dict_owner(self, arg: ast.AST) -> Any:
        """The model of `torch.save(model.state_dict(), p)` (None for anything else)."""
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and (
                arg.func.attr == "state_dict") and self.call_scope is not None:
            owner = self.resolve_obj(self.ev(arg.func.value, self.call_scope))
            return owner if isinstance(owner, ModelVal) else None
        return None

    def path_key(self, path: ast.AST, scope: Any = None) -> Any:
        scope = scope if scope is not None else self.call_scope
        v = self.ev(path, scope) if scope is not None else None
        if isinstance(v, OpenFile) and v.key is not None:
            return v.key  # `with open(p, "wb") as f: torch.save(..., f)`
        return v if isinstance(v, str) else ("text", ast.unparse(path))

    def with_value(self, ctx: ast.AST, scope: Any) -> Opaque:
        """What `with CTX as f` binds: an unknown value, which for `open(PATH, "wb"/"rb")`
        knows its file (for torch.save(obj, f) / torch.load(f))."""
        if isinstance(ctx, ast.Call) and 1 <= len(ctx.args) + len(ctx.keywords) <= 2 and (
                ctx.args and len(ctx.args) <= 2) and all(k.arg == "mode" for k in ctx.keywords):
            given = [*ctx.args[1:], *(k.value for k in ctx.keywords)]
            mode = given[0].value if given and isinstance(given[0], ast.Constant) else (
                None if given else "r")
            kind = {"wb": "w", "xb": "w", "wb+": "w", "w+b": "w", "rb": "r"}.get(mode, "") \
                if isinstance(mode, str) else ""
            if kind and _builtin_open(ctx.func, scope):
                return OpenFile(ctx, "a with-statement value", mode=kind,
                                key=self.path_key(ctx.args[0], scope))
        return Opaque(ctx, "a with-statement value")

    def _file_key(self, path: ast.AST, mode: str) -> str | None:
        """The constant path a torch.save writes / torch.load reads (None: not known)."""
        v = self.ev(path, self.call_scope) if self.call_scope is not None else None
        if isinstance(v, OpenFile):
            return v.key if v.mode == mode and isinstance(v.key, str) else None
        return v if isinstance(v, str) else None

    def torch_saved(self, value: Any, path: ast.AST, node: ast.Call) -> None:
        """`torch.save(value, path)`: the value the file holds now; a file seqc cannot name
        may be any of them, so then none is known any more."""
        saves = self.__dict__.setdefault("saved_values", {})
        key = self._file_key(path, "w")
        snap = _snapshot(value, node.lineno)
        if key is None:
            saves.clear()
        elif snap is _UNKNOWN:
            saves.pop(key, None)
        else:
            saves[key] = snap

    def torch_loaded(self, path: ast.AST, kwargs: dict) -> Any:
        """`torch.load(path)` of a file the script saved earlier: that value (a copy), or
        None (a file seqc does not know: pretrained weights, another run's checkpoint)."""
        if not set(kwargs) <= _TORCH_LOAD_KWARGS:
            return None
        key = self._file_key(path, "r")
        saves = self.__dict__.get("saved_values", {})
        return _copied(saves[key]) if key is not None and key in saves else None

    def forget_saves(self, body: list) -> None:
        """Code the reader skips (`body`) that may save (a `.save(...)` call, or a call of a
        function of the script that does): what the files hold is no longer known."""
        if not self.__dict__.get("saved_values"):
            return
        tree = getattr(self, "tree", None)  # (the binding survey has none: forget all)
        savers = _savers(tree) if tree is not None else None
        if savers is None or any(isinstance(n, ast.Call) and _call_name(n) in savers
               for st in body for n in ast.walk(st)):
            self.__dict__["saved_values"].clear()

    def reloads_own_checkpoint(self, obj: Any, node: ast.Call, args: Any = ()) -> bool:
        """`model.load_state_dict(torch.load(PATH))` / `model.load_weights(PATH)` of a file the
        script itself saved earlier: the weights it trained, which seqc's build trains too
        (also a state_dict() read back from a saved checkpoint dict, `checkpoint['sd']`).
        A Keras model that then trains again is refused at its fit."""
        arg = node.args[0]
        if isinstance(arg, ast.Name) and self.call_scope is not None:
            d = self.lookup_def(arg.id, self.call_scope)  # `sd = torch.load(p)` first
            if isinstance(d, ast.Assign) and len(d.targets) == 1 and isinstance(
                    d.targets[0], ast.Name) and isinstance(d.value, ast.Call) and isinstance(
                    d.value.func, ast.Attribute) and d.value.func.attr == "load":
                arg = d.value  # (a path's own name, `p = os.path.join(...)`, stays the key)
        if isinstance(arg, ast.Call) and arg.args and (
                isinstance(arg.func, ast.Attribute) and arg.func.attr == "load"):
            arg = arg.args[0]  # torch.load(PATH, weights_only=True)
        key = self.path_key(arg)
        saved = self.saved_paths.get(key)
        sd = args[0] if args and getattr(node.func, "attr", None) == "load_state_dict" else None
        if isinstance(sd, StateDict) and sd.saved_line is not None:
            saved = (sd.saved_line, sd.owner)  # what torch.load read back: that save's model
        elif sd is not None and not isinstance(sd, Opaque):
            return False  # a value torch.load read back that is not a state_dict(): refused
        if saved is None and key in self.best_saves and isinstance(obj, ModelVal) and (
                obj.framework == "torch"):
            from ._pyscript_torch_best import restore_best

            return restore_best(self, obj, node, key)
        if saved is None or not isinstance(obj, ModelVal):
            return False
        line, owner, initial = (*saved, False)[:3]
        if initial:
            return self.restore_initial(obj, self.resolve_obj(owner), node, line)
        if owner is not None and obj.framework == "torch" and self.resolve_obj(
                owner) is not obj and _structure(self.resolve_obj(owner)) == _structure(
                obj) is not None:
            # a fresh instance of the same modules (PyTorch's quickstart): a copy of it
            self.__dict__.setdefault("weight_copies", {})[id(obj.node)] = self.resolve_obj(
                owner).node
            owner = None
        if owner is not None and self.resolve_obj(owner) is not obj:
            # another model's weights (tfdocs' imbalanced_data saves a model built with
            # another bias and loads it into a fresh one): not what seqc's build starts from
            self.refuse(obj, node, f"{self.seg(node)} loads the weights another model saved "
                                   f"at line {line}; seqc builds this model from its own "
                                   "initial weights", field="load_weights",
                        received=self.seg(node),
                        hint="build the model whose weights these are, or remove the call")
            return True
        obj.reloaded = node
        self.note(node, f"{self.seg(node)} reloads the weights the script saved at line "
                        f"{line}: the trained weights, as seqc's build has them")
        return True

    def restore_initial(self, obj: ModelVal, owner: ModelVal, node: ast.Call,
                        line: int) -> bool:
        """`model.load_weights(p)` of a snapshot the script saved before any fit: initial
        weights. Into a model not yet trained, they are its starting weights: the same
        model's (nothing changes) or another model's of the same layers (tfdocs'
        imbalanced_data saves a model built with an output bias and loads it into a fresh
        one), which seqc draws from that model's initializers (checked at assembly). After
        a fit it would restart training with the optimizer's state kept: refused."""
        if obj.fitted_at is not None:
            self.refuse(obj, node, f"{self.seg(node)} restores the initial weights saved at "
                                   f"line {line} after the fit at line "
                                   f"{obj.fitted_at.lineno}; Keras keeps the optimizer's "
                                   "state, so the next fit does not start afresh",
                        field="load_weights", received=self.seg(node),
                        hint="build a new model for the second training (seqc trains a "
                             "definition once)")
            return True
        if owner is not obj:
            obj.init_from = (owner, node, line)
        self.note(node, f"{self.seg(node)} loads the initial weights saved at line {line}"
                        + ("" if owner is obj else f" from the model built at line "
                           f"{owner.node.lineno}: this model starts from that model's "
                           "initializers"))
        return True

    def without_copies(self, cands: list) -> list:
        """The candidates to build, less a fresh instance that only reloads another
        candidate's saved weights (the char-RNN's `loaded`): the script trains the other,
        and building either gives the same model."""
        copies = self.__dict__.get("weight_copies", {})
        nodes = {id(c.node) for c in cands}
        kept = [c for c in cands if id(c.node) not in copies
                or id(copies[id(c.node)]) not in nodes]
        return kept or cands
