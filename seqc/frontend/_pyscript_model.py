"""Statements on the model and its layers: what a script does to a model after building it.

Freezing is honoured as Keras and PyTorch define it: `layer.trainable = False`,
`model.layers[i].trainable`, loops over `model.layers[a:b]`, `model.get_layer(...)`,
`model.trainable = False` (recursive, and a frozen parent wins over its children, as in
Keras 3), the `trainable=` argument, and PyTorch's `p.requires_grad = False` over
`module.parameters()` or `module.requires_grad_(False)`. Read-only uses (summary, predict,
save, ...) are skipped. Anything else that would change the model or its training
(`load_weights`, `set_weights`, `model.layers.pop()`, another attribute) is a located error:
never a silent skip. Weights saved and loaded back: `_pyscript_checkpoints`; `adapt()`:
`_pyscript_adapt`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from ._pyscript_adapt import ADAPTABLE
from ._pyscript_checkpoints import StateDict
from ._pyscript_reuse import saved_model, set_weights
from ._pyscript_torch_state import unless_zero_state, zero_state_method  # noqa: F401 (unless_zero_state: for _pyscript_stmt)
from ._pyscript_values import (
    BoundMethod,
    ClassOf,
    Func,
    Instance,
    Layer,
    ModelVal,
    Opaque,
    TorchMod,
    is_const,
)

# Methods that read the model (or write it to disk) without changing it or its training.
READ_ONLY = frozenset((
    "summary", "predict", "predict_on_batch", "predict_step", "evaluate", "test_on_batch",
    "save", "save_weights", "to_json", "to_yaml", "count_params", "get_config", "get_weights",
    "export", "state_dict", "named_parameters", "named_modules", "modules", "children",
    "named_children", "get_compile_config", "get_build_config", "__call__", "forward",
    "zero_grad", "make_predict_function", "make_test_function", "get_metrics_result",
    "reset_metrics", "compute_output_shape", "numel", "predict_classes", "predict_proba",
    "evaluate_generator", "predict_generator", "get_layer_names", "get_weights_paths",
    "parameters", "share_memory",
))
# Methods of a parameter that read its size only (a parameter count printed).
_PARAM_READS = ("numel", "nelement", "size", "dim", "ndimension", "element_size")
# Attributes a script may read (their values are not modelled, so they read as Opaque).
_TORCH_FREEZE_ATTRS = ("requires_grad",)


class LayersView(list):
    """`model.layers`: a copy in Keras 3 (so `model.layers.pop()` would not change the model;
    seqc refuses it rather than guess what was meant)."""

    def __init__(self, owner: ModelVal, items: list) -> None:
        super().__init__(items)
        self.owner = owner
        # a functional graph's layers: seqc's order is not Keras' (by depth) where branches
        # meet, so an index or a slice is refused (iterating over all of them is read)
        self.unordered = owner.graph is not None


@dataclass(eq=False)
class Params:
    """`module.parameters()`: freezing through it freezes every layer of the module."""

    owner: Any  # ModelVal | TorchMod
    node: ast.AST


def model_layers(m: ModelVal) -> list:
    """What `model.layers` lists: the direct layers, nested models as one entry; no
    Input/InputLayer in a Sequential (Keras 3 keeps it out of `layers`), the Inputs first in
    a functional model (Keras 3 lists them there)."""
    if m.functional:
        return [v for _, v, _ in m.items]
    return [v for _, v, _ in m.items
            if not (isinstance(v, Layer) and v.cls in ("Input", "InputLayer"))]


def set_trainable(v: Any, value: bool) -> None:
    """Keras 3's `trainable` setter: a model sets itself and, recursively, every layer."""
    if isinstance(v, ModelVal):
        v.trainable = value
        for _, child, _ in v.items:
            set_trainable(child, value)
    elif isinstance(v, TorchMod):
        v.trainable = value
    elif isinstance(v, Layer) and v.cls not in ("Input", "InputLayer"):
        v.kwargs["trainable"] = value


def model_part(m: ModelVal, attr: str) -> Any:
    """`model.fc1` (a module of a subclassed or named Sequential model) or `model.features`
    (the modules under that attribute path, as a view that freezing and refusals reach)."""
    hits = [(n, v) for n, v, _ in m.items if isinstance(n, str) and (
        n == attr or n.startswith(attr + "."))]
    if len(hits) == 1 and hits[0][0] == attr:
        return hits[0][1]
    if not hits:
        return None
    view = ModelVal(m.framework, m.node)
    view.items = [(n[len(attr) + 1:], v, m.node) for n, v in hits]
    view.view_of = m
    return view


def is_placeholder(node: ast.Call) -> bool:
    """`f(...)`: the Keras guides' placeholder for arguments left to the reader."""
    return len(node.args) == 1 and not node.keywords and isinstance(
        node.args[0], ast.Constant) and node.args[0].value is Ellipsis


def is_model_object(v: Any) -> bool:
    """A model, a layer, `model.layers` or `parameters()`: not a torch optimizer or loss."""
    if isinstance(v, TorchMod):
        return not (v.cls.startswith("optim.") or v.cls.endswith("Loss"))
    if isinstance(v, Instance):
        return v.cls.kind in ("keras_model", "torch_module")
    return isinstance(v, (ModelVal, Layer, LayersView, Params))


class ModelStatements:
    """Statements on models and layers (a mixin of `pyscript.Reader`)."""

    def model_attr(self, base: Any, attr: str, node: ast.Attribute) -> Any:
        """`model.<attr>` / `layer.<attr>` read in an expression."""
        from ._pyscript_values import MODEL_METHODS, PASSTHROUGH_METHODS

        if isinstance(base, Instance):
            if attr in MODEL_METHODS + PASSTHROUGH_METHODS:
                return BoundMethod(base, attr)  # compile/fit/to(...): _pyscript_subclass
            base = self.resolve_obj(base)
        if isinstance(base, ModelVal):
            held = base.attrs.get(attr)
            if is_model_object(held) or isinstance(held, list) and any(
                    is_model_object(x) for x in held):
                return held  # a subclassed model's self.encoder / self.blocks
            if attr in base.attrs and (is_const(held) or type(held) is Opaque):
                return held  # net.n_hidden: what __init__ kept (net.chars: the unknown given)
            part = model_part(base, attr)
            if part is not None:
                return part  # model.fc1, model.features: a module of the model
            if attr == "layers":
                return LayersView(base, model_layers(base))
            if attr == "trainable":
                return base.trainable
            if attr == "__class__" and base.framework == "torch":
                return ClassOf(base.name or "Sequential")  # a subclass: its class
            if attr == "name" and base.name is not None:
                return base.name
        elif isinstance(base, TorchMod):
            if attr == "trainable":
                return base.trainable
            if attr == "__class__" and not base.cls.startswith("<"):
                return ClassOf(base.cls)
        elif isinstance(base, Layer):
            if attr == "trainable":
                return base.kwargs.get("trainable", True) is not False
            if attr == "name" and isinstance(base.kwargs.get("name"), str):
                return base.kwargs["name"]
            if attr == "name" and base.auto_name is not None:
                return base.auto_name
        elif isinstance(base, LayersView) and attr == "pop":
            return BoundMethod(base, attr)
        return BoundMethod(base, attr)

    def owns_refusal(self, m: ModelVal) -> bool:
        return any(self.refused_part(o, self.model_parts(m)) for o, _ in self.refusals)

    def forget_statements(self, m: ModelVal) -> None:
        """A model built afresh by a builder called again: the refusals of statements on its
        earlier build do not concern it."""
        parts = self.model_parts(m)
        self.refusals = [(o, e) for o, e in self.refusals if not self.refused_part(o, parts)]

    def resolve_obj(self, v: Any) -> Any:
        """A subclassed model's instance is read (once, cached) when a statement acts on it."""
        if isinstance(v, Instance) and v.cls.kind in ("keras_model", "torch_module"):
            from ._pyscript_subclass import read_instance

            return read_instance(self, v)
        return v

    def model_method(self, obj: Any, meth: str, args: list, kwargs: dict,
                     node: ast.Call) -> Any:
        """A method called on a model, a layer, `model.layers` or `parameters()` that the
        model-building reader does not handle itself."""
        inst, obj = obj, self.resolve_obj(obj)
        what = self.seg(node)
        if isinstance(obj, LayersView):
            return self.refuse(
                obj, node, f"{what} changes model.layers, a copy of the model's layer list; "
                           "seqc does not guess what was meant", field="layers", received=what,
                hint="build the model with the layers you want (Sequential.pop() removes the "
                     "last layer)")
        if isinstance(obj, Params) and meth in _PARAM_READS:
            self.skipped_at(node)  # `sum(p.numel() for p in model.parameters())`: a count
            return Opaque(node, f"{what} is not run")
        if isinstance(obj, Params):
            return self.refuse(obj, node, f"{what}: seqc reads parameters() only in "
                                          "`for p in m.parameters(): p.requires_grad = False`",
                               field="parameters", received=what)
        if meth == "apply" and isinstance(obj, ModelVal) and obj.framework == "torch" and len(
                args) == 1 and not kwargs and isinstance(args[0], Func):
            return self.torch_apply(obj, args[0], node)
        if meth == "get_layer" and isinstance(obj, ModelVal):
            return self.get_layer(obj, args, kwargs, node)
        if meth == "double" and not args and not kwargs and isinstance(obj, ModelVal) and (
                obj.framework == "torch"):
            from ._pyscript_torch_steps import double

            return double(self, inst, node)
        if meth == "parameters" and not args and not kwargs:
            if isinstance(obj, TorchMod) and obj not in self.param_owners:
                self.param_owners.append(obj)  # a bare module trained as the model
            return Params(obj, node)
        if meth == "requires_grad_":
            flag = args[0] if args else kwargs.get("requires_grad", True)
            if not isinstance(flag, bool):
                raise self.opaque_error(flag, "requires_grad_()") if isinstance(
                    flag, Opaque) else self.error(node, "requires_grad_() takes True or False",
                                                  field="requires_grad", received=what)
            self.freeze(obj, not flag, node)
            return obj
        if meth == "adapt" and isinstance(obj, Layer) and obj.cls in ADAPTABLE:
            return self.adapt(obj, args, kwargs, node)
        if meth == "load_weights" and is_placeholder(node):
            self.note(node, f"{what} is the Keras guide's placeholder: no weights are loaded")
            return None
        if meth in ("save", "save_weights") and (node.args or node.keywords):
            self.saved_at(node.args[0] if node.args else node.keywords[0].value, node,
                          obj if isinstance(obj, ModelVal) else None)
            if meth == "save" and isinstance(obj, ModelVal) and obj.framework == "keras":
                saved_model(self, obj, node.args[0] if node.args else node.keywords[0].value,
                            node)  # for a later load_model: _pyscript_reuse
        if meth == "set_weights" and isinstance(obj, ModelVal) and set_weights(self, obj,
                                                                                node):
            return None
        if meth in ("load_state_dict", "load_weights") and len(node.args) == 1 and (
                self.reloads_own_checkpoint(obj, node, args)):
            return None
        from ._pyscript_pure import instance_of, pure_method

        inst = instance_of(self, inst)
        if zero_state_method(self, obj, inst, meth):
            self.skipped_at(node)  # init_hidden(): zeros, what seqc feeds a state input
            return Opaque(node, f"{what} makes the model's zero initial state")
        if meth == "state_dict" and not args and not kwargs and isinstance(obj, ModelVal) and (
                obj.framework == "torch"):  # for torch.save: _pyscript_checkpoints
            self.skipped_at(node)
            return StateDict(node, f"{what} is not run", owner=obj)
        if meth in READ_ONLY or inst is not None and pure_method(self, inst, meth):
            self.skipped_at(node)  # a script method that only computes: model.stn(data)
            return Opaque(node, f"{what} is not run")
        if meth == "reset_states" and isinstance(obj, ModelVal) and obj.framework == "keras" \
                and not args and not kwargs:
            if obj.fitted_at is not None:  # before the first fit the states are zero anyway
                obj.state_events.append(("reset", node))
            return None
        kind = "the model" if isinstance(obj, ModelVal) else "a layer"
        if meth in ("load_state_dict", "load_weights") and isinstance(obj, ModelVal):
            return self.refuse(
                obj, node, f"{what} loads weights seqc's build does not have: a file this "
                           "script does not write (pretrained weights, a checkpoint of another "
                           "run) or writes in a way seqc does not read (a best-only "
                           "checkpoint); seqc builds the model from its initial weights and "
                           "never skips such a statement", field=meth, received=what,
                hint="build from the weights' own file instead (seqc build model.keras / "
                     "convert), save them earlier in the same script, or remove the call")
        hints = {"load_weights": "build from the weights' own file instead (seqc build "
                                 "model.keras / convert), or remove the call",
                 "set_weights": "remove the call, or set the weights through the Python API "
                                "(model.set_weights)",
                 "fit_generator": "fit_generator trains on a Python generator's batches; call "
                                  "model.fit(...) and give the data with --data or --x/--y"}
        return self.refuse(
            obj, node, f"{what} changes {kind} or its training in a way seqc does not model, "
                       "and seqc never skips such a statement", field=meth, received=what,
            hint=hints.get(meth, "remove the statement, or build the model so that it is not "
                                 "needed"))

    def torch_apply(self, m: ModelVal, fn: Any, node: ast.Call) -> Any:
        """`model.apply(weights_init)`: fn called on each module, children before their
        parent, as PyTorch's Module.apply does; what it does to a module's weights is read by
        the script reader (torch.nn.init on `m.weight`), anything else it changes refused."""
        def visit(v: Any) -> None:
            if isinstance(v, Instance):
                v = self.resolve_obj(v)
            if isinstance(v, ModelVal):
                for _, part, _ in v.items:
                    visit(part)
                mod: Any = v
            elif isinstance(v, TorchMod) and not v.cls.startswith("<"):
                mod = v
            else:
                return
            self.call_func(fn, [mod], {}, node)

        visit(m)
        return m

    def refuse(self, obj: Any, node: ast.AST, message: str, **kw: Any) -> Opaque:
        """A statement that would change `obj` in a way seqc does not model: an error if obj
        is (part of) the model seqc builds, checked once the model is chosen; a statement on
        another model of the script does not concern the build."""
        if not self.survey:
            self.refusals.append((obj, self.error(node, message, **kw)))
        return Opaque(node, message)

    @staticmethod
    def model_parts(model: Any) -> set[int]:
        parts: set[int] = set()

        def walk(m: Any) -> None:
            parts.add(id(m))
            for _, v, _ in getattr(m, "items", ()):
                walk(v)

        walk(model)
        return parts

    def refused_part(self, obj: Any, parts: set[int]) -> bool:
        while isinstance(obj, BoundMethod):  # a refusal on `layer.weight`: the layer's
            obj = obj.obj
        owner = obj.owner if isinstance(obj, (LayersView, Params)) else obj
        owner = self.resolve_obj(owner)
        owner = getattr(owner, "view_of", None) or owner  # model_part: a view
        return id(owner) in parts

    def check_refusals(self, model: ModelVal) -> None:
        parts = self.model_parts(model)
        for obj, err in self.refusals:
            if self.refused_part(obj, parts):
                raise err

    def get_layer(self, m: ModelVal, args: list, kwargs: dict, node: ast.Call) -> Any:
        from ._pyscript_values import bind_args

        bound = bind_args(["name", "index"], args, kwargs)
        layers = model_layers(m)
        if bound is not None and isinstance(bound.get("index"), int) and m.graph is not None:
            return self.refuse(m, node, "get_layer(index=...) of a functional graph: Keras "
                                        "orders its layers by depth, which seqc does not "
                                        "follow", field="get_layer", received=self.seg(node),
                               hint="name the layer (name=...) and use get_layer(name)")
        if bound is not None and isinstance(bound.get("index"), int) and bound.get(
                "name") is None:
            i = bound["index"]
            if -len(layers) <= i < len(layers):
                return layers[i]
        elif bound is not None and isinstance(bound.get("name"), str):
            for v in layers:
                vn = v.name if isinstance(v, ModelVal) else v.kwargs.get("name") if isinstance(
                    v, (Layer, TorchMod)) else None
                if vn == bound["name"] or vn is None and getattr(v, "auto_name", None) == (
                        bound["name"]):
                    return v
        return self.refuse(m, node, "get_layer(): no such layer (seqc knows the names given "
                               "with name=...)", field="get_layer", received=self.seg(node),
                         hint="name the layer with name=\"...\", or use model.layers[i]")

    def assign_attr(self, target: ast.Attribute, value: Any, scope: Any,
                    src: ast.AST) -> bool:
        """`obj.attr = value` where obj is a model, a layer or a parameter: honoured or a
        located error. Returns False when obj is not a model object (nothing to do)."""
        from ._pyscript_values import BoundMethod

        base = self.resolve_obj(self.ev(target.value, scope))
        attr = target.attr
        if isinstance(base, BoundMethod) and is_model_object(base.obj):
            attr = f"{base.name}.{attr}"  # model.optimizer.learning_rate = ...
        elif not is_model_object(base):
            return False
        what = f"{self.seg(target)} = {self.seg(src)}"
        if attr == "trainable" and isinstance(base, (ModelVal, Layer, TorchMod)) or (
                attr in _TORCH_FREEZE_ATTRS and isinstance(base, Params)):
            if not isinstance(value, bool):
                if isinstance(value, Opaque):
                    raise self.opaque_error(value, f"{self.seg(target)}")
                raise self.error(src, f"{attr} must be True or False", field=attr,
                                 received=what)
            if isinstance(base, Params):
                self.freeze(base.owner, not value, target)
            else:
                self.check_not_trained(target, what, base)
                set_trainable(base, value)
            return True
        kind = "the model" if isinstance(base, ModelVal) else "a layer"
        owner = base.obj if isinstance(base, BoundMethod) else base
        self.refuse(owner, target, f"`{what}` sets {attr} on {kind}, which seqc does not "
                                   "model; it would change the model or its training",
                    field=attr, received=what,
                    hint="set it in the layer's constructor, or remove the statement")
        return True

    def freeze(self, owner: Any, frozen: bool, node: ast.AST) -> None:
        """PyTorch's requires_grad on every parameter of a module (or a whole model)."""
        owner = self.resolve_obj(owner)
        if isinstance(owner, (ModelVal, Layer, TorchMod)):
            self.check_not_trained(node, self.seg(node), owner)
            set_trainable(owner, not frozen)
            return
        raise self.error(node, "requires_grad is read only on a module seqc builds",
                         field="requires_grad", received=self.seg(node))

    def check_not_trained(self, node: ast.AST, what: str, obj: Any) -> None:
        """A trainable change on a model already fitted: a next training stage once it is
        compiled and fitted again (_pyscript_stages), an error otherwise."""
        from ._pyscript_stages import trainable_changed

        trainable_changed(self, obj, node, what)

    def assign_subscript(self, target: ast.Subscript, scope: Any, v: Any) -> bool:
        base = self.resolve_obj(self.ev(target.value, scope))
        if type(base) is dict and not isinstance(target.slice, ast.Slice):
            key = self.ev(target.slice, scope)  # `checkpoint['n_hidden'] = 6`
            if isinstance(key, (int, float, str, bool)) and not isinstance(key, Opaque):
                base[key] = v
                return True
        if not is_model_object(base):
            return False
        self.refuse(base, target, f"{self.seg(target)} = ... replaces part of a model, which "
                                  "seqc does not model", field="layers",
                    received=self.seg(target), hint="build the model with the layers you want")
        return True
