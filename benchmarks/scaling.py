"""How the MLP's epoch time grows with batch size and width: seqc vs PyTorch eager vs Keras 3
on JAX, each in its own process (issue 19, part 3).

    python benchmarks/scaling.py [--quick] [--samples 8192] [--epochs 3]
                                 [--batches 32,64,128,256,512,1024] [--widths 128,256,512,1024,2048]
                                 [--peers torch,keras-jax] [--json out.json]

The network is 784-W-W-10 (relu, softmax, categorical crossentropy, Adam 1e-3), trained on
`--samples` generated rows (labels from a random linear map, as train_peers.py's mlp60k).
Two sweeps: the batch size at width 512, and the width at batch 128. For each point the three
frameworks train from seqc's initial weights with the same per-epoch order (train_peers.py's
workers, one fresh subprocess per framework and point), and the median epoch over epochs 2..N
is printed beside the GEMM floor (NumPy timing just the epoch's matrix products), with the
seqc/torch, seqc/keras-jax and seqc/floor ratios (< 1: seqc faster). The 1024^3 float32 GEMM
calibration runs at the start and the end: a gap over ~10 % means the machine was busy.

The default run takes about 5-8 minutes on a 2-core machine, `--quick` (4096 samples, three
points per sweep) about 2. A benchmark, not a test: run it on an idle machine.
"""

# ruff: noqa: I001, E402
from __future__ import annotations

# _common first: it fixes the thread counts before numpy and torch load their pools.
from _common import THREADS

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import train_peers as tp

HERE = Path(__file__).resolve()
BATCHES = (32, 64, 128, 256, 512, 1024)
WIDTHS = (128, 256, 512, 1024, 2048)
QUICK = {"samples": 4096, "batches": (32, 128, 1024), "widths": (128, 512, 2048)}


def point(width: int, batch: int, samples: int) -> dict:
    """The workload description of one point (train_peers' mlp kind); arrays included."""
    rng = np.random.default_rng(0)
    x = rng.random((samples, 784), dtype=np.float32)
    w = rng.normal(size=(784, 10)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[(x @ w).argmax(1)]
    return {"x": x, "y": y, "kind": "mlp", "sizes": [784, width, width, 10], "dropout": 0.0,
            "opt": "adam", "batch": batch}


def run_point(fw: str, d: str, epochs: int) -> dict:
    """One framework on the point written in `d`, in a fresh process."""
    env = dict(os.environ)
    if fw.startswith("keras-"):
        env["KERAS_BACKEND"] = fw.split("-", 1)[1]
    args = [sys.executable, str(HERE), "--worker", fw, "--dir", d, "--epochs", str(epochs)]
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": ((r.stderr or r.stdout).strip().splitlines() or ["failed"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def worker(fw: str, d: str, epochs: int) -> dict:
    spec = json.loads(Path(d, "point.json").read_text())
    w = {**spec, "x": None, "y": None}
    data, weights = tp._load(d, "shared0")
    w.update(data)
    fn = {"seqc": tp._seqc, "torch": tp._torch}.get(fw, tp._keras)
    out = fn(w, weights, epochs, 0, "shared", 0)
    return {"epoch_s": out["epoch_s"], "times": out["times"]}


def measure(width: int, batch: int, samples: int, epochs: int, peers: list[str]) -> dict:
    w = point(width, batch, samples)
    row: dict = {"width": width, "batch": batch, "samples": samples}
    with tempfile.TemporaryDirectory() as d:
        np.savez(os.path.join(d, "data.npz"), x=w["x"], y=w["y"])
        np.savez(os.path.join(d, "shared0.npz"), *tp.weight_list(tp.seqc_model(w, 0)))
        Path(d, "point.json").write_text(json.dumps(
            {k: v for k, v in w.items() if k not in ("x", "y")}))
        for fw in ("seqc", *peers):
            row[fw] = run_point(fw, d, epochs)
    row["gemm_floor_s"] = tp.gemm_floor(w, rounds=3)["total"]
    return row


def print_header(peers: list[str]) -> None:
    cols = ["batch", "width", "seqc ms", *(f"{p} ms" for p in peers),
            *(f"seqc/{p}" for p in peers), "floor ms", "seqc/floor"]
    print("  " + "".join(f"{c:>15s}" for c in cols))


def print_row(r: dict, peers: list[str]) -> None:
    def ms(fw: str) -> str:
        v = r.get(fw, {})
        return f"{v['epoch_s'] * 1e3:15.1f}" if "epoch_s" in v else f"{'failed':>15s}"

    s = r["seqc"].get("epoch_s")
    ratios = []
    for p in peers:
        e = r.get(p, {}).get("epoch_s")
        ratios.append(f"{s / e:14.2f}x" if s and e else f"{'-':>15s}")
    floor = r["gemm_floor_s"]
    print(f"  {r['batch']:15d}{r['width']:15d}{ms('seqc')}" + "".join(ms(p) for p in peers)
          + "".join(ratios) + f"{floor * 1e3:15.1f}"
          + (f"{s / floor:14.2f}x" if s else f"{'-':>15s}"), flush=True)
    for fw in ("seqc", *peers):
        if "error" in r.get(fw, {}):
            print(f"    {fw} failed: {r[fw]['error']}")


def ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="4096 samples, batches 32,128,1024 and widths 128,512,2048")
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batches", default=None)
    ap.add_argument("--widths", default=None)
    ap.add_argument("--peers", default=",".join(tp.PEERS))
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", default=None)  # internal
    ap.add_argument("--dir", default=None)  # internal
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.dir, args.epochs)))
        return
    samples = args.samples or (QUICK["samples"] if args.quick else 8192)
    batches = ints(args.batches) if args.batches else QUICK["batches"] if args.quick else BATCHES
    widths = ints(args.widths) if args.widths else QUICK["widths"] if args.quick else WIDTHS
    peers = [p for p in args.peers.split(",") if p]
    t0 = time.perf_counter()
    run: dict = {"machine": tp.machine(), "threads": THREADS, "gflops_start": tp.calibrate(),
                 "samples": samples, "epochs": args.epochs, "batch_sweep": [],
                 "width_sweep": []}
    print(f"machine: {run['machine']}")
    print(f"GEMM calibration at start: {run['gflops_start']:.0f} GFLOP/s (1024^3 float32)")
    print(f"MLP 784-W-W-10, Adam, {samples} samples, median epoch of 2..{args.epochs}, "
          f"{THREADS} threads")
    print("\nbatch size at width 512:")
    print_header(peers)
    for b in batches:
        r = measure(512, b, samples, args.epochs, peers)
        print_row(r, peers)
        run["batch_sweep"].append(r)
    print("\nwidth at batch 128:")
    print_header(peers)
    for wd in widths:
        r = measure(wd, 128, samples, args.epochs, peers)
        print_row(r, peers)
        run["width_sweep"].append(r)
    run["gflops_end"] = tp.calibrate()
    print(f"\nGEMM calibration at end: {run['gflops_end']:.0f} GFLOP/s "
          f"(start {run['gflops_start']:.0f}; a gap over ~10 % means a busy machine); "
          f"{time.perf_counter() - t0:.0f} s in all")
    if args.json:
        Path(args.json).write_text(json.dumps(run, indent=1))


if __name__ == "__main__":
    main()
