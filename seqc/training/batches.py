"""fit's and evaluate's data preparation: the checked arrays per input and output, the shard
stream, and the batches of an epoch (in order or shuffled, a tf.data pipeline's, augmented)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from . import augment, executor
from .checks import n_samples, per_name, prepare_sample_weight, prepare_x, prepare_y, take
from .compile_config import Head
from .steps import EpochSteps, data_order

__all__ = ["DEFAULT_BATCH_SIZE", "array_batches", "augmented", "pipeline_steps", "prepare_data",
           "shard_source"]

DEFAULT_BATCH_SIZE = 32


def shard_source(model: Any, x: Any, y: Any, sample_weight: Any, class_weight: Any) -> Any:
    """A ShardStream when x is a seqc.data.Shards source, else None."""
    from .shards import ShardStream, is_shard_source

    return ShardStream(model, x, y, sample_weight, class_weight) if is_shard_source(x) \
        else None


def prepare_data(model: Any, heads: list[Head], x: Any, y: Any, sw: Any,
                  prefix: str = "") -> tuple[dict, list, list | None]:
    """({input name: array}, [labels per output], [weights per output] or None), checked.
    x is an array (one input), a list in input order or a dict by input name; y and
    sample_weight likewise by output (Keras' output names) for several outputs."""
    graph = model.graph
    xs = executor.graph_inputs(graph, x)
    many_in = len(xs) > 1
    xs = {k: prepare_x(model, v, f"{prefix}x['{k}']" if many_in else f"{prefix}x",
                       graph.types[k]) for k, v in xs.items()}
    sizes = {k: len(v) for k, v in xs.items()}
    if len(set(sizes.values())) > 1:
        raise DataError("the inputs hold different numbers of samples", field=f"{prefix}x",
                        received=", ".join(f"{k}: {v}" for k, v in sizes.items()))
    n = n_samples(xs)
    if len(heads) == 1:
        h = heads[0]
        ys = [prepare_y(model, h.loss, y, n, f"{prefix}y", graph.types[h.value])]
        w = prepare_sample_weight(sw, n, f"{prefix}sample_weight")
        return xs, ys, None if w is None else [w]
    names = [h.name for h in heads]
    if y is None:
        raise DataError(f"{prefix}y is missing", field=f"{prefix}y")
    per_y = per_name(y, names, f"{prefix}y")
    ys = [prepare_y(model, h.loss, v, n, f"{prefix}y['{h.name}']", graph.types[h.value])
          for h, v in zip(heads, per_y)]
    if sw is None:
        return xs, ys, None
    if isinstance(sw, np.ndarray):
        raise UsageError(f"{prefix}sample_weight of a model with several outputs holds one "
                         "array per output", field=f"{prefix}sample_weight",
                         received="one array", hint=f"pass a list or a dict by name {names}")
    per_w = per_name(sw, names, f"{prefix}sample_weight")
    sws = [prepare_sample_weight(v, n, f"{prefix}sample_weight['{nm}']")
           for nm, v in zip(names, per_w)]
    return xs, ys, sws


def pipeline_steps(pipeline: Any, n: int, seed: int, batch_size: int | None, stream: Any,
                    validation_split: float, steps_per_epoch: int | None, x: Any, ys: list,
                    sws: list | None) -> tuple[EpochSteps, int]:
    """The epochs of fit(pipeline=...): (EpochSteps, steps per epoch)."""
    if stream is not None or validation_split:
        raise UsageError("pipeline takes in-memory arrays and no validation_split (Keras: "
                         "validation_split is only supported for arrays, not a dataset)",
                         field="pipeline", hint="give validation_data instead")
    new_pass, count = data_order(n, pipeline, seed, batch_size)
    if count is None and steps_per_epoch is None:
        raise UsageError("the pipeline repeats endlessly: an epoch needs steps_per_epoch",
                         field="pipeline", hint="give steps_per_epoch=N, or repeat(count)")
    return EpochSteps(lambda e: ((take(x, i), take(ys, i), take(sws, i)) for i in new_pass()),
                      steps_per_epoch or count or 1, count), steps_per_epoch or count


def array_batches(x: Any, ys: list, sws: list | None, rng: Any,
                   batch_size: int) -> Any:
    """(x, ys, sws) batches of in-memory arrays, in order or by the epoch's permutation.
    Shuffled batches are gathered one at a time (x[perm[lo:hi]]): the same copying as one
    gather per epoch, but no second copy of the whole training set in memory. One
    permutation serves every input, output and weight array."""
    n = n_samples(x)
    perm = None if rng is None else rng.permutation(n)
    for lo in range(0, n, batch_size):
        idx = slice(lo, lo + batch_size) if perm is None else perm[lo:lo + batch_size]
        yield take(x, idx), take(ys, idx), take(sws, idx)


def augmented(batches: Any, aug: dict, rng: Any) -> Any:
    for xb, ybs, swbs in batches:
        yield augment.augment_batch(xb, aug, rng), ybs, swbs
