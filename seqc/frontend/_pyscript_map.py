"""A tf.data `map` in a fit's pipeline, read (never run): whether its function is
preprocessing outside the model that the data given already represents.

Accepted after the rows (and then the data given, --x/--y, are the rows AFTER the map, with
one note naming the function and its line): a lambda or a script `def` of one argument per
element whose body only assigns names and returns one value per element, each made from its
own element by `tf.expand_dims`, `tf.cast` and calls of script layers of a deterministic
Keras preprocessing kind (an adapted `TextVectorization`, `StringLookup`, `Normalization`,
`Rescaling`, ...), such as the TensorFlow text tutorial's
`def vectorize_text(text, label): text = tf.expand_dims(text, -1); return
vectorize_layer(text), label`. Such a function gives each element the same value every epoch,
one element per element, in order: the pipeline's order steps around it are unchanged.

Refused, with the function's name and the line: a map that draws random numbers
(`tf.random.*`, `tf.image.random_*`, a `Random*` layer, augmentation, dropout), one that
mixes elements or reads anything else (arithmetic, a model, a script function, a Python
call through `tf.py_function`), a `TextVectorization` whose rows are as long as each batch's
longest text (no `output_sequence_length`), and `deterministic=False` (parallel calls out of
order). Before the rows are taken (skip/take/unbatch) the rows given are what the map makes:
there only randomness is refused.
"""

from __future__ import annotations

import ast
from typing import Any

from ._pyscript_values import Func, Lam, Layer, ModelVal, Opaque, Sym

# Keras preprocessing layers whose call is a fixed function of each element (their state
# comes from adapt or their arguments, never from training): the word for the rows they make
_PREPROCESSING = {"TextVectorization": "vectorized", "StringLookup": "looked-up",
                  "IntegerLookup": "looked-up", "Normalization": "normalized",
                  "Discretization": "discretized", "Hashing": "hashed",
                  "CategoryEncoding": "encoded", "Rescaling": "rescaled",
                  "Resizing": "resized", "CenterCrop": "cropped"}
_RANDOM_LAYERS = ("AugMix", "RandAugment", "CutMix", "MixUp", "Solarization", "Dropout",
                  "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D",
                  "SpatialDropout2D", "SpatialDropout3D")
_TF_CALLS = ("tensorflow.expand_dims", "tensorflow.cast")  # element steps: (x, constant)
_STANDARDIZE_ARGS = ("standardize", "split")  # TextVectorization's callables


class MapRefused(Exception):
    def __init__(self, why: str, node: ast.AST) -> None:
        super().__init__(why)
        self.why, self.node = why, node


def _dotted(node: ast.AST) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _random_path(path: str) -> bool:
    parts = path.lower().split(".")
    return any(p == "random" or p.startswith(("random_", "stateless_random")) or
               p == "dropout" for p in parts)


_PYTHON_CALLS = ("py_function", "numpy_function", "py_func")  # run Python code in the map


def _random_layer(cls: str) -> bool:
    return cls.startswith("Random") or cls in _RANDOM_LAYERS


class ElementMap:
    """Reads one map's function for a `pipeline.PipelineReader`; `r` is the script reader."""

    def __init__(self, r: Any, op: ast.Call) -> None:
        self.r, self.op = r, op
        self.words: list[str] = []  # what its layers make ("vectorized")
        self.name = "the lambda"

    def callee(self, func: ast.AST, scope: Any, env: dict) -> Any:
        """The value a call's function names (a module path, a layer), looked up only: a
        dotted name, never an expression that would need running."""
        if not _dotted(func):
            raise MapRefused(f"calls {self.r.seg(func, 40)}, which seqc cannot look up",
                             func)
        base = func
        while isinstance(base, ast.Attribute):
            base = base.value
        if base.id in env:
            raise MapRefused(f"calls a method of the element ({self.r.seg(func, 40)})", func)
        return self.r.ev(func, scope)

    def function(self, scope: Any) -> tuple[list[str], list[ast.stmt], Any, ast.AST]:
        """(parameters, statements, the returned expression, the function's node)."""
        fn = self.op.args[0] if self.op.args else next(
            (k.value for k in self.op.keywords if k.arg == "map_func"), None)
        v = self.r.ev(fn, scope) if isinstance(fn, (ast.Name, ast.Lambda)) else None
        if isinstance(v, Lam):
            node, body, ret, fscope = v.node, [], v.node.body, v.scope
        elif isinstance(v, Func) and isinstance(v.node, ast.FunctionDef):
            node, fscope = v.node, v.scope
            self.name = f"{node.name}(...) (defined at line {node.lineno})"
            if any(not (_dotted(d) and ast.unparse(d) in ("tf.function", "tensorflow.function"))
                   for d in node.decorator_list):
                raise MapRefused(f"{self.name} has a decorator seqc does not read", node)
            body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(
                s.value, ast.Constant) and isinstance(s.value.value, str))]
            if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
                raise MapRefused(f"{self.name} does not end by returning the elements", node)
            body, ret = body[:-1], body[-1].value
        else:
            raise MapRefused("its function is not a lambda or a function defined in the "
                             "script", fn if fn is not None else self.op)
        a = node.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults:
            raise MapRefused(f"{self.name} takes arguments other than one per element", node)
        self.scope = fscope
        return [p.arg for p in a.args], body, ret, node

    def check(self, batched: bool) -> str:
        """The note for an accepted map; MapRefused for any other."""
        params, body, ret, node = self.function(self.r.call_scope)
        self.random_in(Func(node, self.scope) if isinstance(node, ast.FunctionDef) else
                       Lam(node, self.scope), [], self.name)
        env = {p: i for i, p in enumerate(params)}
        for st in body:
            if not (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(
                    st.targets[0], ast.Name)):
                raise MapRefused(f"{self.name}: the statement `{self.r.seg(st, 40)}` (line "
                                 f"{st.lineno}) is not an assignment of one name", st)
            env[st.targets[0].id] = self.element(st.value, env, batched)
        outs = ret.elts if isinstance(ret, ast.Tuple) else [ret]
        if len(params) < 2 or len(outs) != len(params) or [
                self.element(e, env, batched) for e in outs] != list(range(len(params))):
            raise MapRefused(f"{self.name} does not return each element made from itself "
                             "alone, in its place", ret)
        return self.name

    def element(self, e: ast.AST, env: dict, batched: bool) -> int:
        """The element an expression is made from (its index); MapRefused for a step that is
        not deterministic preprocessing of one element."""
        if isinstance(e, ast.Name) and e.id in env:
            return env[e.id]
        if not isinstance(e, ast.Call):
            raise MapRefused(f"{self.name}: `{self.r.seg(e, 40)}` (line {e.lineno}) changes "
                             "the elements in a way seqc does not read", e)
        v = self.callee(e.func, self.scope, env)
        shown = f"{self.name}: {self.r.seg(e, 50)} (line {e.lineno})"
        if isinstance(v, Sym) and _random_path(v.path) or isinstance(v, Layer) and (
                _random_layer(v.cls)) or isinstance(v, ModelVal) and any(
                isinstance(it, Layer) and _random_layer(it.cls) for _, it, _ in v.items):
            raise MapRefused(f"{shown} draws random numbers (augmentation): each epoch's "
                             "rows differ, and the data given are fixed", e)
        if isinstance(v, Sym) and v.path in _TF_CALLS and e.args:
            for extra in [*e.args[1:], *(k.value for k in e.keywords)]:
                if any(isinstance(n, ast.Name) and n.id in env for n in ast.walk(extra)) or (
                        isinstance(self.r.ev(extra, self.scope), Opaque)):
                    raise MapRefused(f"{shown}: seqc reads a constant axis or dtype", extra)
            return self.element(e.args[0], env, batched)
        if isinstance(v, Layer) and v.cls in _PREPROCESSING:
            if len(e.args) != 1 or e.keywords:
                raise MapRefused(f"{shown}: seqc reads a preprocessing layer called on one "
                                 "element", e)
            self.layer(v, e, shown)
            return self.element(e.args[0], env, batched)
        what = f"the layer {v.cls}" if isinstance(v, Layer) else "a model" if isinstance(
            v, ModelVal) else self.r.seg(e.func, 40)
        raise MapRefused(f"{shown} calls {what}, which seqc cannot show is deterministic "
                         "preprocessing of one element", e)

    def layer(self, lay: Layer, e: ast.Call, shown: str) -> None:
        """A preprocessing layer's own settings: its rows must not depend on the batch, and
        a TextVectorization's standardize/split must be string operations."""
        if lay.cls == "TextVectorization":
            mode = lay.kwargs.get("output_mode", "int")
            if lay.kwargs.get("ragged") is True or mode == "int" and lay.kwargs.get(
                    "output_sequence_length") is None:
                raise MapRefused(f"{shown}: TextVectorization without output_sequence_length "
                                 "makes rows as long as the longest text of each batch, "
                                 "which the fixed rows given cannot be", e)
            for k in _STANDARDIZE_ARGS:
                f = lay.kwargs.get(k)
                if isinstance(f, (Func, Lam)):
                    self.string_function(f, k, shown)
                elif f is not None and not isinstance(f, str):
                    raise MapRefused(f"{shown}: TextVectorization({k}=...) is not a function "
                                     "seqc can read", e)
        word = _PREPROCESSING[lay.cls]
        if word not in self.words:
            self.words.append(word)

    def string_function(self, f: Any, arg: str, shown: str) -> None:
        """A TextVectorization standardize/split function: assignments and a return whose
        calls are `tf.strings.*` and `re.escape` only."""
        node = f.node
        body = [ast.Return(node.body)] if isinstance(f, Lam) else node.body
        for st in body:
            if not isinstance(st, (ast.Assign, ast.Return, ast.Expr)) or isinstance(
                    st, ast.Assign) and not all(isinstance(t, ast.Name) for t in st.targets):
                raise MapRefused(f"{shown}: TextVectorization({arg}=...) runs a statement "
                                 f"seqc does not read (line {st.lineno})", st)
        for n in ast.walk(node):
            if isinstance(n, (ast.Lambda, ast.FunctionDef, ast.comprehension)) and n is not \
                    node or isinstance(n, (ast.NamedExpr, ast.Await, ast.Yield)):
                raise MapRefused(f"{shown}: TextVectorization({arg}=...) holds code seqc "
                                 "does not read", n)
            if isinstance(n, ast.Call):
                v = self.callee(n.func, f.scope, {}) if _dotted(n.func) else None
                if not (isinstance(v, Sym) and (v.path.startswith("tensorflow.strings.") or
                                                v.path == "re.escape")):
                    raise MapRefused(f"{shown}: TextVectorization({arg}=...) calls "
                                     f"{self.r.seg(n.func, 40)} (line {n.lineno}); seqc "
                                     "reads tf.strings operations", n)

    def random_call(self) -> None:
        """Before the rows: a map that draws random numbers (MapRefused); others make the
        rows given."""
        fn = self.op.args[0] if self.op.args else None
        v = self.r.ev(fn, self.r.call_scope) if isinstance(fn, (ast.Name, ast.Lambda)) else None
        if isinstance(v, (Func, Lam)):
            self.random_in(v, [], "the map's function")

    def random_in(self, v: Func | Lam, seen: list, name: str) -> None:
        """Its calls, and those of the script functions it calls, in turn."""
        seen.append(v.node)
        for n in ast.walk(v.node):
            if isinstance(n, ast.Call) and _dotted(n.func):
                c = self.r.ev(n.func, v.scope)
                if isinstance(c, Func) and c.node not in seen:
                    if len(seen) >= 16:
                        raise MapRefused(f"{self.r.seg(n, 50)} (line {n.lineno}) calls "
                                         "script functions too deep to read", n)
                    self.random_in(c, seen, name)
                if isinstance(c, Sym) and _random_path(c.path) or isinstance(
                        c, Layer) and _random_layer(c.cls):
                    raise MapRefused(f"{name}: {self.r.seg(n, 50)} (line {n.lineno}) draws "
                                     "random numbers (augmentation): each epoch's rows "
                                     "differ, and the data given are fixed", n)
                if isinstance(c, Sym) and c.path.rsplit(".", 1)[-1] in _PYTHON_CALLS:
                    raise MapRefused(f"{name}: {self.r.seg(n, 50)} (line {n.lineno}) runs "
                                     "Python code whose rows seqc cannot tell", n)
