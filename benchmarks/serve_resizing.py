"""Serving Resizing: seqc's model.onnx per interpolation vs torch.onnx.export of F.interpolate.

    python benchmarks/serve_resizing.py [--size 224 --target 180 --batch 32 --rounds 5]
                                        [--json out.json]

One Resizing layer (Keras' tutorial use: raw images in, model-sized images out), exported by
seqc in Keras' NHWC layout and with `--input-layout nchw`, against the same resize written in
PyTorch (F.interpolate, NCHW) where torch.onnx.export can export it (bilinear, bicubic).
seqc lowers each resized axis to Gathers with per-pixel weights where an output pixel reads at
most 4 input pixels, else to a MatMul (docs/export.md, "Preprocessing layers in the graph").
Printed per mode: batch-1 latency (median, us) and batch-N throughput (images/s) in
onnxruntime (CPU, 2 threads), and the largest difference between seqc's and PyTorch's outputs.
A benchmark, not a test.
"""

# ruff: noqa: I001, E402
from __future__ import annotations

# _common first: it fixes the thread counts before numpy and torch load their pools.
from _common import ort_speeds_on

import argparse
import json
import os
import tempfile

import numpy as np

# (Keras interpolation, antialias, torch mode or None where torch.onnx.export (2.13, the
# TorchScript exporter) has no lowering: nearest-exact, the antialiased kernels; or PyTorch has
# no such resize: area as TF defines it, lanczos).
MODES = [("bilinear", False, "bilinear"), ("nearest", False, None),
         ("bicubic", False, "bicubic"), ("bilinear", True, None), ("bicubic", True, None),
         ("area", False, None), ("lanczos3", False, None)]


def seqc_models(tmp: str, size: int, target: int, mode: str, aa: bool) -> list[str]:
    import seqc

    L = seqc.layers
    model = seqc.Sequential([L.Input((size, size, 3)),
                             L.Resizing(target, target, mode, antialias=aa)], seed=0)
    paths = []
    for layout in ("channels_last", "channels_first"):
        p = os.path.join(tmp, f"seqc_{mode}_{aa}_{layout}.onnx")
        model.export(p, input_layout=layout)
        paths.append(p)
    return paths


def torch_model(tmp: str, size: int, target: int, mode: str, aa: bool) -> str | None:
    """PyTorch's graph of the resize, or None where its exporter has no lowering for it
    (nearest-exact)."""
    import torch
    import torch.nn.functional as F

    class Resize(torch.nn.Module):
        def forward(self, x):
            corners = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
            return F.interpolate(x, size=(target, target), mode=mode, antialias=aa, **corners)

    p = os.path.join(tmp, f"torch_{mode}_{aa}.onnx")
    try:
        torch.onnx.export(Resize().eval(), (torch.zeros(1, 3, size, size),), p,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}}, opset_version=18 if aa else 17,
                          dynamo=False)
    except torch.onnx.errors.UnsupportedOperatorError as e:
        print(f"  (torch.onnx.export: {str(e).splitlines()[0]})")
        return None
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--target", type=int, default=180)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("torch is not installed: printing seqc figures only (pip install -e '.[bench]')")
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    x1 = rng.uniform(0, 255, (1, args.size, args.size, 3)).astype(np.float32)
    xb = rng.uniform(0, 255, (args.batch, args.size, args.size, 3)).astype(np.float32)
    nchw = [np.ascontiguousarray(a.transpose(0, 3, 1, 2)) for a in (x1, xb)]
    rows = []
    print(f"{args.size}x{args.size}x3 -> {args.target}x{args.target}, batch {args.batch}")
    print(f"{'mode':<18}{'graph':<12}{'b1 us':>10}{'img/s':>10}{'max diff':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode, aa, tmode in MODES:
            paths = seqc_models(tmp, args.size, args.target, mode, aa)
            names = ["seqc NHWC", "seqc NCHW"]
            x1s, xbs = [x1, nchw[0]], [xb, nchw[1]]
            diff = None
            tpath = (torch_model(tmp, args.size, args.target, tmode, aa)
                     if have_torch and tmode is not None else None)
            if tpath is not None:
                paths.append(tpath)
                names.append("torch NCHW")
                x1s.append(nchw[0])
                xbs.append(nchw[1])
                got = [ort.InferenceSession(p, providers=["CPUExecutionProvider"])
                       .run(None, {"input": x})[0] for p, x in zip(paths[1:], nchw[:1] * 2)]
                diff = float(np.abs(got[0] - got[1]).max())
            speeds = ort_speeds_on(paths, x1s, xbs, args.rounds)
            label = mode + (" aa" if aa else "")
            for name, (lat, thr) in zip(names, speeds):
                d = f"{diff:.2e}" if diff is not None and name == "torch NCHW" else ""
                print(f"{label:<18}{name:<12}{lat:>10.0f}{thr:>10.0f}{d:>12}")
                rows.append({"mode": label, "graph": name, "latency_us": lat,
                             "images_per_s": thr, "max_diff_vs_seqc": diff})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
