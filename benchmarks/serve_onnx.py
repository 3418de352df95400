"""Serving: seqc's model.onnx vs torch.onnx.export's graph of the same network, in onnxruntime.

    python benchmarks/serve_onnx.py [--json out.json]

The same weights in both (the training benchmarks' converters: train_mlp.py, train_cnn.py,
train_rnn.py), the same inputs, 2 threads, the CPU execution provider. Printed per model:
batch-1 latency (median, us) and batch-1024 throughput (rows/s) of each graph, their ratios
(latency: < 1 means seqc's graph is faster; throughput: > 1 means seqc's is faster), and node
counts. Targets (issue 6): latency <= 1.0x, throughput >= 1.0x. A benchmark, not a test.

The models: the shipped examples as they are written (digits_mlp.json and digits_cnn.json
start with Rescaling(1/16), breast_cancer_mlp.json with Normalization, sunspots_lstm.json
with Normalization and ends with a Rescaling), each against the same network in PyTorch with
the same preprocessing in its forward; then the MLP and CNN without preprocessing, where both
graphs are the same operators node for node.
"""

# ruff: noqa: I001, E402
from __future__ import annotations

# _common first: it fixes the thread counts before numpy and torch load their pools.
from _common import ort_speeds, ort_speeds_on

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def _mlp(tmp: str, scale: float | None = None) -> tuple:
    import train_mlp as m

    layers = [("dense", 512, "relu"), ("dense", 512, "relu"), ("dense", 10, "softmax")]
    model = m.seqc_model(64, layers, normalize=False, scale=scale)
    net = m.torch_model(model, layers, False, None, scale=scale)
    tag = "plain" if scale is None else "scaled"
    paths = [os.path.join(tmp, f"mlp_{tag}_{who}.onnx") for who in ("seqc", "torch")]
    model.export(paths[0])
    m.torch_export(net, layers, 64, paths[1])
    name = ("MLP 64-512-512-10, no preprocessing" if scale is None else
            "MLP digits_mlp.json: Rescaling(1/16) -> 512-512-10")
    return name, paths, ort_speeds(paths, 64)


def _normalized_mlp(tmp: str) -> tuple:
    import train_mlp as m

    x, y, layers = next(m.workloads(["breast_cancer"]))[1:4]
    model = m.seqc_model(x.shape[1], layers, normalize=True)
    from seqc.training.adapt import adapt_once

    adapt_once(model, x)
    net = m.torch_model(model, layers, True, x)
    paths = [os.path.join(tmp, f"bc_{who}.onnx") for who in ("seqc", "torch")]
    model.export(paths[0])
    m.torch_export(net, layers, x.shape[1], paths[1])
    xb = np.resize(x, (1024, x.shape[1]))
    return ("MLP breast_cancer_mlp.json: Normalization -> 32 -> 1", paths,
            ort_speeds_on(paths, [x[:1]] * 2, [xb] * 2))


def _cnn(tmp: str, scale: float | None = None) -> tuple:
    import train_cnn as c

    model = c.seqc_model(scale)
    net = c.torch_model(model, scale)
    tag = "plain" if scale is None else "scaled"
    paths = [os.path.join(tmp, f"cnn_{tag}_{who}.onnx") for who in ("seqc", "seqc_nchw", "torch")]
    model.export(paths[0])
    model.export(paths[1], input_layout="channels_first")
    c.torch_export(net, paths[2])
    speeds = ort_speeds(paths, [(8, 8, 1), (1, 8, 8), (1, 8, 8)])
    name = ("CNN 8x8, no preprocessing" if scale is None else
            "CNN digits_cnn.json: Rescaling(1/16) -> Conv2D(32) -> ...")
    return name + " (seqc NHWC input; NCHW variant below)", paths, speeds


def _lstm(tmp: str, workload: str) -> tuple:
    import train_rnn as r

    spec = "sunspots_lstm.json" if workload == "sunspots" else "sequence_classifier.json"
    model, x, _ = r.load_example(spec)
    if workload == "sunspots":
        from seqc.training.adapt import adapt_once

        adapt_once(model, x)
        net, sigmoid, tx = r.torch_sunspots(model), False, x
    else:
        x = x.astype(np.int32)
        net, sigmoid, tx = r.torch_sequences(model, "gather"), True, x.astype(np.int64)
    paths = [os.path.join(tmp, f"{workload}_{who}.onnx") for who in ("seqc", "torch")]
    model.export(paths[0])
    r.torch_export(net, tx[:2], paths[1], sigmoid)
    xb = np.resize(x, (1024, *x.shape[1:]))
    speeds = ort_speeds_on(paths, [x[:1], tx[:1] if workload != "sunspots" else x[:1]],
                           [xb, xb.astype(np.int64) if workload != "sunspots" else xb])
    name = {"sunspots": "LSTM(32) sunspots (T=24)",
            "sequences": "Embedding+LSTM(32), masked (T=20)"}[workload]
    return name, paths, speeds


def _nodes(path: str) -> int:
    import onnx

    return len(onnx.load(path).graph.node)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fn in (lambda t: _mlp(t, 1 / 16), _normalized_mlp, lambda t: _cnn(t, 1 / 16),
                   _mlp, _cnn, lambda t: _lstm(t, "sunspots"), lambda t: _lstm(t, "sequences")):
            name, paths, speeds = fn(tmp)
            (s_lat, s_thr), (t_lat, t_thr) = speeds[0], speeds[-1]
            row = {"model": name, "seqc_b1_us": s_lat, "torch_b1_us": t_lat,
                   "latency_ratio": s_lat / t_lat, "seqc_b1024_per_s": s_thr,
                   "torch_b1024_per_s": t_thr, "throughput_ratio": s_thr / t_thr}
            print(f"\n== {name}   (ONNX nodes: seqc {_nodes(paths[0])}, torch "
                  f"{_nodes(paths[-1])})")
            print(f"  b=1 latency   seqc {s_lat:8.1f} us   torch {t_lat:8.1f} us   "
                  f"seqc/torch {s_lat / t_lat:.2f}x")
            print(f"  b=1024        seqc {s_thr:8.0f} /s   torch {t_thr:8.0f} /s   "
                  f"seqc/torch {s_thr / t_thr:.2f}x")
            if len(speeds) == 3:
                n_lat, n_thr = speeds[1]
                row.update(seqc_nchw_b1_us=n_lat, seqc_nchw_b1024_per_s=n_thr)
                print(f"  NCHW variant  seqc {n_lat:8.1f} us  {n_thr:8.0f} /s   "
                      f"({n_lat / t_lat:.2f}x, {n_thr / t_thr:.2f}x)")
            rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
