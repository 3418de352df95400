"""Statements of the script reader: a module (and each function it calls) is walked in
order; imports bind symbolic paths, constant conditions and loops over constants are
followed, and code seqc cannot decide is skipped with the names it sets made Opaque, unless
it would build or change a model (then it is a located error).
"""

from __future__ import annotations

import ast
import sys
from typing import Any

from ..errors import DefinitionError
from ._pyscript_data_update import data_augassign
from ._pyscript_generators import PyGen, is_generator_function
from ._pyscript_model import READ_ONLY, is_model_object, unless_zero_state
from ._pyscript_names import KERAS_SEQUENTIAL, keras_member, norm
from ._pyscript_torch_init import reads_grad
from ._pyscript_torch_select import selector_kind
from ._pyscript_values import (
    MAX_SIDE_UNROLL,
    MAX_STEPS,
    MODEL_METHODS,
    PASSTHROUGH_METHODS,
    Func,
    Instance,
    LocalClass,
    ModelVal,
    Opaque,
    Scope,
    Sym,
    TooComplex,
    TorchMod,
    is_const,
)

# Top-level modules that are libraries, never a helper module pasted into the script.
_LIBRARIES = frozenset(("torch", "keras", "tensorflow", "tf_keras", "numpy", "torchvision",
                        "torchtext", "torchaudio", "sklearn", "scipy", "pandas", "jax", "flax",
                        "matplotlib", "transformers", "tensorflow_datasets"))


class StmtReader:
    """Statement execution of the script reader (a mixin of `pyscript.Reader`)."""

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TooComplex

    def exec_block(self, body: list[ast.stmt], scope: Scope) -> Any:
        """Runs the statements symbolically; returns ("return", value) on a return."""
        for st in body:
            try:
                r = self.exec_stmt(st, scope)
            except DefinitionError:
                if not self.survey:
                    raise
                continue  # the binding survey only looks for what model.fit receives
            if r is not None:
                return r
        return None

    def own_import(self, mod: str, name: str, local: str, scope: Scope, node: ast.AST) -> bool:
        """`from model import Net` (or `fc_model.Network(...)` after `import fc_model`) where
        the script itself defines Net: a helper module pasted into the script, as tutorials
        ship theirs beside it. The script's definition is read, with a note; seqc never reads
        another file. Library modules are never taken for the script's own."""
        own = scope.vars.get(local) if scope.parent is None else None
        top = mod.split(".")[0]
        if name != local or not isinstance(own, (LocalClass, Func)) or mod.startswith(".") \
                or top in _LIBRARIES or top in sys.stdlib_module_names:
            return False
        line = own.node.lineno
        self.note(node, f"{mod}.{name} is read as the script's own {name} (line {line}): "
                        f"seqc does not read the module {mod}")
        return True

    def exec_stmt(self, st: ast.stmt, scope: Scope) -> Any:  # noqa: C901 (one dispatch)
        self.tick()
        if isinstance(st, ast.Import):
            for a in st.names:
                if a.asname:
                    scope.vars[a.asname] = Sym(a.name)
                else:
                    top = a.name.split(".")[0]
                    scope.vars[top] = Sym(top)
        elif isinstance(st, ast.ImportFrom):
            mod = "." * st.level + (st.module or "")
            for a in st.names:
                if a.name == "*":
                    self.star_modules.append(norm(mod))
                elif not self.own_import(mod, a.name, a.asname or a.name, scope, st):
                    scope.vars[a.asname or a.name] = Sym(f"{mod}.{a.name}")
        elif isinstance(st, ast.Assign):
            v = self.ev(st.value, scope)
            if isinstance(v, Opaque):
                self.skipped_at(st)
            for t in st.targets:
                self.bind(t, v, scope, st.value)
            self.track_assign(st, scope)
        elif isinstance(st, ast.AnnAssign):
            if st.value is not None:
                self.bind(st.target, self.ev(st.value, scope), scope, st.value)
        elif isinstance(st, ast.AugAssign):
            if isinstance(st.target, ast.Name):
                cur = self.name(st.target.id, st.target, scope)
                rhs = self.ev(st.value, scope)
                scope.vars[st.target.id] = self.binop(st.op, cur, rhs, st)
            elif not data_augassign(self, st, scope):  # data, or refused on a model, or not run
                self.ev(st.value, scope)
                self.bind(st.target, Opaque(st, f"{self.seg(st)} is not read"), scope, st)
        elif isinstance(st, ast.Expr):
            if isinstance(self.ev(st.value, scope), Opaque):
                self.skipped_at(st)
        elif isinstance(st, ast.Return):
            return ("return", self.ev(st.value, scope) if st.value is not None else None)
        elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            f = Func(st, scope)
            self.funcs.append(f)
            scope.vars[st.name] = f
        elif isinstance(st, ast.ClassDef):
            cls = self.classdef(st, scope)
            self.classes.append(cls)
            scope.vars[st.name] = cls
        elif isinstance(st, ast.If):
            test = self.ev(st.test, scope)
            if isinstance(test, Opaque) or not is_const(test):
                self.unreadable(self.touches(st, scope), st, "under a condition seqc cannot "
                                "decide without running the script", field="if",
                                received=f"if {self.seg(st.test)}",
                                hint="build the model unconditionally")
                self.taint(st.body + st.orelse, scope, st)
            else:
                return self.exec_block(st.body if test else st.orelse, scope)
        elif isinstance(st, (ast.For, ast.AsyncFor)):
            return self.exec_for(st, scope)
        elif isinstance(st, ast.While):
            self.unreadable(self.touches(st, scope), st, "in a while loop; seqc cannot know "
                            "how often it runs without running the script", field="while",
                            received=f"while {self.seg(st.test)}",
                            hint="list the layers explicitly")
            self.taint(st.body + st.orelse, scope, st)
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            for item in st.items:
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, self.with_value(item.context_expr, scope),
                              scope, item.context_expr)  # open(p, "wb"): _checkpoints
            return self.exec_block(st.body, scope)
        elif isinstance(st, ast.Try) or type(st).__name__ == "TryStar":
            r = self.exec_block(st.body, scope)
            if r is not None:
                return r
            for h in st.handlers:
                self.unreadable(self.touches(h, scope), h, "in an exception handler; seqc "
                                "cannot know whether it runs", field="try")
                self.taint(h.body, scope, h)
            r = self.exec_block(st.orelse, scope)
            return r if r is not None else self.exec_block(st.finalbody, scope)
        elif type(st).__name__ == "Match":
            self.unreadable(self.touches(st, scope), st, "in a match statement seqc cannot "
                            "decide without running the script", field="match")
            self.taint([st], scope, st)
        # pass, global, nonlocal, del, assert, raise, break, continue: nothing to read
        return None

    def exec_for(self, st: ast.For | ast.AsyncFor, scope: Scope) -> Any:
        it = self.ev(st.iter, scope)
        seq = self.iterate(it)
        touches = self.touches(st, scope)
        if seq is not None and not touches and len(seq) * sum(
                1 for _ in ast.walk(st)) > MAX_SIDE_UNROLL:
            seq = None  # code beside the model (a training loop): skipped, not unrolled
        if seq is None:
            if touches:
                why = it.why if isinstance(it, Opaque) else "it is not a constant sequence"
                self.unreadable(touches, st, "in a loop over a value seqc cannot read without "
                                f"running the script ({why})", field="for",
                                received=f"for {self.seg(st.target)} in {self.seg(st.iter)}",
                                hint="loop over a literal list or range of constants, e.g. "
                                     "`for n in [64, 32]:`, or list the layers explicitly")
            self.taint(st.body + st.orelse, scope, st)
            self.bind(st.target, Opaque(st.iter, "a loop variable"), scope, st.iter)
            return None
        for v in seq:
            self.bind(st.target, v, scope, st.iter)
            r = self.exec_block(st.body, scope)
            if r is not None:
                return r
        return self.exec_block(st.orelse, scope)

    def unreadable(self, hit: Any, node: ast.AST, where: str, **kw: Any) -> None:
        """Code seqc skips that would build a model (an error now) or change one (an error
        if that model is the one built: `target_net.load_state_dict(...)` in an RL loop
        does not concern `policy_net`)."""
        if hit is None:
            return
        what, at = hit
        if what is True:
            raise self.error(node, f"a model is built {where}", **kw)
        self.refuse(what, node, f"{self.seg(at)} changes the model {where}", **kw)

    def touches(self, st: ast.AST, scope: Scope) -> Any:
        """Whether code seqc skips would build or change a model (so skipping is wrong): a
        layer or model constructor, a method of a model or layer that is not read-only, an
        attribute set on one, or `trainable`/`requires_grad` set on what a loop over a
        model's parts yields (`for n, p in model.named_parameters(): p.requires_grad = ...`).
        A training loop's `data.requires_grad = True` or `fc.weight.data.add_(...)` on a
        tensor does not count; `.trainable` set anywhere does."""
        parts_vars = {e.id for n in ast.walk(st) if isinstance(n, (ast.For, ast.AsyncFor))
                      and is_model_object(self.name_value(_root(n.iter), scope))
                      for e in ast.walk(n.target) if isinstance(e, ast.Name)}
        for n in ast.walk(st):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(
                n, (ast.AugAssign, ast.AnnAssign)) else []
            for t in targets:
                if not isinstance(t, (ast.Attribute, ast.Subscript)):
                    continue
                root = _root(t)
                # `.trainable` is a Keras layer's (tensors have none); `.requires_grad` is on
                # every tensor, so it counts only on what a model's parts yield
                obj = self.static_obj(t.value, scope)
                if not is_model_object(obj):  # model.optimizer.learning_rate = ...
                    obj = self.name_value(root, scope)
                if is_model_object(obj):
                    return obj, t
                if isinstance(t, ast.Attribute) and (t.attr == "trainable" or (
                        t.attr == "requires_grad" and isinstance(root, ast.Name)
                        and root.id in parts_vars)):
                    return True, t
            if not isinstance(n, ast.Call):
                continue
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr not in READ_ONLY:
                base = unless_zero_state(self, self.static_obj(f.value, scope), f.attr)
                if isinstance(base, ModelVal) and f.attr in _STRUCTURE:
                    return True, n  # model.add(...): the model is being built
                if isinstance(base, ModelVal) and f.attr in MODEL_METHODS or (
                        is_model_object(base) and f.attr not in PASSTHROUGH_METHODS):
                    return base, n
            if isinstance(f, ast.Attribute) and f.attr.endswith("_") and not reads_grad(n):
                # fc.weight.data.normal_(): an initializer (an update from .grad is training)
                recv = f.value.value if isinstance(f.value, ast.Attribute) and \
                    f.value.attr == "data" else f.value
                if isinstance(recv, ast.Attribute) and recv.attr in ("weight", "bias"):
                    base = self.static_obj(recv.value, scope)
                    if is_model_object(base):
                        return base, n
            path = self.static_path(f, scope)
            if path is not None and norm(path).startswith("torch.nn.init.") and n.args and \
                    isinstance(n.args[0], ast.Attribute):  # init.normal_(m.weight, ...)
                base = self.static_obj(n.args[0].value, scope)
                if is_model_object(base):
                    return base, n
            if path is not None and (keras_member(path, "layers") is not None
                                     or norm(path) in KERAS_SEQUENTIAL
                                     or _torch_module_path(path)):
                return True, n
        return None

    def static_obj(self, node: ast.AST, scope: Scope) -> Any:
        """The model object `model`, `model.layers[0]`, `model.fc1` or `base.features`
        stand for, without evaluating anything else (None for other values)."""
        if isinstance(node, ast.Name):
            return self.name_value(node, scope)
        if isinstance(node, ast.Attribute):
            base = self.static_obj(node.value, scope)
            if base is None or not is_model_object(base):
                return None
            v = self.model_attr(base, node.attr, node)
            return v if is_model_object(v) else None
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
            base = self.static_obj(node.value, scope)
            if isinstance(base, list) and isinstance(node.slice, ast.Constant) and isinstance(
                    node.slice.value, int) and -len(base) <= node.slice.value < len(base):
                return base[node.slice.value]
            return base if is_model_object(base) else None
        return None

    def name_value(self, node: ast.AST | None, scope: Scope) -> Any:
        if isinstance(node, ast.Name):
            try:
                return scope.lookup(node.id)
            except KeyError:
                return None
        return None

    def static_path(self, node: ast.AST, scope: Scope) -> str | None:
        """The symbolic path of `a.b.c` without evaluating anything else."""
        if isinstance(node, ast.Name):
            try:
                v = scope.lookup(node.id)
            except KeyError:
                return None
            return v.path if isinstance(v, Sym) else None
        if isinstance(node, ast.Attribute):
            base = self.static_path(node.value, scope)
            return f"{base}.{node.attr}" if base else None
        return None

    def taint(self, body: list, scope: Scope, node: ast.AST) -> None:
        """Names assigned in code that is skipped are unknown afterwards."""
        from ._pyscript_torch_best import record_conditional_saves

        record_conditional_saves(self, body, scope, node)
        for st in body:
            self.skipped_at(st)
            for n in ast.walk(st):
                targets: list = []
                if isinstance(n, ast.Assign):
                    targets = n.targets
                elif isinstance(n, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
                    targets = [n.target]
                elif isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                    scope.vars[n.name] = Opaque(n, f"'{n.name}' is defined conditionally")
                    continue
                for t in targets:
                    for nm in ast.walk(t):
                        if isinstance(nm, ast.Name):
                            scope.vars[nm.id] = Opaque(
                                n, f"'{nm.id}' is set in code that runs conditionally "
                                   f"(line {getattr(node, 'lineno', '?')})")

    def bind(self, target: ast.AST, v: Any, scope: Scope, src: ast.AST) -> None:
        if isinstance(target, ast.Name):
            if isinstance(v, Opaque) and v.name is None:
                v.name = target.id
            if isinstance(v, (ModelVal, Instance, TorchMod)) and target.id not in getattr(
                    v, "names", [target.id]):
                v.names.append(target.id)
            if isinstance(v, TorchMod) and is_model_object(v) and v not in self.param_owners:
                self.param_owners.append(v)  # `fc = nn.Linear(...)`: maybe the model itself
            scope.vars[target.id] = v
        elif isinstance(target, (ast.Tuple, ast.List)):
            seq = self.iterate(v)
            if seq is None or len(seq) != len(target.elts) or any(
                    isinstance(e, ast.Starred) for e in target.elts):
                for e in target.elts:
                    self.bind(e.value if isinstance(e, ast.Starred) else e,
                              Opaque(src, f"unpacked from {self.seg(src)}"), scope, src)
            else:
                for e, x in zip(target.elts, seq):
                    self.bind(e, x, scope, src)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, Opaque(src, "a starred assignment"), scope, src)
        elif isinstance(target, ast.Attribute) and not self.assign_attr(target, v, scope, src) or (
                isinstance(target, ast.Subscript) and not self.assign_subscript(target, scope, v)):
            self.skipped_at(target)

    def classdef(self, st: ast.ClassDef, scope: Scope) -> LocalClass:
        kind = "other"
        for b in st.bases:
            path = self.static_path(b, scope)
            if path is None:
                try:
                    v = scope.lookup(b.id) if isinstance(b, ast.Name) else None
                except KeyError:
                    v = None
                if isinstance(v, LocalClass):
                    kind = v.kind if v.kind != "other" else kind
                continue
            p = norm(path)
            if p in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                kind = "torch_module"
            elif p in ("keras.Model", "keras.models.Model", "keras.Sequential",
                       "keras.models.Sequential"):
                kind = "keras_model"
            elif keras_member(p, "layers") == "Layer" and not any(
                    isinstance(f, ast.FunctionDef) and f.name == "build" for f in st.body):
                kind = "keras_model"  # a block of layers: its call() is read as a model's
            elif keras_member(p, "layers") is not None:
                kind = "keras_layer"  # a built-in layer's subclass, or weights made in build()
        cls = LocalClass(st, kind, scope=scope)  # scope: subclassed models are read there
        if kind == "torch_module":
            cls.selector = selector_kind(st)
        return cls

    def call_func(self, f: Func, args: list, kwargs: dict, node: ast.AST) -> Any:
        if args or kwargs:
            f.called_with_args = True
        if f.running:
            return Opaque(node, "a recursive call")
        if is_generator_function(f.node):  # calling it runs nothing: a fit on it is refused
            f.scanned = True
            return PyGen(f.node, node, dict(kwargs))
        key = repr((args, sorted(kwargs.items()))) if all(is_const(a) for a in args) and all(
            is_const(v) for v in kwargs.values()) else None
        if key is not None and key in f.cache:
            hit = f.cache[key]
            if isinstance(hit, ModelVal):
                # built afresh (a k-fold loop, a builder called again): its next fit is a
                # first, and what the script did to the earlier one does not carry over
                hit.fitted_at = hit.reloaded = hit.init_from = None
                self.forget_statements(hit)
                if hit in self.models:  # the latest build of its place in the script
                    self.models.remove(hit)
                    self.models.append(hit)
                hit.stages, hit.changed_at, hit.recompiled = [], None, None
            return hit
        f.running = True
        scope = Scope(f.scope)
        a = f.node.args
        params = [*a.posonlyargs, *a.args]
        defaults = [None] * (len(params) - len(a.defaults)) + list(a.defaults)
        for i, (p, d) in enumerate(zip(params, defaults)):
            if i < len(args):
                v = args[i]
            elif p.arg in kwargs:
                v = kwargs[p.arg]
            elif d is not None:
                v = self.ev(d, f.scope)
            else:
                v = Opaque(p, f"'{p.arg}' is a parameter of {f.node.name}()")
            scope.vars[p.arg] = v
        for p, d in zip(a.kwonlyargs, a.kw_defaults):
            scope.vars[p.arg] = kwargs.get(p.arg, self.ev(d, f.scope) if d is not None
                                           else Opaque(p, f"'{p.arg}' is a parameter"))
        for p in (a.vararg, a.kwarg):
            if p is not None:
                scope.vars[p.arg] = Opaque(p, f"'{p.arg}' is a parameter")
        self.call_sites.append(node)  # where the function runs from, for messages
        try:
            r = self.exec_block(f.node.body, scope)
        finally:
            self.call_sites.pop()
        f.running, f.scanned = False, True
        f.ret = r[1] if r is not None else None
        if isinstance(f.ret, (ModelVal, Instance)) and f.node.name not in f.ret.names:
            f.ret.names.append(f.node.name)  # a builder function: --model build_model
        if key is not None:
            f.cache[key] = f.ret
        return f.ret


_STRUCTURE = ("add", "add_module", "append", "extend", "insert", "pop")


def _root(node: ast.AST) -> ast.AST:
    """The name an attribute/subscript chain starts from: `model.layers[0].trainable` -> model."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def _torch_module_path(path: str) -> bool:
    """`torch.nn.Linear` builds a module; `torch.nn.functional.relu` and
    `torch.nn.utils.clip_grad_norm_` compute on run-time values."""
    parts = path.split(".")
    return len(parts) >= 3 and parts[:2] == ["torch", "nn"] and parts[-1][:1].isupper() and (
        parts[2] not in ("functional", "utils", "init"))
