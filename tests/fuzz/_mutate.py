"""Hypothesis strategies that damage inputs the way a careless or hostile user does: values of
the wrong type, huge numbers, NaN/Infinity literals, odd unicode, deep nesting (JSON level);
flipped, dropped and inserted bytes and truncation (byte level); and Python source edits
(AST level). Every strategy is deterministic under hypothesis' seed."""

from __future__ import annotations

import ast
import json
from typing import Any

from hypothesis import strategies as st

# A marker string that `dump_json` replaces with bracket nesting too deep for json.dumps.
_DEEP = "\x00seqc-deep-{}\x00"

HOSTILE_SCALARS = [
    None, True, False, 0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30, 10**399,
    1e300, -1e300, 1e-320, float("nan"), float("inf"), float("-inf"), 0.5, -0.0,
    "", "x", "relu", "same", "valid", "float32", "int32", "None", "null", "NaN",
    "\u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9", "\u202e\u0000\u2028", "\ud800", "a" * 5000,
    "../../etc/passwd", "{}", "[1, 2]", "1e999",
]


def hostile_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.sampled_from(HOSTILE_SCALARS),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
    )
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=4),
        st.dictionaries(st.sampled_from(["class_name", "config", "type", "name", "units",
                                         "x", "module"]), scalars, max_size=3),
        st.integers(min_value=2, max_value=3000).map(lambda n: _DEEP.format(n)),
        st.just([[[]]]),
        st.just({"class_name": "Dense", "config": None}),
    )


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a document, parents before children (iterative: documents are
    small, but a mutated one may not be)."""
    out, stack = [], [(doc, prefix)]
    while stack:
        v, p = stack.pop()
        out.append(p)
        if len(out) > 5000:
            break
        if isinstance(v, dict):
            stack.extend((x, (*p, k)) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((x, (*p, i)) for i, x in enumerate(v))
    return out


def _get(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


@st.composite
def mutate_doc(draw: Any, doc: Any, max_edits: int = 3) -> Any:
    """1 to `max_edits` edits of a JSON document: replace a value, delete a key or item, add
    an unknown key, duplicate an item, or turn a value into a list or object around it."""
    doc = json.loads(json.dumps(doc))  # a private copy
    for _ in range(draw(st.integers(1, max_edits))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "dup",
                                   "wrap"]))
        if not path:
            if op == "replace":
                doc = draw(hostile_values())
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[key] = draw(hostile_values())
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "units", "type", "class_name", "config",
                                         "layers", "inbound_nodes", "name"]))] = \
                draw(hostile_values())
        elif op == "dup" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        elif op == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
    return doc


def dump_json(doc: Any) -> bytes:
    """JSON text as a user's file might hold it: NaN/Infinity literals allowed, and deep-nesting
    markers expanded into `[[[...]]]` that json.dumps itself could not write."""
    text = json.dumps(doc, allow_nan=True)
    while "\\u0000seqc-deep-" in text:
        at = text.index('"\\u0000seqc-deep-')
        end = text.index('\\u0000"', at + 2) + len('\\u0000"')
        n = int(text[at + len('"\\u0000seqc-deep-'):end - len('\\u0000"')])
        text = text[:at] + "[" * n + "]" * n + text[end:]
    return text.encode("utf-8", "surrogatepass")


@st.composite
def mutate_bytes(draw: Any, raw: bytes, max_edits: int = 4) -> bytes:
    """Byte-level damage: flips, overwrites, insertions, deletions, truncation."""
    b = bytearray(raw)
    for _ in range(draw(st.integers(1, max_edits))):
        if not b:
            break
        at = draw(st.integers(0, len(b) - 1))
        op = draw(st.sampled_from(["flip", "flip", "set", "insert", "delete", "truncate",
                                   "copy"]))
        if op == "flip":
            b[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            n = draw(st.integers(1, 8))
            b[at:at + n] = draw(st.sampled_from([b"\xff" * n, b"\x00" * n, b"\x7f" * n]))
        elif op == "insert":
            b[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del b[at:at + draw(st.integers(1, 64))]
        elif op == "truncate":
            del b[at:]
        elif op == "copy":
            n = draw(st.integers(1, 256))
            dest = draw(st.integers(0, len(b) - 1))
            b[dest:dest] = b[at:at + n]
    return bytes(b)


# ----------------------------------------------------------------- Python source


_HOSTILE_EXPRS = [
    "None", "-1", "0", "10**30", "2**63", "float('nan')", "float('inf')", "1e309", "'x'",
    "'same'", "[]", "()", "{}", "True", "(1, 2, 3)", "[[[[1]]]]", "undefined_name",
    "lambda: 1", "...", "'\\u00fc\\u202e'", "10**10**10", "x_train.shape",
]

_INJECTIONS = [
    "def f(n):\n    return f(n)\nf(1)\n",
    "import sys\nsys.setrecursionlimit(10**9)\n",
    "for _i in range(10**9):\n    model.add(layers.Dense(1))\n",
    "while True:\n    pass\n",
    "model = model\n",
    "x = [" * 150 + "]" * 150 + "\n",
    "x = (" * 95 + "1" + ")" * 95 + "\n",
    "y = " + " + ".join(["1"] * 20000) + "\n",
    "z = " + "-" * 100000 + "1\n",
    "exec('print(1)')\n",
    "__import__('os').system('echo canary')\n",
    "units = units\n",
    "units = " + "9" * 5000 + "\n",
    "model = keras.Sequential([" * 60 + "]" * 60 + ")\n",
]


class _Edit(ast.NodeTransformer):
    def __init__(self, target: int, how: str, expr: str) -> None:
        self.i, self.target, self.how, self.expr = -1, target, how, expr

    def generic_visit(self, node: ast.AST) -> ast.AST | None:
        self.i += 1
        if self.i == self.target:
            if self.how == "replace" and isinstance(node, ast.expr):
                return ast.parse(self.expr, mode="eval").body
            if self.how == "drop" and isinstance(node, ast.stmt):
                return None
            if self.how == "dup" and isinstance(node, ast.stmt):
                return [node, node]
            if self.how == "nest" and isinstance(node, ast.expr):
                for _ in range(60):
                    node = ast.List(elts=[node], ctx=ast.Load())
                return node
        return super().generic_visit(node)


@st.composite
def mutate_script(draw: Any, source: str, max_edits: int = 3) -> bytes:
    """1 to `max_edits` edits of a Python script: a node replaced by a hostile expression,
    a statement dropped or repeated, an expression nested deeply, a hostile statement
    injected, or (as text) a token deleted or the file truncated."""
    for _ in range(draw(st.integers(1, max_edits))):
        op = draw(st.sampled_from(["ast", "ast", "ast", "inject", "text"]))
        if op == "inject":
            lines = source.splitlines(keepends=True)
            at = draw(st.integers(0, len(lines)))
            source = "".join(lines[:at]) + draw(st.sampled_from(_INJECTIONS)) + \
                "".join(lines[at:])
            continue
        if op == "text":
            source = draw(mutate_bytes(source.encode(), max_edits=2)).decode("utf-8",
                                                                            "replace")
            continue
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        count = sum(1 for _ in ast.walk(tree))
        edit = _Edit(draw(st.integers(0, max(count - 1, 0))),
                     draw(st.sampled_from(["replace", "replace", "drop", "dup", "nest"])),
                     draw(st.sampled_from(_HOSTILE_EXPRS)))
        try:
            source = ast.unparse(ast.fix_missing_locations(edit.visit(tree)))
        except (RecursionError, ValueError, TypeError, AttributeError, SyntaxError):
            continue
    return source.encode("utf-8", "surrogatepass")

