"""`seqc predict`: run a model (.onnx or build folder) on a file of inputs with onnxruntime,
streaming batch by batch, so peak memory is set by the batch size, not the file size.

Inputs: .npy (memory-mapped), .npz (key `x`, or its only array: a stored member is
memory-mapped from its offset inside the zip, a compressed one is decompressed batch by batch),
.csv (header row, read in chunks; the optional target column is dropped), .parquet (row group
by row group, parquet.py). Output: .npy or .csv (sharded predict also writes .parquet),
appended batch by batch to a temporary file that replaces the target at the end; a CSV gets a
`label` column when the model carries class names. A timeseries model (metadata
`seqc.timeseries`, see windows.py) given the raw series gets it cut into its training windows,
one prediction per window; a CSV output then starts with `first_row,last_row` columns.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import mmap
import operator
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, did_you_mean
from ..fileio import atomic_file, check_npz_file, read_npy_header, regular_file
from ..ir.types import TensorType
from ..progress import RowProgress
from . import windows as W
from .runners import (
    ModelSource,
    check_input,
    cuda_problem,
    make_session,
    onnx_value_type,
    resolve,
)

INPUT_HINT = "INPUT is a .npy, .npz, .csv or .parquet file"
# A Fortran-ordered array in a compressed .npz stores each column whole, so rows cannot be
# decompressed batch by batch: such a member is read whole when it is at most this big.
COMPRESSED_FORTRAN_LIMIT = 256 * 2**20


# ---- input streams ----

class InputStream:
    """The rows of an input file, read `batches(n)` at a time. `shape[0]` is None when the
    row count is unknown before reading (CSV)."""

    path: str
    shape: tuple
    dtype: np.dtype

    def batches(self, size: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def describe(self) -> str:
        dims = ["?" if d is None else str(d) for d in self.shape]
        return f"array of shape ({', '.join(dims)}{',' if len(dims) == 1 else ''}) {self.dtype}"

    def close(self) -> None:
        pass

    def __enter__(self) -> InputStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ArrayStream(InputStream):
    """Rows of an array, usually a read-only memory map. Pages already consumed are handed back
    to the kernel (madvise DONTNEED): a file-backed page counts in this process's resident
    memory while it is mapped, so without that a 2 GB file read once ends at 2 GB of RSS."""

    def __init__(self, path: str, x: np.ndarray) -> None:
        self.path, self.x, self.shape, self.dtype = path, x, tuple(x.shape), x.dtype

    def batches(self, size: int) -> Iterator[np.ndarray]:
        x = self.x
        if x.ndim == 0:  # check_input names the problem
            yield x
            return
        release = _page_releaser(x)
        for i in range(0, len(x), size):
            yield x[i:i + size]
            if release:
                release(i + size)

    def close(self) -> None:
        self.x = None


def _page_releaser(x: np.ndarray) -> Callable[[int], None] | None:
    """release(rows): drop the mapping of the pages holding rows [0, rows) of a C-ordered
    memory map; None when `x` is not one (nothing to release)."""
    mm = getattr(x, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or not x.flags.c_contiguous:
        return None
    # np.memmap maps from the allocation boundary below its offset (numpy/core/memmap.py).
    start = x.offset % mmap.ALLOCATIONGRANULARITY
    row_bytes = x.strides[0] if x.ndim else 0
    done = [0]

    def release(rows: int) -> None:
        end = (start + rows * row_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
        end = min(end, len(mm) // mmap.PAGESIZE * mmap.PAGESIZE)
        if end > done[0]:
            try:
                mm.madvise(mmap.MADV_DONTNEED, done[0], end - done[0])
            except (OSError, ValueError):  # advice only: reading stays correct without it
                return
            done[0] = end

    return release


class ZipMemberStream(InputStream):
    """Rows of a compressed .npz member (C order), decompressed batch by batch through
    zipfile's file object: only one batch of raw bytes is in memory at a time."""

    def __init__(self, path: str, zf: zipfile.ZipFile, member: str, shape: tuple,
                 dtype: np.dtype) -> None:
        self.path, self.zf, self.member, self.shape, self.dtype = path, zf, member, shape, dtype

    def batches(self, size: int) -> Iterator[np.ndarray]:
        row_shape = self.shape[1:]
        row_bytes = self.dtype.itemsize * int(np.prod(row_shape, dtype=np.int64))
        with self.zf.open(self.member) as f:
            read_npy_header(f)
            if not self.shape:  # one value, as ArrayStream: check_input names the problem
                buf = _read_exactly(f, self.dtype.itemsize, self.path)
                yield np.frombuffer(buf, self.dtype).reshape(())
                return
            for i in range(0, self.shape[0], size):
                k = min(size, self.shape[0] - i)
                buf = _read_exactly(f, k * row_bytes, self.path)
                yield np.frombuffer(buf, self.dtype).reshape(k, *row_shape)

    def close(self) -> None:
        self.zf.close()


class CsvStream(InputStream):
    """Rows of a CSV with a header row, parsed `size` rows at a time (float64, so integer
    token ids up to 2**53 survive; check_input casts to the model's dtype). `columns`: read
    only these, in this order (a timeseries model's inputs; the others are ignored)."""

    def __init__(self, path: str, target: str | None, columns: list[str] | None = None) -> None:
        self.path, self.target, self.columns = path, target, columns
        self._f = open(path, newline="", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._reader = csv.reader(self._f)
        try:
            self.header = next(self._reader, None)
        except (csv.Error, UnicodeDecodeError) as e:
            self.close()
            raise DataError(f"not a readable CSV file ({e})", file=path, field="INPUT",
                            received=path) from None
        if not self.header:
            self.close()
            raise DataError("the CSV needs a header row and at least one data row", file=path,
                            field="rows", received="an empty file")
        if columns is None:
            self.keep = [i for i, h in enumerate(self.header) if h != target]
        else:
            try:
                self.keep = self._pick(columns, target)
            except BaseException:
                self.close()
                raise
        self.shape, self.dtype = (None, len(self.keep)), np.dtype(np.float64)

    def _pick(self, columns: list[str], target: str | None) -> list[int]:
        if target is not None and target in columns:
            raise UsageError(
                f"--target drops column '{target}', but this timeseries model reads it as an "
                f"input (its windows are cut from columns {columns})", file=self.path,
                field="--target", received=f"--target {target}",
                hint="leave out --target: the model's columns are picked by name and the "
                     "other columns are ignored")
        for c in columns:
            if c not in self.header:
                raise DataError(
                    f"column '{c}' is not in the CSV header: this timeseries model cuts its "
                    f"windows from columns {columns}", file=self.path, field=c,
                    received=f"columns {self.header}",
                    hint=did_you_mean(c, self.header) or "pass the raw series as a CSV with "
                    "those columns, or a .npy of shape (rows, columns) in that order")
        return [self.header.index(c) for c in columns]

    def describe(self) -> str:
        return f"CSV with {len(self.keep)} input columns"

    def batches(self, size: int) -> Iterator[np.ndarray]:
        pick = operator.itemgetter(*self.keep) if self.keep else (lambda row: ())
        row0 = 0
        try:
            while True:
                rows = list(itertools.islice(self._reader, size))
                if not rows:
                    break
                yield self._parse(rows, row0, pick)
                row0 += len(rows)
        except (csv.Error, UnicodeDecodeError) as e:
            raise DataError(f"not a readable CSV file ({e})", file=self.path,
                            field=f"row {row0 + 1}", received=self.path) from None
        if row0 == 0:
            raise DataError("the CSV needs a header row and at least one data row",
                            file=self.path, field="rows", received="a header and no data rows")

    def _parse(self, rows: list[list[str]], row0: int, pick: Callable) -> np.ndarray:
        width = len(self.header)
        for r, row in enumerate(rows, row0 + 1):
            if len(row) != width:
                raise DataError(f"row {r} has {len(row)} cells; the header has {width}",
                                file=self.path, field=f"row {r}", received=",".join(row)[:80])
        cells = [pick(row) for row in rows]
        if len(self.keep) == 1:
            cells = [(c,) for c in cells]
        try:
            return np.array(cells, dtype=np.float64).reshape(len(rows), len(self.keep))
        except ValueError:
            pass
        for r, row in enumerate(rows, row0 + 1):  # find the cell to name it
            for i in self.keep:
                try:
                    float(row[i])
                except ValueError:
                    raise DataError(f"row {r}, column '{self.header[i]}' is not a number",
                                    file=self.path, field=self.header[i], received=repr(row[i]),
                                    hint="pass --target COLUMN to drop a label column"
                                    if self.target is None and self.columns is None
                                    else None) from None
        raise DataError("the CSV has cells that are not numbers", file=self.path)

    def close(self) -> None:
        self._f.close()


def open_inputs(path: str, *, target: str | None = None,
                columns: list[str] | None = None) -> InputStream:
    """An input file as a stream of row batches; DataError/UsageError naming the file when it
    is missing, not a regular file, unreadable or of an unknown kind. `columns`: a CSV's or
    Parquet file's columns to read, in order (default: all but `target`; see parquet.py for
    list columns)."""
    path = regular_file(path, "input file", field="INPUT")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        return CsvStream(path, target, columns)
    if ext == ".parquet":
        from .parquet import ParquetStream

        return ParquetStream(path, target, columns)
    if ext not in (".npy", ".npz"):
        raise UsageError(f"{INPUT_HINT}", file=path, field="INPUT",
                         received=f"extension {ext or '(none)'}")
    try:
        if ext == ".npy":
            return ArrayStream(path, np.load(path, mmap_mode="r", allow_pickle=False))
        return _open_npz(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, struct.error, SyntaxError,
            tokenize.TokenError, zlib.error) as e:  # (the last three: a damaged header or
        # compressed member)
        raise DataError(f"cannot read the file ({e})", file=path, field="INPUT",
                        received=path, hint=INPUT_HINT) from None


def _open_npz(path: str) -> InputStream:
    check_npz_file(path, None)  # streamed batch by batch: no limit, but honest headers
    zf = zipfile.ZipFile(path)
    try:
        names = {n[:-4]: n for n in zf.namelist() if n.endswith(".npy")}
        if "x" in names:
            member = names["x"]
        elif len(names) == 1:
            member = next(iter(names.values()))
        else:
            raise DataError("the .npz holds several arrays and none is named 'x'", file=path,
                            field="x", received=f"arrays {sorted(names)}")
        info = zf.getinfo(member)
        if info.flag_bits & 0x1:
            raise DataError("the .npz member is encrypted", file=path, field=member,
                            received="an encrypted zip member")
        if info.compress_type == zipfile.ZIP_STORED:
            x = _map_stored_member(path, info)
            zf.close()
            return ArrayStream(path, x)
        with zf.open(member) as f:
            shape, fortran, dtype = read_npy_header(f)
        if not fortran or len(shape) < 2:
            return ZipMemberStream(path, zf, member, shape, dtype)
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        if nbytes > COMPRESSED_FORTRAN_LIMIT:
            raise DataError("a Fortran-ordered array in a compressed .npz cannot be streamed "
                            "by rows (each column is stored whole)", file=path, field=member,
                            received=f"{nbytes / 2**20:.0f} MB, fortran_order=True",
                            hint="save it with np.save(..., np.ascontiguousarray(x)) or "
                                 "np.savez (uncompressed, memory-mapped)")
        with zf.open(member) as f:
            read_npy_header(f)
            buf = _read_exactly(f, nbytes, path)
        zf.close()
        return ArrayStream(path, np.frombuffer(buf, dtype).reshape(shape, order="F"))
    except BaseException:
        zf.close()
        raise


def _map_stored_member(path: str, info: zipfile.ZipInfo) -> np.memmap:
    """Memory-map an uncompressed .npz member in place: its data starts after the member's
    local zip header (30 bytes + name + extra field, read from the local header itself since
    its extra field may differ from the central directory's) and the .npy header."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise ValueError(f"bad zip local header for {info.filename}")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        shape, fortran, dtype = read_npy_header(f)
        offset = f.tell()
    if len(shape) == 0 or 0 in shape:  # np.memmap cannot map zero bytes
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")


def _read_exactly(f: Any, n: int, path: str) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = f.read(n - got)
        if not b:
            raise DataError("the .npz member ends early", file=path, field="INPUT",
                            received=f"{got} of {n} bytes")
        chunks.append(b)
        got += len(b)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def read_inputs(path: str, *, target: str | None = None) -> np.ndarray:
    """An input file as one array (a read-only memory map for .npy and stored .npz members)."""
    with open_inputs(path, target=target) as s:
        if isinstance(s, ArrayStream):
            return s.x
        parts = list(s.batches(65536))
        if not parts:
            raise DataError("the input has no rows", file=path, field="INPUT",
                            received=s.describe())
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


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


def class_labels(y2: np.ndarray, names: list[str] | None) -> list[str] | None:
    """The class name of each row of (n, k) scores when the model carries class names: argmax
    of k scores, or class 1 above 0.5 for a single sigmoid output; None otherwise."""
    if names and y2.shape[1] == 1:
        return [names[int(v > 0.5)] for v in y2[:, 0].tolist()]
    if names and y2.shape[1] == len(names):
        return [names[i] for i in y2.argmax(1).tolist()]
    return None


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
