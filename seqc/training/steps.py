"""`fit(steps_per_epoch=S)` as Keras 3's EpochIterator runs it (keras/src/trainers/
epoch_iterator.py): an epoch is S batches drawn from one pass over the data, and the pass
goes on where the last epoch stopped. A finite pass (in-memory arrays, `num_batches` of
them) that runs out cuts the epoch short, with Keras' warning, and the next epoch starts a
new pass (a new shuffle); an endless stream (a repeated dataset, a generator) is one pass
for the whole fit, so its batches continue across epochs. With no batch_size, Keras sizes
the batches of arrays so that S of them cover the data: ceil(n / S).

`data_order` runs the steps of a tf.data pipeline (fit's `pipeline`) over row indices, in
the order written: `shuffle` (tf.data's windowed shuffle, `windowed_shuffle`), `batch`,
`repeat`, `cache`. `repeat_steps` writes fit's `repeat` as such steps (True:
`shuffle(buffer >= n).repeat().batch(b)`; "passes": Keras' iterators). The shuffles
draw from seqc's generator, seeded by fit's seed (or the step's own), not TensorFlow's:
the same law of orders, not the same orders.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or "
           "generator can generate at least `steps_per_epoch * epochs` batches. You may need "
           "to use the `.repeat()` function when building your dataset.")


def batch_size_for(n: int, batch_size: int | None, steps_per_epoch: int | None,
                   default: int) -> int:
    """Keras' ArrayDataAdapter: the batch size given, else ceil(n / steps_per_epoch) when
    steps_per_epoch is given, else the default (32)."""
    if batch_size is not None:
        return batch_size
    if steps_per_epoch:
        return max(1, math.ceil(n / steps_per_epoch))
    return default


class EpochSteps:
    """Batches per epoch with a steps_per_epoch. `new_pass(epoch)` starts a pass over the
    data (its shuffle drawn for that epoch); `num_batches` is a pass's length, None for an
    endless stream. `epoch(e)` yields that epoch's batches."""

    def __init__(self, new_pass: Callable[[int], Iterable], steps_per_epoch: int,
                 num_batches: int | None) -> None:
        self.new_pass = new_pass
        self.steps = steps_per_epoch
        self.num_batches = num_batches
        self._it: Iterator | None = None
        self._seen = 0

    def epoch(self, epoch: int) -> Iterator[Any]:
        if self._it is None:
            self._it, self._seen = iter(self.new_pass(epoch)), 0
        for _ in range(self.steps):
            if self.num_batches is not None and self._seen >= self.num_batches:
                warnings.warn(RAN_OUT, UserWarning, stacklevel=2)
                break
            try:
                batch = next(self._it)
            except StopIteration:  # a stream that ended: its length is now known
                self.num_batches, self._it = self._seen, None
                warnings.warn(RAN_OUT, UserWarning, stacklevel=2)
                return
            self._seen += 1
            yield batch
        if self.num_batches is not None and self._seen >= self.num_batches:
            self._it = None  # the pass is used up: the next epoch starts a new one


def repeat_steps(n: int, batch_size: int, shuffle: bool, repeat: bool | str) -> list[dict]:
    """fit's `repeat` as pipeline steps over n rows: True is tf.data's
    `shuffle(buffer >= n).repeat().batch(b)` (a new permutation each repetition, full batches
    running across repetitions); "passes" is Keras' iterators (`ImageDataGenerator.flow`, a
    Keras 2 `fit_generator` generator): each pass cut into batches, the last partial, the
    passes repeated, each reshuffled."""
    ends = [{"repeat": -1}, {"batch": batch_size}] if repeat is True else [
        {"batch": batch_size}, {"repeat": -1}]
    return [*([{"shuffle": max(n, 1)}] if shuffle else []), *ends]


def windowed_shuffle(elements: Iterable, buffer_size: int,
                     draw: Callable[[], float]) -> Iterator[Any]:
    """tf.data's `shuffle(buffer_size)`: the buffer fills with the first buffer_size
    elements; each output is a uniformly drawn slot (`int(draw() * len(buffer))`, draw()
    uniform in [0, 1)), emitted and refilled with the next element; when the input ends the
    buffer drains, each output again a uniformly drawn slot of what is left. Every element is
    emitted at most buffer_size - 1 places before its own. TensorFlow's ring buffer moves
    the elements differently but draws each output uniformly from the same set: the same
    law."""
    it = iter(elements)
    buf = list(itertools.islice(it, buffer_size))
    for e in it:
        j = int(draw() * len(buf))
        yield buf[j]
        buf[j] = e
    while buf:
        j = int(draw() * len(buf))
        yield buf[j]
        buf[j] = buf[-1]
        buf.pop()


def _draws(rng: np.random.Generator) -> Callable[[], float]:
    """Uniform [0, 1) numbers from rng, drawn 4096 at a time."""
    chunk = iter(())

    def draw() -> float:
        nonlocal chunk
        v = next(chunk, None)
        if v is None:
            chunk = iter(rng.random(4096).tolist())
            v = next(chunk)
        return v
    return draw


PIPELINE_STEPS = {"shuffle": ("seed", "reshuffle_each_iteration"), "batch": ("drop_remainder",),
                  "repeat": (), "cache": ()}


def check_pipeline(steps: Any) -> list[dict]:
    """fit's `pipeline`: a list of one-step objects, each valid, with exactly one batch (the
    model takes batches); a UsageError naming the step otherwise."""
    from ..errors import UsageError

    def bad(i: Any, why: str) -> UsageError:
        return UsageError(f"pipeline[{i}]: {why}", field="pipeline", received=repr(steps)[:200],
                          hint='e.g. [{"shuffle": 100}, {"batch": 64}, {"repeat": -1}]')

    if not isinstance(steps, (list, tuple)):
        raise bad("", "the pipeline is a list of steps")
    for i, st in enumerate(steps):
        op = next((k for k in PIPELINE_STEPS if isinstance(st, dict) and k in st), None)
        if op is None or set(st) - {op, *PIPELINE_STEPS[op]}:
            raise bad(i, f"a step is one of {sorted(PIPELINE_STEPS)} with its own options")
        v = st[op]
        whole = isinstance(v, int) and not isinstance(v, bool)
        if op in ("shuffle", "batch") and not (whole and v >= 1) or op == "repeat" and not (
                whole and (v == -1 or v >= 1)) or op == "cache" and v is not True:
            raise bad(i, f"{op}: {v!r} is not "
                         + {"shuffle": "a buffer size >= 1", "batch": "a batch size >= 1",
                            "repeat": "a count >= 1, or -1 (endless)", "cache": "true"}[op])
        seed = st.get("seed")
        if seed is not None and not (isinstance(seed, int) and not isinstance(seed, bool)
                                     and seed >= 0):
            raise bad(i, f"seed {seed!r} is not an integer >= 0")
        if not all(isinstance(st[k], bool) for k in ("reshuffle_each_iteration",
                                                       "drop_remainder") if k in st):
            raise bad(i, "reshuffle_each_iteration and drop_remainder are true or false")
    if [next(iter(st)) for st in steps].count("batch") != 1:
        raise bad("", "it needs exactly one batch step (the model takes batches; a batch of "
                      "batches has an extra axis)")
    return [dict(st) for st in steps]


def data_order(n: int, steps: list[dict], seed: int,
               batch_size: int | None = None) -> tuple[Callable[[], Iterator], int | None]:
    """(new_pass, batches per pass) of a pipeline's steps over n rows: each new_pass() is a
    new iterator of the dataset (as Keras makes one per epoch, or one per fit with
    steps_per_epoch on an endless one), yielding the row indices of each batch. A shuffle
    with reshuffle_each_iteration draws a new order each time it is iterated; `cache()`
    replays its first complete iteration, so a cache after a shuffle fixes that order.
    `batch_size` (fit's, given) replaces the batch step's size (seqc build --batch-size)."""
    make: Callable[[], Iterator] = lambda: iter(range(n))  # noqa: E731
    count: int | None = n
    for i, st in enumerate(check_pipeline(steps)):
        op = next(k for k in PIPELINE_STEPS if k in st)
        make, count = _STEP[op](make, count, st, i, seed, batch_size)
    return make, count


def _shuffle(inner, count, st, i, seed, _b):
    size, passes = st["shuffle"], itertools.count()
    base = seed if st.get("seed") is None else st["seed"]
    again = st.get("reshuffle_each_iteration", True)

    def make() -> Iterator:
        rng = np.random.default_rng([base, i, next(passes) if again else 0])
        if count is not None and size >= count:  # the buffer holds all: a permutation
            items = list(inner())
            return (items[j] for j in rng.permutation(len(items)))
        return windowed_shuffle(inner(), size, _draws(rng))
    return make, count


def _batch(inner, count, st, _i, _seed, batch_size):
    size, drop = batch_size or st["batch"], st.get("drop_remainder", False)

    def make() -> Iterator:
        it = inner()
        while True:
            part = list(itertools.islice(it, size))
            if not part or drop and len(part) < size:
                return
            yield np.asarray(part, np.int64)
    return make, None if count is None else count // size if drop else -(-count // size)


def _repeat(inner, count, st, _i, _seed, _b):
    times = st["repeat"]

    def make() -> Iterator:
        for _ in (itertools.count() if times == -1 else range(times)):
            some = False
            for e in inner():
                some = True
                yield e
            if not some:
                return
    if times == -1:
        return make, 0 if count == 0 else None  # endless, unless there is nothing to repeat
    return make, None if count is None else count * times


def _cache(inner, count, _st, _i, _seed, _b):
    kept: list = []

    def make() -> Iterator:
        if kept:
            yield from kept[0]
            return
        got = []
        for e in inner():
            got.append(e)
            yield e
        if count is not None:  # a complete pass of a finite input is kept
            kept.append(got)
    return make, count


_STEP = {"shuffle": _shuffle, "batch": _batch, "repeat": _repeat, "cache": _cache}
