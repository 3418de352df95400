"""seqc's Python API end to end, on generated data (offline, a few seconds):
Sequential -> compile -> fit -> evaluate -> predict -> summary -> ONNX export -> validate.

    python examples/quickstart.py [OUT_DIR]

The JSON route to the same result is `seqc build examples/breast_cancer_mlp.json`.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

import seqc


def make_data(n: int = 1000, features: int = 8, seed: int = 0):
    """Two classes split by a curved boundary, with label noise so 100% is out of reach."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    w = rng.standard_normal(features)
    score = x @ w + x[:, 0] * x[:, 1] + 0.5 * rng.standard_normal(n)
    y = (score > 0).astype(np.float32).reshape(-1, 1)
    return x, y


def main(out_dir: str) -> None:
    x, y = make_data()

    # `seqc build examples/quickstart.py` reads this model without running the script; the
    # comment gives it the input width that x.shape[1] has at run time.
    # seqc: input_shape = [8]
    model = seqc.Sequential([
        seqc.layers.Input((x.shape[1],)),
        seqc.layers.Dense(32, activation="relu"),
        seqc.layers.Dense(1, activation="sigmoid"),
    ], name="quickstart")
    model.compile(optimizer=seqc.optimizers.Adam(learning_rate=1e-2),
                  loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, validation_split=0.2, verbose=0)
    print(f"val_accuracy after {len(history.history['loss'])} epochs: "
          f"{history.history['val_accuracy'][-1]:.3f}")

    # validation_split=0.2 held out the last 200 samples, so this is unseen data.
    loss, accuracy = model.evaluate(x[800:], y[800:], verbose=0)
    print(f"held-out loss {loss:.4f}, accuracy {accuracy:.3f}")
    probs = model.predict(x[:5])
    print("first predictions:", np.round(probs[:, 0], 3), "labels:", y[:5, 0])
    model.summary()

    path = model.export(os.path.join(out_dir, "quickstart.onnx"), opset=17)
    print(f"exported {path}")
    # Runs the same inputs through the NumPy reference and onnxruntime and prints the table.
    result = seqc.validate(path, x[:256])
    if not result.ok:
        raise SystemExit("runtimes disagree")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(tmp)
