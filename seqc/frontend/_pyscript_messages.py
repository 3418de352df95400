"""Where a script's statements are and how the reader reports on them: `file.py:LINE:COL`
locations, a node's source text, located errors with the hint that supplies an unreadable
value, notes and warnings, the statements not run and the `--define` values used.
"""

from __future__ import annotations

import ast
from typing import Any

from ..errors import DefinitionError
from ._pyscript_values import OPS_HINT, Opaque


class ScriptMessages:
    """Locations, errors and notes of the script reader (a mixin of `pyscript.Reader`)."""

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
