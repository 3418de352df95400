"""The values of the static script evaluator (seqc reads scripts with `ast`, never runs them):
symbolic modules, layer calls, models under construction, and Opaque for what only running
the script could give; with the limits that keep reading a hostile script cheap.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

MAX_STEPS = 1_000_000  # statements + expressions evaluated, unrolled loops included
MAX_SIDE_UNROLL = 20_000  # a loop that builds no model is unrolled only when this small
MAX_ITER = 10_000  # items of one unrolled loop / comprehension / range
MAX_INT = 2**63
MAX_SEQ = 100_000  # elements or characters of a folded list / string

MODEL_METHODS = ("add", "compile", "fit", "build", "add_module", "append", "extend", "insert",
                 "pop")
PASSTHROUGH_METHODS = ("to", "cuda", "cpu", "float", "train", "eval")
OPS_HINT = "run `seqc ops` for the layer kinds seqc supports"


@dataclass(eq=False)
class Opaque:
    """A value only running the script could give (data, I/O, an unknown call)."""

    node: ast.AST
    why: str
    unsupported: bool = False  # read fine, but seqc has no equivalent
    name: str | None = None  # the script variable first bound to it (for --define hints)


@dataclass(eq=False)
class Sym:
    """A module or an object in one: "keras.layers.Dense", "torch.nn", "mylayers.Attention"."""

    path: str


@dataclass(eq=False)
class LayerCall:
    """A layer constructor call, kept as its class name and folded arguments."""

    cls: str
    args: list
    kwargs: dict
    node: ast.Call
    auto_name: str | None = None  # Keras' automatic name ("dense_1"), for get_layer


@dataclass(eq=False)
class Layer(LayerCall):
    """A Keras layer constructor call: `layers.Dense(64, activation="relu")`."""


@dataclass(eq=False)
class TorchMod(LayerCall):
    """A `torch.nn.<cls>(...)` call; mapped to seqc layers once the model is known."""

    trainable: bool = True  # False once the script sets requires_grad=False on its parameters
    names: list = field(default_factory=list)  # variables it is bound to
    # torch.nn.init on its parameters: {"weight"|"bias": (initializer spec, call node)}
    inits: dict = field(default_factory=dict)


@dataclass(eq=False)
class Obj:
    """An optimizer, loss, metric, callback, schedule or initializer: a seqc `named` spec."""

    spec: Any
    node: ast.AST


@dataclass(eq=False)
class ClassOf:
    """`m.__class__` of a module: its class name is read (`m.__class__.__name__`)."""

    name: str


STR_METHODS = ("find", "startswith", "endswith", "lower", "upper")


@dataclass(eq=False)
class BoundMethod:
    """`model.add`, `layers_list.append`: a method of a value the reader tracks."""

    obj: Any
    name: str


@dataclass(eq=False)
class Pairs:
    """`OrderedDict([(name, module), ...])`."""

    items: list
    node: ast.AST


@dataclass(eq=False)
class LocalClass:
    node: ast.ClassDef
    kind: str  # "keras_model" | "keras_layer" | "torch_module" | "other"
    selector: str | None = None  # a torch module that picks the recurrent output: see torch
    scope: Scope | None = None  # where it is defined (subclassed models: __init__ reads there)


@dataclass(eq=False)
class Instance:
    """An instance of a class defined in the script (a subclassed model, a custom layer)."""

    cls: LocalClass
    node: ast.AST
    names: list = field(default_factory=list)  # variables and builder functions naming it
    # Subclassed models (see _pyscript_subclass): the constructor arguments, whether another
    # model holds it, and a shell ModelVal that keeps its compile/fit/build settings.
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    consumed: bool = False
    shell: ModelVal | None = None


@dataclass(eq=False)
class Func:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    scope: Scope
    scanned: bool = False
    running: bool = False
    # Results by constant arguments: a builder called again with the same constants (a k-fold
    # loop) gives the same model; other arguments (a model to add layers to) run it again.
    cache: dict = field(default_factory=dict)
    called_with_args: bool = False
    ret: Any = None


@dataclass(eq=False)
class ModelVal:
    framework: str  # "keras" | "torch"
    node: ast.AST
    items: list = field(default_factory=list)  # [(name | None, value, node)]
    name: str | None = None
    compile: dict | None = None
    fit: dict | None = None
    build_shape: Any = None
    consumed: bool = False  # used as a layer of another model: not a candidate itself
    trainable: bool = True  # Keras' model.trainable (a frozen parent wins over its layers)
    names: list = field(default_factory=list)  # variables and builder functions naming it
    view_of: Any = None  # `model.features`: a view of some of this model's modules
    reloaded: Any = None  # the load_weights/load_state_dict call of its own checkpoint
    # (model, load_weights call, save line): it starts from another model's initial weights
    init_from: Any = None
    fitted_at: Any = None  # its fit call (a second one continues training: refused)
    fit_repeats: int = 0  # how often a loop ran that same fit (epochs summed)
    # ("fit" | "reset", call node) in script order after the first fit: the runs of the fit
    # and the model.reset_states() calls between them (_pyscript_state.py)
    state_events: list = field(default_factory=list)

    # Training in stages (_pyscript_stages): the stages before the current fit, the layers'
    # trainable state and the (x, y) values at the current fit, a trainable change and a
    # compile after it (each the first, with its node)
    stages: list = field(default_factory=list)
    fit_state: dict = field(default_factory=dict)
    fit_xy: tuple = ()
    fit_arrays: tuple = ()  # (x, y, val_x, val_y) as the fit receives them (DataArr or not)
    changed_at: Any = None
    recompiled: Any = None
    attrs: dict = field(default_factory=dict)  # a subclassed model's self.<attr> values
    functional: bool = False  # keras.Model(inputs, outputs): model.layers lists the Inputs
    graph: Any = None  # a functional graph: ([input KTensor], [output KTensor])
    srcs: list | None = None  # a torch forward graph: the items each item reads (-1: input)
    outs: list | None = None  # a torch forward that returns several tensors: their items
    state: Any = None  # forward(x, hidden): the recurrent state in and out (StateIn)

    def append(self, name: str | None, v: Any, node: ast.AST) -> None:
        if isinstance(v, (ModelVal, Instance)):  # Instance: a script module inside the model
            v.consumed = True
        self.items.append((name, v, node))


class Scope:
    def __init__(self, parent: Scope | None = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def lookup(self, name: str) -> Any:
        s: Scope | None = self
        while s is not None:
            if name in s.vars:
                return s.vars[name]
            s = s.parent
        raise KeyError(name)


@dataclass(eq=False)
class Lam:
    """A `lambda` expression, kept unevaluated (a Lambda layer or module reads its body)."""

    node: ast.Lambda
    scope: Scope


class TooComplex(Exception):
    pass


def find_opaque(v: Any) -> Opaque | None:
    if isinstance(v, Opaque):
        return v
    for x in v if isinstance(v, (list, tuple)) else ():
        found = find_opaque(x)
        if found is not None:
            return found
    return None


def is_const(v: Any) -> bool:
    if v is None or isinstance(v, (bool, int, float, str, range)):
        return True
    if isinstance(v, (list, tuple)):
        return all(is_const(x) for x in v)
    if isinstance(v, dict):
        return all(is_const(x) for x in v.values())
    return False


def bind_args(names: list[str], args: list, kwargs: dict) -> dict | None:
    """Positional + keyword arguments by name; None when they do not fit the names."""
    if len(args) > len(names):
        return None
    out = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names or k in out:
            return None
        out[k] = v
    return out


def is_input_shape(v: Any) -> bool:
    """A per-sample input shape: a non-empty list of positive ints (None: a variable size)."""
    return isinstance(v, (list, tuple)) and bool(v) and all(
        x is None or isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)
