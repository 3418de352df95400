"""What a user supplies beside a definition: its data (bound to the names a script passes to
`fit`, and giving a model with no input shape its input, as Keras builds at the first fit),
`--define NAME=VALUE` constants, and `--model NAME` when a script builds several models."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UsageError


@dataclass
class Bindings:
    """`x`/`y`: arrays as fed to `fit` (y may be None: shapes are taken from x alone).
    `defines`: name (or dotted name, `args.epochs`) -> a Python literal value.
    `model`: which model of a script to build. `source`: where x came from, for messages.
    `val_x`/`val_y`: the arrays of the script's `fit(validation_data=...)` (--val-x/--val-y)."""

    x: np.ndarray | None = None
    y: np.ndarray | None = None
    defines: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    source: str | None = None
    val_x: np.ndarray | None = None
    val_y: np.ndarray | None = None

    @property
    def has_data(self) -> bool:
        return self.x is not None


def parse_defines(items: tuple[str, ...] | list[str] | None) -> dict[str, Any]:
    """`NAME=VALUE` strings -> {NAME: value}; VALUE is a Python literal (`10`, `(28, 28)`,
    `'relu'`, `['a', 'b']`) read with ast.literal_eval, never evaluated as code. A bare word
    that is not a literal (`--define activation=relu`) is taken as a string."""
    out: dict[str, Any] = {}
    for item in items or ():
        name, sep, text = _split(item)
        if not sep or not name or not all(p.isidentifier() for p in name.split(".")) and (
                expression_key(name) is None):
            raise UsageError("--define takes NAME=VALUE", field="--define",
                             received=repr(item),
                             hint="e.g. --define num_classes=10, --define args.epochs=5 or "
                                  "--define 'len(chars)=57'")
        if not all(p.isidentifier() for p in name.split(".")):
            name = expression_key(name)
        text = text.strip()
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            if not text.replace("_", "").replace("-", "").isalnum():
                raise UsageError(f"--define {name}: the value is not a Python literal",
                                 field="--define", received=repr(text),
                                 hint="quote strings: --define name=\"'relu'\"") from None
            value = text
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            raise UsageError(f"--define {name}: the integer is out of range",
                             field="--define", received=text[:40])
        out[name] = value
    return out


def _split(item: str) -> tuple[str, str, str]:
    """NAME=VALUE at the last top-level `=` outside brackets: `len(x)=5`, `shape[-1]=14`."""
    depth = 0
    for i, ch in enumerate(item):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=" and depth == 0 and item[i + 1:i + 2] != "=" and item[i - 1:i] not in (
                "=", "!", "<", ">"):
            return item[:i].strip(), "=", item[i + 1:]
    return item.strip(), "", ""


def expression_key(text: str) -> str | None:
    """A --define for an expression the script writes (`len(chars)`, `data.shape[-1]`):
    matched by its normalised source text wherever seqc cannot compute it; never run."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not isinstance(tree.body, (ast.Call, ast.Subscript, ast.Attribute, ast.BinOp)):
        return None
    return ast.unparse(tree.body)
