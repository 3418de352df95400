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
from ._pyscript_adapt import AdaptStatements
from ._pyscript_argparse import ArgparseReader
from ._pyscript_binding import DataBinding
from ._pyscript_calls import CallReader
from ._pyscript_checkpoints import CheckpointStatements
from ._pyscript_choose import ModelChoice
from ._pyscript_compile import CompileReader
from ._pyscript_data import DataReader
from ._pyscript_expr import ExprReader
from ._pyscript_functional import FunctionalReader
from ._pyscript_keras import KerasReader
from ._pyscript_messages import ScriptMessages
from ._pyscript_model import ModelStatements
from ._pyscript_pipeline import PipelineReader
from ._pyscript_stages import stages_doc
from ._pyscript_state import state_resets
from ._pyscript_stmt import StmtReader
from ._pyscript_subclass import read_instance
from ._pyscript_values import (
    MAX_STEPS,
    Func,
    Instance,
    LocalClass,
    ModelVal,
    Scope,
    TooComplex,
    TorchMod,
    is_input_shape,
)
from ._pyscript_weight_order import reorder_weights, weight_order
from .bindings import Bindings
from .spec import Definition, definition_from_doc

__all__ = ["load_script", "script_to_spec"]

MAX_SCRIPT_BYTES = 4 << 20  # tutorials are a few kB; ast on a huge file is slow


class Reader(ScriptMessages, ModelChoice, StmtReader, ExprReader, CallReader, CompileReader,
             KerasReader, ModelStatements, CheckpointStatements, AdaptStatements, DataReader,
             DataBinding, FunctionalReader, ArgparseReader, PipelineReader):
    """One script's reader: the statement walker, expression evaluator, call dispatch, the
    Keras/compile readers, its locations and messages (_pyscript_messages) and the choice of
    the model (_pyscript_choose) are its mixins (one module each); it keeps the reading state
    and assembles the spec doc."""

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

    # -- entry --
    def read_instance(self, inst: Instance) -> ModelVal:
        """A script-defined model instance read (_pyscript_subclass.read_instance): the hook
        the forward()/call() walker calls, so it need not import the subclass reader."""
        return read_instance(self, inst)

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
        info["weight_order"] = weight_order(self, model, doc)  # _pyscript_weight_order
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
