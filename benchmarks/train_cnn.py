"""The digits CNN (examples/digits_cnn.json) in seqc vs PyTorch eager, side by side.

    python benchmarks/train_cnn.py [--epochs 6] [--json out.json]

Conv2D(32, 3x3, relu) -> MaxPooling2D(2) -> Flatten -> Dense(128, relu) -> Dense(10) on the
1797 8x8x1 digits, batch 128, Adam, 2 threads. Both frameworks start from identical weights
(seqc's initializers copied into torch: conv kernels to OIHW, and the first Dense's rows
permuted from Keras' (h, w, c) flatten order to PyTorch's (c, h, w)), and use the same batch
size and shuffling. Printed: epoch time (median of epochs 2..N) and the seqc/PyTorch ratio
(< 1: seqc is faster), peak RSS growth, and onnxruntime batch-1 latency / batch-1024
throughput of seqc's model.onnx (NHWC input: one Transpose; and --input-layout nchw: none) vs
torch.onnx.export's graph of the same network (NCHW input). A benchmark, not a test.
"""

# ruff: noqa: I001, E402
from __future__ import annotations

# _common first: it fixes the thread counts before numpy and torch load their pools.
from _common import (ROOT, alternate_epochs, keras_jax_epochs, keras_layers, ort_speeds,
                     print_row, torch_scale, torch_trainer)

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

import seqc
from seqc.training.data import load_csv

BATCH = 128


def seqc_model(scale: float | None = None):
    L = seqc.layers
    return seqc.Sequential([
        L.Input((8, 8, 1)),
        *([] if scale is None else [L.Rescaling(scale)]),  # examples/digits_cnn.json's
        L.Conv2D(32, (3, 3), activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dense(10, activation="softmax"),
    ], seed=0)


def torch_model(model, scale: float | None = None):
    import torch
    from torch import nn

    p = model.params
    names = {n.op: n.name for n in model.graph.nodes}
    dense = [n.name for n in model.graph.nodes if n.op == "Dense"]
    conv = nn.Conv2d(1, 32, 3)
    fc1, fc2 = nn.Linear(288, 128), nn.Linear(128, 10)
    # Keras flattens (h, w, c); PyTorch (c, h, w): row j of PyTorch's layer is Keras' row
    # perm[j].
    perm = np.moveaxis(np.arange(288).reshape(3, 3, 32), -1, 0).reshape(-1)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(p[f"{names['Conv2D']}/kernel"].transpose(3, 2, 0, 1)
                                           .copy()))
        conv.bias.copy_(torch.from_numpy(p[f"{names['Conv2D']}/bias"]))
        fc1.weight.copy_(torch.from_numpy(p[f"{dense[0]}/kernel"][perm].T.copy()))
        fc1.bias.copy_(torch.from_numpy(p[f"{dense[0]}/bias"]))
        fc2.weight.copy_(torch.from_numpy(p[f"{dense[1]}/kernel"].T.copy()))
        fc2.bias.copy_(torch.from_numpy(p[f"{dense[1]}/bias"]))
    # Softmax lives in the loss (CrossEntropyLoss), as PyTorch users write it.
    first = [] if scale is None else [torch_scale(scale)]
    return nn.Sequential(*first, conv, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), fc1,
                         nn.ReLU(), fc2)


def keras_model(model):
    """The same CNN in Keras (its layouts are seqc's), holding seqc's initial weights."""
    keras = keras_layers()
    L = keras.layers
    k = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(32, (3, 3), activation="relu"),
                          L.MaxPooling2D(2), L.Flatten(), L.Dense(128, activation="relu"),
                          L.Dense(10, activation="softmax")])
    k.set_weights(list(model.params.values()))
    k.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return k


def torch_export(net, path: str) -> None:
    import torch

    infer = torch.nn.Sequential(net, torch.nn.Softmax(dim=-1)).eval()
    torch.onnx.export(infer, (torch.zeros(1, 1, 8, 8),), path, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}},
                      opset_version=17, dynamo=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-keras-jax", dest="keras_jax", action="store_false",
                    help="leave out the Keras 3 on JAX peer")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: printing seqc figures only (pip install -e '.[bench]')")

    d = load_csv(str(ROOT / "examples" / "data" / "digits.csv"), "label")
    x = (d.x.astype(np.float32) / 16.0).reshape(-1, 8, 8, 1)
    y = d.y.astype(np.int64)
    model = seqc_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    net = torch_model(model) if torch else None
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    kj = keras_jax_epochs(keras_model(model), x, y, BATCH, args.epochs) if args.keras_jax \
        else {}
    row = {"workload": "digits CNN", "samples": len(x), "batch": BATCH, **kj,
           **alternate_epochs(model, x, y, BATCH, args.epochs,
                              torch_trainer(net, x_nchw, y, "sparse_categorical_crossentropy",
                                            "adam", BATCH, 0) if torch else None)}
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, "seqc.onnx"), os.path.join(tmp, "seqc_nchw.onnx")]
        info: dict = {}
        model.export(paths[0], report=info)
        model.export(paths[1], input_layout="nchw")
        row["seqc_onnx_nodes"] = info["nodes"]
        shapes = [(8, 8, 1), (1, 8, 8)]
        if torch:
            paths.append(os.path.join(tmp, "torch.onnx"))
            torch_export(net, paths[2])
            shapes.append((1, 8, 8))
            import onnx

            ops: dict[str, int] = {}
            for n in onnx.load(paths[2]).graph.node:
                ops[n.op_type] = ops.get(n.op_type, 0) + 1
            row["torch_onnx_nodes"] = dict(sorted(ops.items()))
        speeds = ort_speeds(paths, shapes)
    row["seqc_ort_b1_us"], row["seqc_ort_b1024_per_s"] = speeds[0]
    row["seqc_nchw_ort_b1_us"], row["seqc_nchw_ort_b1024_per_s"] = speeds[1]
    if torch:
        row["torch_ort_b1_us"], row["torch_ort_b1024_per_s"] = speeds[2]
        row["latency_ratio"] = row["seqc_ort_b1_us"] / row["torch_ort_b1_us"]
        row["throughput_ratio"] = row["seqc_ort_b1024_per_s"] / row["torch_ort_b1024_per_s"]
    print_row(row)
    print(f"  seqc NCHW    b=1 {row['seqc_nchw_ort_b1_us']:9.1f} us   b=1024 "
          f"{row['seqc_nchw_ort_b1024_per_s']:9.0f} /s")
    print(f"  ONNX nodes   seqc {row['seqc_onnx_nodes']}")
    if "torch_onnx_nodes" in row:
        print(f"               torch {row['torch_onnx_nodes']}")
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
