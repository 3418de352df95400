"""fit(x=<a tf.data pipeline>, steps_per_epoch=S): the stream the pipeline feeds, read from
its method chain (following the names it is assigned to), never run.

The arrays given (--x/--y) are the pipeline's rows: what its source, skip/take/unbatch and
element maps produce. What it does after them decides each step's batch, and seqc honours:
`shuffle(buffer)` holding every row (a new permutation each pass, tf.data's default
reshuffle_each_iteration), `repeat()` (one endless stream whose batches run across passes),
`batch(n)`, `cache()`/`prefetch()` (no change) and a `map` whose function only adds or
reshapes an axis of an element (`lambda x, y: (x, tf.expand_dims(y, -1))`, which the arrays
given already have). Anything else there (a smaller shuffle buffer, a finite repeat, batch
before repeat, another map) is refused at its line.
"""

from __future__ import annotations

import ast
from typing import Any

from ._pyscript_data import DataArr

_STREAM = ("batch", "repeat", "shuffle", "prefetch", "cache", "map")
_SHAPE_ONLY = ("expand_dims", "reshape")


class PipelineReader:
    """The tf.data stream of a fit (a mixin of `pyscript.Reader`)."""

    def stream_ops(self, expr: ast.AST, scope: Any, at: ast.stmt | None = None,
                   depth: int = 0) -> list[ast.Call]:
        """The stream methods applied to the rows, in order: `a.m1(..).m2(..)` back to its
        base; a name as base continues at the assignment that set it before `at`."""
        ops: list[ast.Call] = []
        node = expr
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                node.func.attr in _STREAM):
            ops.append(node)
            node = node.func.value
        ops.reverse()
        if isinstance(node, ast.Name) and depth < 16:
            d = self.lookup_def(node.id, scope) if at is None else \
                self.value_defs.get(id(at), {}).get(node.id)
            if isinstance(d, ast.Assign) and len(d.targets) == 1 and isinstance(
                    d.targets[0], ast.Name):
                return self.stream_ops(d.value, scope, d, depth + 1) + ops
        return ops

    def pipeline_fit(self, x: ast.AST, node: ast.Call) -> dict:
        """The fit settings of the stream: batch_size, shuffle, repeat; a located error for a
        step seqc does not reproduce."""
        ops = self.stream_ops(x, self.call_scope)
        out: dict = {"shuffle": False}
        seen: list[str] = []
        for op in ops:
            name = op.func.attr
            if name in ("cache", "prefetch"):
                continue
            if name == "shuffle":
                self.pipeline_shuffle(op, seen)
                out["shuffle"] = True
            elif name == "repeat":
                count = self.pipeline_arg(op, "count", 0, None)
                if count not in (None, -1) or "batch" in seen or "repeat" in seen:
                    raise self.pipeline_error(op, "a finite repeat, or a repeat after batch, "
                                                  "makes passes seqc does not reproduce")
                out["repeat"] = True
            elif name == "batch":
                size = self.pipeline_arg(op, "batch_size", 0, None)
                if not isinstance(size, int) or isinstance(size, bool) or size < 1 or (
                        "batch" in seen) or self.pipeline_arg(op, "drop_remainder", 1, False):
                    raise self.pipeline_error(op, "seqc reads one batch(n) with a constant n "
                                                  "and no drop_remainder")
                out["batch_size"] = size
            elif not self.shape_only_map(op):
                raise self.pipeline_error(op, "the map changes the elements; seqc reads a "
                                              "map that only adds or reshapes an axis")
            seen.append(name)
        if "batch" not in seen:
            raise self.error(node, "fit(steps_per_epoch=...) on a dataset pipeline with no "
                                   "batch(n) that seqc can find", field="x",
                             received=self.seg(x), hint="batch the dataset in the script")
        shown = ", ".join(f"{op.func.attr}(" + ("..." if op.func.attr == "map" else ", ".join(
            ast.unparse(a) for a in [*op.args, *op.keywords])) + ")" for op in ops)
        self.warn(node, f"fit({self.seg(x, 40)}): the dataset's rows are the arrays given "
                        f"(--x/--y), streamed as its pipeline does: {shown}")
        return out

    def pipeline_shuffle(self, op: ast.Call, seen: list[str]) -> None:
        buffer = self.pipeline_arg(op, "buffer_size", 0, None)
        reshuffle = self.pipeline_arg(op, "reshuffle_each_iteration", 2, True)
        if seen or reshuffle is not True or not isinstance(buffer, int) or isinstance(
                buffer, bool):
            raise self.pipeline_error(op, "seqc reads shuffle(buffer_size) first in the "
                                          "stream, with a constant buffer and "
                                          "reshuffle_each_iteration")
        x = self.bindings.x
        rows = len(x) if x is not None else None
        if rows is not None and buffer < rows:
            raise self.pipeline_error(op, f"the shuffle buffer ({buffer}) holds fewer rows "
                                          f"than the data ({rows}): tf.data's windowed "
                                          "shuffle, which seqc does not reproduce")

    def pipeline_arg(self, op: ast.Call, name: str, index: int, default: Any) -> Any:
        arg = next((k.value for k in op.keywords if k.arg == name),
                   op.args[index] if len(op.args) > index else None)
        if arg is None:
            return default
        v = self.ev(arg, self.call_scope)
        return None if isinstance(v, DataArr) else v

    def shape_only_map(self, op: ast.Call) -> bool:
        fn = op.args[0] if len(op.args) == 1 and not op.keywords else None
        if not isinstance(fn, ast.Lambda) or not isinstance(fn.body, ast.Tuple):
            return False
        used = []
        for e in fn.body.elts:
            if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and (
                    e.func.attr in _SHAPE_ONLY) and e.args:
                e = e.args[0]
            if not isinstance(e, ast.Name):
                return False
            used.append(e.id)
        return used == [a.arg for a in fn.args.args]  # each element kept, in its place

    def pipeline_error(self, op: ast.Call, why: str) -> Any:
        return self.error(op, f"fit(steps_per_epoch=...) on a dataset pipeline: "
                              f".{op.func.attr}(...): {why}", field="x", received=self.seg(op),
                          hint="give the rows as arrays: fit(x_train, y_train, batch_size=..., "
                               "steps_per_epoch=...) with --x/--y")
