"""Weights a script saves and loads back: where `model.save_weights(p)` /
`torch.save(model.state_dict(), p)` write, and whether a later `load_weights` /
`load_state_dict` reloads the script's own checkpoint (the trained weights, as seqc's build
has them), a snapshot of initial weights, or another model's weights (refused).
"""

from __future__ import annotations

import ast
from typing import Any

from ._pyscript_values import Layer, ModelVal, TorchMod


def _structure(v: Any) -> Any:
    """What makes two models of a script the same weights: their modules' classes and
    constant arguments, in order (None where an argument is not a constant)."""
    from ._pyscript_values import is_const

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

    def path_key(self, path: ast.AST) -> Any:
        v = self.ev(path, self.call_scope) if self.call_scope is not None else None
        return v if isinstance(v, str) else ("text", ast.unparse(path))

    def reloads_own_checkpoint(self, obj: Any, node: ast.Call) -> bool:
        """`model.load_state_dict(torch.load(PATH))` / `model.load_weights(PATH)` of a file the
        script itself saved earlier: the weights it trained, which seqc's build trains too.
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
            owner = None  # a fresh instance of the same modules (PyTorch's quickstart)
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

