"""Write signals.csv: a generated waveform-classification set for the Conv1D example.

Run with plain numpy (no other dependency); the output is deterministic:

    python examples/data/make_signals.py

Each sample is 64 time steps of one of four waveforms (0 sine, 1 square, 2 pulse train with
a 20% duty cycle, 3 sawtooth) with a random frequency (1.5 to 5 cycles per window), phase and
amplitude (0.5 to 1.5), a random DC offset (+-0.5) and Gaussian noise (std 0.3), rounded to 3
decimals.
The classes differ in shape, not in frequency or scale, so a model has to learn local
patterns (edges, ramps, curvature): what convolutions are for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STEPS = 64
PER_CLASS = 250
CLASSES = ("sine", "square", "pulse", "sawtooth")


def waveform(kind: int, phase: np.ndarray) -> np.ndarray:
    """The unit-amplitude waveform at `phase` (in cycles)."""
    frac = phase % 1.0
    if kind == 0:
        return np.sin(2 * np.pi * phase)
    if kind == 1:
        return np.where(frac < 0.5, 1.0, -1.0)
    if kind == 2:
        return np.where(frac < 0.2, 1.0, -0.25)
    return 2 * frac - 1


def make(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(STEPS) / STEPS
    xs, ys = [], []
    for kind in range(len(CLASSES)):
        n = PER_CLASS
        freq = rng.uniform(1.5, 5.0, (n, 1))
        phase0 = rng.uniform(0, 1, (n, 1))
        amp = rng.uniform(0.5, 1.5, (n, 1))
        offset = rng.uniform(-0.5, 0.5, (n, 1))
        x = amp * waveform(kind, freq * t + phase0) + offset
        xs.append(x + rng.normal(0, 0.3, x.shape))
        ys.append(np.full(n, kind))
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = rng.permutation(len(x))
    return np.round(x[order], 3), y[order]


def main() -> None:
    x, y = make()
    path = HERE / "signals.csv"
    with open(path, "w") as f:
        f.write(",".join([f"t{i}" for i in range(STEPS)] + ["label"]) + "\n")
        for row, label in zip(x, y):
            f.write(",".join(f"{v:g}" for v in row) + f",{CLASSES[label]}\n")
    print(f"wrote {path} ({len(x)} rows x {STEPS + 1} columns)")


if __name__ == "__main__":
    main()
