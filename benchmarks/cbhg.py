"""The Tacotron CBHG tagger (benchmarks/_cbhg.py) in seqc vs PyTorch, side by side.

    python benchmarks/cbhg.py [--samples 512] [--steps 50] [--epochs 4] [--rounds 5] [--json F]

The network: a bank of 8 Conv1D(64, k=1..8, same, relu) each followed by BatchNormalization,
concatenated, MaxPooling1D(2, strides=1, same), Conv1D(64, 3, relu) + BN, Conv1D(64, 3) + BN,
a residual Add with the (N, T, 64) input, 4 Highway(relu) layers, Bidirectional(GRU(64,
return_sequences=True)) and a per-step Dense(10, softmax). The same network in PyTorch is an
nn.Module written here (nn.Conv1d with padding="same", nn.BatchNorm1d, nn.MaxPool1d after a
one-step -inf pad on the right, Highway as two nn.Linear, a bidirectional nn.GRU, nn.Linear)
holding seqc's initial weights: Conv1D kernels (k, in, out) -> (out, in, k); BatchNormalization
with Keras' epsilon 1e-3 and momentum 0.99 (PyTorch's 0.01); Keras' reset_after GRU as in
train_rnn.py, forward and reverse directions.

Printed:
- the largest difference between seqc's NumPy forward and PyTorch's eager forward at init, and
  between the two ONNX files in onnxruntime (the same function, checked before timing);
- the node count by op type of seqc's ONNX (one native bidirectional GRU, dynamic T) and of
  torch.onnx.export's (TorchScript exporter, dynamo=False, opset 17, N and T dynamic);
- onnxruntime (CPU, 2 threads) batch-1 latency and batch-64 throughput (sequences/s) of both
  files, and the seqc/torch ratios (latency < 1: seqc faster; throughput > 1: seqc faster);
- one training epoch (median of epochs 2..N) of seqc vs PyTorch eager on generated data
  (`--samples` sequences of `--steps` steps, batch 32, Adam 1e-3, per-step sparse categorical
  crossentropy, identical initial weights and shuffling, 2 threads), and peak RSS growth.

The task (generated, seeded): 64 standard-normal features per step; each step's label is the
argmax of the first 10 features averaged over a window of 3 steps, so a tagger needs context
from both sides. A benchmark, not a test.
"""

# ruff: noqa: I001, E402
from __future__ import annotations

# _common first: it fixes the thread counts before numpy and torch load their pools.
from _common import THREADS, _session, alternate_epochs, ort_speeds_on, torch_trainer

import argparse
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from _cbhg import CHANNELS, CLASSES, GRU_UNITS, HIGHWAYS, K, cbhg_model
from train_rnn import gru_into, linear_from, node_counts

BATCH = 32
SERVE_BATCH = 64
BN_EPSILON = 1e-3  # Keras' BatchNormalization default
BN_MOMENTUM = 0.01  # PyTorch's convention for Keras' momentum 0.99


def make_data(samples: int, steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, steps, CHANNELS)).astype(np.float32)
    head = np.pad(x[..., :CLASSES], ((0, 0), (1, 1), (0, 0)))
    y = (head[:, :-2] + head[:, 1:-1] + head[:, 2:]).argmax(-1).astype(np.int32)
    return x, y


def torch_cbhg(p: dict):
    """The CBHG as a PyTorch user writes it, with seqc's weights `p` copied in."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def t(a: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a))

    def conv(name: str, k: int, c_in: int):
        c = nn.Conv1d(c_in, CHANNELS, k, padding="same")
        with torch.no_grad():
            c.weight.copy_(t(p[f"{name}/kernel"].transpose(2, 1, 0)))
            c.bias.copy_(t(p[f"{name}/bias"]))
        return c

    def bn(name: str):
        b = nn.BatchNorm1d(CHANNELS, eps=BN_EPSILON, momentum=BN_MOMENTUM)
        with torch.no_grad():
            b.weight.copy_(t(p[f"{name}/gamma"]))
            b.bias.copy_(t(p[f"{name}/beta"]))
            b.running_mean.copy_(t(p[f"{name}/moving_mean"]))
            b.running_var.copy_(t(p[f"{name}/moving_variance"]))
        return b

    class Highway(nn.Module):
        def __init__(self, name: str):
            super().__init__()
            self.h = linear_from(p, name)
            self.t = nn.Linear(CHANNELS, CHANNELS)
            with torch.no_grad():
                self.t.weight.copy_(t(p[f"{name}/transform_kernel"].T))
                self.t.bias.copy_(t(p[f"{name}/transform_bias"]))

        def forward(self, x):
            gate = torch.sigmoid(self.t(x))
            return torch.relu(self.h(x)) * gate + x * (1 - gate)

    class CBHG(nn.Module):
        def __init__(self):
            super().__init__()
            self.bank = nn.ModuleList(conv(f"bank_{k}", k, CHANNELS) for k in range(1, K + 1))
            self.bank_bn = nn.ModuleList(bn(f"bank_bn_{k}") for k in range(1, K + 1))
            self.pool = nn.MaxPool1d(2, stride=1)
            self.proj_1, self.proj_bn_1 = conv("proj_1", 3, K * CHANNELS), bn("proj_bn_1")
            self.proj_2, self.proj_bn_2 = conv("proj_2", 3, CHANNELS), bn("proj_bn_2")
            self.highways = nn.ModuleList(Highway(f"highway_{i}")
                                          for i in range(1, HIGHWAYS + 1))
            self.gru = nn.GRU(CHANNELS, GRU_UNITS, batch_first=True, bidirectional=True)
            gru_into(self.gru, p, "bigru/forward")
            gru_into(self.gru, p, "bigru/backward", "_reverse")
            self.tagger = linear_from(p, "tagger")

        def forward(self, x):  # (N, T, C) -> per-step logits (N, T, classes)
            xc = x.transpose(1, 2)
            h = torch.cat([b(torch.relu(c(xc))) for c, b in zip(self.bank, self.bank_bn)], 1)
            # Keras' MaxPooling1D(2, strides=1, padding="same"): one step of -inf on the right.
            h = self.pool(F.pad(h, (0, 1), value=float("-inf")))
            h = self.proj_bn_1(torch.relu(self.proj_1(h)))
            h = self.proj_bn_2(self.proj_2(h))
            h = h.transpose(1, 2) + x
            for hw in self.highways:
                h = hw(h)
            return self.tagger(self.gru(h)[0])

    return CBHG()


def torch_export(net, example: np.ndarray, path: str) -> None:
    """torch.onnx.export (TorchScript exporter) of `net` with its softmax, N and T dynamic."""
    import torch

    class Infer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return torch.softmax(self.net(x), -1)

    was = net.training
    net.eval()
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter's notes on Slice folding and GRU initial states (h0 is
            # built from the input's shape here, so any batch size runs: check_same runs 8).
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter, on purpose
            torch.onnx.export(Infer(), (torch.from_numpy(example),), path,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "N", 1: "T"},
                                            "output": {0: "N", 1: "T"}},
                              opset_version=17, dynamo=False)
    finally:
        net.train(was)


def check_same(model, net, x: np.ndarray, seqc_path: str, torch_path: str) -> dict:
    """The same function before training: seqc's NumPy forward vs PyTorch eager (softmax
    applied), and seqc's ONNX vs torch's ONNX in onnxruntime, at two lengths."""
    import torch

    net.eval()
    with torch.no_grad():
        eager = torch.softmax(net(torch.from_numpy(x)), -1).numpy()
    net.train()
    out = {"numpy_vs_torch_eager": float(np.abs(model.predict(x) - eager).max())}
    short = np.ascontiguousarray(x[:, : max(2, x.shape[1] // 2)])
    for label, xs in (("onnx_vs_onnx", x), ("onnx_vs_onnx_half_length", short)):
        ys = [s.run(None, {name: xs})[0] for s, name in map(_session, (seqc_path, torch_path))]
        out[label] = float(np.abs(ys[0] - ys[1]).max())
    return out


def run(samples: int, steps: int, epochs: int, rounds: int) -> dict:
    import torch

    torch.set_num_threads(THREADS)
    x, y = make_data(samples, steps)
    model = cbhg_model(seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    net = torch_cbhg(model.params)
    row: dict = {"samples": samples, "steps": steps, "batch": BATCH}
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, "seqc.onnx"), os.path.join(tmp, "torch.onnx")]
        info: dict = {}
        model.export(paths[0], report=info)
        torch_export(net, x[:2], paths[1])
        row["same_function"] = check_same(model, net, x[:8], *paths)
        row["seqc_onnx_nodes"] = info["nodes"]
        row["torch_onnx_nodes"] = node_counts(paths[1])
        x1 = x[:1]
        xb = np.resize(x, (SERVE_BATCH, *x.shape[1:]))
        speeds = ort_speeds_on(paths, [x1, x1], [xb, xb], rounds)
    (row["seqc_ort_b1_us"], row["seqc_ort_b64_per_s"]), \
        (row["torch_ort_b1_us"], row["torch_ort_b64_per_s"]) = speeds
    row["latency_ratio"] = row["seqc_ort_b1_us"] / row["torch_ort_b1_us"]
    row["throughput_ratio"] = row["seqc_ort_b64_per_s"] / row["torch_ort_b64_per_s"]
    row.update(alternate_epochs(model, x, y, BATCH, epochs, torch_trainer(
        net, x, y, "sparse_categorical_crossentropy", "adam", BATCH, 0)))
    return row


def print_row(r: dict) -> None:
    print(f"\n== CBHG tagger: {r['samples']} sequences x {r['steps']} steps x {CHANNELS}, "
          f"batch {r['batch']}, {THREADS} threads")
    same = r["same_function"]
    print(f"  same function at init: |numpy - torch eager| {same['numpy_vs_torch_eager']:.2e}, "
          f"|seqc onnx - torch onnx| {same['onnx_vs_onnx']:.2e} "
          f"(half length {same['onnx_vs_onnx_half_length']:.2e})")
    for who in ("seqc", "torch"):
        ops = r[f"{who}_onnx_nodes"]
        print(f"  ONNX nodes {who:5s} {sum(ops.values()):4d}: {ops}")
    print(f"  ORT b=1      seqc {r['seqc_ort_b1_us']:9.1f} us   torch {r['torch_ort_b1_us']:9.1f}"
          f" us   seqc/torch {r['latency_ratio']:.2f}x")
    print(f"  ORT b=64     seqc {r['seqc_ort_b64_per_s']:9.1f} /s   torch "
          f"{r['torch_ort_b64_per_s']:9.1f} /s   seqc/torch {r['throughput_ratio']:.2f}x")
    print(f"  epoch time   seqc {r['seqc_epoch_s'] * 1e3:9.1f} ms   torch "
          f"{r['torch_epoch_s'] * 1e3:9.1f} ms   seqc/torch {r['epoch_ratio']:.2f}x")
    print(f"  peak RSS +   seqc {r['seqc_peak_rss_mb']:9.1f} MB   torch "
          f"{r['torch_peak_rss_mb']:9.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5, help="onnxruntime timing rounds")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    row = run(args.samples, args.steps, args.epochs, args.rounds)
    print_row(row)
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
