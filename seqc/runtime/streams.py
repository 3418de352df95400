"""Input files as streams of row batches: .npy (memory-mapped), .npz (key `x`, or its only
array: a stored member is memory-mapped from its offset inside the zip, a compressed one is
decompressed batch by batch) and .csv (header row, read in chunks; the optional target column
is dropped). Parquet streams (parquet.py) share the `InputStream` base; inputs.py opens a file
by its extension. `class_labels` names the class of each row of scores, for the CSV and
Parquet prediction writers alike.
"""

from __future__ import annotations

import csv
import itertools
import mmap
import operator
import struct
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, did_you_mean
from ..fileio import check_npz_file, read_npy_header

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


def open_npz(path: str) -> InputStream:
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


def class_labels(y2: np.ndarray, names: list[str] | None) -> list[str] | None:
    """The class name of each row of (n, k) scores when the model carries class names: argmax
    of k scores, or class 1 above 0.5 for a single sigmoid output; None otherwise."""
    if names and y2.shape[1] == 1:
        return [names[int(v > 0.5)] for v in y2[:, 0].tolist()]
    if names and y2.shape[1] == len(names):
        return [names[i] for i in y2.argmax(1).tolist()]
    return None
