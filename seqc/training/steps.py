"""`fit(steps_per_epoch=S)` as Keras 3's EpochIterator runs it (keras/src/trainers/
epoch_iterator.py): an epoch is S batches drawn from one pass over the data, and the pass
goes on where the last epoch stopped. A finite pass (in-memory arrays, `num_batches` of
them) that runs out cuts the epoch short, with Keras' warning, and the next epoch starts a
new pass (a new shuffle); an endless stream (a repeated dataset, a generator) is one pass
for the whole fit, so its batches continue across epochs. With no batch_size, Keras sizes
the batches of arrays so that S of them cover the data: ceil(n / S).

`repeated_rows` is the endless stream of tf.data's `shuffle(buffer >= n).repeat().batch(b)`:
each repetition a new permutation of the rows, and every batch b rows, running across
repetitions (the rows of a batch may come from two of them).
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


def repeated_rows(n: int, batch_size: int, shuffle: bool, seed: int) -> Iterator[np.ndarray]:
    """Row indices of each batch of `shuffle().repeat().batch(batch_size)` over n rows (the
    shuffle buffer holds every row: a uniform permutation per repetition, seeded by
    (seed, repetition))."""
    if n <= 0:
        return
    rep, carry = 0, np.empty(0, np.int64)
    while True:
        order = np.random.default_rng([seed, rep, 2]).permutation(n) if shuffle else \
            np.arange(n)
        idx, rep = np.concatenate([carry, order]), rep + 1
        full = len(idx) // batch_size * batch_size
        yield from idx[:full].reshape(-1, batch_size)
        carry = idx[full:]


def passes_rows(n: int, batch_size: int, seed: int | None) -> Iterator[np.ndarray]:
    """Row indices of the batches of Keras' iterators (`ImageDataGenerator.flow`, a Keras 2
    `fit_generator` generator): endless passes over the n rows, pass k permuted by the
    generator of (seed, k) (in order where seed is None), each cut into batches, the last
    partial."""
    if n <= 0:
        return
    for k in itertools.count():
        perm = np.arange(n) if seed is None else np.random.default_rng([seed, k]).permutation(n)
        for lo in range(0, n, batch_size):
            yield perm[lo:lo + batch_size]
