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
import io
import os
import re
import tokenize
import warnings
from typing import Any

from ..errors import DefinitionError, SeqcError
from ..model import DEFAULT_MAX_MEMORY
from ._pyscript_calls import CallReader
from ._pyscript_compile import CompileReader
from ._pyscript_expr import ExprReader
from ._pyscript_keras import KerasReader
from ._pyscript_stmt import StmtReader
from ._pyscript_subclass import read_instance, read_uninstantiated
from ._pyscript_values import (
    MAX_STEPS,
    OPS_HINT,
    Func,
    Instance,
    LocalClass,
    ModelVal,
    Opaque,
    Scope,
    TooComplex,
    TorchMod,
    is_input_shape,
)
from .spec import Definition, definition_from_doc

__all__ = ["load_script", "script_to_spec"]

MAX_SCRIPT_BYTES = 4 << 20  # tutorials are a few kB; ast on a huge file is slow


class Reader(StmtReader, ExprReader, CallReader, CompileReader, KerasReader):
    """One script's reader: the statement walker, expression evaluator, call dispatch and the
    Keras/compile readers are its mixins (one module each); it keeps the reading state,
    locates errors, chooses the model and assembles the spec doc."""

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
                              hint="remove it; " + OPS_HINT)
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
        # The model the script compiles or fits is the one it trains, even when a second
        # Sequential wraps it for inference (TF's beginner tutorial adds a Softmax that way).
        used = [m for m in self.models if m.compile is not None or m.fit is not None]
        # Subclassed models (_pyscript_subclass): an instance another model holds is a part of
        # that model; a compiled/fitted instance counts as used.
        insts = [i for i in self.instances if not i.consumed]
        used += [i for i in insts if i.shell.compile is not None or i.shell.fit is not None]
        unused = [i for i in insts if i not in used]
        cands: list[Any] = used if len(used) > 1 or used and not unused else (
            [m for m in self.models if not m.consumed] + unused)
        if len(cands) > 1:
            lines = ", ".join(self.where(c.node) for c in cands)
            raise self.error(
                cands[1].node, "the script builds more than one model; seqc reads one model "
                               "per script", field="model", received=f"models at {lines}",
                hint="keep one model in the script (or move the others to their own files)")
        if not cands:
            subclassed = [c for c in self.classes if c.kind in ("keras_model", "torch_module")
                          and c.selector is None]
            if subclassed:  # defined, never instantiated: read with its defaults
                return read_uninstantiated(self, subclassed)
            raise self.error(
                None, "no model found: the script has no keras Sequential(...) or "
                      "torch.nn.Sequential(...)", field="model",
                hint="build the model with Sequential([...]) / model.add(...) or "
                     "nn.Sequential(...), or a keras.Model / nn.Module subclass; functional "
                     "models are not read")
        c = cands[0]
        if isinstance(c, Instance):
            return read_instance(self, c)  # _pyscript_subclass: __init__ and forward/call
        return c

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


# ---- helpers ----

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
