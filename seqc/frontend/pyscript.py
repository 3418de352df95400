"""Keras- and PyTorch-style Python scripts -> a seqc spec doc -> a Definition, read with `ast`
only: the script is parsed, never imported, compiled to bytecode or run, so the code around
the model (downloads, os.system, infinite loops) has no effect.

A small static evaluator walks the module in order: imports become symbolic paths
(`from tensorflow import keras` binds `keras` to the path "keras"), literal constants and
arithmetic on them are folded, and anything that needs the script to run (data shapes,
argparse, file reads) becomes an Opaque value that is an error only where the model needs it.
Keras layers map through `seqc.layers` (Keras 3 positional order); PyTorch modules through
`_pyscript_torch` (NCHW semantics). Errors point at `file.py:LINE:COL` (1-based column).
"""

from __future__ import annotations

import ast
import inspect
import io
import math
import os
import re
import tokenize
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..errors import DefinitionError, SeqcError
from ..model import DEFAULT_MAX_MEMORY
from .spec import Definition, definition_from_doc

__all__ = ["load_script", "script_to_spec"]

MAX_SCRIPT_BYTES = 4 << 20  # tutorials are a few kB; ast on a huge file is slow
MAX_STEPS = 1_000_000  # statements + expressions evaluated, unrolled loops included
MAX_SIDE_UNROLL = 20_000  # a loop that builds no model is unrolled only when this small
MAX_ITER = 10_000  # items of one unrolled loop / comprehension / range
MAX_INT = 2**63
MAX_SEQ = 100_000  # elements or characters of a folded list / string
IMAGE_DATA_FORMAT = "channels_last"  # Keras 3's default, which seqc fixes

# Module-path prefixes that all mean Keras (tf.keras, the TF 2 aliases, Keras' own src tree).
_KERAS_PREFIXES = (
    ("tensorflow.python.keras", "keras"), ("tensorflow.compat.v2.keras", "keras"),
    ("tensorflow.keras", "keras"), ("tf_keras", "keras"), ("keras.src", "keras"),
    ("keras.api", "keras"), ("tensorflow.optimizers", "keras.optimizers"),
    ("tensorflow.losses", "keras.losses"), ("tensorflow.metrics", "keras.metrics"),
    ("tensorflow.initializers", "keras.initializers"),
)
_MODEL_METHODS = ("add", "compile", "fit", "build", "add_module", "append", "extend", "insert",
                  "pop")
_PASSTHROUGH_METHODS = ("to", "cuda", "cpu", "float", "train", "eval", "requires_grad_")
_SEED_CALLS = ("keras.utils.set_random_seed", "tensorflow.random.set_seed",
               "tensorflow.random.set_random_seed", "torch.manual_seed", "keras.random.seed")
_COMPILE_ARGS = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics",
                 "run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss")
_COMPILE_KEEP = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics")
_FIT_ARGS = ("x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split",
             "validation_data", "shuffle", "class_weight", "sample_weight", "initial_epoch",
             "steps_per_epoch", "validation_steps", "validation_batch_size", "validation_freq")
_FIT_KEEP = ("batch_size", "epochs", "verbose", "callbacks", "validation_split", "shuffle",
             "class_weight", "initial_epoch")
_INPUT_ARGS = ("shape", "batch_size", "dtype", "sparse", "ragged", "batch_shape", "name")
_OPS_HINT = "run `seqc ops` for the layer kinds seqc supports"


# ---- values of the static evaluator ----


@dataclass(eq=False)
class Opaque:
    """A value only running the script could give (data, I/O, an unknown call)."""

    node: ast.AST
    why: str
    unsupported: bool = False  # read fine, but seqc has no equivalent


@dataclass(eq=False)
class Sym:
    """A module or an object in one: "keras.layers.Dense", "torch.nn", "mylayers.Attention"."""

    path: str


@dataclass(eq=False)
class Layer:
    """A Keras layer constructor call: `layers.Dense(64, activation="relu")`."""

    cls: str
    args: list
    kwargs: dict
    node: ast.Call


@dataclass(eq=False)
class TorchMod:
    """A `torch.nn.<cls>(...)` call; mapped to seqc layers once the model is known."""

    cls: str
    args: list
    kwargs: dict
    node: ast.Call


@dataclass(eq=False)
class Obj:
    """An optimizer, loss, metric, callback, schedule or initializer: a seqc `named` spec."""

    spec: Any
    node: ast.AST


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


@dataclass(eq=False)
class Instance:
    """An instance of a class defined in the script (a subclassed model, a custom layer)."""

    cls: LocalClass
    node: ast.AST


@dataclass(eq=False)
class Func:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    scope: Scope
    scanned: bool = False
    running: bool = False
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

    def append(self, name: str | None, v: Any, node: ast.AST) -> None:
        if isinstance(v, ModelVal):
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


class _TooComplex(Exception):
    pass


def _norm(path: str) -> str:
    for pre, rep in _KERAS_PREFIXES:
        if path == pre or path.startswith(pre + "."):
            return rep + path[len(pre):]
    return path


def _keras_member(path: str, module: str) -> str | None:
    """`keras.layers.Dense` -> "Dense" for module "layers" (Keras 2 submodules such as
    keras.layers.core.Dense too); None when the path is elsewhere."""
    path = _norm(path)
    m = re.fullmatch(rf"keras\.{re.escape(module)}\.(?:[a-z_0-9]+\.)*([A-Za-z_]\w*)", path)
    return m.group(1) if m else None


# ---- the reader ----


class Reader:
    def __init__(self, source: str, file: str, *, comments: bool = True) -> None:
        self.source = source
        self.file = file
        self.steps = 0
        self.models: list[ModelVal] = []
        self.instances: list[Instance] = []
        self.classes: list[LocalClass] = []
        self.funcs: list[Func] = []
        self.star_modules: list[str] = []
        self.seed: int | None = None
        self.torch_objects: list[TorchMod] = []  # losses / optimizers seen (see torch)
        self.comment = _comment_settings(source, file) if comments else {}

    # -- locations and errors --
    def where(self, node: ast.AST | None) -> str:
        if node is None or not hasattr(node, "lineno"):
            return self.file
        return f"{self.file}:{node.lineno}:{node.col_offset + 1}"

    def seg(self, node: ast.AST, limit: int = 70) -> str:
        """The source text of a node (its first line), for messages. Columns are UTF-8 byte
        offsets; the lines are split once (ast.get_source_segment re-splits per call)."""
        if not hasattr(self, "_lines"):
            self._lines = [ln.encode() for ln in self.source.splitlines()]
        line = getattr(node, "lineno", 0)
        if not 0 < line <= len(self._lines):
            return type(node).__name__
        raw = self._lines[line - 1]
        end = node.end_col_offset if getattr(node, "end_lineno", None) == line else None
        text = raw[node.col_offset:end].decode("utf-8", "replace")
        if end is None and getattr(node, "end_lineno", line) != line:
            text += " ..."
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def error(self, node: ast.AST | None, message: str, *, field: str | None = None,
              received: Any = None, hint: str | None = None) -> DefinitionError:
        return DefinitionError(message, file=self.where(node), field=field,
                               received=received, hint=hint)

    def opaque_error(self, v: Opaque, what: str) -> DefinitionError:
        if v.unsupported:
            return self.error(v.node, f"{what}: {v.why}", received=self.seg(v.node),
                              hint="remove it; " + _OPS_HINT)
        return self.error(
            v.node, f"{what} cannot be read without running the script: {v.why}",
            received=self.seg(v.node),
            hint="write the value as a literal or a module-level constant (seqc reads the "
                 "script with ast and never runs it)")

    # -- entry --
    def read(self) -> tuple[dict, list[ast.AST], dict]:
        try:
            with warnings.catch_warnings():  # "invalid escape sequence" and the like
                warnings.simplefilter("ignore")
                tree = ast.parse(self.source, filename=self.file)
        except SyntaxError as e:
            raise DefinitionError(
                f"invalid Python: {e.msg}", file=f"{self.file}:{e.lineno}:{e.offset or 1}",
                field="python", received=(e.text or "").strip()[:120] or None) from None
        except (RecursionError, MemoryError, ValueError) as e:
            raise DefinitionError(f"the script cannot be parsed: {type(e).__name__}",
                                  file=self.file, field="python") from None
        module = Scope()
        try:
            self.exec_block(tree.body, module)
            # Functions the module never calls are read only when nothing else builds a model
            # (a script that defines build_model() and leaves the call to its importer).
            for f in list(self.funcs) if not self.models and not self.instances else []:
                if not f.scanned:
                    self.call_func(f, [], {}, f.node)
        except _TooComplex:
            raise self.error(None, "the script is too complex to read statically (more than "
                                   f"{MAX_STEPS} steps, e.g. a long unrolled loop)",
                             field="python") from None
        except RecursionError:
            raise self.error(None, "the script nests too deeply to read statically",
                             field="python") from None
        model = self.choose_model()
        return self.assemble(model, module)

    def choose_model(self) -> ModelVal:
        # The model the script compiles or fits is the one it trains, even when a second
        # Sequential wraps it for inference (TF's beginner tutorial adds a Softmax that way).
        used = [m for m in self.models if m.compile is not None or m.fit is not None]
        cands: list[Any] = used if len(used) > 1 or used and not self.instances else (
            [m for m in self.models if not m.consumed] + self.instances)
        if len(cands) > 1:
            lines = ", ".join(self.where(c.node) for c in cands)
            raise self.error(
                cands[1].node, "the script builds more than one model; seqc reads one model "
                               "per script", field="model", received=f"models at {lines}",
                hint="keep one model in the script (or move the others to their own files)")
        if not cands:
            subclassed = [c for c in self.classes if c.kind in ("keras_model", "torch_module")
                          and c.selector is None]
            if subclassed:
                raise self._subclass_error(subclassed[0], None)
            raise self.error(
                None, "no model found: the script has no keras Sequential(...) or "
                      "torch.nn.Sequential(...)", field="model",
                hint="build the model with Sequential([...]) / model.add(...) or "
                     "nn.Sequential(...); functional and subclassed models are not read")
        c = cands[0]
        if isinstance(c, Instance):
            raise self._subclass_error(c.cls, c.node)
        return c

    def _subclass_error(self, cls: LocalClass, use: ast.AST | None) -> DefinitionError:
        base = "keras.Model" if cls.kind == "keras_model" else "torch.nn.Module"
        return self.error(
            cls.node, f"class {cls.node.name} subclasses {base}: its call()/forward() is "
                      "Python code that seqc would have to run to know the model",
            field="model", received=f"class {cls.node.name}"
            + (f", instantiated at {self.where(use)}" if use is not None else ""),
            hint="write the model as Sequential([...]) (Keras) or nn.Sequential(...) "
                 "(PyTorch)")

    # -- statements --
    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _TooComplex

    def exec_block(self, body: list[ast.stmt], scope: Scope) -> Any:
        """Runs the statements symbolically; returns ("return", value) on a return."""
        for st in body:
            r = self.exec_stmt(st, scope)
            if r is not None:
                return r
        return None

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
                    self.star_modules.append(_norm(mod))
                else:
                    scope.vars[a.asname or a.name] = Sym(f"{mod}.{a.name}")
        elif isinstance(st, ast.Assign):
            v = self.ev(st.value, scope)
            for t in st.targets:
                self.bind(t, v, scope, st.value)
        elif isinstance(st, ast.AnnAssign):
            if st.value is not None:
                self.bind(st.target, self.ev(st.value, scope), scope, st.value)
        elif isinstance(st, ast.AugAssign):
            if isinstance(st.target, ast.Name):
                cur = self.name(st.target.id, st.target, scope)
                rhs = self.ev(st.value, scope)
                scope.vars[st.target.id] = self.binop(st.op, cur, rhs, st)
        elif isinstance(st, ast.Expr):
            self.ev(st.value, scope)
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
            if isinstance(test, Opaque) or not _is_const(test):
                if self.touches(st, scope):
                    raise self.error(st, "a model is built under a condition seqc cannot "
                                         "decide without running the script",
                                     field="if", received=f"if {self.seg(st.test)}",
                                     hint="build the model unconditionally")
                self.taint(st.body + st.orelse, scope, st.test)
            else:
                return self.exec_block(st.body if test else st.orelse, scope)
        elif isinstance(st, (ast.For, ast.AsyncFor)):
            return self.exec_for(st, scope)
        elif isinstance(st, ast.While):
            if self.touches(st, scope):
                raise self.error(st, "a while loop builds the model; seqc cannot know how "
                                     "often it runs without running the script",
                                 field="while", received=f"while {self.seg(st.test)}",
                                 hint="list the layers explicitly")
            self.taint(st.body + st.orelse, scope, st)
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            for item in st.items:
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, Opaque(item.context_expr, "a with-statement "
                              "value"), scope, item.context_expr)
            return self.exec_block(st.body, scope)
        elif isinstance(st, ast.Try) or type(st).__name__ == "TryStar":
            r = self.exec_block(st.body, scope)
            if r is not None:
                return r
            for h in st.handlers:
                if self.touches(h, scope):
                    raise self.error(h, "a model is built in an exception handler; seqc "
                                        "cannot know whether it runs", field="try")
                self.taint(h.body, scope, h)
            r = self.exec_block(st.orelse, scope)
            return r if r is not None else self.exec_block(st.finalbody, scope)
        elif type(st).__name__ == "Match":
            if self.touches(st, scope):
                raise self.error(st, "a model is built in a match statement seqc cannot "
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
                raise self.error(
                    st, "a loop builds layers from a value seqc cannot read without running "
                        f"the script ({why})", field="for",
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

    def touches(self, st: ast.AST, scope: Scope) -> bool:
        """Whether code seqc skips would build or change a model (so skipping is wrong)."""
        for n in ast.walk(st):
            if not isinstance(n, ast.Call):
                continue
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr in _MODEL_METHODS:
                base = f.value
                if isinstance(base, ast.Name):
                    try:
                        if isinstance(scope.lookup(base.id), ModelVal):
                            return True
                    except KeyError:
                        pass
            path = self.static_path(f, scope)
            if path is not None and (_keras_member(path, "layers") is not None
                                     or _norm(path) in ("keras.Sequential",
                                                        "keras.models.Sequential")
                                     or path.startswith("torch.nn.")):
                return True
        return False

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
        for st in body:
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
        # attribute and subscript targets (obj.x = ..., d[k] = ...) change nothing seqc reads

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
            p = _norm(path)
            if p in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                kind = "torch_module"
            elif p in ("keras.Model", "keras.models.Model", "keras.Sequential",
                       "keras.models.Sequential"):
                kind = "keras_model"
            elif _keras_member(p, "layers") is not None:
                kind = "keras_layer"
        cls = LocalClass(st, kind)
        if kind == "torch_module":
            from ._pyscript_torch import selector_kind

            cls.selector = selector_kind(st)
        return cls

    # -- functions --
    def call_func(self, f: Func, args: list, kwargs: dict, node: ast.AST) -> Any:
        if args or kwargs:
            f.called_with_args = True
        if f.scanned or f.running:
            return f.ret if f.scanned else Opaque(node, "a recursive call")
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
        r = self.exec_block(f.node.body, scope)
        f.running, f.scanned = False, True
        f.ret = r[1] if r is not None else None
        return f.ret

    # -- expressions --
    def name(self, ident: str, node: ast.AST, scope: Scope) -> Any:
        try:
            return scope.lookup(ident)
        except KeyError:
            pass
        if ident == "__name__":
            return "__main__"
        if ident in _BUILTINS:
            return Sym(f"builtins.{ident}")
        for mod in self.star_modules:
            if ident[:1].isupper() and (mod.startswith("keras") or mod.startswith("torch")):
                return Sym(f"{mod}.{ident}")
        return Opaque(node, f"'{ident}' is not defined by a statement seqc can read")

    def ev(self, node: ast.AST, scope: Scope) -> Any:  # noqa: C901 (one dispatch)
        self.tick()
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, (bytes, complex)) or v is Ellipsis:
                return Opaque(node, f"a {type(v).__name__} constant")
            return v
        if isinstance(node, ast.Name):
            return self.name(node.id, node, scope)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if len(node.elts) > MAX_SEQ:  # embedded data, not a model setting
                return Opaque(node, "a literal too long to fold")
            out: list = []
            for e in node.elts:
                if isinstance(e, ast.Starred):
                    seq = self.iterate(self.ev(e.value, scope))
                    if seq is None:
                        return Opaque(e, f"{self.seg(e)} is not a constant sequence")
                    out.extend(seq)
                else:
                    out.append(self.ev(e, scope))
            if len(out) > MAX_SEQ:
                return Opaque(node, "a sequence too long to fold")
            return tuple(out) if isinstance(node, ast.Tuple) else out
        if isinstance(node, ast.Dict):
            d = {}
            for k, v in zip(node.keys, node.values):
                if k is None:
                    return Opaque(node, "a ** expansion in a dict")
                kv = self.ev(k, scope)
                if not isinstance(kv, (int, float, str, bool)) or isinstance(kv, Opaque):
                    return Opaque(k, "a dict key that is not a constant")
                d[kv] = self.ev(v, scope)
            return d
        if isinstance(node, ast.Attribute):
            base = self.ev(node.value, scope)
            if isinstance(base, Sym):
                return Sym(f"{base.path}.{node.attr}")
            if isinstance(base, ModelVal) and node.attr in _MODEL_METHODS + _PASSTHROUGH_METHODS:
                return BoundMethod(base, node.attr)
            if isinstance(base, list) and node.attr in ("append", "extend", "insert"):
                return BoundMethod(base, node.attr)
            return Opaque(node, f"{self.seg(node)} is an attribute of a run-time value")
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.ev(node.left, scope), self.ev(node.right, scope),
                              node)
        if isinstance(node, ast.UnaryOp):
            v = self.ev(node.operand, scope)
            if isinstance(node.op, ast.Not) and _is_const(v):
                return not v
            if isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, bool) \
                    and not isinstance(node.op, ast.Invert):
                if isinstance(node.op, ast.USub):
                    return -v
                if isinstance(node.op, ast.UAdd):
                    return +v
            return Opaque(node, f"{self.seg(node)} is not constant arithmetic")
        if isinstance(node, ast.BoolOp):
            vals = [self.ev(v, scope) for v in node.values]
            if not all(_is_const(v) for v in vals):
                return Opaque(node, f"{self.seg(node)} is not a constant condition")
            r = vals[0]
            for v in vals[1:]:
                r = (r and v) if isinstance(node.op, ast.And) else (r or v)
            return r
        if isinstance(node, ast.Compare):
            return self.compare(node, scope)
        if isinstance(node, ast.IfExp):
            t = self.ev(node.test, scope)
            if not _is_const(t):
                return Opaque(node, f"{self.seg(node.test)} is not a constant condition")
            return self.ev(node.body if t else node.orelse, scope)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, scope)
        if isinstance(node, ast.JoinedStr):
            return self.fstring(node, scope)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self.listcomp(node, scope)
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        if isinstance(node, ast.NamedExpr):
            v = self.ev(node.value, scope)
            self.bind(node.target, v, scope, node.value)
            return v
        return Opaque(node, f"{type(node).__name__} expressions are not read")

    def iterate(self, v: Any) -> list | None:
        if isinstance(v, range):
            return list(v) if len(v) <= MAX_ITER else None
        if isinstance(v, (list, tuple)) and len(v) <= MAX_ITER:
            return list(v)
        if isinstance(v, str) and len(v) <= MAX_ITER:
            return list(v)
        if isinstance(v, dict) and len(v) <= MAX_ITER:
            return list(v)
        return None

    def binop(self, op: ast.operator, a: Any, b: Any, node: ast.AST) -> Any:
        def bad(why: str) -> Opaque:
            return Opaque(node, why)

        if isinstance(a, Opaque):
            return a
        if isinstance(b, Opaque):
            return b
        num = (int, float)
        try:
            if isinstance(a, num) and isinstance(b, num):
                if isinstance(op, ast.Pow) and isinstance(a, int) and isinstance(b, int) \
                        and abs(a) > 1 and b > 0 and b * math.log2(abs(a)) > 64:
                    return bad(f"{self.seg(node)} is too large")
                fn = _ARITH.get(type(op))
                if fn is None:
                    return bad(f"the operator in {self.seg(node)} is not folded")
                r = fn(a, b)
                if isinstance(r, complex) or isinstance(r, int) and abs(r) >= MAX_INT:
                    return bad(f"{self.seg(node)} is out of range")
                return r
            if isinstance(op, ast.Add) and type(a) is type(b) and isinstance(a, (str, list,
                                                                                 tuple)):
                if len(a) + len(b) > MAX_SEQ:
                    return bad("a sequence too long to fold")
                return a + b
            if isinstance(op, ast.Mult) and (isinstance(a, (str, list, tuple)) and isinstance(
                    b, int) or isinstance(b, (str, list, tuple)) and isinstance(a, int)):
                seq, n = (a, b) if isinstance(b, int) else (b, a)
                if len(seq) * max(n, 0) > MAX_SEQ:
                    return bad("a sequence too long to fold")
                return seq * n
        except (ArithmeticError, ValueError, TypeError) as e:
            return bad(f"{self.seg(node)} fails: {type(e).__name__}")
        return bad(f"{self.seg(node)} is not constant arithmetic")

    def compare(self, node: ast.Compare, scope: Scope) -> Any:
        left = self.ev(node.left, scope)
        ok = True
        for op, rnode in zip(node.ops, node.comparators):
            right = self.ev(rnode, scope)
            if not (_is_const(left) and _is_const(right)):
                return Opaque(node, f"{self.seg(node)} is not a constant condition")
            fn = _COMPARE[type(op)]
            try:
                ok = ok and fn(left, right)
            except TypeError:
                return Opaque(node, f"{self.seg(node)} compares unlike values")
            left = right
        return ok

    def subscript(self, node: ast.Subscript, scope: Scope) -> Any:
        base = self.ev(node.value, scope)
        if isinstance(node.slice, ast.Slice):
            parts = [self.ev(p, scope) if p is not None else None
                     for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            if isinstance(base, (list, tuple, str)) and all(
                    p is None or isinstance(p, int) and not isinstance(p, bool) for p in parts):
                if parts[2] == 0:
                    return Opaque(node, "a zero slice step")
                return base[slice(*parts)]
        else:
            idx = self.ev(node.slice, scope)
            if isinstance(base, (list, tuple, str)) and isinstance(idx, int) \
                    and not isinstance(idx, bool) and -len(base) <= idx < len(base):
                return base[idx]
            if isinstance(base, dict) and _is_const(idx) and idx in base:
                return base[idx]
        if isinstance(base, Opaque):
            return base
        return Opaque(node, f"{self.seg(node)} indexes a run-time value")

    def fstring(self, node: ast.JoinedStr, scope: Scope) -> Any:
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
                continue
            v = self.ev(part.value, scope)
            spec = self.fstring(part.format_spec, scope) if part.format_spec else ""
            if not _is_const(v) or not isinstance(spec, str) or re.search(r"\d{4,}", spec):
                return Opaque(node, f"{self.seg(node)} is not a constant string")
            try:
                conv = {115: str, 114: repr, 97: ascii}.get(part.conversion)
                out.append(format(conv(v) if conv else v, spec))
            except (ValueError, TypeError):
                return Opaque(node, f"{self.seg(node)} cannot be formatted")
        s = "".join(out)
        return s if len(s) <= MAX_SEQ else Opaque(node, "a string too long to fold")

    def listcomp(self, node: ast.ListComp | ast.GeneratorExp, scope: Scope) -> Any:
        if len(node.generators) != 1 or node.generators[0].is_async:
            return Opaque(node, "a comprehension with several for clauses")
        gen = node.generators[0]
        seq = self.iterate(self.ev(gen.iter, scope))
        if seq is None:
            return Opaque(node, f"{self.seg(gen.iter)} is not a constant sequence")
        inner = Scope(scope)
        out = []
        for v in seq:
            self.bind(gen.target, v, inner, gen.iter)
            conds = [self.ev(c, inner) for c in gen.ifs]
            if not all(_is_const(c) for c in conds):
                return Opaque(node, "a comprehension filter that is not constant")
            if all(conds):
                out.append(self.ev(node.elt, inner))
        return out

    def args(self, node: ast.Call, scope: Scope) -> tuple[list, dict] | Opaque:
        args: list = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                seq = self.iterate(self.ev(a.value, scope))
                if seq is None:
                    return Opaque(a, f"*{self.seg(a.value)} is not a constant sequence")
                args.extend(seq)
            else:
                args.append(self.ev(a, scope))
        kwargs: dict = {}
        for k in node.keywords:
            if k.arg is None:
                d = self.ev(k.value, scope)
                if not isinstance(d, dict) or not all(isinstance(x, str) for x in d):
                    return Opaque(k.value, f"**{self.seg(k.value)} is not a constant dict")
                kwargs.update(d)
            else:
                kwargs[k.arg] = self.ev(k.value, scope)
        return args, kwargs

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
        if isinstance(f, BoundMethod):
            return self.method(f.obj, f.name, args, kwargs, node)
        if isinstance(f, Func):
            return self.call_func(f, args, kwargs, node)
        if isinstance(f, LocalClass):
            return self.instantiate(f, node)
        if isinstance(f, Sym):
            return self.call_sym(_norm(f.path), args, kwargs, node)
        return Opaque(node, f"{self.seg(node.func)}(...) is a call seqc does not run")

    def _builds_layers(self, path: str) -> bool:
        p = _norm(path)
        return (_keras_member(p, "layers") is not None or p.startswith("torch.nn.")
                or p in ("keras.Sequential", "keras.models.Sequential"))

    def instantiate(self, cls: LocalClass, node: ast.Call) -> Any:
        if cls.kind == "torch_module" and cls.selector is not None:
            return TorchMod(f"<select:{cls.selector}>", [], {"class": cls.node.name}, node)
        if cls.kind in ("keras_model", "torch_module"):
            inst = Instance(cls, node)
            self.instances.append(inst)
            return inst
        return Instance(cls, node)

    def method(self, obj: Any, meth: str, args: list, kwargs: dict, node: ast.Call) -> Any:
        if isinstance(obj, list):
            if meth == "append" and len(args) == 1:
                obj.append(args[0])
            elif meth == "extend" and len(args) == 1 and self.iterate(args[0]) is not None:
                obj.extend(self.iterate(args[0]))
            elif meth == "insert" and len(args) == 2 and isinstance(args[0], int):
                obj.insert(args[0], args[1])
            else:
                return Opaque(node, f"{self.seg(node)} changes a list in a way seqc does not "
                                    "read")
            return None
        m: ModelVal = obj
        if meth in _PASSTHROUGH_METHODS:
            return m
        if meth in ("add", "append"):
            if len(args) != 1 or kwargs:
                raise self.error(node, f"model.{meth}() takes one layer", field=meth,
                                 received=self.seg(node))
            m.append(None, args[0], node.args[0])
        elif meth == "add_module":
            bound = _bind(["name", "module"], args, kwargs)
            if bound is None or not isinstance(bound.get("name"), str):
                raise self.error(node, "add_module(name, module) needs a constant name",
                                 field="add_module", received=self.seg(node))
            m.append(bound["name"], bound.get("module"), node)
        elif meth == "compile":
            m.compile = self.compile_section(args, kwargs, node)
        elif meth == "fit":
            m.fit = self.fit_section(args, kwargs, node)
        elif meth == "build":
            bound = _bind(["input_shape"], args, kwargs)
            if bound is None or "input_shape" not in bound:
                raise self.error(node, "model.build() needs input_shape", field="build")
            m.build_shape = (bound["input_shape"], node)
        else:
            raise self.error(node, f"model.{meth}(...) changes the model in a way seqc does "
                                   "not read", field=meth, received=self.seg(node),
                             hint="build the model with Sequential([...]) and add()")
        return None

    def call_sym(self, p: str, args: list, kwargs: dict, node: ast.Call) -> Any:  # noqa: C901
        if p.startswith("builtins."):
            return _builtin(self, p[9:], args, kwargs, node)
        if p in ("keras.Sequential", "keras.models.Sequential"):
            return self.keras_sequential(args, kwargs, node)
        if p in ("torch.nn.Sequential", "torch.nn.modules.container.Sequential"):
            return self.torch_sequential(args, kwargs, node)
        if p in ("keras.Input", "keras.layers.Input", "keras.layers.InputLayer"):
            return Layer("InputLayer" if p.endswith("InputLayer") else "Input", args, kwargs,
                         node)
        if p in ("keras.Model", "keras.models.Model"):
            raise self.error(node, "functional keras.Model(inputs, outputs) models are not "
                                   "read; seqc reads Sequential models",
                             field="model", received=self.seg(node),
                             hint="write the model as keras.Sequential([...])")
        if p in _SEED_CALLS or _norm(p) in _SEED_CALLS:
            if args and isinstance(args[0], int) and not isinstance(args[0], bool):
                self.seed = args[0] if args[0] >= 0 else None
            return None
        if p in ("keras.backend.image_data_format", "keras.config.image_data_format"):
            return IMAGE_DATA_FORMAT
        if p in ("collections.OrderedDict", "typing.OrderedDict", "builtins.dict"):
            seq = self.iterate(args[0]) if len(args) == 1 and not kwargs else None
            if not args and not kwargs:
                seq = []
            if seq is None or not all(isinstance(x, tuple) and len(x) == 2 for x in seq):
                return Opaque(node, "an OrderedDict of run-time values")
            return Pairs(list(seq), node)
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
        kind = _keras_member(p, "layers")
        if kind is not None and kind[:1].isupper():
            return Layer(kind, args, kwargs, node)
        for family in ("optimizers.schedules", "optimizers", "losses", "metrics",
                       "callbacks", "initializers", "regularizers", "constraints"):
            name = _keras_member(p, family)
            if name is not None:
                return self.keras_object(family, name, args, kwargs, node)
        if p.startswith("torch.nn.") and p.count(".") == 2:
            mod = TorchMod(p.split(".")[-1], args, kwargs, node)
            self.torch_objects.append(mod)
            return mod
        if p.startswith("torch.optim.") and p.count(".") == 2:
            mod = TorchMod("optim." + p.split(".")[-1], args, kwargs, node)
            self.torch_objects.append(mod)
            return mod
        mod, _, cls = p.rpartition(".")
        if mod and cls[:1].isupper() and mod.split(".")[0] not in ("keras", "tensorflow",
                                                                     "torch", "builtins"):
            return Opaque(node, f"{cls} comes from module '{mod}', which seqc does not read "
                                "(a custom layer or model?)", unsupported=True)
        return Opaque(node, f"{self.seg(node.func)}(...) is a call seqc does not run")

    # -- Keras objects and sections --
    def keras_object(self, family: str, name: str, args: list, kwargs: dict,
                     node: ast.Call) -> Obj:
        cls = _seqc_class(family, name)
        if cls is None and family in ("regularizers", "constraints"):
            return Opaque(node, f"keras.{family}.{name} is not supported by seqc",
                          unsupported=True)
        if args:
            if cls is None:
                raise self.error(node, f"unknown {family[:-1]} '{name}'", field=family,
                                 received=self.seg(node))
            names = _init_params(cls)
            if len(args) > len(names):
                raise self.error(node, f"{name} takes at most {len(names)} positional "
                                       "arguments", field=family,
                                 received=f"{len(args)} positional arguments")
            for k, v in zip(names, args):
                if k in kwargs:
                    raise self.error(node, f"{name} got '{k}' both by position and by name",
                                     field=k)
                kwargs = {k: v, **kwargs}
        spec = {"type": name, **{k: self.const(v, node, f"{name}({k}=...)")
                                 for k, v in kwargs.items()}}
        return Obj(spec, node)

    def const(self, v: Any, node: ast.AST, what: str) -> Any:
        """A JSON value for the spec doc; Opaque and non-values are located errors."""
        if isinstance(v, Opaque):
            raise self.opaque_error(v, what)
        if v is None or isinstance(v, (bool, int, float, str)):
            if isinstance(v, float) and not math.isfinite(v):
                raise self.error(node, f"{what} is not a finite number", received=repr(v))
            return v
        if isinstance(v, (list, tuple)):
            return [self.const(x, node, what) for x in v]
        if isinstance(v, dict):
            return {str(k): self.const(x, node, what) for k, x in v.items()}
        if isinstance(v, Obj):
            return v.spec
        if isinstance(v, Sym):
            fn = _function_name(v.path)
            if fn is not None:
                return fn
            raise self.error(node, f"{what}: {v.path} is a module or class, not a value",
                             received=v.path)
        if isinstance(v, range):
            return list(v)
        if isinstance(v, (Func, LocalClass)):
            raise self.error(node, f"{what}: {v.node.name} is defined in the script (line "
                                   f"{v.node.lineno}); seqc does not run script code",
                             received=v.node.name,
                             hint="use a built-in name, e.g. loss=\"mse\"")
        raise self.error(node, f"{what} is not a value seqc can read",
                         received=type(v).__name__)

    def compile_section(self, args: list, kwargs: dict, node: ast.Call) -> dict:
        bound = _bind(list(_COMPILE_ARGS), args, kwargs)
        if bound is None:
            raise self.error(node, "model.compile() got unexpected arguments", field="compile",
                             received=self.seg(node),
                             hint=f"Keras 3 compile takes {', '.join(_COMPILE_ARGS)}")
        out = {}
        for k in _COMPILE_KEEP:
            if k in bound and bound[k] is not None:
                v = self.const(bound[k], node, f"compile({k}=...)")
                if k in ("metrics", "weighted_metrics") and isinstance(v, (str, dict)):
                    v = [v]
                out[k] = v
        from ..training import losses, optimizers

        for k, getter in (("optimizer", optimizers.get), ("loss", losses.get)):
            if k in out:
                try:
                    getter(out[k])
                except SeqcError as e:
                    raise e.located(file=self.where(node)) from None
        return out

    def fit_section(self, args: list, kwargs: dict, node: ast.Call) -> dict:
        bound = _bind(list(_FIT_ARGS), args, kwargs)
        if bound is None:
            raise self.error(node, "model.fit() got unexpected arguments", field="fit",
                             received=self.seg(node))
        out: dict = {}
        for k in _FIT_KEEP:
            if k in bound and bound[k] is not None:
                out[k] = self.const(bound[k], node, f"fit({k}=...)")
        return out

    def keras_sequential(self, args: list, kwargs: dict, node: ast.Call) -> ModelVal:
        bound = _bind(["layers", "trainable", "name"], args, kwargs)
        if bound is None:
            raise self.error(node, "Sequential() got unexpected arguments", field="Sequential",
                             received=self.seg(node))
        m = ModelVal("keras", node)
        self.models.append(m)
        layers = bound.get("layers")
        if isinstance(layers, Opaque):
            raise self.opaque_error(layers, "the layer list")
        if layers is not None:
            seq = self.iterate(layers)
            if seq is None:
                raise self.error(node, "Sequential() needs a list of layers", field="layers",
                                 received=self.seg(node))
            elts = node.args[0].elts if node.args and isinstance(
                node.args[0], (ast.List, ast.Tuple)) and not any(
                isinstance(e, ast.Starred) for e in node.args[0].elts) else None
            for i, v in enumerate(seq):
                m.append(None, v, elts[i] if elts else node)
        name = bound.get("name")
        if isinstance(name, str):
            m.name = name
        return m

    def torch_sequential(self, args: list, kwargs: dict, node: ast.Call) -> ModelVal:
        if kwargs:
            raise self.error(node, "nn.Sequential() takes modules as positional arguments",
                             field="Sequential", received=self.seg(node))
        m = ModelVal("torch", node)
        self.models.append(m)
        if len(args) == 1 and isinstance(args[0], Pairs):
            for k, v in args[0].items:
                m.append(str(k), v, args[0].node)
            return m
        for i, v in enumerate(args):
            anode = node.args[i] if len(node.args) == len(args) else node
            m.append(str(i), v, anode)
        return m

    # -- the spec doc --
    def assemble(self, model: ModelVal, module: Scope) -> tuple[dict, list[ast.AST], dict]:
        if model.framework == "torch":
            from ._pyscript_torch import torch_doc

            doc, nodes = torch_doc(self, model, module)
            info = {"framework": "torch"}
        else:
            doc, nodes = self.keras_doc(model)
            info = {"framework": "keras"}
        if model.name and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", model.name):
            doc = {"name": model.name, **doc}
        if model.compile is not None:
            doc["compile"] = model.compile
        fit = dict(model.fit) if model.fit is not None else None
        if self.seed is not None:
            fit = {**(fit or {}), "seed": self.seed}
        if fit is not None:
            if "class_weight" in fit:
                fit["class_weight"] = {str(k): v for k, v in fit["class_weight"].items()}
            doc["fit"] = fit
        return doc, nodes, info

    def keras_items(self, model: ModelVal) -> list[tuple[Any, ast.AST]]:
        out = []
        for _, v, node in model.items:
            if isinstance(v, ModelVal) and v.framework == "keras":
                v.consumed = True
                out.extend(self.keras_items(v))
            else:
                out.append((v, node))
        return out

    def keras_doc(self, model: ModelVal) -> tuple[dict, list[ast.AST]]:
        items = self.keras_items(model)
        layers, nodes = [], []
        override = self.comment.get("input_shape")
        for i, (v, node) in enumerate(items):
            if not isinstance(v, Layer):
                raise self.not_a_layer(v, node, "keras")
            d = self.keras_layer(v, first=(i == 0), override=override is not None)
            if d is None:  # an InputLayer whose shape the comment gives
                continue
            layers.append(d)
            nodes.append(v.node)
        doc: dict = {"layers": layers}
        if override is not None:
            doc["input_shape"] = override
        if self.comment.get("input_dtype"):
            doc["input_dtype"] = self.comment["input_dtype"]
        if model.build_shape is not None:
            shape, bnode = model.build_shape
            shape = self.const(shape, bnode, "model.build(input_shape)")
            if not isinstance(shape, list) or len(shape) < 2:
                raise self.error(bnode, "model.build() takes the batch shape, e.g. "
                                        "(None, 784)", field="input_shape", received=shape)
            if "input_shape" in doc and doc["input_shape"] != shape[1:]:
                raise self.error(bnode, "the input shape is given twice, differently",
                                 field="input_shape",
                                 received=f"{doc['input_shape']} and {shape[1:]}")
            doc["input_shape"] = shape[1:]
        return doc, nodes

    def not_a_layer(self, v: Any, node: ast.AST, framework: str) -> DefinitionError:
        if isinstance(v, Opaque) and v.unsupported:
            return self.error(v.node, f"not a layer seqc can read: {v.why}",
                              field="layer", received=self.seg(v.node), hint=_OPS_HINT)
        if isinstance(v, Opaque):
            return self.opaque_error(v, "a layer")
        if isinstance(v, Instance):
            return self.error(
                v.node, f"{v.cls.node.name} is a custom class defined in the script "
                        f"(line {v.cls.node.lineno}); seqc cannot read its code",
                field="layer", received=self.seg(v.node),
                hint=f"use built-in layers only; {_OPS_HINT}")
        if isinstance(v, (Layer, TorchMod)):
            other = "PyTorch" if framework == "keras" else "Keras"
            return self.error(v.node, f"a {other} layer in a "
                              f"{'Keras' if framework == 'keras' else 'PyTorch'} model",
                              field="layer", received=self.seg(v.node))
        if isinstance(v, ModelVal):
            return self.error(v.node, "a Sequential of another framework inside the model",
                              field="layer")
        return self.error(node, "not a layer seqc knows", field="layer",
                          received=self.seg(node), hint=_OPS_HINT)

    def keras_layer(self, lay: Layer, *, first: bool, override: bool) -> dict | None:
        from .. import layers as seqc_layers
        from ..ops import REGISTRY
        from ..ops.base import KIND_ALIASES

        node = lay.node
        if lay.cls in ("Input", "InputLayer"):
            return self.input_layer(lay, override)
        kind = KIND_ALIASES.get(lay.cls, lay.cls)
        if kind not in REGISTRY or kind == "InputLayer":
            raise self.error(node, f"layer class {lay.cls} is not supported by seqc",
                             field="type", received=self.seg(node), hint=_OPS_HINT)
        kwargs = dict(lay.kwargs)
        if "input_dim" in kwargs:
            kwargs["input_shape"] = (kwargs.pop("input_dim"),)
        if "batch_input_shape" in kwargs:
            bis = kwargs.pop("batch_input_shape")
            kwargs["input_shape"] = bis[1:] if isinstance(bis, (list, tuple)) else bis
        kwargs.pop("batch_size", None)
        if kwargs.get("dtype") in (None, "float32"):
            kwargs.pop("dtype", None)
        if "input_shape" in kwargs:
            if not first:
                raise self.error(node, "input_shape is only read on the first layer",
                                 field="input_shape", received=self.seg(node))
            hidden = _find_opaque(kwargs["input_shape"])
            if override and hidden is not None:
                del kwargs["input_shape"]
            elif hidden is not None:
                raise self._shape_error(hidden)
        args = [self.layer_arg(a, node, f"{lay.cls} argument {i + 1}")
                for i, a in enumerate(lay.args)]
        kw = {k: self.layer_arg(v, node, f"{lay.cls}({k}=...)") for k, v in kwargs.items()}
        name = kw.pop("name", None)
        trainable = kw.pop("trainable", True)
        try:
            lc = getattr(seqc_layers, lay.cls)(*args, name=name, trainable=trainable, **kw)
        except SeqcError as e:
            raise e.located(file=self.where(node)) from None
        d = {"type": lc.type, **lc.config}
        if lc.name is not None:
            d["name"] = lc.name
        if lc.trainable is not True:
            d["trainable"] = lc.trainable
        return d

    def _shape_error(self, v: Opaque) -> DefinitionError:
        return self.error(
            v.node, f"the input shape cannot be read without running the script: {v.why}",
            field="input_shape", received=self.seg(v.node),
            hint="write it as numbers, or add a comment `# seqc: input_shape = [28, 28, 1]` "
                 "(per sample, batch excluded)")

    def layer_arg(self, v: Any, node: ast.AST, what: str) -> Any:
        from ..ir.build import LayerConfig

        if isinstance(v, Layer):
            d = self.keras_layer(v, first=False, override=False) or {}
            return LayerConfig(d.pop("type"), d, d.pop("name", None), True)
        return self.const(v, node, what)

    def input_layer(self, lay: Layer, override: bool) -> dict:
        order = list(_INPUT_ARGS) if lay.cls == "Input" else [
            "shape", "batch_size", "dtype", "sparse", "ragged", "batch_shape", "input_tensor",
            "optional", "name"]
        bound = _bind(order + ["input_shape", "batch_input_shape", "tensor", "optional"],
                      lay.args, lay.kwargs)
        if bound is None:
            raise self.error(lay.node, f"{lay.cls}() got unexpected arguments",
                             field=lay.cls, received=self.seg(lay.node))
        if "input_shape" in bound:
            bound["shape"] = bound.pop("input_shape")
        if "batch_input_shape" in bound:
            bound["batch_shape"] = bound.pop("batch_input_shape")
        for k in ("name", "tensor", "input_tensor"):
            bound.pop(k, None)
        for k in ("shape", "batch_shape"):
            hidden = _find_opaque(bound.get(k))
            if hidden is not None:
                if override:
                    return None
                raise self._shape_error(hidden)
        if isinstance(bound.get("shape"), int):
            bound["shape"] = (bound["shape"],)
        d = {"type": "InputLayer"}
        for k, v in bound.items():
            if v is not None:
                d[k] = self.const(v, lay.node, f"{lay.cls}({k}=...)")
        return d


# ---- helpers ----

_ARITH = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b, ast.Pow: lambda a, b: a**b,
}
_COMPARE = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_MATH = {"sqrt": math.sqrt, "ceil": math.ceil, "floor": math.floor, "pi": math.pi,
         "prod": math.prod, "log": math.log, "exp": math.exp}
_BUILTINS = ("range", "len", "int", "float", "bool", "str", "abs", "min", "max", "round",
             "tuple", "list", "sum", "dict", "enumerate", "zip", "reversed")


def _find_opaque(v: Any) -> Opaque | None:
    if isinstance(v, Opaque):
        return v
    for x in v if isinstance(v, (list, tuple)) else ():
        found = _find_opaque(x)
        if found is not None:
            return found
    return None


def _is_const(v: Any) -> bool:
    if v is None or isinstance(v, (bool, int, float, str, range)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_is_const(x) for x in v)
    if isinstance(v, dict):
        return all(_is_const(x) for x in v.values())
    return False


def _builtin(r: Reader, name: str, args: list, kwargs: dict, node: ast.Call) -> Any:
    if not all(_is_const(a) for a in args) or not all(_is_const(v) for v in kwargs.values()):
        return Opaque(node, f"{r.seg(node)} is not computed from constants")
    try:
        if name == "range":
            if kwargs or not all(isinstance(a, int) for a in args):
                return Opaque(node, "range() of non-integers")
            return range(*args)
        if name in ("tuple", "list"):
            seq = r.iterate(args[0]) if args else []
            if seq is None or kwargs:
                return Opaque(node, f"{r.seg(node)} is not a constant sequence")
            return tuple(seq) if name == "tuple" else list(seq)
        if name == "dict":
            return Opaque(node, "dict() is not folded")
        if name in ("enumerate", "zip", "reversed") and not kwargs:
            seqs = [r.iterate(a) for a in args]
            if not seqs or any(s is None for s in seqs) or (name != "zip" and len(seqs) != 1):
                return Opaque(node, f"{r.seg(node)} is not over constant sequences")
            if name == "enumerate":
                return list(enumerate(seqs[0]))
            return list(reversed(seqs[0])) if name == "reversed" else list(zip(*seqs))
        if name in ("int", "float", "bool", "abs", "round", "str") and len(args) <= 2:
            if name == "str" and not isinstance(args[0], (int, float, str, bool)):
                return Opaque(node, "str() of a container")
            return {"int": int, "float": float, "bool": bool, "abs": abs, "round": round,
                    "str": str}[name](*args, **kwargs)
        if name in ("len", "min", "max", "sum"):
            fn = {"len": len, "min": min, "max": max, "sum": sum}[name]
            return fn(*args, **kwargs)
    except (TypeError, ValueError, ArithmeticError):
        return Opaque(node, f"{r.seg(node)} fails")
    return Opaque(node, f"{name}() is not folded")


def _bind(names: list[str], args: list, kwargs: dict) -> dict | None:
    """Positional + keyword arguments by name; None when they do not fit the names."""
    if len(args) > len(names):
        return None
    out = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names or k in out:
            return None
        out[k] = v
    return out


def _function_name(path: str) -> str | None:
    """`tf.nn.relu`, `keras.activations.softmax`, `keras.losses.mse` -> their names: Keras
    accepts the function itself wherever it accepts the name."""
    p = _norm(path)
    for pre in ("tensorflow.nn.", "keras.activations.", "keras.losses.", "keras.metrics.",
                "keras.ops.", "tensorflow.math."):
        if p.startswith(pre) and "." not in p[len(pre):] and p[len(pre):][:1].islower():
            return p[len(pre):]
    return None


def _seqc_class(family: str, name: str) -> type | None:
    if family == "optimizers":
        from ..training.optimizers import OPTIMIZERS

        return OPTIMIZERS.get(name.lower())
    if family == "losses":
        from ..training.losses import NAMES

        return NAMES.get(name)
    if family == "metrics":
        from ..training.metrics import NAMES as METRICS

        return METRICS.get(name)
    if family == "callbacks":
        from ..training.callbacks import CLASSES

        return CLASSES.get(name)
    if family == "optimizers.schedules":
        from ..training.schedules import SCHEDULES

        return SCHEDULES.get(name)
    if family == "initializers":
        from ..training import initializers

        fn = initializers.INITIALIZERS.get(initializers._canonical_name(name))
        return fn
    return None


def _init_params(cls: Any) -> list[str]:
    """Positional parameter names of a seqc class (Keras' own order) or function."""
    target = cls
    if inspect.isclass(cls):
        for klass in cls.__mro__:
            if "__init__" in vars(klass):
                target = klass.__init__
                break
    params = inspect.signature(target).parameters.values()
    return [p.name for p in params if p.name != "self"
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


_COMMENT_RE = re.compile(r"#\s*seqc\s*:\s*(input_shape|input_dtype)\s*=\s*(.+?)\s*$")


def _comment_settings(source: str, file: str) -> dict:
    """`# seqc: input_shape = [1, 28, 28]` and `# seqc: input_dtype = "int64"` comments,
    found with tokenize (so a string that looks like one is not read) and parsed as literals
    by the same folding evaluator (no eval)."""
    out: dict = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return out
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        m = _COMMENT_RE.match(tok.string)
        if not m:
            continue
        key, text = m.groups()
        where = f"{file}:{tok.start[0]}:{tok.start[1] + 1}"
        try:
            expr = ast.parse(text, mode="eval").body
        except SyntaxError:
            expr = ast.Constant(text) if key == "input_dtype" else None
        r = Reader(text, file, comments=False)  # the evaluator alone, on an empty scope
        v = r.ev(expr, Scope()) if expr is not None else None
        if key == "input_shape":
            if not isinstance(v, (list, tuple)) or not v or not all(
                    x is None or isinstance(x, int) and not isinstance(x, bool) and x > 0
                    for x in v):
                raise DefinitionError(
                    "a `# seqc: input_shape = ...` comment needs a list of positive integers "
                    "(None for a variable length), batch excluded", file=where,
                    field="input_shape", received=tok.string.strip(),
                    hint="e.g. # seqc: input_shape = [1, 28, 28]")
            v = list(v)
        elif not isinstance(v, str):
            raise DefinitionError("a `# seqc: input_dtype = ...` comment needs a dtype name",
                                  file=where, field="input_dtype", received=tok.string.strip())
        if key in out and out[key] != v:
            raise DefinitionError(f"two `# seqc: {key}` comments disagree", file=where,
                                  field=key, received=f"{out[key]} and {v}")
        out[key] = v
    return out


def _relocate(e: SeqcError, nodes: list[ast.AST], file: str) -> SeqcError:
    """An error from the IR builder names `layers[i]`; point it at the script line too."""
    m = re.match(r"layers\[(\d+)\]", e.layer or "")
    if m and int(m.group(1)) < len(nodes) and (e.file is None or e.file == file):
        node = nodes[int(m.group(1))]
        e.file = f"{file}:{node.lineno}:{node.col_offset + 1}"
        e.args = (e.format(),)
    return e


# ---- entry points ----


def _decode(raw: bytes, file: str) -> str:
    if len(raw) > MAX_SCRIPT_BYTES:
        raise DefinitionError(f"the script is larger than {MAX_SCRIPT_BYTES >> 20} MiB",
                              file=file, field="path", received=f"{len(raw)} bytes")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DefinitionError("the script is not UTF-8 text", file=file,
                              received=f"byte 0x{raw[e.start]:02x} at offset {e.start}") from None


def _read(source: str, file: str) -> tuple[dict, list[ast.AST], dict]:
    return Reader(source.replace("\r\n", "\n"), file).read()


def script_to_spec(source: str, file: str) -> dict:
    """The seqc spec doc of a Keras- or PyTorch-style script, read without running it.

    >>> script_to_spec("import keras\\nm = keras.Sequential([keras.Input((4,)), "
    ...                "keras.layers.Dense(2)])", "m.py")["layers"][1]
    {'type': 'Dense', 'units': 2}
    """
    return _read(source, file)[0]


def load_script(path: str | os.PathLike, *,
                max_memory: int | None = DEFAULT_MAX_MEMORY) -> Definition:
    """A `.py` model definition -> Definition (format "python"); the script is never run."""
    from ._json import read_bytes

    file = os.fspath(path)
    raw = read_bytes(file)
    doc, nodes, info = _read(_decode(raw, file), file)
    try:
        defn = definition_from_doc(doc, file, raw, max_memory=max_memory)
    except SeqcError as e:
        raise _relocate(e, nodes, file) from None
    defn.format = "python"
    defn.extra = {"python": info}
    return defn
