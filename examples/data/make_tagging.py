"""Write tagging.npz: a generated sequence-labelling task for the CBHG tagger example.

Run with plain numpy (no other dependency); the output is deterministic:

    python examples/data/make_tagging.py

Each sample is a sequence of 24 tokens drawn uniformly from 1..9 (x, int32, shape (24,)).
Each token gets one of three tags (y, int64, shape (24,)):
  1 "peak"   the token is larger than both its neighbours,
  2 "valley" the token is smaller than both its neighbours,
  0 "other"  anything else (ties, slopes, and the first and last token, which lack a
             neighbour).
The tag of a token depends on its left and its right neighbour, so a model that reads only
one direction cannot reach full accuracy; a model that sees both can reach 100%. "other" is
the majority class (about 43% of the tags).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STEPS = 24
SAMPLES = 2000
VOCAB = 10  # token ids 1..9 (0 is left free for padding)


def tags(x: np.ndarray) -> np.ndarray:
    """The peak (1) / valley (2) / other (0) tag of every token of x (N, T)."""
    y = np.zeros(x.shape, np.int64)
    mid, left, right = x[:, 1:-1], x[:, :-2], x[:, 2:]
    y[:, 1:-1][(mid > left) & (mid > right)] = 1
    y[:, 1:-1][(mid < left) & (mid < right)] = 2
    return y


def make(seed: int = 0, samples: int = SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, size=(samples, STEPS)).astype(np.int32)
    return x, tags(x)


if __name__ == "__main__":
    x, y = make()
    np.savez_compressed(HERE / "tagging.npz", x=x, y=y)
    print(f"wrote {HERE / 'tagging.npz'}: x {x.shape}, tags {np.bincount(y.ravel()).tolist()}")
