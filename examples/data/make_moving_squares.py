"""Moving-square movies for next-frame prediction (the Keras ConvLSTM2D example's data).

`moving_squares(n, frames, size)` -> (x, y): n movies of `frames` frames of size x size x 1,
each with 3 to 7 squares (1 to 3 pixels wide) of intensity 1 moving in straight lines, and
y = the same movies one frame later (the model predicts frame t + 1 from frames up to t).
Squares move on a canvas twice the frame size and the middle window is kept, so they enter and
leave the frame as in the Keras example. Seeded; no file is written (the tests and
benchmarks/train_convlstm.py call it).
"""

from __future__ import annotations

import numpy as np


def moving_squares(n: int, frames: int, size: int, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    big = 2 * size
    movies = np.zeros((n, frames + 1, big, big, 1), np.float32)
    for i in range(n):
        for _ in range(rng.integers(3, 8)):
            pos = rng.integers(size // 2, big - size // 2, 2).astype(float)
            step = rng.integers(-1, 2, 2)
            w = int(rng.integers(1, 4))
            for t in range(frames + 1):
                r, c = (pos + t * step).astype(int).clip(0, big - w)
                movies[i, t, r:r + w, c:c + w, 0] = 1.0
    lo = size // 2
    movies = movies[:, :, lo:lo + size, lo:lo + size]
    return np.ascontiguousarray(movies[:, :-1]), np.ascontiguousarray(movies[:, 1:])
