"""`seqc predict`: run a model (.onnx or build folder) on a file of inputs with onnxruntime,
streaming batch by batch, so peak memory is set by the batch size, not the file size.

Inputs: .npy, .npz and .csv (streams.py), .parquet (row group by row group, parquet.py), opened
by their extension in inputs.py. Output: .npy or .csv (sharded predict also writes .parquet),
appended batch by batch to a temporary file that replaces the target at the end; a CSV gets a
`label` column when the model carries class names. A timeseries model (metadata
`seqc.timeseries`, see windows.py) given the raw series gets it cut into its training windows,
one prediction per window; a CSV output then starts with `first_row,last_row` columns.
"""

from __future__ import annotations

import io
import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from ..fileio import atomic_file
from ..ir.types import TensorType
from ..progress import RowProgress
from . import windows as W
from .inputs import open_inputs, read_inputs
from .runners import (
    ModelSource,
    check_input,
    cuda_problem,
    make_session,
    onnx_value_type,
    resolve,
)
from .streams import InputStream, class_labels


def read_inputs_for(model: Any, inputs: str | None) -> Any:
    """Inputs for `seqc validate`: a file's contents (a dict of the .npz arrays named after
    the inputs for a model with several), or None (validate draws random rows)."""
    if inputs is None:
        return None
    from .named import input_types, read_named_arrays

    types = input_types(resolve(model))
    if len(types) > 1:
        return read_named_arrays(inputs, list(types))
    return np.asarray(read_inputs(inputs))


# ---- predict ----

def _class_names(src) -> list[str] | None:
    try:
        meta = src.metadata()
    except Exception:  # noqa: BLE001 - metadata is optional; predictions still work
        return None
    names = meta.get("seqc.class_names")
    return json.loads(names) if names else None


def _check_int(value: Any, name: str) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
        raise UsageError(f"{name} must be an integer >= 1", field=name,
                         received=f"{name}={value!r}")


def predict_file(model: str, input_path: str, out_path: str, *, provider: str = "cpu",
                 batch_size: int = 1024, threads: int | None = None, target: str | None = None,
                 windows: bool | None = None, columns: list[str] | None = None,
                 log: Callable[[str], Any] | None = None, progress: bool = False) -> int:
    """Predict every row of `input_path` batch by batch; returns the number of predictions.

    `threads`: onnxruntime's intra-op threads (None: its default, one per core).
    `columns`: a Parquet input's feature column(s) (see parquet.py).
    `windows`: for a model trained on `data.timeseries` windows (its ONNX metadata carries
    `seqc.timeseries`), None cuts a raw series (a CSV holding the model's columns, or a
    (rows, columns) array) into the training windows and predicts one row per window, while
    input of the model's own rank (pre-made windows) is predicted as it is; True insists on
    windowing; False never windows. `batch_size` then counts windows.
    `progress`: on a terminal, a line of rows done, rows/s and ETA on stderr (seqc.progress).

    >>> predict_file("runs/mlp", "x.npy", "pred.csv", batch_size=4096)  # doctest: +SKIP
    1797
    """
    from .named import predict_named, several_io

    src = resolve(model)
    if several_io(src):
        _check_int(batch_size, "batch_size")
        sess = _session(src, provider, threads, log)
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        return predict_named(src, input_path, out_path, sess, int(batch_size))
    ext = os.path.splitext(out_path)[1].lower()
    if ext not in (".npy", ".csv"):
        raise UsageError("the output must be a .npy or .csv file", field="--out",
                         received=out_path)
    _check_int(batch_size, "batch_size")
    predictor = Predictor(src, provider=provider, threads=threads, windows=windows, log=log)
    return predictor.run(input_path, out_path, batch_size=batch_size, target=target,
                         columns=columns, progress=progress)[1]


@dataclass(frozen=True)
class ModelFacts:
    """What predicting needs to know of a one-input model besides its session, read once from
    its ONNX model (plain data: sharded predict ships it to workers, which then need no
    `onnx`, only onnxruntime)."""

    label: str
    in_type: TensorType  # the ONNX model's own input (channels-first for an nchw export)
    ids: dict | None  # token ids' range (ModelSource.token_ids)
    channels_first: bool
    class_names: list | None
    ts_model: dict | None  # the timeseries windowing, None when not windowing

    @classmethod
    def of(cls, src: ModelSource, windows: bool | None = None) -> ModelFacts:
        if windows is not None and not isinstance(windows, bool):
            raise UsageError("windows must be True, False or None (auto)", field="windows",
                             received=f"windows={windows!r}")
        proto = src.onnx_proto()
        ts_model = None
        if windows is not False:
            ts_model = W.model_timeseries(src.metadata(), src.label)
            if ts_model is None and windows:
                raise UsageError(
                    "--windows: this model carries no timeseries windowing (it was not trained "
                    f"on data.timeseries windows; no {W.TIMESERIES_KEY} metadata)",
                    file=src.label, field="--windows", received="--windows",
                    hint="leave out --windows and pass input of the model's own shape")
        return cls(src.label, onnx_value_type(proto.graph.input[0]), src.token_ids(),
                   src.onnx_layouts()[0] == "channels_first", _class_names(src), ts_model)


class Predictor:
    """A one-input, one-output model ready to predict files: its facts read once and one
    onnxruntime session, created on first use (after the first batch of the first file has
    passed its checks) and reused for every file. Sharded predict keeps one per worker, built
    from the model's bytes and the facts the driver read."""

    def __init__(self, model: Any, *, provider: str = "cpu", threads: int | None = None,
                 windows: bool | None = None, log: Callable[[str], Any] | None = None,
                 facts: ModelFacts | None = None) -> None:
        _check_int(threads, "threads")
        self.model = model if isinstance(model, bytes) else resolve(model)
        self.facts = facts or ModelFacts.of(self.model, windows)
        self.provider, self.threads, self.windows, self.log = provider, threads, windows, log
        self._sess = None

    def session(self) -> Any:
        if self._sess is None:
            self._sess = _session(self.model, self.provider, self.threads, self.log,
                                  self.facts.label)
        return self._sess

    def run(self, input_path: str, out_path: str, *, batch_size: int = 1024,
            target: str | None = None, columns: list[str] | None = None,
            after_batch: Callable[[int], Any] | None = None,
            progress: bool = False) -> tuple[int, int]:
        """Predict `input_path` into `out_path` (.npy, .csv or .parquet, written atomically);
        returns (input rows, predictions). `columns`: a Parquet file's feature columns.
        `after_batch(predictions so far)` is called after each batch is written; `progress`
        shows a rows, rows/s and ETA line on a terminal (seqc.progress.RowProgress)."""
        _check_int(batch_size, "batch_size")
        facts, windows = self.facts, self.windows
        ts_model, in_type, ids = facts.ts_model, facts.in_type, facts.ids
        in_ext = os.path.splitext(os.fspath(input_path))[1].lower()
        is_csv = in_ext == ".csv"
        if columns is not None and in_ext != ".parquet":
            raise UsageError("--column picks a Parquet file's feature columns", file=input_path,
                             field="--column", received=f"--column {' --column '.join(columns)}",
                             hint="leave out --column for .npy, .npz and .csv inputs")
        if columns is None and ts_model is not None and in_ext in (".csv", ".parquet"):
            columns = ts_model["columns"]  # a table's series columns, picked by name
        rows_in = [0]

        def counted(it: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            for xb in it:
                rows_in[0] += len(xb) if xb.ndim else 1
                yield xb

        with open_inputs(input_path, target=target, columns=columns) as stream:
            ts = ts_model
            if ts is not None and not is_csv and not W.is_raw_series(stream.shape, ts):
                if windows:
                    raise DataError(
                        f"--windows: the input must be the raw series, an array of shape "
                        f"(rows, {len(ts['columns'])}) holding columns {ts['columns']}",
                        file=input_path, field="INPUT", received=stream.describe())
                ts = None  # pre-made windows, or a shape check_input names
            if ts is not None:
                W.check_model_input(ts, in_type.shape, facts.channels_first, facts.label)
                if self.log:
                    self.log(f"{input_path}: {W.describe(ts)}")
                # `batch_size * sequence_stride` rows hold about `batch_size` windows.
                batches = W.window_batches(
                    counted(stream.batches(batch_size * ts["sequence_stride"])), ts,
                    batch_size, path=input_path, channels_first=facts.channels_first)
            else:
                batches = ((None, xb) for xb in counted(stream.batches(batch_size)))
            first = next(batches, None)
            if first is None:
                raise DataError("the input has no rows", file=input_path, field="INPUT",
                                received=stream.describe())
            try:  # shape, dtype and id errors before any work
                first = (first[0], check_input(first[1], in_type, ids))
            except DataError as e:
                raise self._explain(e, stream, ts).located(file=input_path) from None
            sess = self.session()
            name = sess.get_inputs()[0].name
            os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
            n = 0
            shown = (RowProgress(stream.shape[0] if ts is None else None)
                     if progress else None)
            last = 0 if ts is None else (ts["sequence_length"] - 1) * ts["sampling_rate"]
            with atomic_file(out_path) as f:
                writer = self._writer(f, out_path, ts is not None)
                for starts, xb in itertools.chain([first], batches):
                    if n:  # the first batch was checked above
                        try:
                            xb = check_input(xb, in_type, ids)
                        except DataError as e:  # a later batch (token ids with fractions)
                            e.received = f"rows {n + 1}..{n + len(xb)}: {e.received}"
                            raise e.located(file=input_path) from None
                    y = sess.run(None, {name: xb})[0]
                    writer.write(y, None if starts is None
                                 else np.stack([starts, starts + last], 1))
                    n += len(y)
                    if after_batch is not None:
                        after_batch(n)
                    if shown is not None:
                        shown(n)
                writer.finish()
                if shown is not None:
                    shown(n, final=True)
        return rows_in[0], n

    def _explain(self, e: DataError, stream: InputStream, ts: dict | None) -> DataError:
        """Hints for an input the model does not take: its layout or the raw series."""
        in_type, facts = self.facts.in_type, self.facts
        e.received = stream.describe()
        shape = stream.shape
        if (facts.channels_first and len(shape) == in_type.rank
                and tuple(shape[1:]) == (*in_type.shape[2:], in_type.shape[1])):
            e.hint = ("this model was exported with --input-layout nchw: pass "
                      "channels-first input, e.g. np.moveaxis(x, -1, 1)")
        elif ts is None and facts.ts_model is not None:
            cols = facts.ts_model["columns"]
            e.hint = (f"this timeseries model also takes the raw series: an array of "
                      f"shape (rows, {len(cols)}) holding columns {cols}, or a CSV with "
                      f"those columns")
        return e

    def _writer(self, f: Any, out_path: str, windowed: bool) -> Any:
        ext = os.path.splitext(out_path)[1].lower()
        row_columns = ROW_COLUMNS if windowed else ()
        if ext == ".npy":
            return NpyWriter(f)
        if ext == ".parquet":
            from .parquet import ParquetWriter

            return ParquetWriter(f, self.facts.class_names, row_columns)
        return CsvWriter(f, self.facts.class_names, row_columns)


# The series rows a window covers (0-based; the first data row of a CSV is row 0).
ROW_COLUMNS = ("first_row", "last_row")


def _session(src, provider: str, threads: int | None, log: Callable | None,
             label: str | None = None) -> Any:
    sess = make_session(src, provider=provider, intra_op_num_threads=threads, label=label)
    if provider == "auto" and log:
        used = sess.get_providers()[0]
        problem = cuda_problem()
        log(f"provider: {used}" + (f" (CUDA unavailable: {problem}; falling back to CPU)"
                                   if problem else ""))
    return sess


# ---- output writers (append batch by batch to an open temporary file) ----

class NpyWriter:
    """Appends row batches after a .npy header, then rewrites the header with the row count.
    numpy pads every header with room for the longest first dimension (GROWTH_AXIS_MAX_DIGITS)
    so a header can be rewritten in place; plain appends, not a writable memory map, because
    the dirty pages of a map count in resident memory until the kernel writes them back."""

    def __init__(self, f: Any) -> None:
        self.f, self.rows, self.dtype, self.tail, self.header_len = f, 0, None, None, 0

    def _header(self, rows: int) -> bytes:
        b = io.BytesIO()
        np.lib.format.write_array_header_1_0(b, {
            "descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
            "shape": (rows, *self.tail)})
        return b.getvalue()

    def write(self, y: np.ndarray, rows: np.ndarray | None = None) -> None:
        if self.dtype is None:
            self.dtype, self.tail = y.dtype, tuple(y.shape[1:])
            head = self._header(0)
            self.header_len = len(head)
            self.f.write(head)
        elif y.dtype != self.dtype or tuple(y.shape[1:]) != self.tail:
            raise DataError("the model's output shape changed between batches",
                            field="output", received=f"{y.shape} {y.dtype} after "
                            f"{self.tail} {self.dtype}")
        self.f.write(np.ascontiguousarray(y).data)
        self.rows += len(y)

    def finish(self) -> None:
        if self.dtype is None:
            return
        head = self._header(self.rows)
        assert len(head) == self.header_len, "numpy's header growth padding changed"
        self.f.seek(0)
        self.f.write(head)
        self.f.seek(0, os.SEEK_END)


class CsvWriter:
    """`output_0..k` columns (7 significant digits), plus `label` when the model carries
    class names: argmax of k scores, or class 1 above 0.5 for a single sigmoid output.
    `row_columns`: integer columns written first, one value each per prediction (`rows`:
    (n, len(row_columns)) given to `write`), e.g. the series rows a window covers."""

    def __init__(self, f: Any, class_names: list[str] | None,
                 row_columns: tuple[str, ...] = ()) -> None:
        self.f, self.class_names, self.width = f, class_names, None
        self.row_columns = tuple(row_columns)

    def write(self, y: np.ndarray, rows: np.ndarray | None = None) -> None:
        y2 = y.reshape(len(y), -1)
        labels = class_labels(y2, self.class_names)
        if self.width is None:
            self.width = y2.shape[1]
            cols = [*self.row_columns, *(f"output_{j}" for j in range(self.width))]
            self.f.write((",".join(cols + (["label"] if labels else [])) + "\n").encode())
        fmt = "{:.7g}".format
        lines = (",".join(map(fmt, r)) for r in y2.tolist())
        if self.row_columns:
            lines = (",".join(map(str, i)) + "," + r
                     for i, r in zip(np.asarray(rows).tolist(), lines))
        if labels:
            lines = (f"{r},{lab}" for r, lab in zip(lines, labels))
        self.f.write(("\n".join(lines) + "\n").encode())

    def finish(self) -> None:
        pass
