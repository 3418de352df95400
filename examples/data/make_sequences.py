"""Write sequences.csv: a generated token-sequence task for the Embedding -> LSTM example.

Run with plain numpy (no other dependency); the output is deterministic:

    python examples/data/make_sequences.py

Each sample is a string of brackets, '(' = token 1 and ')' = token 2, of an even length from
6 to 20, padded with 0 at the END to 20 steps (Keras' pad_sequences(..., padding="post")).
The label `balanced` is 1 when the brackets nest properly (every prefix opens at least as many
as it closes: a Dyck word), else 0. Every string opens with '(', closes with ')' and holds as
many '(' as ')', and both classes have the same length distribution, so token counts, length
and the end tokens say nothing about the label (a bag of tokens, or a look at the first and
last token, scores 50%): a model has to keep a running count, in order. Half the samples are
balanced, drawn uniformly among the balanced strings of their length; the others uniformly
among the unbalanced strings of that form (e.g. "())(()").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STEPS = 20
SAMPLES = 2000
OPEN, CLOSE = 1, 2


def make(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.zeros((SAMPLES, STEPS), np.int64)
    y = np.zeros(SAMPLES, np.int64)
    for i in range(SAMPLES):
        # Below 3 pairs every string that opens with '(' and closes with ')' is balanced.
        pairs = int(rng.integers(3, STEPS // 2 + 1))
        want = i % 2 == 0
        # Rejection sampling over shuffles keeps each class uniform among its strings; about
        # 1 shuffle in pairs + 1 is balanced, so this stays fast at 10 pairs.
        while True:
            s = rng.permutation([OPEN] * pairs + [CLOSE] * pairs)
            if s[0] != OPEN or s[-1] != CLOSE:
                continue
            if (np.cumsum(np.where(s == OPEN, 1, -1)).min() >= 0) == want:
                break
        x[i, :2 * pairs] = s
        y[i] = want
    order = rng.permutation(SAMPLES)
    return x[order], y[order]


def main() -> None:
    x, y = make()
    path = HERE / "sequences.csv"
    with open(path, "w") as f:
        f.write(",".join([f"t{i}" for i in range(STEPS)] + ["balanced"]) + "\n")
        for row, label in zip(x, y):
            f.write(",".join(map(str, row)) + f",{label}\n")
    print(f"wrote {path} ({len(x)} rows x {STEPS + 1} columns)")


if __name__ == "__main__":
    main()
