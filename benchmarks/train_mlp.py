"""Training and inference speed of seqc vs PyTorch eager on three MLP workloads, side by side.

    python benchmarks/train_mlp.py [--epochs 5] [--workloads breast_cancer,digits,mnist_like]
                                   [--json out.json]

For each workload both frameworks start from identical weights (seqc's initializers copied into
torch), use the same batch size, optimizer and shuffling, and 2 threads. Printed per workload:
epoch time (median over epochs 2..N), the seqc/PyTorch ratio (< 1 means seqc is faster), peak
RSS growth while training, and onnxruntime batch-1 latency / batch-1024 throughput of seqc's
model.onnx vs torch.onnx.export's graph of the same network. A benchmark, not a test.
"""

# ruff: noqa: I001, E402
from __future__ import annotations

# _common first: it fixes the thread counts before numpy and torch load their pools.
from _common import (
    ROOT,
    alternate_epochs,
    keras_jax_epochs,
    keras_layers,
    ort_speeds,
    print_row,
    torch_scale,
    torch_trainer,
)

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

import seqc


# ---- workloads ----
def _csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from seqc.training.data import load_csv

    d = load_csv(str(path), "label")
    return d.x.astype(np.float32), d.y


def workloads(selected: list[str]):
    data = ROOT / "examples" / "data"
    if "breast_cancer" in selected:
        x, y = _csv(data / "breast_cancer.csv")
        y = y.astype(np.float32).reshape(-1, 1)
        layers = [("dense", 32, "relu"), ("dense", 1, "sigmoid")]
        yield ("breast_cancer", x, y, layers, 0.0, "adam", "binary_crossentropy", 32, True)
    if "digits" in selected:
        x, y = _csv(data / "digits.csv")
        y = np.eye(10, dtype=np.float32)[y.astype(int)]
        layers = [("dense", 512, "relu"), ("dropout", 0.2), ("dense", 512, "relu"),
                  ("dropout", 0.2), ("dense", 10, "softmax")]
        yield ("digits", x / 16.0, y, layers, 0.2, "rmsprop", "categorical_crossentropy", 32,
               False)
    if "mnist_like" in selected:
        rng = np.random.default_rng(0)
        x = rng.random((60000, 784), dtype=np.float32)
        w = rng.normal(size=(784, 10)).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[(x @ w).argmax(1)]
        layers = [("dense", 512, "relu"), ("dense", 512, "relu"), ("dense", 10, "softmax")]
        yield ("mnist_like 784-512-512-10", x, y, layers, 0.0, "adam",
               "categorical_crossentropy", 128, False)


def seqc_model(n_in: int, layers, normalize: bool, scale: float | None = None):
    ls = [seqc.layers.Input((n_in,))]
    if normalize:
        ls.append(seqc.layers.Normalization())
    if scale is not None:  # examples/digits_mlp.json's Rescaling (serve_onnx.py)
        ls.append(seqc.layers.Rescaling(scale))
    for spec in layers:
        if spec[0] == "dense":
            ls.append(seqc.layers.Dense(spec[1], activation=spec[2]))
        else:
            ls.append(seqc.layers.Dropout(spec[1]))
    return seqc.Sequential(ls, seed=0)


def torch_model(model, layers, normalize: bool, x, scale: float | None = None):
    import torch
    from torch import nn

    mods: list[nn.Module] = [] if scale is None else [torch_scale(scale)]
    params = model.params
    if normalize:
        mean = params["normalization/mean"].reshape(-1)
        std = np.maximum(np.sqrt(params["normalization/variance"].reshape(-1)), 1e-7)

        class Norm(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("mean", torch.from_numpy(mean.copy()))
                self.register_buffer("std", torch.from_numpy(std.astype(np.float32)))

            def forward(self, t):
                return (t - self.mean) / self.std

        mods.append(Norm())
    dense_names = [n.name for n in model.graph.nodes if n.op == "Dense"]
    di = 0
    for spec in layers:
        if spec[0] == "dense":
            k = params[f"{dense_names[di]}/kernel"]
            lin = nn.Linear(k.shape[0], k.shape[1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(k.T.copy()))
                lin.bias.copy_(torch.from_numpy(params[f"{dense_names[di]}/bias"]))
            mods.append(lin)
            di += 1
            if spec[2] == "relu":
                mods.append(nn.ReLU())
            # sigmoid / softmax live in the loss (BCEWithLogits / CrossEntropy), as PyTorch
            # users write it; the exported inference graph adds them back.
        else:
            mods.append(nn.Dropout(spec[1]))
    return nn.Sequential(*mods)


def keras_model(model, layers, normalize: bool, n_in: int, opt: str, loss: str):
    """The same network in Keras, holding seqc's initial weights (the adapted Normalization
    statistics as constants), compiled like seqc's."""
    keras = keras_layers()
    p = model.params
    ls = [keras.Input((n_in,))]
    if normalize:
        ls.append(keras.layers.Normalization(mean=p["normalization/mean"].tolist(),
                                             variance=p["normalization/variance"].tolist()))
    for spec in layers:
        ls.append(keras.layers.Dense(spec[1], activation=spec[2]) if spec[0] == "dense"
                  else keras.layers.Dropout(spec[1]))
    k = keras.Sequential(ls)
    dense = [n.name for n in model.graph.nodes if n.op == "Dense"]
    k.set_weights([p[f"{d}/{w}"] for d in dense for w in ("kernel", "bias")])
    k.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    return k


def torch_export(net, layers, n_in: int, path: str) -> None:
    import torch

    last = layers[-1]
    act = {"sigmoid": torch.nn.Sigmoid(), "softmax": torch.nn.Softmax(dim=-1)}.get(last[2])
    infer = torch.nn.Sequential(net, act) if act is not None else net
    infer.eval()
    torch.onnx.export(infer, (torch.zeros(1, n_in),), path, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}},
                      opset_version=17, dynamo=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workloads", default="breast_cancer,digits,mnist_like")
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-keras-jax", dest="keras_jax", action="store_false",
                    help="leave out the Keras 3 on JAX peer")
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        torch = None
        print("torch is not installed: printing seqc figures only (pip install -e '.[bench]')")

    results = []
    for (name, x, y, layers, _split, opt, loss, batch, normalize) in workloads(
            args.workloads.split(",")):
        model = seqc_model(x.shape[1], layers, normalize)
        model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
        if normalize:  # adapt once, outside the timed epochs, for both frameworks
            model.fit(x[:1], y[:1], epochs=0, verbose=0)
        net = torch_model(model, layers, normalize, x) if torch else None
        kj = keras_jax_epochs(keras_model(model, layers, normalize, x.shape[1], opt, loss),
                              x, y, batch, args.epochs) if args.keras_jax else {}
        row = {"workload": name, "samples": len(x), "batch": batch, **kj,
               **alternate_epochs(model, x, y, batch, args.epochs,
                                  torch_trainer(net, x, y, loss, opt, batch, 0) if torch
                                  else None)}
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "seqc.onnx")
            model.export(p)
            paths = [p]
            if torch:
                paths.append(os.path.join(d, "torch.onnx"))
                torch_export(net, layers, x.shape[1], paths[1])
            speeds = ort_speeds(paths, x.shape[1])
            row["seqc_ort_b1_us"], row["seqc_ort_b1024_per_s"] = speeds[0]
            if torch:
                row["torch_ort_b1_us"], row["torch_ort_b1024_per_s"] = speeds[1]
                row["latency_ratio"] = row["seqc_ort_b1_us"] / row["torch_ort_b1_us"]
                row["throughput_ratio"] = (row["seqc_ort_b1024_per_s"]
                                           / row["torch_ort_b1024_per_s"])
        results.append(row)
        print_row(row)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
