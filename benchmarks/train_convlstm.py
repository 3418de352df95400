"""The Keras next-frame ConvLSTM2D model in seqc vs Keras 3 on the torch backend, side by side.

    python benchmarks/train_convlstm.py [--samples 64 --frames 10 --size 40 --filters 16
                                         --batch 8 --epochs 3 --json out.json]

The model of keras-io examples/vision/conv_lstm.py, as written there: Input((None, S, S, 1)) ->
ConvLSTM2D(F, (5, 5), same, return_sequences, relu) -> BatchNormalization -> ConvLSTM2D(F,
(3, 3), ...) -> BatchNormalization -> ConvLSTM2D(F, (1, 1), ...) -> Conv3D(1, (3, 3, 3),
sigmoid, same); binary crossentropy, Adam (1e-3). The example uses F = 64 on 64x64 Moving MNIST
frames with batch 5; the defaults here (F = 16, 64 movies of 10 frames of 40x40 moving squares
from examples/data/make_moving_squares.py, batch 8) keep an epoch well under a minute on two
cores. Both frameworks start from identical weights (seqc's initializers copied into Keras
with set_weights; the first predictions are compared), use the same batch size and 2 threads,
and alternate epochs so drift in machine load hits both alike. Printed: epoch time (median of
epochs 2..N) and the seqc/Keras ratio (< 1: seqc is faster), peak RSS growth, and the onnxruntime
time of seqc's model.onnx on one batch. A benchmark, not a test.
"""

# ruff: noqa: I001, E402
from __future__ import annotations

# _common first: it fixes the thread counts before numpy and torch load their pools.
from _common import ROOT, THREADS, PeakRSS, SETTLE_S, alternate_epochs, _session

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, str(ROOT / "examples" / "data"))

from make_moving_squares import moving_squares

import seqc


def layers(ns, size: int, filters: int) -> list:
    """The example's network (a chain: the script's functional Model(inp, x) is the same
    network as a Sequential) with layers from `ns` (seqc.layers or keras.layers)."""
    out = [ns.Input(shape=(None, size, size, 1))]
    for k, bn in (((5, 5), True), ((3, 3), True), ((1, 1), False)):
        out.append(ns.ConvLSTM2D(filters=filters, kernel_size=k, padding="same",
                                 return_sequences=True, activation="relu"))
        if bn:
            out.append(ns.BatchNormalization())
    out.append(ns.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid",
                         padding="same"))
    return out


def keras_epoch(km, x, y, batch: int):
    def epoch() -> float:
        t = time.perf_counter()
        km.fit(x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0)
        return time.perf_counter() - t

    return epoch


def run(args) -> dict:
    x, y = moving_squares(args.samples, args.frames, args.size, seed=0)
    model = seqc.Sequential(layers(seqc.layers, args.size, args.filters), seed=0)
    model.compile(optimizer=seqc.optimizers.Adam(learning_rate=1e-3),
                  loss="binary_crossentropy")
    row: dict = {"workload": f"next-frame ConvLSTM2D x3 (filters {args.filters})",
                 "samples": len(x), "frames": args.frames, "size": args.size,
                 "batch": args.batch, "parameters": model.count_params()}
    epoch_fn = None
    if not args.no_keras:
        import keras
        import torch

        torch.set_num_threads(THREADS)
        km = keras.Sequential(layers(keras.layers, args.size, args.filters))
        km.set_weights(model.get_weights())
        km.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                   loss="binary_crossentropy")
        probe = x[:2]
        row["keras_vs_seqc_max_diff_at_init"] = float(np.max(np.abs(
            model.predict(probe) - keras.ops.convert_to_numpy(km(probe, training=False)))))
        epoch_fn = keras_epoch(km, x, y, args.batch)
    res = alternate_epochs(model, x, y, args.batch, args.epochs, epoch_fn)
    row.update({k.replace("torch", "keras"): v for k, v in res.items()})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "seqc.onnx")
        model.export(path)
        sess, name = _session(path)
        xb = x[:args.batch]
        sess.run(None, {name: xb})
        times = []
        for _ in range(5):
            time.sleep(SETTLE_S / 10)
            t = time.perf_counter()
            sess.run(None, {name: xb})
            times.append(time.perf_counter() - t)
        row["seqc_ort_batch_ms"] = statistics.median(times) * 1e3
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--size", type=int, default=40)
    ap.add_argument("--filters", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--no-keras", action="store_true", help="time seqc only")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    with PeakRSS():
        r = run(args)
    print(f"\n== {r['workload']}: {r['samples']} movies of {r['frames']} frames "
          f"{r['size']}x{r['size']}, batch {r['batch']}, {r['parameters']:,} parameters, "
          f"{THREADS} threads")
    print(f"  epoch time   seqc {r['seqc_epoch_s']:8.2f} s", end="")
    if "keras_epoch_s" in r:
        print(f"   keras (torch) {r['keras_epoch_s']:8.2f} s   seqc/keras "
              f"{r['epoch_ratio']:.2f}x")
    else:
        print()
    print(f"  peak RSS +   seqc {r['seqc_peak_rss_mb']:8.1f} MB", end="")
    print(f"   keras (torch) {r['keras_peak_rss_mb']:8.1f} MB" if "keras_peak_rss_mb" in r
          else "")
    if "keras_vs_seqc_max_diff_at_init" in r:
        print(f"  same function at init: max |seqc - keras| = "
              f"{r['keras_vs_seqc_max_diff_at_init']:.2e}")
    print(f"  ORT (seqc model.onnx), one batch of {r['batch']}: {r['seqc_ort_batch_ms']:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
