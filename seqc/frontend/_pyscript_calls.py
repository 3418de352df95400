"""Calls in a script: what each callee means to seqc (a Keras layer or Sequential, a torch
module, an optimizer/loss/metric object, a builtin folded on constants, a model method such
as add/compile/fit, a script function run symbolically); any other call is Opaque.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from ._pyscript_argparse import ArgParser
from ._pyscript_builtins import fold_builtin
from ._pyscript_compile import DISPLAY_CALLBACKS, DISPLAY_ONLY
from ._pyscript_data import DataArr, keras_dataset
from ._pyscript_generators import (
    GENERATED,
    GeneratorRefused,
    ImageFlow,
    ImageGen,
    PyGen,
    generator_fit,
    image_gen_method,
    is_image_data_generator,
)
from ._pyscript_ktensor import MERGE_FUNCTIONS, KTensor
from ._pyscript_model import LayersView, is_model_object, is_placeholder
from ._pyscript_names import KERAS_SEQUENTIAL, keras_member, norm
from ._pyscript_reuse import CLONE_MODEL, LOAD_MODEL, SAVE_MODEL, reuse_call
from ._pyscript_self import SelfMethod
from ._pyscript_sequential import SequentialReader
from ._pyscript_stages import data_key, fit_arrays, layer_state, next_stage
from ._pyscript_subclass import (
    call_self_method,
    instance_method,
    remember_arguments,
)
from ._pyscript_torch_init import is_param, param_method
from ._pyscript_values import (
    MODEL_METHODS,
    PASSTHROUGH_METHODS,
    STR_METHODS,
    BoundMethod,
    Func,
    Instance,
    Layer,
    LocalClass,
    ModelVal,
    Opaque,
    Pairs,
    Scope,
    Sym,
    TorchMod,
    bind_args,
    find_opaque,
)

IMAGE_DATA_FORMAT = "channels_last"  # Keras 3's default, which seqc fixes
# Writes to a Keras variable reached from a model or layer (`layer.bias.assign([0.0])`):
# they change the model, so they are refused, never skipped.
VARIABLE_WRITES = ("assign", "assign_add", "assign_sub")
_SEED_CALLS = ("keras.utils.set_random_seed", "tensorflow.random.set_seed",
               "tensorflow.random.set_random_seed", "torch.manual_seed", "keras.random.seed")
_MATH = {"sqrt": math.sqrt, "ceil": math.ceil, "floor": math.floor, "pi": math.pi,
         "prod": math.prod, "log": math.log, "exp": math.exp}
_NUMPY_MATH = ("numpy.log", "numpy.exp", "numpy.sqrt")


class CallReader(SequentialReader):
    """Call dispatch of the script reader (a mixin of `pyscript.Reader`)."""

    def call(self, node: ast.Call, scope: Scope) -> Any:
        f = self.ev(node.func, scope)
        parsed = self.args(node, scope)  # evaluated anyway: a model may be built in there
        if isinstance(f, Opaque):
            return Opaque(node, f"{self.seg(node.func)}(...) is a call seqc does not run")
        if isinstance(parsed, Opaque):
            if isinstance(f, Sym) and self._builds_layers(f.path):
                raise self.opaque_error(parsed, "an argument")
            return parsed
        args, kwargs = parsed
        self.call_scope = scope  # for statements that look at their arguments' syntax
        if isinstance(f, BoundMethod) and ("." in f.name or "[" in f.name) and (
                f.name.rsplit(".", 1)[-1] not in VARIABLE_WRITES):
            return Opaque(node, f"{self.seg(node)} is not run")  # model.optimizer.lr.numpy()
        if isinstance(f, BoundMethod) and f.name in ("fit", "fit_generator") and (
                is_model_object(f.obj) or isinstance(f.obj, Instance)):
            data = args[0] if args else kwargs.get("x", kwargs.get("generator"))
            if isinstance(data, (ImageFlow, PyGen)):  # _pyscript_generators
                try:
                    fit_kw, generated, line = generator_fit(self, data, f.name, args, kwargs,
                                                            node, scope)
                except GeneratorRefused as e:
                    return self.refuse(f.obj, node, e.args[0], field=e.args[2],
                                       received=self.seg(node), hint=e.args[1])
                self.data_lines[id(node)] = line
                return self.method(f.obj, "fit", [], {**fit_kw, GENERATED: generated}, node)
        if isinstance(f, BoundMethod):
            if f.name == "fit" and isinstance(f.obj, (ModelVal, Instance)):
                self.record_fit(node, scope)
            return self.method(f.obj, f.name, args, kwargs, node)
        f = self.own_attribute(f, node)
        if isinstance(f, Func):
            return self.call_func(f, args, kwargs, node)
        if isinstance(f, SelfMethod):  # self.make_layer(...) in __init__
            return call_self_method(self, f, args, kwargs, node)
        if isinstance(f, LocalClass):
            return self.instantiate(f, node, args, kwargs)
        if isinstance(f, (Layer, ModelVal)):
            return self.apply_layer(f, args, kwargs, node)  # functional: Dense(8)(x)
        if isinstance(f, Sym):
            return self.call_sym(norm(f.path), args, kwargs, node)
        return Opaque(node, f"{self.seg(node.func)}(...) is a call seqc does not run")

    def own_attribute(self, f: Any, node: ast.Call) -> Any:
        """`fc_model.Network` after `import fc_model`, where the script defines Network:
        the script's own class (see own_import); anything else as it is."""
        scope = getattr(self, "module_scope", None)
        if not (isinstance(f, Sym) and scope is not None and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)):
            return f
        mod, _, name = f.path.rpartition(".")
        if mod == node.func.value.id and self.own_import(mod, name, name, scope, node):
            return scope.vars[name]
        return f

    @staticmethod
    def same_fit(a: dict | None, b: dict) -> bool:
        """Two runs of one fit call that continue each other: the same settings and no
        callbacks (whose state, such as EarlyStopping's patience, restarts with each fit)."""
        if a is None or a.get("callbacks") or b.get("callbacks"):
            return False
        strip = ("epochs", "verbose")
        return {k: v for k, v in a.items() if k not in strip} == {
            k: v for k, v in b.items() if k not in strip} and "initial_epoch" not in a

    def auto_name(self, cls: str) -> str:
        """Keras 3's name for an unnamed layer: snake_case of its class, then _1, _2, ...
        per name, counted across the session in creation order."""
        from ..ops.base import KIND_ALIASES
        from ._keras_h5 import keras_snake_case

        snake = keras_snake_case(KIND_ALIASES.get(cls, cls))
        n = self.name_uids.get(snake, 0)
        self.name_uids[snake] = n + 1
        return snake if n == 0 else f"{snake}_{n}"

    def _builds_layers(self, path: str) -> bool:
        p = norm(path)
        return (keras_member(p, "layers") is not None or p.startswith("torch.nn.")
                or p in KERAS_SEQUENTIAL)

    def instantiate(self, cls: LocalClass, node: ast.Call, args: list | None = None,
                    kwargs: dict | None = None) -> Any:
        if cls.kind == "torch_module" and cls.selector is not None:
            return TorchMod(f"<select:{cls.selector}>", [], {"class": cls.node.name}, node)
        if cls.kind in ("keras_model", "torch_module"):
            inst = Instance(cls, node)
            remember_arguments(inst, args or [], kwargs or {})  # subclassed models
            self.instances.append(inst)
            return inst
        return Instance(cls, node)

    def method(self, obj: Any, meth: str, args: list, kwargs: dict, node: ast.Call) -> Any:
        if isinstance(obj, ImageGen):
            flow = image_gen_method(obj, meth, node, args, kwargs)
            return flow if flow is not None else Opaque(node, f"{self.seg(node)} is not run")
        if isinstance(obj, DataArr):
            return self.data_method(obj, meth, args, kwargs, node)
        if isinstance(obj, ArgParser):
            return self.parser_method(obj, meth, args, kwargs, node)
        if isinstance(obj, (int, float)) and meth in ("numpy", "item") and not args:
            return obj  # tf.reduce_prod(shape).numpy() of constants
        if is_param(obj):  # fc.weight.data.normal_(0, 0.02)
            return param_method(self, obj, meth, args, kwargs, node)
        if isinstance(obj, str) and meth in STR_METHODS:  # classname.find('Conv')
            if kwargs or not all(isinstance(a, str) for a in args) or len(args) != (
                    meth in ("find", "startswith", "endswith")):
                return Opaque(node, f"{self.seg(node)} is not folded")
            return getattr(obj, meth)(*args)
        if isinstance(obj, Instance) and (meth in PASSTHROUGH_METHODS or meth in (
                "compile", "fit", "build")):  # a subclassed model: settings go to its shell
            obj = instance_method(obj, meth)
            if not isinstance(obj, ModelVal):
                return obj
        if isinstance(obj, LayersView) or not isinstance(obj, (list, ModelVal)) or (
                isinstance(obj, ModelVal) and meth not in MODEL_METHODS + PASSTHROUGH_METHODS):
            return self.model_method(obj, meth, args, kwargs, node)
        if isinstance(obj, list):
            if meth == "append" and len(args) == 1:
                obj.append(args[0])
            elif meth == "extend" and len(args) == 1 and self.iterate(args[0]) is not None:
                obj.extend(self.iterate(args[0]))
            elif meth == "insert" and len(args) == 2 and isinstance(args[0], int):
                obj.insert(args[0], args[1])
            elif meth == "pop" and not kwargs and len(args) <= 1 and all(
                    isinstance(a, int) and not isinstance(a, bool) for a in args) and obj and (
                    not args or -len(obj) <= args[0] < len(obj)):
                return obj.pop(*args)
            elif any(is_model_object(x) for x in obj) and find_opaque(args) is not None:
                raise self.opaque_error(find_opaque(args), f"{self.seg(node)}: its argument")
            elif any(is_model_object(x) for x in obj):
                raise self.error(node, f"{self.seg(node)} changes a list of layers in a way "
                                       "seqc does not read", field=meth,
                                 received=self.seg(node),
                                 hint="use append/extend/insert/pop, or list the layers")
            else:
                return Opaque(node, f"{self.seg(node)} changes a list in a way seqc does not "
                                    "read")
            return None
        m: ModelVal = obj
        if meth in PASSTHROUGH_METHODS:
            return m
        if meth in ("add", "append"):
            if len(args) != 1 or kwargs:
                raise self.error(node, f"model.{meth}() takes one layer", field=meth,
                                 received=self.seg(node))
            m.append(None, self.part(args[0], node.args[0]), node.args[0])
        elif meth == "add_module":
            bound = bind_args(["name", "module"], args, kwargs)
            if bound is None or not isinstance(bound.get("name"), str):
                raise self.error(node, "add_module(name, module) needs a constant name",
                                 field="add_module", received=self.seg(node))
            m.append(bound["name"], self.part(bound.get("module"), node), node)
        elif meth in ("compile", "fit") and is_placeholder(node):
            self.warn(node, f"model.{meth}(...) is the Keras guides' placeholder for the "
                            f"arguments; read as no {meth} settings")
        elif meth == "compile":
            cfg = self.compile_section(args, kwargs, node)
            if m.fitted_at is None:
                m.compile = cfg
            else:  # a next training stage if a fit follows (_pyscript_stages), else a note
                m.recompiled = (cfg, node)
        elif meth == "fit":
            if m.reloaded is not None:
                return self.refuse(m, node, f"{self.seg(node)} trains again after reloading a "
                                            f"checkpoint (line {m.reloaded.lineno}); seqc "
                                            "trains a definition once", field="fit",
                                   received=self.seg(node),
                                   hint="build the second stage from the first's output")
            fit = self.fit_section(args, kwargs, node)
            xy = data_key(self, node, self.call_scope)
            arrays = fit_arrays(args, kwargs)  # each stage's own arrays (_pyscript_stages)
            if m.fitted_at is not None and next_stage(self, m, fit, (xy, arrays), node):
                return None  # fit, trainable changed, compile, fit: _pyscript_stages
            if m.fitted_at is node and self.same_fit(m.fit, fit):
                # The same fit run again by a loop (Keras' addition example fits one epoch
                # per generation): Keras continues training, the optimizer state kept, so
                # it is one fit with the epochs summed.
                m.fit["epochs"] = m.fit.get("epochs", 1) + fit.get("epochs", 1)
                m.fit_repeats += 1
                m.state_events.append(("fit", node))
                return None
            if m.fitted_at is not None:
                return self.refuse(m, node, f"{self.seg(node)} trains the model again after "
                                            f"its fit at line {m.fitted_at.lineno}; seqc "
                                            "trains a definition once", field="fit",
                                   received=self.seg(node),
                                   hint="fit once with the total epochs, or build the second "
                                        "stage from the first's output")
            m.fit, m.fitted_at, m.fit_repeats = fit, node, 1
            m.fit_arrays = arrays
            m.state_events = [("fit", node)]

            m.fit_state, m.fit_xy = layer_state(m), xy
        elif meth == "pop" and m.framework == "keras" and not args and not kwargs and m.items:
            m.items.pop()  # Keras' Sequential.pop(): drop the last layer
        elif meth == "build":
            bound = bind_args(["input_shape"], args, kwargs)
            if bound is None or "input_shape" not in bound:
                raise self.error(node, "model.build() needs input_shape", field="build")
            m.build_shape = (bound["input_shape"], node)
        else:
            raise self.error(node, f"model.{meth}(...) changes the model in a way seqc does "
                                   "not read", field=meth, received=self.seg(node),
                             hint="build the model with Sequential([...]) and add()")
        return None

    def call_sym(self, p: str, args: list, kwargs: dict, node: ast.Call) -> Any:  # noqa: C901
        if any(isinstance(a, DataArr) for a in args):
            r = self.data_call(p, args, kwargs, node)
            return r if r is not None else Opaque(
                node, f"{self.seg(node.func)}(...) on the data is not an operation seqc "
                      "evaluates")
        if p.startswith("builtins."):
            return fold_builtin(self, p[9:], args, kwargs, node)
        if is_image_data_generator(p):  # kept, never run: a fit on its flow is refused
            return ImageGen({**{f"argument {i + 1}": a for i, a in enumerate(args)}, **kwargs},
                            node)
        if p in ("keras.backend.int_shape", "keras.ops.shape") and len(args) == 1 and (
                not kwargs and isinstance(args[0], KTensor)):
            return self.tensor_shape(args[0], node)
        if p.startswith("keras.datasets.") and p.endswith(".load_data") and not args and set(
                kwargs) <= {"path", "label_mode"} and kwargs.get("label_mode", "fine") in (
                "fine", "coarse"):
            data = keras_dataset(p.split(".")[2], node)
            if data is not None:
                self.note(node, f"{self.seg(node)}: the shapes of Keras' {p.split('.')[2]} "
                                f"arrays (x_train {list(data[0][0].shape)}); seqc loads no "
                                "data, the data given (--x/--y) binds to " + (
                                    "the names it returns (--val-x/--val-y to the test "
                                    "arrays), from which each training stage's arrays are "
                                    "evaluated" if self.staged_binding else
                                    "the names fit uses"))
                return data
        merged = self.tensor_op(p, args, kwargs, node)  # keras.ops.add(x, y): functional
        if merged is not None:
            return merged
        if p in KERAS_SEQUENTIAL:
            return self.keras_sequential(args, kwargs, node)
        if p in ("torch.nn.Sequential", "torch.nn.modules.container.Sequential"):
            return self.torch_sequential(args, kwargs, node)
        if p in ("keras.Input", "keras.layers.Input", "keras.layers.InputLayer"):
            return Layer("InputLayer" if p.endswith("InputLayer") else "Input", args, kwargs,
                         node)
        if p in ("keras.Model", "keras.models.Model"):
            return self.functional_model(args, kwargs, node)
        if p in DISPLAY_CALLBACKS:
            self.note(node, f"{self.seg(node)} shows progress only; not run")
            return DISPLAY_ONLY
        if p.startswith("torch.nn.init.") and p.count(".") == 3:
            from ._pyscript_torch_init import torch_init

            return torch_init(self, p[14:], args, kwargs, node)
        if p == "argparse.ArgumentParser":
            return ArgParser(node)
        if p == "torch.save" and len(node.args) >= 2:
            self.saved_at(node.args[1], node, self.state_dict_owner(node.args[0]))
            self.torch_saved(args[0], node.args[1], node)  # for a torch.load: checkpoints
            return None
        got = self.torch_loaded(node.args[0], kwargs) if p == "torch.load" and node.args else None
        if got is not None:
            return got  # what the script saved there (_pyscript_checkpoints)
        if p in _SEED_CALLS or norm(p) in _SEED_CALLS:
            if args and isinstance(args[0], int) and not isinstance(args[0], bool):
                self.seed = args[0] if args[0] >= 0 else None
            return None
        if p in ("keras.backend.image_data_format", "keras.config.image_data_format"):
            return IMAGE_DATA_FORMAT
        if p == "keras.backend.image_dim_ordering":  # Keras 1's name: 'tf' is channels_last
            return "tf"
        if p in ("collections.OrderedDict", "typing.OrderedDict", "builtins.dict"):
            seq = self.iterate(args[0]) if len(args) == 1 and not kwargs else None
            if not args and not kwargs:
                seq = []
            if seq is None or not all(isinstance(x, tuple) and len(x) == 2 for x in seq):
                return Opaque(node, "an OrderedDict of run-time values")
            return Pairs(list(seq), node)
        if p in ("numpy.prod", "tensorflow.math.reduce_prod", "tensorflow.reduce_prod",
                 "keras.ops.prod") and len(args) == 1 and not kwargs:
            seq = self.iterate(args[0])
            if seq is not None and all(isinstance(x, int) and not isinstance(x, bool)
                                       for x in seq):
                return math.prod(seq)
        if p.startswith("math.") and p[5:] in _MATH:
            v = _MATH[p[5:]]
            if not callable(v):
                return Opaque(node, f"{p} is not callable")
            if all(isinstance(a, (int, float)) for a in args) and not kwargs:
                try:
                    return v(*args)
                except (ValueError, TypeError, OverflowError):
                    pass
            return Opaque(node, f"{self.seg(node)} is not constant arithmetic")
        if p in _NUMPY_MATH and len(args) == 1 and not kwargs:
            # np.log([pos / neg]) of constants (tfdocs' initial output bias): element-wise
            fn, a = _MATH[p[6:]], args[0]
            flat = a if isinstance(a, (list, tuple)) else [a]
            if flat and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                            for v in flat):
                try:
                    out = [float(fn(v)) for v in flat]
                    return out if isinstance(a, (list, tuple)) else out[0]
                except (ValueError, OverflowError):
                    pass
            return Opaque(node, f"{self.seg(node)} is not constant arithmetic")
        kind = keras_member(p, "layers")
        if kind in MERGE_FUNCTIONS:  # layers.add([x, y]): _pyscript_functional
            return self.merge_function(MERGE_FUNCTIONS[kind], args, kwargs, node)
        if kind is not None and kind[:1].isupper():
            return Layer(kind, args, kwargs, node, auto_name=self.auto_name(kind))
        if p in ("keras.backend.clear_session", "keras.utils.clear_session"):
            self.name_uids.clear()  # Keras restarts its automatic layer names
            return None
        for family in ("optimizers.schedules", "optimizers", "losses", "metrics",
                       "callbacks", "initializers", "regularizers", "constraints"):
            name = keras_member(p, family)
            if name is not None:
                return self.keras_object(family, name, args, kwargs, node)
        if p.startswith("torch.nn.") and p.count(".") == 2:
            mod = TorchMod(p.split(".")[-1], args, kwargs, node)
            self.torch_objects.append(mod)
            return mod
        if p.startswith("torch.optim.lr_scheduler."):
            mod = TorchMod("sched." + p.split(".")[-1], args, kwargs, node)
            self.torch_objects.append(mod)  # a schedule: torch_compile does not model it
            return mod
        if p.startswith("torch.optim.") and p.count(".") == 2:
            mod = TorchMod("optim." + p.split(".")[-1], args, kwargs, node)
            self.torch_objects.append(mod)
            return mod
        if p in LOAD_MODEL + CLONE_MODEL + SAVE_MODEL:  # a model reused: _pyscript_reuse
            return reuse_call(self, p, args, kwargs, node)
        mod, _, cls = p.rpartition(".")
        if mod and cls[:1].isupper() and mod.split(".")[0] not in ("keras", "tensorflow",
                                                                     "torch", "builtins"):
            return Opaque(node, f"{cls} comes from module '{mod}', which seqc does not read "
                                "(a custom layer or model?)", unsupported=True)
        return Opaque(node, f"{self.seg(node.func)}(...) is a call seqc does not run")
