"""Where a Keras model JSON's weights live: `model.to_json()` has none, so a `<stem>.json`
takes them from a `<stem>.weights.h5` (Keras 3's save_weights) or `<stem>.h5` (Keras 2's)
beside it."""

from __future__ import annotations

import os

WEIGHT_SUFFIXES = (".weights.h5", ".h5")


def sibling_weights(json_path: str) -> str | None:
    """The weights file beside a Keras JSON, or None."""
    stem = json_path[:-len(".json")] if json_path.lower().endswith(".json") else json_path
    for suffix in WEIGHT_SUFFIXES:
        if os.path.isfile(stem + suffix):
            return stem + suffix
    return None
