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
import contextlib
import io
import os
import re
import tokenize
import warnings
from typing import Any

from ..errors import DefinitionError, SeqcError
from ..model import DEFAULT_MAX_MEMORY
from ._pyscript_argparse import ArgparseReader
from ._pyscript_binding import DataBinding
from ._pyscript_calls import CallReader
from ._pyscript_compile import CompileReader
from ._pyscript_data import DataReader
from ._pyscript_expr import ExprReader
from ._pyscript_functional import FunctionalReader
from ._pyscript_keras import KerasReader
from ._pyscript_model import ModelStatements
from ._pyscript_pipeline import PipelineReader
from ._pyscript_stages import stages_doc
from ._pyscript_state import state_resets
from ._pyscript_stmt import StmtReader
from ._pyscript_subclass import read_instance, read_uninstantiated, reorder_weights, weight_order
from ._pyscript_values import (
    MAX_STEPS,
    OPS_HINT,
    Func,
    Instance,
    Layer,
    LocalClass,
    ModelVal,
    Opaque,
    Scope,
    TooComplex,
    TorchMod,
    is_input_shape,
)
from .bindings import Bindings
from .spec import Definition, definition_from_doc

__all__ = ["load_script", "script_to_spec"]

MAX_SCRIPT_BYTES = 4 << 20  # tutorials are a few kB; ast on a huge file is slow


class Reader(StmtReader, ExprReader, CallReader, CompileReader, KerasReader, ModelStatements,
             DataReader, DataBinding, FunctionalReader, ArgparseReader, PipelineReader):
    """One script's reader: the statement walker, expression evaluator, call dispatch and the
    Keras/compile readers are its mixins (one module each); it keeps the reading state,
    locates errors, chooses the model and assembles the spec doc."""

    def __init__(self, source: str, file: str, *, comments: bool = True,
                 bindings: Bindings | None = None, survey: bool = False) -> None:
        self.source = source
        self.bindings = bindings or Bindings()
        self.defines = self.bindings.defines
        self.expr_defines = any(not k.replace(".", "_").isidentifier() for k in self.defines)
        self.used_defines: set[str] = set()
        self.survey = survey  # the lenient first pass that finds what fit() receives
        self.plan: dict = {}  # id(assignment) -> {name: DataArr}: where the data binds
        self.last_def: dict = {}
        self.value_defs: dict = {}  # id(assignment) -> {name: the assignment it read}
        self.sources: dict = {}
        self.siblings: dict = {}
        self.fit_uses: list = []
        # Training stages on differing data (_pyscript_stages): the survey saw them, and the
        # load_data() assignments ((id, [x_train, y_train, x_test, y_test])) the data can bind
        self.staged_data = False
        self.load_sites: list = []
        self.staged_binding = False  # the data given binds to load_data()'s names
        self.stage_data: list | None = None  # each stage's (x, y, val_x, val_y) arrays
        self.fit_data: list[str] = []  # "fit(x_train, y_train) at line 40", for messages
        self.data_lines: dict[int, str] = {}  # id(fit call) -> what the data given replaces
        self.file = file
        self.steps = 0
        self.models: list[ModelVal] = []
        self.instances: list[Instance] = []
        self.classes: list[LocalClass] = []
        self.funcs: list[Func] = []
        self.star_modules: list[str] = []
        self.seed: int | None = None
        self.torch_objects: list[TorchMod] = []  # losses / optimizers seen (see torch)
        self.skipped: dict[int, int] = {}  # first line -> last line of statements not run
        self.notes: list[str] = []  # one line each, printed by summary and build
        self.warned: set[tuple[int, str]] = set()
        self.param_owners: list[TorchMod] = []  # modules whose parameters() were taken
        self.refusals: list = []  # (object, error): raised if the object is in the model
        self.name_uids: dict[str, int] = {}  # Keras' automatic layer names so far
        self.argparse_read: dict[str, Any] = {}  # args.<name> read as its default
        self.adapted: dict[str, dict] = {}  # layer name -> the weights its adapt() set
        self.saved_paths: dict = {}  # where the script saves weights -> (line, model or None)
        self.best_saves: dict = {}  # saves under a condition in skipped code (_torch_best)
        self.call_sites: list = []  # the calls of the script's functions being read
        self.call_scope: Scope | None = None
        self.ids_input = False  # an Embedding(input_length=n) gave the input: int32 ids
        self.comment = _comment_settings(source, file) if comments else {}

    def skipped_at(self, node: ast.AST) -> None:
        """Record a statement seqc did not run (it does not touch the model)."""
        line = getattr(node, "lineno", None)
        if line is not None:
            end = getattr(node, "end_lineno", None) or line
            self.skipped[line] = max(end, self.skipped.get(line, line))

    def defined(self, name: str | None, fallback: Any) -> Any:
        """A `--define NAME=VALUE` for a name (or dotted name) the script leaves unreadable."""
        if name is not None and name in self.defines:
            self.used_defines.add(name)
            return self.defines[name]
        return fallback

    def note(self, node: ast.AST | None, message: str) -> None:
        line = f"{self.where(node)}: {message}"
        if line not in self.notes:  # a function called twice (each training stage) notes once
            self.notes.append(line)

    def skipped_line(self) -> str | None:
        """One line listing the statements seqc did not run, as line ranges."""
        if not self.skipped:
            return None
        spans: list[list[int]] = []
        for start in sorted(self.skipped):
            end = self.skipped[start]
            if spans and start <= spans[-1][1] + 1:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
        n = sum(b - a + 1 for a, b in spans)
        return (f"{self.file}: not run (they do not build or change the model): "
                f"{'line' if n == 1 else 'lines'} {text}")

    def where(self, node: ast.AST | None) -> str:
        if node is None or not hasattr(node, "lineno"):
            return self.file
        return f"{self.file}:{node.lineno}:{node.col_offset + 1}"

    def warn(self, node: ast.AST | None, message: str) -> None:
        """One note line for an old spelling read with its Keras 3 meaning, located at the
        script line; `seqc summary`/`build` print it, `Definition.notes` holds it."""
        key = (getattr(node, "lineno", 0), message)
        if key not in self.warned and not self.survey:  # an unrolled loop warns once
            self.warned.add(key)
            self.note(node, message)

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
                              hint="remove it; " + OPS_HINT)
        return self.error(
            v.node, f"{what} cannot be read without running the script: {v.why}"
                    + self.origin(v), received=self.seg(v.node), hint=self.supply_hint(v))

    def origin(self, v: Opaque) -> str:
        """Where the unreadable names of a value were set: "; y_train is set at line 3"."""
        names = [n.id for n in ast.walk(v.node) if isinstance(n, ast.Name)]
        if v.name and v.name not in names:
            names.insert(0, v.name)
        seen = []
        at = getattr(v.node, "lineno", 0)
        for name in dict.fromkeys(names):
            lines = sorted({st.lineno for (_, n), st in self.last_def.items() if n == name})
            before = [ln for ln in lines if ln <= at] or lines
            if before:
                seen.append(f"{name} is set at line {before[-1]}")
        return ("; " + ", ".join(seen[:3])) if seen else ""

    def supply_hint(self, v: Opaque, shape: bool = False) -> str:
        """How to supply a value the script computes at run time, in a script's terms."""
        ways = ["give the data it comes from (--x X.npy [--y Y.npy], or --data FILE)"]
        name = v.name or next((n.id for n in ast.walk(v.node) if isinstance(n, ast.Name)),
                              None)
        if name is not None and not shape:
            ways.append(f"--define {name}=VALUE")
        if shape:
            ways += [f"--define {name or 'NAME'}=VALUE", "keras.Input(shape=(...))",
                     "a comment `# seqc: input_shape = (...)` (per sample, batch excluded)"]
        else:
            ways.append("write it as a literal")
        return ", ".join(ways[:-1]) + " or " + ways[-1] + " (seqc reads the script with ast " \
            "and never runs it)"

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
        if self.bindings.has_data or self.bindings.val_x is not None:
            survey = Reader(self.source, self.file, comments=False, bindings=self.bindings,
                            survey=True)
            with contextlib.suppress(TooComplex, RecursionError):
                survey.exec_block(tree.body, Scope())
            b = self.bindings
            self.plan = survey.make_plan(b.x, b.y, b.val_x, b.val_y)
            self.staged_binding = survey.staged_binding
        module = Scope()
        self.tree, self.module_scope = tree, module
        try:
            self.exec_block(tree.body, module)
            # Functions the module never calls are read only when nothing else builds a model
            # (a script that defines build_model() and leaves the call to its importer).
            for f in list(self.funcs) if not self.models and not self.instances else []:
                if not f.scanned:
                    self.call_func(f, [], {}, f.node)
        except TooComplex:
            raise self.error(None, "the script is too complex to read statically (more than "
                                   f"{MAX_STEPS} steps, e.g. a long unrolled loop)",
                             field="python") from None
        except RecursionError:
            raise self.error(None, "the script nests too deeply to read statically",
                             field="python") from None
        model = self.choose_model()
        return self.assemble(model, module)

    def choose_model(self) -> ModelVal:
        """The model to build: the one --model names; else the one the script compiles or
        fits (even when a second Sequential wraps it for inference, as TF's beginner
        tutorial adds a Softmax); else the one model left. Several candidates and no
        `model` variable among them is an error listing them, never a silent pick.
        A subclassed model's instance another model holds is a part of that model; one
        compiled or fitted counts as used (_pyscript_subclass keeps its settings on a shell)."""
        insts = [i for i in self.instances if not i.consumed]
        current = getattr(self, "module_scope", None)
        self.current_model = current.vars.get("model") if current is not None else None
        everything = self.distinct([*self.models, *insts])
        wanted = self.bindings.model
        if wanted is not None:
            hits = [c for c in everything if wanted in c.names
                    or isinstance(c, ModelVal) and c.name == wanted]
            if not hits:
                raise self.error(None, f"--model {wanted}: the script builds no model of that "
                                       "name", field="--model", received=wanted,
                                 hint="the models: " + self.candidates(everything))
            return self.resolve_candidate(hits[-1])
        used = self.distinct([m for m in self.models if m.compile is not None
                          or m.fit is not None]
                         + [i for i in insts if i.shell.compile is not None
                            or i.shell.fit is not None])
        unused = [i for i in insts if i not in used]
        cands: list[Any] = used if len(used) > 1 or used and not unused else (
            self.distinct([m for m in self.models if not m.consumed] + unused))
        if len(cands) > 1:
            named = [c for c in cands if "model" in c.names]
            if len(named) == 1:
                return self.resolve_candidate(named[0])
            raise self.error(
                cands[1].node, "the script builds more than one model, and none is the "
                               "`model` variable; seqc builds one", field="model",
                received="models: " + self.candidates(cands),
                hint="choose one with --model NAME (seqc.load(path, model=NAME))")
        owners = [o for o in self.param_owners if not any(
            o is v for m in self.models for _, v, _ in m.items)]
        if not cands and len(owners) == 1:
            # `model = nn.Linear(784, 10)` trained through model.parameters(): a one-module
            # model, as PyTorch runs it
            mod = owners[0]
            m = ModelVal("torch", mod.node)
            m.append("0", mod, mod.node)
            m.names = list(mod.names)
            return self.resolve_candidate(m)
        if not cands:
            subclassed = [c for c in self.classes if c.kind in ("keras_model", "torch_module")
                          and c.selector is None]
            if subclassed:  # defined, never instantiated: read with its defaults
                return self.resolve_candidate(read_uninstantiated(self, subclassed))
            raise self.error(
                None, "no model found: the script has no keras Sequential(...) or "
                      "torch.nn.Sequential(...)", field="model",
                hint="build the model with Sequential([...]) / model.add(...) or "
                     "nn.Sequential(...), or a keras.Model / nn.Module subclass")
        return self.resolve_candidate(cands[0])

    def distinct(self, cands: list) -> list:
        return _distinct(cands, getattr(self, "current_model", None))

    def resolve_candidate(self, c: Any) -> ModelVal:
        if isinstance(c, Instance):
            c = read_instance(self, c)  # _pyscript_subclass: __init__ and forward/call
        self.check_refusals(c)
        self.check_pretrained_parts(c)
        return c

    def check_pretrained_parts(self, m: ModelVal) -> None:
        """A layer of the model built that another model of the script trained first (a base
        fitted, then reused) starts from those trained weights in Keras; seqc trains the
        model built from initial weights, so that is refused, never silently different."""
        def parts(v: Any, out: set[int]) -> set[int]:
            if _trains(v):
                out.add(id(v))
            for _, x, _ in getattr(v, "items", ()):
                parts(x, out)
            return out

        mine = parts(m, set()) - {id(m)}
        for other in self.models:
            if other is m or other.fit is None or id(other) in mine:
                continue
            shared = parts(other, set()) & mine
            if shared:
                raise self.error(
                    other.node, f"{' / '.join(other.names) or 'a model'} is trained (fit) "
                                "before the model built reuses its layers; seqc trains the "
                                "model built once, from initial weights",
                    field="model", received=f"models sharing layers: "
                    f"{self.candidates([other])} and {self.candidates([m])}",
                    hint="build the second model from the first's build output (seqc build, "
                         "then load its weights), or share no trained layers")

    def candidates(self, cands: list) -> str:
        return "; ".join(f"{' / '.join(c.names) or '(unnamed)'} at {self.where(c.node)}"
                         for c in cands)

    def start_from(self, model: ModelVal, doc: dict) -> None:
        """The model loads another model's initial weights (restore_initial): its layers take
        that model's initializers, provided the layers are the same in all else (Keras'
        load_weights matches weights by the layers' order and shapes)."""
        owner, node, line = model.init_from
        other = None
        if owner.framework == "keras" and owner.graph is None and model.graph is None and (
                model.framework == "keras"):
            other = self.keras_doc(owner)[0]

        def bare(d: dict) -> dict:
            return {k: v for k, v in d.items() if k != "name" and not k.endswith(
                "_initializer")}

        if other is None or len(other["layers"]) != len(doc["layers"]) or any(
                bare(a) != bare(b) for a, b in zip(doc["layers"], other["layers"])) or (
                bare({**other, "layers": None}) != bare({**doc, "layers": None})):
            raise self.error(node, f"{self.seg(node)} loads the weights saved at line {line} "
                                   "from a model whose layers seqc cannot match to this one's "
                                   "(seqc reads such a load between Sequential models with "
                                   "the same layers)", field="load_weights",
                             received=self.seg(node), hint="build the model whose weights "
                                                           "these are, or remove the call")
        for mine, theirs in zip(doc["layers"], other["layers"]):
            for k in [k for k in mine if k.endswith("_initializer")]:
                del mine[k]
            mine.update({k: v for k, v in theirs.items() if k.endswith("_initializer")})

    # -- the spec doc --
    def assemble(self, model: ModelVal, module: Scope) -> tuple[dict, list[ast.AST], dict]:
        if model.framework == "torch":
            from ._pyscript_torch import torch_doc

            doc, nodes = torch_doc(self, model, module)
            info = {"framework": "torch"}
        elif model.graph is not None:  # _pyscript_functional
            doc, nodes = self.graph_doc(model)
            info = {"framework": "keras"}
        else:
            doc, nodes = self.keras_doc(model)
            info = {"framework": "keras"}
        if model.init_from is not None:
            self.start_from(model, doc)
        if model.name and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", model.name):
            doc = {"name": model.name, **doc}
        fit_resets = state_resets(self, model, doc)  # _pyscript_state

        stages_doc(self, model, doc)  # _pyscript_stages: fit, freeze, compile, fit
        if model.fit_repeats > 1:
            self.note(model.fitted_at, f"fit runs {model.fit_repeats} times in a loop: read as "
                                       f"one fit of {model.fit.get('epochs')} epochs (Keras "
                                       "continues training with each call)")
        for name in sorted(set(self.defines) - self.used_defines):
            self.notes.append(f"--define {name}: the script never needed it (a value it reads "
                              "itself wins)")
        if self.argparse_read:
            shown = ", ".join(f"{k}={v!r}" for k, v in list(self.argparse_read.items())[:6])
            self.notes.append(f"{self.file}: argparse values read as the script's defaults "
                              f"(run without arguments): {shown}; --define NAME=VALUE gives "
                              "another")
        info["weight_order"] = weight_order(self, model, doc)  # _pyscript_subclass
        info["notes"] = list(self.notes)
        info["fit_data"] = list(self.fit_data)
        binding = self.data_lines.get(id(model.fitted_at))
        if binding is not None:  # a generator's place taken by the data (_pyscript_generators)
            self.notes.append(f"{self.where(model.fitted_at)}: {binding}")
            info["notes"] = list(self.notes)
            info["data_binding"] = binding
        info["adapted"] = self.adapted
        info["stage_data"] = self.stage_data
        info["skipped"] = self.skipped_line()
        if model.compile is not None:
            doc["compile"] = model.compile
        fit = dict(model.fit) if model.fit is not None else None
        info["validation_data"] = (fit or {}).pop("validation_data", None)
        if self.bindings.val_x is not None and info["validation_data"] is None:
            raise self.error(model.fitted_at or model.node, "validation arrays were given "
                             "(--val-x/--val-data), but the model's fit has no validation_data"
                             "; Keras would not validate on them", field="validation_data",
                             received=self.seg(model.fitted_at) if model.fitted_at else
                             "no fit", hint="remove --val-x/--val-y/--val-data")
        if fit_resets is not None:
            fit = {**(fit or {}), "reset_states": fit_resets}
        if self.seed is not None:
            fit = {**(fit or {}), "seed": self.seed}
        if fit is not None:
            if "class_weight" in fit:
                fit["class_weight"] = {str(k): v for k, v in fit["class_weight"].items()}
            doc["fit"] = fit
        return doc, nodes, info


# ---- helpers ----


def _trains(v: Any) -> bool:
    """Whether fitting a model changes this layer: it has trainable weights and is not frozen
    (an adapted Normalization shared by two models is not changed by either's fit)."""
    from ..ops import REGISTRY
    from ..ops.base import KIND_ALIASES

    if isinstance(v, Layer):
        if v.kwargs.get("trainable") is False:
            return False
        op = REGISTRY.get(KIND_ALIASES.get(v.cls, v.cls))
        return op is None or op.category not in (
            "reshaping", "pooling", "regularization", "preprocessing") and (
            op.category != "activation" or op.kind == "PReLU")
    return not isinstance(v, ModelVal)  # a nested model counts by its layers


def _distinct(cands: list, prefer: Any = None) -> list:
    """One candidate per place in the script that builds a model: a builder function called
    in a loop (k-fold) builds one model many times. The last build stands for them, or the
    one the `model` variable holds at the end (`prefer`)."""
    last: dict[int, Any] = {}
    for c in cands:
        if last.get(id(c.node)) is prefer and prefer is not None:
            continue
        last.pop(id(c.node), None)
        last[id(c.node)] = c
    return list(last.values())

_COMMENT_RE = re.compile(r"#\s*seqc\s*:\s*(input_shape|input_dtype)\s*=\s*(.+?)\s*$")


def _comment_settings(source: str, file: str) -> dict:
    """`# seqc: input_shape = [1, 28, 28]` and `# seqc: input_dtype = int64` (or "int64")
    comments, found with tokenize (so a string that looks like one is not read) and parsed as
    literals by the same folding evaluator (no eval); a bare dtype name is its name."""
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
        if key == "input_dtype" and isinstance(expr, (ast.Name, ast.Attribute)):
            # Written bare, as the docs show it: int32, np.int64, tf.int32 name the dtype.
            expr = ast.Constant(text.rsplit(".", 1)[-1].strip())
        r = Reader(text, file, comments=False)  # the evaluator alone, on an empty scope
        v = r.ev(expr, Scope()) if expr is not None else None
        if key == "input_shape":
            if not is_input_shape(v):
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


def _set_adapted(model: Any, adapted: dict, file: str, notes: list[str]) -> None:
    """The weights a script's `layer.adapt(data)` computed. The model then counts as
    adapted, so fit does not adapt: Keras adapts only when told, and a layer the script
    never adapts keeps its initial statistics (mean 0, variance 1), as in Keras."""
    import numpy as np

    from ..ops import REGISTRY

    never = [n.layer or n.name for n in model.graph.nodes
             if REGISTRY[n.op].adapt is not None and n.params
             and (n.layer or n.name) not in adapted]
    for n in model.graph.nodes:
        if n.op == "Discretization" and n.params and (n.layer or n.name) not in adapted:
            raise DefinitionError(
                f"layer '{n.layer or n.name}' (Discretization) has num_bins but is never "
                "adapted in the script, so it has no bin boundaries: Keras cannot call it",
                file=file, field="adapt", received="no adapt() call",
                hint=f"call {n.layer or n.name}.adapt(x_train) in the script, or give "
                     "bin_boundaries=[...]")
    for name in never:
        notes.append(f"{file}: layer '{name}' is never adapted in the script: Keras keeps its "
                     "initial statistics (mean 0, variance 1), and so does seqc (call "
                     f"{name}.adapt(x_train) in the script to adapt it)")
    if never or adapted:
        model.adapted = True

    for name, weights in adapted.items():
        for local, value in weights.items():
            key = f"{name}/{local}"
            if key not in model.params:
                raise DefinitionError(f"the adapted layer '{name}' is not in the model",
                                      file=file, field="adapt", received=name)
            spec = model.graph.param_specs[key]
            model.params[key] = np.asarray(value).reshape(spec.shape).astype(spec.dtype)


def _relocate(e: SeqcError, nodes: list[ast.AST], file: str,
              doc: dict | None = None) -> SeqcError:
    """An error from the IR builder names `layers[i]` (the initializers a layer by name);
    point it at the script line too."""
    m = re.match(r"layers\[(\d+)\]", e.layer or "")
    names = [d.get("name") for d in (doc or {}).get("layers", [])]
    i = int(m.group(1)) if m else names.index(e.layer) if e.layer in names else None
    if i is not None and i < len(nodes) and (e.file is None or e.file == file):
        node = nodes[i]
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


def _read(source: str, file: str,
          bindings: Bindings | None = None) -> tuple[dict, list[ast.AST], dict]:
    return Reader(source.replace("\r\n", "\n"), file, bindings=bindings).read()


def script_to_spec(source: str, file: str, bindings: Bindings | None = None) -> dict:
    """The seqc spec doc of a Keras- or PyTorch-style script, read without running it.

    >>> script_to_spec("import keras\\nm = keras.Sequential([keras.Input((4,)), "
    ...                "keras.layers.Dense(2)])", "m.py")["layers"][1]
    {'type': 'Dense', 'units': 2}
    """
    return _read(source, file, bindings)[0]


def load_script(path: str | os.PathLike, *, max_memory: int | None = DEFAULT_MAX_MEMORY,
                bindings: Bindings | None = None) -> Definition:
    """A `.py` model definition -> Definition (format "python"); the script is never run.
    `bindings` brings the data bound to the names the script passes to fit (and the input
    shape of a model that leaves it to fit), `--define` values and the `--model` choice."""
    from ._json import read_bytes

    file = os.fspath(path)
    raw = read_bytes(file)
    doc, nodes, info = _read(_decode(raw, file), file, bindings)
    try:
        defn = definition_from_doc(doc, file, raw, max_memory=max_memory)
    except SeqcError as e:
        raise _relocate(e, nodes, file, doc) from None
    order = info.pop("weight_order")
    if order is not None:
        defn.model._graph = reorder_weights(defn.model.graph, doc, order)
    defn.format = "python"
    _set_adapted(defn.model, info.pop("adapted"), file, info["notes"])
    stage_data = info.pop("stage_data", None)
    defn.extra = {"python": info, **({"stage_data": stage_data} if stage_data else {})}
    defn.notes = [*info["notes"], *([info["skipped"]] if info["skipped"] else [])]
    return defn
