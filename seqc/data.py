"""`seqc.data`: training sources larger than memory, for `model.fit(seqc.data.Shards(...))`.

`Shards` finds the files, counts their rows from headers, checks them and reads rows by range;
`seqc.training.shards` turns a source into shuffled, prefetched batches (see its doc and
docs/scale.md, "Training from shards").

- **Files.** `.npy` pairs `NAME.x.npy` + `NAME.y.npy` (plus `NAME.w.npy` sample weights
  when `sample_weight="w"`), read a chunk of rows at a time by offset; or Parquet files,
  read by row group, whose `x` names the feature column(s) (one list column, or one numeric
  column per feature), `y` the label column and `sample_weight` a weight column. Row
  counts come from the `.npy` headers and the Parquet footers: nothing is loaded to count.
- **Order.** Rows are numbered shard by shard in sorted file order.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import DataError, UsageError

__all__ = ["Shards"]

DEFAULT_BUFFER = 65536
CHUNK_ROWS = 8192


@dataclass
class _Shard:
    path: str  # the x file (.npy) or the Parquet file
    rows: int
    y_path: str | None = None
    w_path: str | None = None


def _npy_header(path: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of an .npy file from its header alone."""
    from .fileio import read_npy_header

    try:
        with open(path, "rb") as f:
            shape, fortran, dtype = read_npy_header(f)
    except (OSError, ValueError) as e:
        raise DataError(f"not a readable .npy file ({e})", file=path, field="data",
                        received=os.path.basename(path)) from None
    if fortran and len(shape) > 1:
        raise DataError("the .npy array is in Fortran order; shards are read row by row",
                        file=path, field="data", received="fortran_order=True",
                        hint="save it with np.save(path, np.ascontiguousarray(a))")
    if len(shape) == 0:
        raise DataError("a shard holds a numeric array with one row per sample", file=path,
                        field="data", received=f"dtype {dtype}, shape {shape}")
    return tuple(shape), dtype


class _NpyRows:
    """Rows of an .npy file read by offset (np.fromfile): only the rows asked for are in
    memory, and nothing is mapped, so an address-space limit (ulimit -v) bounds the data."""

    def __init__(self, path: str) -> None:
        from .fileio import read_npy_header

        self.path = path
        self.f = open(path, "rb")  # noqa: SIM115 - closed by Shards._chunks
        self.shape, _, self.dtype = read_npy_header(self.f)
        self.offset = self.f.tell()
        self.row_items = int(np.prod(self.shape[1:], dtype=np.int64))

    def rows(self, a: int, b: int) -> np.ndarray:
        self.f.seek(self.offset + a * self.row_items * self.dtype.itemsize)
        want = (b - a) * self.row_items
        arr = np.fromfile(self.f, dtype=self.dtype, count=want)
        if arr.size != want:
            raise DataError(f"the file ends at row {a + arr.size // max(self.row_items, 1)} "
                            f"of the {self.shape[0]} its header declares", file=self.path,
                            field="data", received=f"{os.path.getsize(self.path)} bytes",
                            hint="the shard is truncated: write it again")
        return arr.reshape(b - a, *self.shape[1:])


class Shards:
    """Keras' `PyDataset` role for data larger than memory: `model.fit(Shards(...))`.

    `source`: a folder, a glob, a file or a list of them. `.npy` shards come in pairs named
    `NAME.<x>.npy` and `NAME.<y>.npy` (`x="x"`, `y="y"` by default; `sample_weight` names a
    third suffix). Parquet shards: `x` is the feature column or a list of columns (default:
    every column but `y` and `sample_weight`), `y` the label column (default "y"),
    `sample_weight` the weight column. `shuffle_buffer`: rows shuffled together (see
    seqc.training.shards); `prefetch`: batches a background thread keeps ready."""

    is_shard_source = True  # what fit, evaluate and predict recognise

    def __init__(self, source: Any, x: Any = None, y: str = "y", sample_weight: str | None = None,
                 *, shuffle_buffer: int = DEFAULT_BUFFER, prefetch: int = 4,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        for name, v in (("shuffle_buffer", shuffle_buffer), ("prefetch", prefetch),
                        ("chunk_rows", chunk_rows)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise UsageError(f"{name} must be a positive integer", field=name,
                                 received=repr(v))
        self.shuffle_buffer, self.prefetch, self.chunk_rows = (int(shuffle_buffer),
                                                               int(prefetch), int(chunk_rows))
        self.x, self.y, self.sample_weight = x, y, sample_weight
        files = _find(source)
        parquet = [f for f in files if f.lower().endswith(".parquet")]
        if parquet and len(parquet) != len(files):
            raise DataError("the shards mix Parquet and .npy files", field="data",
                            received=f"{len(parquet)} Parquet, {len(files) - len(parquet)} other",
                            hint="keep one kind of shard per dataset")
        self.kind = "parquet" if parquet else "npy"
        self.shards = self._parquet(files) if parquet else self._npy(files)
        self.rows = sum(s.rows for s in self.shards)
        if self.rows == 0:
            raise DataError("the shards hold no rows", field="data", received=str(source))

    # ---- discovery and checks (headers only) ----

    def _npy(self, files: list[str]) -> list[_Shard]:
        xs = self.x or "x"
        if not isinstance(xs, str):
            raise UsageError("for .npy shards, x is the file-name suffix (NAME.x.npy)",
                             field="x", received=repr(self.x))
        tail = f".{xs}.npy"
        xfiles = [f for f in files if f.endswith(tail)]
        if not xfiles:
            raise DataError(f"no .npy shard named NAME{tail}", field="data",
                            received=", ".join(os.path.basename(f) for f in files[:3]),
                            hint="name shards part-000.x.npy + part-000.y.npy (or pass x=/y= "
                                 "suffixes)")
        shards, feat, ydims = [], None, None
        for f in xfiles:
            stem = f[:-len(tail)]
            y_path = f"{stem}.{self.y}.npy"
            w_path = f"{stem}.{self.sample_weight}.npy" if self.sample_weight else None
            for p, what in ((y_path, "labels"), (w_path, "sample weights")):
                if p is not None and not os.path.isfile(p):
                    raise DataError(f"the shard has no {what} file", file=f, field="data",
                                    received=os.path.basename(p) + " is missing")
            xs_shape, _ = _npy_header(f)
            ys_shape, _ = _npy_header(y_path)
            if xs_shape[0] != ys_shape[0]:
                raise DataError(f"x has {xs_shape[0]} rows but y has {ys_shape[0]}", file=f,
                                field="data", received=os.path.basename(y_path))
            if w_path is not None and _npy_header(w_path)[0] != (xs_shape[0],):
                raise DataError(f"the sample weights must be one number per row "
                                f"({xs_shape[0]} rows)", file=w_path, field="sample_weight",
                                received=f"shape {_npy_header(w_path)[0]}")
            feat, ydims = self._same(f, "x", xs_shape[1:], feat), \
                self._same(y_path, "y", ys_shape[1:], ydims)
            shards.append(_Shard(f, xs_shape[0], y_path, w_path))
        self.row_shape = feat
        return shards

    def _parquet(self, files: list[str]) -> list[_Shard]:
        from .runtime.parquet import ParquetStream

        skip = {self.y, self.sample_weight} - {None}
        cols = [self.x] if isinstance(self.x, str) else self.x
        shards, feat = [], None
        for f in files:
            stream = ParquetStream(f, None, cols) if cols else None
            if stream is None:
                probe = ParquetStream(f, None, None)
                stream = ParquetStream(f, None, [c for c in probe.columns if c not in skip])
            names = list(stream.pf.schema_arrow.names)
            for c, what in ((self.y, "y"), (self.sample_weight, "sample_weight")):
                if c is not None and c not in names:
                    raise DataError(f"the Parquet shard has no {what} column '{c}'", file=f,
                                    field=what, received=f"columns {names}")
            dims = tuple(stream.shape[1:])
            feat = self._same(f, "x", dims, feat)
            shards.append(_Shard(f, stream.pf.metadata.num_rows))
        self.columns = stream.columns
        self.row_shape = feat
        return shards

    @staticmethod
    def _same(path: str, what: str, dims: tuple, before: tuple | None) -> tuple:
        if before is not None and tuple(dims) != tuple(before):
            raise DataError(f"the shard's {what} rows have shape {tuple(dims)}, the first "
                            f"shard's {tuple(before)}", file=path, field=what,
                            received=os.path.basename(path))
        return tuple(dims)

    def __len__(self) -> int:
        return self.rows

    def __repr__(self) -> str:
        return f"Shards({len(self.shards)} {self.kind} shards, {self.rows} rows)"

    def memory_bound(self, batch_size: int, row_bytes: int | None = None) -> int:
        """Bytes of data held at once: the shuffle block, one read chunk, the queued and
        current batches (x, y and weights, float64 at most per value)."""
        if row_bytes is None:
            row_bytes = 8 * (int(np.prod(self.row_shape or (1,))) + 2)
        held = min(self.shuffle_buffer, self.rows) + 2 * self.chunk_rows \
            + (self.prefetch + 2) * batch_size
        return held * row_bytes

    # ---- reading ----

    def _chunks(self, shard: _Shard, lo: int, hi: int) -> Iterator[tuple]:
        """(x, y, w or None) arrays of rows lo..hi of one shard, `chunk_rows` at a time,
        each a fresh in-memory copy."""
        if self.kind == "npy":
            files = [None if p is None else _NpyRows(p)
                     for p in (shard.path, shard.y_path, shard.w_path)]
            try:
                for a in range(lo, hi, self.chunk_rows):
                    b = min(hi, a + self.chunk_rows)
                    yield tuple(None if f is None else f.rows(a, b) for f in files)
            finally:
                for f in files:
                    if f is not None:
                        f.f.close()
            return
        yield from self._parquet_chunks(shard, lo, hi)

    def _parquet_chunks(self, shard: _Shard, lo: int, hi: int) -> Iterator[tuple]:
        from .runtime.parquet import ParquetStream

        xs = ParquetStream(shard.path, None, self.columns)
        extra = [c for c in (self.y, self.sample_weight) if c is not None]
        row = 0
        try:
            batches = xs.pf.iter_batches(batch_size=self.chunk_rows,
                                         columns=[*self.columns, *extra], use_threads=False)
            for rb in batches:
                a, b = row, row + rb.num_rows
                row = b
                if b <= lo:
                    continue
                if a >= hi:
                    break
                rb = rb.slice(max(lo - a, 0), min(b, hi) - max(a, lo))
                x = xs._array(rb.select(self.columns), a)
                y = _column(rb.column(self.y), shard.path, self.y)
                w = None if self.sample_weight is None else _column(
                    rb.column(self.sample_weight), shard.path, self.sample_weight)
                yield x, y, w
        except DataError:
            raise
        except Exception as e:  # noqa: BLE001 - a damaged page or row group
            raise DataError(f"cannot read the Parquet file ({e})", file=shard.path,
                            field=f"rows after {row}", received=shard.path) from None

    def ranges(self, start: int, stop: int) -> list[tuple[_Shard, int, int]]:
        """(shard, lo, hi) pieces of global rows start..stop, in file order."""
        out, base = [], 0
        for s in self.shards:
            lo, hi = max(start - base, 0), min(stop - base, s.rows)
            if lo < hi:
                out.append((s, lo, hi))
            base += s.rows
        return out

    def read(self, start: int, stop: int) -> tuple:
        """Rows start..stop as arrays (x, y, w or None): a sample, never the whole set."""
        parts = [c for s, lo, hi in self.ranges(start, min(stop, self.rows))
                 for c in self._chunks(s, lo, hi)]
        return tuple(None if parts[0][j] is None else np.concatenate([p[j] for p in parts])
                     for j in range(3))


def _column(col: Any, path: str, name: str) -> np.ndarray:
    if col.null_count:
        raise DataError(f"column '{name}' has {col.null_count} null values", file=path,
                        field=name, received=f"{col.null_count} nulls")
    if getattr(col.type, "value_type", None) is not None:  # a list column: one row each
        n, flat = len(col), col.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(n, -1)
    return col.to_numpy(zero_copy_only=False)


def _find(source: Any) -> list[str]:
    items = source if isinstance(source, (list, tuple)) else [source]
    found: list[str] = []
    for item in items:
        item = os.path.expanduser(os.fspath(item))
        if os.path.isdir(item):
            files = [os.path.join(item, n) for n in sorted(os.listdir(item))]
        elif os.path.isfile(item):
            files = [item]
        elif glob.has_magic(item):
            files = sorted(glob.glob(item, recursive=True))
        else:
            raise DataError("data not found", file=item, field="data", received=item)
        files = [f for f in files if os.path.isfile(f) and os.path.basename(f)[:1] not in "._"
                 and f.lower().endswith((".npy", ".parquet"))]
        if not files:
            raise DataError("no .npy or Parquet shard found", file=item, field="data",
                            received=item, hint="shards are NAME.x.npy + NAME.y.npy pairs or "
                                                ".parquet files")
        found += [os.path.abspath(f) for f in files]
    return list(dict.fromkeys(found))


# ---- the epoch's batches ----

def is_sharded(path: Any) -> bool:
    """`--data` names shards: a folder, a glob or a Parquet file."""
    p = os.fspath(path)
    return os.path.isdir(p) or glob.has_magic(p) or p.lower().endswith(".parquet")


def build_source(defn: Any, data: str, target: str | None) -> Shards:
    """The Shards of `seqc build --data DIR_OR_GLOB`: `--target` (or the spec's data
    `target`) names the Parquet label column or the .npy label suffix (default y)."""
    spec = dict(getattr(defn, "data", None) or {})
    for key in ("timeseries", "label_dtype"):
        if key in spec:
            raise UsageError(f"data.{key} is not read from shards", field=f"data.{key}",
                             received=f"--data {data}",
                             hint="train on shards without it, or on one CSV file")
    if getattr(defn, "one_hot", False):
        raise UsageError("data.one_hot is not applied to shards", field="data.one_hot",
                         received=f"--data {data}",
                         hint="store one-hot labels, or use sparse_categorical_crossentropy")
    return Shards(data, y=target or spec.get("target") or "y")


def holdout(model: Any, source: Shards, start: int, rows: int) -> tuple:
    """(x, y) of rows start..start+rows, prepared for the model: a build's held-out check."""
    x, y, _ = source.read(start, min(start + rows, source.rows))
    from .training.shards import ShardStream

    stream = ShardStream(model, source, None, None, None)
    return stream.prep(x, y, None, source.shards[0].path)[:2]


