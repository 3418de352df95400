"""fit(x=<a tf.data pipeline>): the stream the pipeline feeds, read from its method chain
(following the names it is assigned to), never run.

The arrays given (--x/--y) are the pipeline's rows: what its source produces, in its order,
through skip/take/unbatch and the element maps before them. The source is
`from_tensor_slices((x, y))` or a file reader in file order (`CsvDataset`,
`TextLineDataset`, ...); one that orders its rows itself (`image_dataset_from_directory`
shuffles its files, `from_generator` runs script code) is refused. What follows the rows is
fit's `pipeline` (seqc.training.steps.data_order), in the order written: `shuffle(buffer,
seed, reshuffle_each_iteration)` (tf.data's windowed shuffle when the buffer holds fewer
elements; after batch it shuffles batches), `batch(n, drop_remainder)`, `repeat(count)`,
`cache()` (replays its first pass: after a shuffle it fixes that order). `prefetch()` changes
nothing, nor does a `map` whose function only adds or reshapes an axis of an element
(`lambda x, y: (x, tf.expand_dims(y, -1))`, which the arrays given already have) or that
preprocesses each element deterministically (_pyscript_map: the arrays given are the rows
after it, with a note). Any other step (`filter`, another map, a second batch,
`padded_batch`, ...) is refused at its line.
"""

from __future__ import annotations

import ast
from typing import Any

from ._pyscript_data import DataArr

_READ = ("batch", "repeat", "shuffle", "prefetch", "cache", "map")
_ROWS = ("skip", "take", "unbatch")  # the rows given are what these produce
_BEFORE_ROWS = (*_ROWS, "batch", "map", "cache", "prefetch")  # deterministic row steps
_FILE_SOURCES = ("CsvDataset", "TextLineDataset", "TFRecordDataset",
                 "FixedLengthRecordDataset")
# Keras' datasets that order and batch their rows: (positional arguments, batch_size and
# shuffle defaults)
_KERAS_SOURCES = {"image_dataset_from_directory": (1, 32, True),
                  "text_dataset_from_directory": (1, 32, True),
                  "timeseries_dataset_from_array": (3, 128, False)}
_GENERATORS = ("flow", "flow_from_directory", "flow_from_dataframe")  # ImageDataGenerator
_SHAPE_ONLY = ("expand_dims", "reshape")
_ARGS = {"shuffle": ("buffer_size", "seed", "reshuffle_each_iteration", "name"),
         "batch": ("batch_size", "drop_remainder", "num_parallel_calls", "deterministic",
                   "name"),
         "repeat": ("count", "name"), "cache": ("filename", "name"),
         "prefetch": ("buffer_size", "name"),
         "map": ("num_parallel_calls", "deterministic", "name")}  # after map_func


class PipelineReader:
    """The tf.data stream of a fit (a mixin of `pyscript.Reader`)."""

    def stream_ops(self, expr: ast.AST, scope: Any, at: ast.stmt | None = None,
                   depth: int = 0) -> list[ast.Call]:
        """Every method call of the chain, from its source to fit: `a.m1(..).m2(..)` back to
        its base; a name as base continues at the assignment that set it before `at`."""
        ops: list[ast.Call] = []
        node = expr
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
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

    def pipeline_fit(self, x: ast.AST, node: ast.Call, bound: dict) -> dict | None:
        """fit's `pipeline` (and the fit settings a dataset rules out), a located error for a
        step seqc does not reproduce; None for an ImageDataGenerator's flow (a generator, read
        elsewhere)."""
        ops = self.stream_ops(x, self.call_scope)
        self._fit_line = node.lineno
        names = [op.func.attr for op in ops]
        steps_given = bound.get("steps_per_epoch") is not None
        if not ops or any(n in _GENERATORS for n in names):
            if steps_given:
                raise self.error(node, "fit(steps_per_epoch=...) on a generator or a dataset "
                                       "whose batches seqc cannot read", field="x",
                                 received=self.seg(x), hint=_HINT)
            return None
        src = self.pipeline_source(ops[0])
        steps: list[dict] = list(src)
        cut = max((i for i, n in enumerate(names) if n in _ROWS), default=0)
        for op in ops[1:cut]:
            if op.func.attr not in _BEFORE_ROWS:
                raise self.pipeline_error(op, f"a {op.func.attr} before the rows are taken "
                                              "(skip/take/unbatch) makes rows seqc cannot "
                                              "tell")
            if op.func.attr == "map":  # the rows given are what it makes, unless random
                self.element_map(op, steps, before_rows=True)
        for op in ops[cut + 1:]:
            steps.extend(self.pipeline_step(op, steps))
        if not any("batch" in st for st in steps):
            raise self.error(node, "fit() on a dataset pipeline with no batch(n) that seqc "
                                   "can find", field="x", received=self.seg(x),
                             hint="batch the dataset in the script")
        if bound.get("y") is not None:
            raise self.error(node, "fit(y=...) with a dataset: Keras takes the targets from "
                                   "the dataset", field="y", received=self.seg(node),
                             hint="remove y: the dataset yields (x, y)")
        if bound.get("validation_split"):
            raise self.error(node, "fit(validation_split=...) with a dataset: Keras supports "
                                   "validation_split only for arrays", field="validation_split",
                             received=self.seg(node), hint="give validation_data")
        for k in ("batch_size", "shuffle"):
            if bound.get(k) is not None:
                self.note(node, f"fit({k}=...) is not used with a dataset, as in Keras 3: "
                                "the pipeline batches and shuffles")
        shown = ", ".join([f"{ops[0].func.attr}(...) as {src}"] * bool(src) + [
            f"{op.func.attr}(" + ("..." if op.func.attr == "map" else ", ".join(
                ast.unparse(a) for a in [*op.args, *op.keywords])) + ")"
            for op in ops[cut + 1:]])
        self.warn(node, f"fit({self.seg(x, 40)}): the dataset's rows are the arrays given "
                        f"(--x/--y), streamed as its pipeline does: {shown}; shuffles draw "
                        "from seqc's seeded generator, not TensorFlow's")
        return {"pipeline": steps}

    def pipeline_source(self, op: ast.Call) -> list[dict]:
        """The pipeline steps a source makes itself: Keras' directory and timeseries datasets
        permute their rows once (seeded), then shuffle `8 * batch_size` of them each pass
        and batch them (keras/src/utils/image_dataset_utils.py, text_dataset_utils.py,
        timeseries_dataset_utils.py). A fixed permutation makes the order of the rows given
        irrelevant: the same law."""
        name = op.func.attr
        if name in _FILE_SOURCES:
            return []  # its records in file order
        if name in _KERAS_SOURCES:
            first, size, shuffle = _KERAS_SOURCES[name]
            if len(op.args) > first:
                raise self.pipeline_error(op, "seqc reads its batch_size, shuffle and seed "
                                              "given by name")
            kw = {k.arg: k.value for k in op.keywords}
            a = {k: self.ev(kw[k], self.call_scope) for k in ("batch_size", "shuffle", "seed")
                 if k in kw}
            size, shuffle, seed = (a.get("batch_size", size), a.get("shuffle", shuffle),
                                   a.get("seed"))
            if not (size is None or _whole(size) and size >= 1) or shuffle not in (
                    True, False) or not (seed is None or _whole(seed) and seed >= 0):
                raise self.pipeline_error(op, "seqc reads a constant batch_size, shuffle and "
                                              "seed")
            seeded = {} if seed is None else {"seed": seed}
            return [*([{"shuffle": 2 ** 31 - 1, "reshuffle_each_iteration": False, **seeded},
                       {"shuffle": 8 * size if size else 1024, **seeded}] if shuffle else []),
                    *([{"batch": size}] if size else [])]
        arg = op.args[0] if len(op.args) == 1 and not op.keywords else None
        if name != "from_tensor_slices" or not (isinstance(arg, (ast.Tuple, ast.List)) and len(
                arg.elts) == 2 and not any(isinstance(e, (ast.Dict, ast.Starred))
                                           for e in arg.elts)):
            raise self.pipeline_error(op, "seqc reads a dataset made by from_tensor_slices"
                                          "((x, y)) (or a file reader, in file order): "
                                          "this source orders or makes its rows itself")
        return []

    def pipeline_step(self, op: ast.Call, steps: list[dict]) -> list[dict]:
        """The fit pipeline step of one method after the rows ([] for one that changes
        nothing)."""
        name = op.func.attr
        if name not in _READ:
            raise self.pipeline_error(op, "seqc reads shuffle, batch, repeat, cache, prefetch "
                                          "and a map seqc can read (see the tf.data section of "
                                          "docs/python-scripts.md)")
        if name == "map":
            self.element_map(op, steps)
            return []
        a = self.pipeline_args(op, _ARGS[name])
        if name == "prefetch":
            return []
        if name == "cache":
            return [{"cache": True}]
        if name == "repeat":
            count = -1 if a.get("count") is None else a["count"]
            if not _whole(count) or count == 0 or count < -1:
                raise self.pipeline_error(op, "seqc reads repeat() or repeat(count >= 1)")
            return [{"repeat": count}]
        if name == "batch":
            size, drop = a.get("batch_size"), a.get("drop_remainder")
            if any("batch" in st for st in steps):
                raise self.pipeline_error(op, "a second batch makes batches of batches")
            if not _whole(size) or size < 1 or drop not in (None, True, False) or a.get(
                    "deterministic") is False:
                raise self.pipeline_error(op, "seqc reads batch(n) with a constant n, a "
                                              "constant drop_remainder and a deterministic "
                                              "order")
            return [{"batch": size, **({"drop_remainder": True} if drop else {})}]
        size, seed = a.get("buffer_size"), a.get("seed")
        again = a.get("reshuffle_each_iteration")
        if not _whole(size) or size < 1 or not (seed is None or _whole(seed) and seed >= 0) or (
                again not in (None, True, False)):
            raise self.pipeline_error(op, "seqc reads shuffle(buffer_size) with a constant "
                                          "buffer, seed and reshuffle_each_iteration")
        return [{"shuffle": size, **({} if seed is None else {"seed": seed}),
                 **({"reshuffle_each_iteration": False} if again is False else {})}]

    def pipeline_args(self, op: ast.Call, names: tuple) -> dict:
        """The constant arguments of a step by name; a located error for another one."""
        if len(op.args) > len(names) or any(k.arg not in names for k in op.keywords):
            raise self.pipeline_error(op, "an argument seqc does not read")
        out = {}
        for k, v in [*zip(names, op.args), *((k.arg, k.value) for k in op.keywords)]:
            if k == "name" or k in ("buffer_size", "num_parallel_calls") and isinstance(
                    v, ast.Attribute) and v.attr == "AUTOTUNE":
                continue  # a name, or tf.data.AUTOTUNE parallelism, changes no element
            val = self.ev(v, self.call_scope)
            out[k] = None if isinstance(val, DataArr) else val
        return out

    def element_map(self, op: ast.Call, steps: list[dict], before_rows: bool = False) -> None:
        """A map the data given stand for (_pyscript_map): one that only adds or reshapes an
        axis, or (after the rows) deterministic preprocessing of each element, with a note;
        a located error for any other."""
        from ._pyscript_map import ElementMap, MapRefused

        a = self.pipeline_args(ast.Call(op.func, op.args[1:], [
            k for k in op.keywords if k.arg != "map_func"]), _ARGS["map"])
        reader = ElementMap(self, op)
        try:
            if a.get("deterministic") is False:
                raise MapRefused("deterministic=False lets parallel calls give the elements "
                                 "out of order", op)
            if before_rows:
                reader.random_call()
            elif not self.shape_only_map(op):
                name = reader.check(any("batch" in st for st in steps))
                words = " and ".join(reader.words) or "mapped"
                self.note(op, f"fit() (line {self._fit_line}): the data given (--x/--y) "
                              f"replaces {name} at line {op.lineno}: give the {words} rows "
                              "(the elements after the map)")
        except MapRefused as e:
            raise self.pipeline_error(op, f"the map changes the elements: {e.why}",
                                      hint=_MAP_HINT) from None

    def shape_only_map(self, op: ast.Call) -> bool:
        fn = op.args[0] if len(op.args) == 1 else None
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

    def pipeline_error(self, op: ast.Call, why: str, hint: str = "") -> Any:
        return self.error(op, f"fit() (line {self._fit_line}) on a dataset pipeline: "
                              f".{op.func.attr}(...): {why}",
                          field="x", received=self.seg(op), hint=hint or _HINT)


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_MAP_HINT = ("seqc reads a map whose function returns each element through tf.expand_dims, "
             "tf.cast and deterministic Keras preprocessing layers (the data given are the "
             "rows after it); apply anything else to the arrays before giving them")
_HINT = ("give the rows as arrays: fit(x_train, y_train, batch_size=...) with --x/--y, or "
         "write the pipeline with from_tensor_slices((x, y)) and the steps seqc reads")
