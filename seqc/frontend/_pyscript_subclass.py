"""Subclassed models: a `class Net(nn.Module)` or `class M(keras.Model)` is read where the
script instantiates it, with the constructor arguments it was given (defaults otherwise).
`__init__` goes through the statement walker with `self` a SelfObj that records attribute
assignments (layers, nn.Sequential, nn.ModuleList, constants); forward()/call() is then read
by `_pyscript_forward` as a chain of those layers. The result is a ModelVal, as an
nn.Sequential or keras.Sequential of the same layers would give. Nothing is run.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from ._pyscript_self import (
    MAX_METHOD_DEPTH,
    SelfMethod,
    SelfObj,
    find_method,
)
from ._pyscript_values import (
    MODEL_METHODS,
    PASSTHROUGH_METHODS,
    BoundMethod,
    Instance,
    Layer,
    LocalClass,
    ModelVal,
    Opaque,
    Scope,
    TooComplex,
    TorchMod,
    is_const,
)

if TYPE_CHECKING:
    from .pyscript import Reader

MODEL_KINDS = ("keras_model", "torch_module")
_ENTRY = {"torch_module": "forward", "keras_model": "call"}


class ModList(list):
    """`nn.ModuleList([...])`: a list of modules whose items are named `attr.<i>`."""


def call_self_method(r: Reader, m: SelfMethod, args: list, kwargs: dict,
                     node: ast.AST) -> Any:
    """A helper method called in __init__: its statements read as __init__'s, with its
    arguments bound; its return value is the call's value."""
    depth = r.__dict__.get("_self_method_depth", 0)
    if depth >= MAX_METHOD_DEPTH:
        raise r.error(node, "helper methods nest too deeply (recursion?)", field="__init__",
                      received=r.seg(node))
    r.__dict__["_self_method_depth"] = depth + 1
    try:
        scope = _bind(r, m.fn, m.selfobj.inst.cls, m.selfobj, args, kwargs)
        res = _init_block(r, m.fn.body, scope, m.selfobj)
    finally:
        r.__dict__["_self_method_depth"] = depth
    return res[1] if res is not None else None


# ---- hooks called by the evaluator (_pyscript_expr, _pyscript_calls) ----


def subclass_attribute(base: Any, node: ast.Attribute) -> Any:
    """`self.<attr>` while a class is read; `model.compile/fit/to/...` on an instance."""
    if isinstance(base, SelfObj):
        return base.get(node.attr, node)
    if isinstance(base, Instance) and base.cls.kind in MODEL_KINDS and base.shell is not None \
            and node.attr in MODEL_METHODS + PASSTHROUGH_METHODS:
        return BoundMethod(base, node.attr)
    return None


def remember_arguments(inst: Instance, args: list, kwargs: dict) -> None:
    inst.args, inst.kwargs = list(args), dict(kwargs)
    inst.shell = ModelVal("torch" if inst.cls.kind == "torch_module" else "keras", inst.node)
    for v in [*args, *kwargs.values()]:  # a model passed to the constructor is a part of it
        _consume(v)


def _consume(v: Any) -> None:
    if isinstance(v, (ModelVal, Instance)):
        v.consumed = True
    elif isinstance(v, (list, tuple)):
        for x in v:
            _consume(x)
    elif isinstance(v, dict):
        for x in v.values():
            _consume(x)


def instance_method(inst: Instance, meth: str) -> Any:
    """`.to(device)`/`.eval()` give the instance back; compile/fit/build go to its shell.
    (Any other method reaches _pyscript_model, which reads the instance's model.)"""
    return inst if meth in PASSTHROUGH_METHODS else inst.shell


# ---- reading a class ----


def read_uninstantiated(r: Reader, classes: list[LocalClass]) -> ModelVal:
    """A script that defines one model class and leaves instantiating it to its importer.
    Classes another class names (a helper block, a base class) are parts, not the model."""
    named = {n.id for c in classes for n in ast.walk(c.node) if isinstance(n, ast.Name)
             and n.id != c.node.name}
    classes = [c for c in classes if c.node.name not in named] or classes
    if len(classes) > 1:
        names = ", ".join(f"{c.node.name} (line {c.node.lineno})" for c in classes)
        raise r.error(classes[1].node, "the script defines several model classes and "
                                       "instantiates none, so seqc cannot tell which is the "
                                       "model", field="model", received=names,
                      hint="instantiate the model class, e.g. `model = Net()`")
    inst = Instance(classes[0], classes[0].node)
    remember_arguments(inst, [], {})
    return read_instance(r, inst)


def read_instance(r: Reader, inst: Instance) -> ModelVal:
    """The ModelVal of a subclassed model instance (cached: one instance, one model)."""
    cache = r.__dict__.setdefault("_subclass_models", {})
    if id(inst) in cache:
        return cache[id(inst)][1]
    cls = inst.cls
    if cls.kind not in MODEL_KINDS:
        raise r.error(inst.node, f"{cls.node.name} is a custom class defined in the script "
                                 f"(line {cls.node.lineno}); seqc reads subclasses of "
                                 "keras.Model and torch.nn.Module only", field="layer",
                      received=r.seg(inst.node), hint="use built-in layers")
    if inst.shell is None:
        remember_arguments(inst, inst.args, inst.kwargs)
    reading = r.__dict__.setdefault("_subclass_reading", set())
    if id(cls) in reading:
        raise r.error(inst.node, f"{cls.node.name} contains an instance of itself",
                      field="model", received=r.seg(inst.node))
    reading.add(id(cls))
    try:
        model = _read(r, inst)
    except (TooComplex, RecursionError):  # read() catches these only while walking the module
        raise r.error(cls.node, f"class {cls.node.name} is too complex to read statically",
                      field="model", received=f"class {cls.node.name}") from None
    finally:
        reading.discard(id(cls))
    cache[id(inst)] = (inst, model)
    return model


def _read(r: Reader, inst: Instance) -> ModelVal:
    from ._pyscript_forward import Chain

    cls = inst.cls
    fw = "torch" if cls.kind == "torch_module" else "keras"
    entry = _ENTRY[cls.kind]
    fn = find_method(r, cls, entry)
    if fn is None:
        base = "torch.nn.Module" if fw == "torch" else "keras.Model"
        raise r.error(cls.node, f"class {cls.node.name} subclasses {base} but defines no "
                                f"{entry}()", field="model", received=f"class {cls.node.name}",
                      hint=f"define {entry}(self, x) applying the layers made in __init__")
    selfobj = SelfObj(inst)
    n_models, n_insts = len(r.models), len(r.instances)
    init = find_method(r, cls, "__init__")
    if init is not None:
        scope = _bind(r, init, cls, selfobj, inst.args, inst.kwargs)
        _init_block(r, init.body, scope, selfobj)
    for m in r.models[n_models:] + r.instances[n_insts:]:  # parts of this model
        m.consumed = True
    chain = Chain(r, fw, f"{cls.node.name}.{entry}()", selfobj)
    chain.run(fn, cls.scope or Scope(), method=True)
    model = ModelVal(fw, inst.node, name=cls.node.name, attrs=dict(selfobj.attrs))
    for name, v, node in chain.items:
        model.append(name, v, node)
    model.srcs = chain.srcs if chain.is_graph else None  # a forward that branches
    model.outs = chain.outputs  # a forward that returns several tensors
    model.state = chain.state  # forward(x, hidden) -> (out, hidden): _pyscript_torch_state
    if fw == "keras" and chain.is_graph:  # a call() that branches: a functional graph
        model.graph = keras_graph(r, chain, fn)
    shell = inst.shell
    model.compile, model.fit, model.build_shape = shell.compile, shell.fit, shell.build_shape
    return model


def keras_graph(r: Reader, chain: Any, fn: ast.FunctionDef) -> tuple[list, list]:
    """A Keras call() read as a graph -> the (inputs, outputs) symbolic tensors of
    _pyscript_functional, as `keras.Model(inputs, outputs)` gives them: one input (its shape
    given where the model is read: `subclass_input`), each item a layer call on the tensors
    it reads. A part that is itself a branching subclassed model is inlined, call by call
    (its layers shared between calls, as Keras shares them)."""
    from ._pyscript_ktensor import KTensor, graph_tensors

    inp = KTensor(Layer("Input", [], {}, fn, auto_name=r.auto_name("InputLayer")), [], fn)
    kts: dict[int, Any] = {-1: inp}
    for k, ((_, v, node), srcs) in enumerate(zip(chain.items, chain.srcs)):
        ins = [kts[j] for j in srcs]
        if isinstance(v, Instance):
            v.consumed = True
            v = read_instance(r, v)
        if isinstance(v, ModelVal) and v.graph is not None:  # inline its graph on ins
            if len(v.graph[0]) != 1 or len(v.graph[1]) != 1:
                raise r.error(node, f"{r.seg(node)}: a model with several inputs or outputs "
                                    "called inside call() is not read", field="call",
                              received=r.seg(node))
            sub_in, sub_out = v.graph[0][0], v.graph[1][0]
            v.consumed = True
            mapped = {id(sub_in): ins[0]}
            for t in graph_tensors([sub_out]):
                if t.inputs:
                    mapped[id(t)] = KTensor(t.layer, [mapped[id(s)] for s in t.inputs],
                                            t.node)
            kts[k] = mapped[id(sub_out)]
        else:
            kts[k] = KTensor(v, ins, node)
    return [inp], [kts[len(chain.items) - 1]]  # call() returns its last value


def _bind(r: Reader, fn: ast.FunctionDef, cls: LocalClass, selfobj: SelfObj, args: list,
          kwargs: dict) -> Scope:
    """__init__'s parameters: the constructor arguments, else the defaults (read in the
    scope the class is defined in), else Opaque (an error only where a layer needs it)."""
    where = cls.scope or Scope()
    scope = Scope(where)
    a = fn.args
    params = [*a.posonlyargs, *a.args]
    if not params:
        raise r.error(fn, f"{cls.node.name}.__init__ takes no self", field="__init__")
    scope.vars[params[0].arg] = selfobj
    params = params[1:]
    defaults = [None] * (len(params) - len(a.defaults)) + list(a.defaults)
    known = {p.arg for p in params} | {p.arg for p in a.kwonlyargs}
    if len(args) > len(params) and a.vararg is None or any(
            k not in known for k in kwargs) and a.kwarg is None:
        raise r.error(selfobj.inst.node, f"{cls.node.name}() got arguments its __init__ does "
                                         "not take", field="__init__",
                      received=r.seg(selfobj.inst.node))
    for i, (p, d) in enumerate(zip(params, defaults)):
        if i < len(args):
            v = args[i]
        elif p.arg in kwargs:
            v = kwargs[p.arg]
        elif d is not None:
            v = r.ev(d, where)
        else:
            v = Opaque(selfobj.inst.node, f"{cls.node.name}() is not given '{p.arg}'")
        scope.vars[p.arg] = v
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        scope.vars[p.arg] = kwargs[p.arg] if p.arg in kwargs else (
            r.ev(d, where) if d is not None else Opaque(p, f"'{p.arg}' is not given"))
    for p in (a.vararg, a.kwarg):
        if p is not None:
            scope.vars[p.arg] = Opaque(p, f"'{p.arg}' is a parameter")
    return scope


def _is_self_attr(t: ast.AST, scope: Scope, selfobj: SelfObj) -> bool:
    if not (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)):
        return False
    try:
        return scope.lookup(t.value.id) is selfobj
    except KeyError:
        return False


def _sets_self(st: ast.AST, scope: Scope, selfobj: SelfObj) -> bool:
    for n in ast.walk(st):
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(
            n, (ast.AnnAssign, ast.AugAssign)) else []
        for t in targets:
            for x in ast.walk(t):
                if _is_self_attr(x, scope, selfobj):
                    return True
    return False


def _set(r: Reader, selfobj: SelfObj, name: str, v: Any, node: ast.AST) -> None:
    if isinstance(v, TorchMod) and v.cls in ("ModuleList", "ParameterList"):
        if v.cls == "ParameterList" or len(v.args) > 1 or v.kwargs:
            v = Opaque(v.node, f"nn.{v.cls} is not read", unsupported=True)
        else:
            seq = r.iterate(v.args[0]) if v.args else []
            v = ModList(seq) if seq is not None else Opaque(
                v.node, "the nn.ModuleList is not built from a constant list")
    elif isinstance(v, TorchMod) and v.cls == "ModuleDict":
        v = Opaque(v.node, "nn.ModuleDict is not read", unsupported=True)
    selfobj.attrs[name] = v


def _init_block(r: Reader, body: list[ast.stmt], scope: Scope, selfobj: SelfObj) -> Any:
    """__init__'s statements (and a helper method's): `self.x = ...` is recorded; if/for
    that set attributes are followed when constant; every other statement goes to the
    ordinary walker. ("return", value) on a return."""
    for st in body:
        r.tick()
        if isinstance(st, (ast.Assign, ast.AnnAssign)) and _sets_self(st, scope, selfobj):
            if st.value is None:
                continue
            v = r.ev(st.value, scope)
            for t in st.targets if isinstance(st, ast.Assign) else [st.target]:
                _assign(r, t, v, scope, selfobj, st.value)
        elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and _is_self_attr(
                st.value.func, scope, selfobj) and st.value.func.attr in ("add_module",
                                                                         "register_module"):
            parsed = r.args(st.value, scope)
            if isinstance(parsed, Opaque) or len(parsed[0]) != 2 or not isinstance(
                    parsed[0][0], str):
                raise r.error(st, "add_module(name, module) needs a constant name and a "
                                  "module", field="add_module", received=r.seg(st))
            _set(r, selfobj, parsed[0][0], parsed[0][1], st)
        elif isinstance(st, ast.If) and _sets_self(st, scope, selfobj):
            test = r.ev(st.test, scope)
            if not is_const(test):
                raise r.error(st, "__init__ sets layers under a condition seqc cannot decide "
                                  "without running the script", field="if",
                              received=f"if {r.seg(st.test)}",
                              hint="give the constructor argument a constant value")
            res = _init_block(r, st.body if test else st.orelse, scope, selfobj)
            if res is not None:
                return res
        elif isinstance(st, ast.For) and _sets_self(st, scope, selfobj):
            seq = r.iterate(r.ev(st.iter, scope))
            if seq is None:
                raise r.error(st, "__init__ sets layers in a loop over a value seqc cannot "
                                  "read", field="for", received=f"for ... in {r.seg(st.iter)}")
            for v in seq:
                r.bind(st.target, v, scope, st.iter)
                res = _init_block(r, st.body, scope, selfobj)
                if res is not None:
                    return res
        elif isinstance(st, ast.Return):
            return ("return", None if st.value is None else r.ev(st.value, scope))
        elif isinstance(st, ast.While) or _sets_self(st, scope, selfobj):
            raise r.error(st, "__init__ has a statement seqc does not read while building "
                              "layers", field="__init__", received=r.seg(st))
        else:
            res = r.exec_stmt(st, scope)
            if res is not None:
                return res
    return None


def _assign(r: Reader, t: ast.AST, v: Any, scope: Scope, selfobj: SelfObj,
            src: ast.AST) -> None:
    if _is_self_attr(t, scope, selfobj):
        _set(r, selfobj, t.attr, v, src)
    elif isinstance(t, (ast.Tuple, ast.List)):
        seq = r.iterate(v)
        if seq is None or len(seq) != len(t.elts):
            raise r.error(src, "an unpacking assignment seqc cannot read", field="__init__",
                          received=r.seg(src))
        for e, x in zip(t.elts, seq):
            _assign(r, e, x, scope, selfobj, src)
    elif isinstance(t, ast.Attribute) and r.assign_attr(t, v, scope, src) or (
            isinstance(t, ast.Subscript) and r.assign_subscript(t, scope, v)):
        pass  # on a layer or model: `self.fc.trainable = False` (_pyscript_model)
    elif isinstance(t, (ast.Attribute, ast.Subscript)):
        raise r.error(src, "__init__ sets an attribute seqc does not read", field="__init__",
                      received=r.seg(t))
    else:
        r.bind(t, v, scope, src)
