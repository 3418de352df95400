"""Training data larger than memory: `Shards`, a folder or glob of `.npy` pairs or Parquet
files read a piece at a time, shuffled in two levels and prefetched by a background thread.

- **Files.** `.npy` pairs `NAME.x.npy` + `NAME.y.npy` (plus `NAME.w.npy` sample weights
  when `sample_weight="w"`), read a chunk of rows at a time by offset; or Parquet files,
  read by row group, whose `x` names the feature column(s) (one list column, or one numeric
  column per feature), `y` the label column and `sample_weight` a weight column. Row
  counts come from the `.npy` headers and the Parquet footers: nothing is loaded to count.
- **Order.** Rows are numbered shard by shard in sorted file order. `validation_split` takes
  the last rows of that order, as Keras takes the last rows of an array.
- **Shuffle.** Per epoch, from `np.random.default_rng([seed, epoch])` as in-memory `fit`:
  when the training rows fit in `shuffle_buffer`, they are read into one buffer and permuted
  by exactly the permutation in-memory `fit` draws (same seed, same weights). Otherwise the
  shard order is permuted, then blocks of `shuffle_buffer` consecutive rows (across shard
  ends) are each permuted: every row is seen once per epoch, and memory holds one block.
- **Memory.** One block of `shuffle_buffer` rows, one read chunk (`chunk_rows`), and
  `prefetch` batches queued; see `memory_bound`.
"""

from __future__ import annotations

import glob
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, UsageError

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
    from ..runtime.predict import _read_npy_header

    try:
        with open(path, "rb") as f:
            shape, fortran, dtype = _read_npy_header(f)
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
        from ..runtime.predict import _read_npy_header

        self.path = path
        self.f = open(path, "rb")  # noqa: SIM115 - closed by Shards._chunks
        self.shape, _, self.dtype = _read_npy_header(self.f)
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
    `sample_weight` the weight column. `shuffle_buffer`: rows shuffled together (see the
    module doc); `prefetch`: batches a background thread keeps ready."""

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
        from ..runtime.parquet import ParquetStream

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
        from ..runtime.parquet import ParquetStream

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
    import pyarrow as pa

    t = col.type
    if pa.types.is_fixed_size_list(t) or pa.types.is_list(t):
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

def _fill(source: Shards, pieces: list, rows: int, prep: Any) -> list:
    """Rows of `pieces` (shard, lo, hi) prepared (`prep(x, y, w, path)`) into one block of
    preallocated arrays, chunk by chunk."""
    block: list | None = None
    at = 0
    for shard, lo, hi in pieces:
        for chunk in source._chunks(shard, lo, hi):
            arrs = prep(*chunk, shard.path)
            if block is None:
                block = [None if a is None else np.empty((rows, *a.shape[1:]), a.dtype)
                         for a in arrs]
            m = len(arrs[0])
            for dst, a in zip(block, arrs):
                if dst is not None:
                    dst[at:at + m] = a
            at += m
    return block


def _take(block: list, idx: Any) -> tuple:
    return tuple(None if a is None else a[idx] for a in block)


def epoch_batches(source: Shards, start: int, stop: int, batch_size: int, perm_rng: Any,
                  prep: Any) -> Iterator[tuple]:
    """Batches (x, y, w) of global rows start..stop. `perm_rng`: None (file order) or the
    epoch's generator (see the module doc for the two shuffle levels)."""
    n = stop - start
    pieces = source.ranges(start, stop)
    if perm_rng is not None and n <= source.shuffle_buffer:
        block = _fill(source, pieces, n, prep)
        perm = perm_rng.permutation(n)  # in-memory fit's permutation, drawn the same way
        for lo in range(0, n, batch_size):
            yield _take(block, perm[lo:lo + batch_size])
        return
    if perm_rng is not None:
        pieces = [pieces[i] for i in perm_rng.permutation(len(pieces))]
    size = source.shuffle_buffer if perm_rng is not None else max(batch_size, source.chunk_rows)
    carry: tuple | None = None
    for block_pieces, rows in _blocks(pieces, size):
        block = _fill(source, block_pieces, rows, prep)
        order = perm_rng.permutation(rows) if perm_rng is not None else None
        at = 0
        if carry is not None:  # complete the batch the last block left short
            at = min(batch_size - len(carry[0]), rows)
            idx = slice(0, at) if order is None else order[:at]
            carry = tuple(None if c is None else np.concatenate([c, a[idx]])
                          for c, a in zip(carry, block))
            if len(carry[0]) < batch_size:
                continue
            yield carry
            carry = None
        while at < rows:
            idx = slice(at, at + batch_size) if order is None else order[at:at + batch_size]
            part = _take(block, idx)
            if len(part[0]) < batch_size:
                carry = part
                break
            yield part
            at += batch_size
    if carry is not None:
        yield carry


def _blocks(pieces: list, size: int) -> Iterator[tuple[list, int]]:
    """The pieces cut into blocks of `size` rows (the last may be shorter)."""
    cur, rows = [], 0
    for shard, lo, hi in pieces:
        while lo < hi:
            take = min(hi - lo, size - rows)
            cur.append((shard, lo, lo + take))
            rows += take
            lo += take
            if rows == size:
                yield cur, rows
                cur, rows = [], 0
    if rows:
        yield cur, rows


class Prefetch:
    """Items of an iterator produced by a background thread, at most `depth` ahead. An error
    in the producer is raised in the consumer; `close()` stops the producer early."""

    _END = object()

    def __init__(self, it: Iterator, depth: int) -> None:
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(it,), daemon=True,
                                       name="seqc-prefetch")
        self.thread.start()

    def _run(self, it: Iterator) -> None:
        try:
            for item in it:
                if not self._put((True, item)):
                    return
            self._put((True, self._END))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._put((False, e))

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator:
        try:
            while True:
                ok, item = self.q.get()
                if not ok:
                    raise item
                if item is self._END:
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


# ---- fit's view of a Shards source ----

class ShardStream:
    """What `fit` needs from a `Shards` source for one model: prepared, prefetched batches
    of the training rows, the validation rows, a label sample for the pre-training checks
    and the training inputs chunk by chunk for `adapt`."""

    def __init__(self, model: Any, source: Shards, y: Any, sample_weight: Any,
                 class_weight: Any) -> None:
        if y is not None or sample_weight is not None:
            field = "y" if y is not None else "sample_weight"
            raise UsageError(f"with a Shards source the {field} come from the shards",
                             field=field, received=f"{field}=...",
                             hint="leave y and sample_weight out (Shards(..., y=, "
                                  "sample_weight=) names them)")
        graph = model.graph
        heads = model.compiled.heads
        if len(graph.inputs) > 1 or len(heads) > 1:
            raise UsageError("a Shards source feeds a model with one input and one output",
                             field="x", received=f"{len(graph.inputs)} inputs, "
                                                 f"{len(heads)} outputs",
                             hint="train a model with several inputs or outputs on arrays")
        self.model, self.source, self.class_weight = model, source, class_weight
        self.input, self.head = graph.inputs[0], heads[0]
        self.train_rows = source.rows

    def prep(self, x: Any, y: Any, w: Any, path: str) -> tuple:
        """One chunk as fit's checks prepare arrays, errors naming the shard."""
        from .checks import (
            class_weight_to_sample_weights,
            prepare_sample_weight,
            prepare_x,
            prepare_y,
        )

        graph = self.model.graph
        try:
            xp = prepare_x(self.model, x, "x", graph.types[self.input])
            if y is None:
                return xp, None, None
            yp = prepare_y(self.model, self.head.loss, y, len(xp), "y",
                           graph.types[self.head.value])
            wp = prepare_sample_weight(w, len(xp), "sample_weight")
            if self.class_weight is not None:
                wp = class_weight_to_sample_weights(yp, self.class_weight,
                                                    self.model.class_names)
        except DataError as e:
            raise e.located(file=path) from None
        return xp, yp, wp

    def _wrap(self, batch: tuple) -> tuple:
        x, y, w = batch
        return {self.input: x}, [y], None if w is None else [w]

    def split(self, validation_split: float, validation_data: Any, prepare: Any) -> tuple:
        """(None, [label sample], None, validation, [label sample]) for fit: validation is
        None, arrays (x, ys, sws), or a function of the batch size giving batches."""
        from .checks import split_point, unpack_validation

        val: Any = None
        if validation_data is not None:
            if isinstance(validation_data, Shards):
                other = ShardStream(self.model, validation_data, None, None, None)
                val = other.batches_of(0, validation_data.rows)
            else:
                val = unpack_validation(validation_data, prepare)
        elif validation_split:
            self.train_rows = split_point(self.source.rows, validation_split)
            val = self.batches_of(self.train_rows, self.source.rows)
        head = self.source.read(0, min(self.train_rows, self.source.shuffle_buffer))
        sample = [self.prep(*head, self.source.shards[0].path)[1]]
        return None, sample, None, val, sample

    def batches_of(self, start: int, stop: int) -> Any:
        def batches(batch_size: int) -> Prefetch:
            return self.train_batches(None, batch_size, start, stop)
        return batches

    def train_batches(self, rng: Any, batch_size: int, start: int = 0,
                      stop: int | None = None) -> Prefetch:
        stop = self.train_rows if stop is None else stop
        it = epoch_batches(self.source, start, stop, batch_size, rng, self.prep)
        return Prefetch(map(self._wrap, it), self.source.prefetch)

    def adapt_chunks(self) -> Iterator[dict]:
        """The training inputs ({input: x}) chunk by chunk, in file order."""
        for shard, lo, hi in self.source.ranges(0, self.train_rows):
            for x, _, _ in self.source._chunks(shard, lo, hi):
                yield {self.input: self.prep(x, None, None, shard.path)[0]}

    @property
    def fits(self) -> bool:
        return self.train_rows <= self.source.shuffle_buffer


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
    stream = ShardStream(model, source, None, None, None)
    return stream.prep(x, y, None, source.shards[0].path)[:2]


class NormalizationStats:
    """Normalization.adapt's mean and population variance merged chunk by chunk (Chan et
    al.'s pairwise update, each chunk two-pass in float64), equal to the one-array result
    within float rounding."""

    def __init__(self, attrs: Any) -> None:
        self.attrs, self.count, self.mean, self.m2 = attrs, 0, None, None

    def add(self, x: np.ndarray) -> None:
        from ..ops.normalization import _axes

        _, reduce = _axes(self.attrs, x.ndim)
        x64 = np.asarray(x, dtype=np.float64)
        n = int(np.prod([x.shape[d] for d in reduce]))
        if n == 0:
            return
        mean = x64.mean(axis=reduce)
        m2 = np.square(x64 - x64.mean(axis=reduce, keepdims=True)).sum(axis=reduce)
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + np.square(delta) * (self.count * n / total)
        self.count = total

    def result(self) -> dict[str, np.ndarray]:
        if self.mean is None:
            raise DataError("Normalization.adapt needs at least one sample",
                            received="no rows")
        var = self.m2 / self.count
        if not (np.isfinite(self.mean).all() and np.isfinite(var).all()):
            raise DataError("Normalization.adapt data contains NaN or infinite values",
                            received="the training shards")
        return {"mean": self.mean.astype(np.float32), "variance": var.astype(np.float32)}


def adapt_streamed(model: Any, todo: list[int], chunks: Any, fits: bool) -> None:
    """adapt_once over a stream: one pass over the training inputs per adaptable layer, the
    layers before it run on each chunk. Normalization merges statistics; the other adapt
    layers (quantiles, vocabularies) need every value at once, so they are fitted on the
    concatenated inputs when the training rows fit in the shuffle buffer and refused
    otherwise."""
    from ..ops import REGISTRY
    from ..ops.base import RunContext
    from . import executor

    graph = model.graph
    ctx = RunContext(training=False, need_grad=False)
    for i in todo:
        node = graph.nodes[i]
        op = REGISTRY[node.op]
        if node.op == "Normalization" and node.attrs.mean is None:
            acc: Any = NormalizationStats(node.attrs)
        elif fits:
            acc = []
        else:
            raise UsageError(f"{node.op}.adapt needs all its data at once, and the training "
                             "rows do not fit in the shuffle buffer", field="shuffle_buffer",
                             received=f"layer {node.name!r}",
                             hint="give the layer its learnt arguments (e.g. bin_boundaries, "
                                  "vocabulary), or raise Shards(shuffle_buffer=) to the "
                                  "training rows")
        for env in chunks():
            for other in graph.nodes[:i]:
                ys, _ = REGISTRY[other.op].forward(
                    other.attrs, executor.node_params(other, model.params),
                    [env[v] for v in other.inputs], ctx)
                env.update(zip(other.outputs, ys))
            value = env[node.inputs[0]]
            if isinstance(acc, list):
                acc.append(value)
            else:
                acc.add(value)
        learnt = op.adapt(node.attrs, np.concatenate(acc)) if isinstance(acc, list) \
            else acc.result()
        for local, arr in learnt.items():
            key = node.param_key(local)
            model.params[key] = np.asarray(arr).astype(graph.param_specs[key].dtype)
