"""Write shapes.npz: a generated image set for the augmented CNN example
(examples/shapes_augmented_cnn.json), the TensorFlow image classification tutorial's model at
32x32.

Run with plain numpy (no other dependency); the output is deterministic:

    python examples/data/make_shapes.py

Each image is 32x32 RGB (uint8, 0-255): one filled shape, 0 circle, 1 square, 2 triangle,
of a random colour, size (circumradius 8 to 14 pixels), position and rotation (squares and
triangles), on a darker background of another random colour (no pixel noise, which would
not compress). 200 images per class, shuffled; `x` is (600, 32, 32, 3), `y` the class ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZE = 32
PER_CLASS = 200
CLASSES = ("circle", "square", "triangle")


def shape_mask(kind: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Pixels (SIZE, SIZE) inside the shape centred at (cx, cy) with circumradius r."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    dx, dy = xx - cx, yy - cy
    if kind == 0:
        return dx * dx + dy * dy <= r * r
    # A regular polygon: inside every edge's half-plane.
    sides = 4 if kind == 1 else 3
    inside = np.ones((SIZE, SIZE), bool)
    for k in range(sides):
        a = angle + 2 * np.pi * (k + 0.5) / sides  # the edge's outward normal
        apothem = r * np.cos(np.pi / sides)
        inside &= dx * np.cos(a) + dy * np.sin(a) <= apothem
    return inside


def make(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for kind in range(len(CLASSES)):
        for _ in range(PER_CLASS):
            r = rng.uniform(8, 14)
            cx, cy = rng.uniform(r, SIZE - r, 2)
            mask = shape_mask(kind, cx, cy, r, rng.uniform(0, 2 * np.pi))
            fg = rng.uniform(120, 255, 3)
            bg = rng.uniform(0, 100, 3)
            img = np.where(mask[..., None], fg, bg)
            xs.append(np.clip(np.round(img), 0, 255).astype(np.uint8))
            ys.append(kind)
    order = rng.permutation(len(xs))
    return np.stack(xs)[order], np.array(ys, np.int64)[order]


def main() -> None:
    x, y = make()
    np.savez_compressed(HERE / "shapes.npz", x=x, y=y)
    print(f"wrote {HERE / 'shapes.npz'}: x {x.shape} {x.dtype}, y {np.bincount(y)}")


if __name__ == "__main__":
    main()
