"""`seqc.data`: training sources larger than memory (`Shards`), for `model.fit(Shards(...))`.
See docs/scale.md, "Training from shards"."""

from .training.shards import Shards

__all__ = ["Shards"]
