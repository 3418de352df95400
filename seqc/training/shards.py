"""Training batches from a shard source (`seqc.data.Shards`): a seeded two-level shuffle,
prepared batches gathered by a background thread, streamed validation and `adapt`.

- **Validation.** `validation_split` takes the last rows of the source's order (shard by
  shard, sorted file order), as Keras takes the last rows of an array.
- **Shuffle.** Per epoch, from `np.random.default_rng([seed, epoch])` as in-memory `fit`:
  when the training rows fit in `shuffle_buffer`, they are read into one buffer and permuted
  by exactly the permutation in-memory `fit` draws (same seed, same weights). Otherwise the
  shard order is permuted, then blocks of `shuffle_buffer` consecutive rows (across shard
  ends) are each permuted: every row is seen once per epoch, and memory holds one block.
- **Memory.** One block of `shuffle_buffer` rows, one read chunk (`chunk_rows`), and
  `prefetch` batches queued; see `Shards.memory_bound`.

The source is duck-typed (`is_shard_source`): training never imports the readers, which
live with the runtime's Parquet and .npy code.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import DataError, UsageError


def _fill(source: Any, pieces: list, rows: int, prep: Any) -> list:
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
    """Rows of the block, copied (a queued batch never keeps a block alive)."""
    return tuple(None if a is None else np.array(a[idx]) for a in block)


def epoch_batches(source: Any, start: int, stop: int, batch_size: int, perm_rng: Any,
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
    block: list | None = None
    for block_pieces, rows in _blocks(pieces, size):
        block = None  # the last block goes before the next is filled: one in memory
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

def is_shard_source(x: Any) -> bool:
    """x is a seqc.data.Shards (or anything with its reading interface)."""
    return getattr(type(x), "is_shard_source", False) is True


class ShardStream:
    """What `fit` needs from a `Shards` source for one model: prepared, prefetched batches
    of the training rows, the validation rows, a label sample for the pre-training checks
    and the training inputs chunk by chunk for `adapt`."""

    def __init__(self, model: Any, source: Any, y: Any, sample_weight: Any,
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
            if is_shard_source(validation_data):
                other = ShardStream(self.model, validation_data, None, None, None)
                val = other.batches_of(0, validation_data.rows)
            else:
                val = unpack_validation(validation_data, prepare)
        elif validation_split:
            self.train_rows = split_point(self.source.rows, validation_split)
            val = self.batches_of(self.train_rows, self.source.rows)
        # Labels only: the inputs of each chunk are checked and dropped.
        src = self.source
        labels = [self.prep(*chunk, shard.path)[1]
                  for shard, lo, hi in src.ranges(0, min(self.train_rows, src.shuffle_buffer))
                  for chunk in src._chunks(shard, lo, hi)]
        sample = [np.concatenate(labels)]
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


class DiscretizationStats:
    """Discretization.adapt over a stream, as Keras adapts it on an iterable of batches
    (`update_state` per batch: summarize, merge, compress to `epsilon`; then the quantile
    boundaries): approximate quantiles within `epsilon`, in bounded memory."""

    def __init__(self, attrs: Any) -> None:
        self.attrs, self.summary = attrs, np.array([[], []], dtype="float32")

    def add(self, x: np.ndarray) -> None:
        from ..ops.discretization import _compress, _summarize

        summary = _summarize(np.asarray(x).astype("float32"), self.attrs.epsilon)
        merged = np.concatenate((summary, self.summary), axis=1)  # Keras' merge_summaries
        merged = np.take(merged, np.argsort(merged[0]), axis=1)
        self.summary = _compress(merged, self.attrs.epsilon)

    def result(self) -> dict[str, np.ndarray]:
        from ..ops.discretization import _compress, boundary_count

        b = _compress(self.summary, 1.0 / self.attrs.num_bins)[0, :-1]
        if len(b) != boundary_count(self.attrs.num_bins):
            raise DataError(f"Discretization.adapt with num_bins={self.attrs.num_bins} needs "
                            f"at least {self.attrs.num_bins} values", field="num_bins",
                            received=f"{int(self.summary[1].sum())} values")
        return {"bin_boundaries": b.astype(np.float32)}


def adapt_streamed(model: Any, todo: list[int], chunks: Any, fits: bool) -> None:
    """adapt_once over a stream: one pass over the training inputs per adaptable layer, the
    layers before it run on each chunk. When the training rows fit in the shuffle buffer,
    every layer but Normalization adapts on the concatenated inputs (in-memory fit's result
    exactly); otherwise Discretization merges quantile summaries chunk by chunk as Keras'
    adapt on batches does. Normalization always merges its statistics (equal within float
    rounding). Any other adapt layer is refused past the buffer."""
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
        elif node.op == "Discretization" and node.attrs.bin_boundaries is None:
            acc = DiscretizationStats(node.attrs)
        else:
            raise UsageError(f"{node.op}.adapt needs all its data at once, and the training "
                             "rows do not fit in the shuffle buffer", field="shuffle_buffer",
                             received=f"layer {node.name!r}",
                             hint="give the layer its learnt arguments (e.g. bin_boundaries, "
                                  "vocabulary), or raise Shards(shuffle_buffer=) to the "
                                  "training rows")
        for env in chunks():
            for other in graph.nodes[:i]:
                kind = REGISTRY[other.op]
                ys, _ = kind.forward(other.attrs, executor.node_params(other, model.params),
                                     executor.node_inputs(kind, other, env), ctx)
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
