"""The token LSTM's held-out accuracy over seeds: seqc vs PyTorch vs Keras (JAX, torch backends).

    python benchmarks/token_lstm_accuracy.py [--seeds 5] [--epochs 10] [--samples 5000]
                                             [--frameworks seqc,torch,keras-jax,keras-torch]

train_peers.py's token_lstm workload (Embedding(1000, 32) -> LSTM(32) -> Dense(1, sigmoid),
generated sequences of 50 tokens with one 7 and one 9, label "7 comes first"; 80 % trained,
20 % held out; batch 64, Adam 1e-3, no mask), trained for each seed and framework twice:

- init "own": each framework's own initializers and seed (what one-seed comparisons see);
- init "shared": every framework starts from seqc's weights for that seed and sees the same
  batch order (seqc's permutation per epoch), so what is left is the arithmetic: seqc and
  Keras on the torch backend should then follow the same trajectory (the largest epoch-loss
  difference is printed), and a gap in the "own" table that vanishes here comes from the
  initial weights;
- init "torchinit": the same, from PyTorch's default initial weights for that seed
  (Embedding N(0, 1), LSTM and Linear uniform(+-1/sqrt(fan)), in Keras' layouts), to show
  whether PyTorch's lead is its initialisation.

Prints held-out accuracy per seed, mean and standard deviation per framework and init, and the
largest epoch-loss difference between seqc and each peer under the shared init. Each run is a
fresh subprocess (train_peers.py's worker). Not a test.
"""

# ruff: noqa: I001, E402
from __future__ import annotations

from _common import ROOT  # noqa: F401  (thread counts, sys.path)

import argparse
import statistics
import tempfile

import numpy as np

import train_peers as tp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--samples", type=int, default=5000, help="sequences, 80 %% trained")
    ap.add_argument("--frameworks", default="seqc,torch,keras-jax,keras-torch")
    ap.add_argument("--inits", default="own,shared,torchinit")
    args = ap.parse_args()
    fws = args.frameworks.split(",")
    seeds = list(range(args.seeds))
    n_train = args.samples * 4 // 5
    orig = tp.workload

    def sized(name):  # the workload at --samples sequences
        w = orig(name)
        x, y = tp.token_sequences(args.samples, seed=0)
        w.update(x=x[:n_train], y=y[:n_train], x_val=x[n_train:], y_val=y[n_train:])
        return w

    tp.workload = sized
    res: dict = {}
    with tempfile.TemporaryDirectory() as d:
        w = tp.prepare("token_lstm", d, seeds)
        if "torchinit" in args.inits:
            torch_inits(w, d, seeds)
        for init in args.inits.split(","):
            for fw in fws:
                for s in seeds:
                    r = tp.run_worker(fw, "token_lstm", d, args.epochs, s, init)
                    res[init, fw, s] = r
                    acc = r.get("val_accuracy")
                    print(f"{init:6s} {fw:11s} seed {s}: held-out accuracy "
                          f"{acc if acc is None else f'{acc:.3f}'}"
                          + (f"  error {r['error']}" if "error" in r else ""), flush=True)
    print(f"\n{n_train} trained, {args.samples - n_train} held out, {args.epochs} epochs")
    for init in args.inits.split(","):
        for fw in fws:
            accs = [res[init, fw, s].get("val_accuracy") for s in seeds]
            accs = [a for a in accs if a is not None]
            if accs:
                sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
                print(f"  {init:6s} {fw:11s} mean {np.mean(accs):.3f}  sd {sd:.3f}  "
                      f"min {min(accs):.3f}  max {max(accs):.3f}")
    for init in [i for i in args.inits.split(",") if i != "own"]:
        if "seqc" not in fws:
            break
        print(f"\n{init} init, same batch order: largest |epoch loss - seqc's| over seeds "
              "and epochs")
        for fw in fws:
            if fw == "seqc":
                continue
            diffs = [np.max(np.abs(np.subtract(res[init, fw, s]["losses"],
                                               res[init, "seqc", s]["losses"])))
                     for s in seeds if "losses" in res[init, fw, s]
                     and "losses" in res[init, "seqc", s]]
            if diffs:
                print(f"  {fw:11s} {max(diffs):.2e}")


def torch_inits(w: dict, d: str, seeds: list[int]) -> None:
    """PyTorch's default initial weights of the token LSTM per seed, as `torchinit{seed}.npz`."""
    import os

    import torch

    for s in seeds:
        torch.manual_seed(s)
        net = tp._TorchLSTM(w, None)
        np.savez(os.path.join(d, f"torchinit{s}.npz"), *net.keras_weights())


if __name__ == "__main__":
    main()
