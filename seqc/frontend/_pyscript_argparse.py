"""argparse in a script: `args.lr` reads as the default the script declares, which is what
running the tutorial as written (without arguments) uses; `--define args.lr=0.5` gives it
another value. Nothing is parsed from a command line and no `type=` callable is run, beyond
int/float/str on a string default, as argparse itself converts it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from ._pyscript_values import Opaque, Sym


@dataclass(eq=False)
class ArgParser:
    """An `argparse.ArgumentParser()`: each add_argument's destination and default."""

    node: ast.AST
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Namespace:
    """What `parser.parse_args()` returns, read as the defaults."""

    parser: ArgParser
    node: ast.AST


_CONVERT = {"builtins.int": int, "builtins.float": float, "builtins.str": str}


class ArgparseReader:
    """argparse parsers and their namespaces (a mixin of `pyscript.Reader`)."""

    def parser_method(self, p: ArgParser, meth: str, args: list, kwargs: dict,
                      node: ast.Call) -> Any:
        if meth == "add_argument":
            self.add_argument(p, args, kwargs, node)
            return None
        if meth in ("add_argument_group", "add_mutually_exclusive_group"):
            return p  # a group's arguments land in the parser's namespace
        if meth in ("parse_args", "parse_known_args"):
            ns = Namespace(p, node)
            return (ns, []) if meth == "parse_known_args" else ns
        if meth == "set_defaults":
            p.defaults.update(kwargs)
            return None
        return Opaque(node, f"{self.seg(node)} is not read")

    def add_argument(self, p: ArgParser, args: list, kwargs: dict, node: ast.Call) -> None:
        flags = [a for a in args if isinstance(a, str)]
        if not flags:
            return
        dest = kwargs.get("dest")
        if not isinstance(dest, str):
            long = next((f for f in flags if f.startswith("--")), flags[0])
            dest = long.lstrip("-").replace("-", "_")
        action = kwargs.get("action")
        if "default" in kwargs:
            value = kwargs["default"]
        elif action == "store_true":
            value = False
        elif action == "store_false":
            value = True
        elif not flags[0].startswith("-") and kwargs.get("nargs") not in ("?", "*"):
            value = Opaque(node, f"'{dest}' is a required command-line argument")
        else:
            value = None
        conv = kwargs.get("type")
        if isinstance(value, str) and isinstance(conv, Sym) and conv.path in _CONVERT:
            try:
                value = _CONVERT[conv.path](value)  # argparse converts a string default
            except ValueError:
                value = Opaque(node, f"the default of '{dest}' does not convert")
        p.defaults[dest] = value

    def namespace_attr(self, ns: Namespace, node: ast.Attribute, dotted: str | None) -> Any:
        if dotted is not None and dotted in self.defines:
            return self.defined(dotted, None)
        if node.attr not in ns.parser.defaults:
            return Opaque(node, f"{dotted or node.attr} is not an argument the script declares",
                          name=dotted)
        value = ns.parser.defaults[node.attr]
        if isinstance(value, Opaque):
            return Opaque(node, value.why, name=dotted)
        if dotted is not None and dotted not in self.argparse_read:
            self.argparse_read[dotted] = value
        return value
