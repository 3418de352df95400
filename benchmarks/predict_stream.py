"""`seqc predict` on an input larger than you would want in memory: peak RSS and rows/s.

    python benchmarks/predict_stream.py [--size-gb 2] [--features 784] [--batch-size 4096]
                                        [--format npy|npz] [--out csv|npy] [--threads 2]

Writes a float32 input of the given size (in slices, so this script stays small too) to a
temporary folder (needs 1.2 x that much free disk), exports a 784-128-10 MLP with random
weights, and runs `predict_file` in a fresh child process. Printed: input size, rows, wall time,
rows/s, and the child's peak resident-memory growth during predict (VmHWM after minus VmRSS
before, with onnxruntime already imported). The input was just written, so it is read from the
page cache; a cold read adds disk time but no memory. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, sys, time
import onnxruntime, onnx, seqc.export  # imported before the baseline: not predict's memory
from seqc.runtime.predict import predict_file

def kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

model, x, out, batch, threads = sys.argv[1:6]
open("/proc/self/clear_refs", "w").write("5")  # VmHWM := VmRSS now
base = kb("VmRSS")
t = time.perf_counter()
n = predict_file(model, x, out, batch_size=int(batch),
                 threads=None if threads == "0" else int(threads))
dt = time.perf_counter() - t
print(json.dumps({"rows": n, "seconds": dt, "base_mb": base / 1024,
                  "peak_growth_mb": (kb("VmHWM") - base) / 1024}))
"""


def write_input(f, rows: int, features: int) -> None:
    rng = np.random.default_rng(0)
    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                             "shape": (rows, features)})
    step = max(1, 2**24 // (features * 4))  # 16 MB slices
    for i in range(0, rows, step):
        f.write(rng.standard_normal((min(step, rows - i), features), np.float32).data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--features", type=int, default=784)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--format", choices=["npy", "npz"], default="npy",
                    help="npz: a stored (uncompressed) member, as np.savez writes it")
    ap.add_argument("--out", choices=["npy", "csv"], default="npy")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads (0: default)")
    ap.add_argument("--dir", default=None, help="folder for the temporary files")
    args = ap.parse_args()

    import seqc
    from seqc.export import export_model

    L = seqc.layers
    work = Path(tempfile.mkdtemp(prefix="seqc-predict-stream-", dir=args.dir))
    try:
        need = args.size_gb * 2**30 * 1.2
        if shutil.disk_usage(work).free < need:
            sys.exit(f"needs {need / 2**30:.1f} GB free in {work}")
        rows = int(args.size_gb * 2**30) // (args.features * 4)
        model = seqc.Sequential([L.Input((args.features,)), L.Dense(128, activation="relu"),
                                 L.Dense(10, activation="softmax")], seed=0)
        onnx_path = export_model(model, work / "model.onnx")
        x_path = work / f"x.{args.format}"
        t = time.perf_counter()
        if args.format == "npy":
            with open(x_path, "wb") as f:
                write_input(f, rows, args.features)
        else:
            with zipfile.ZipFile(x_path, "w", zipfile.ZIP_STORED) as z, \
                    z.open("x.npy", "w", force_zip64=True) as f:
                write_input(f, rows, args.features)
        size = os.path.getsize(x_path)
        print(f"input: {x_path.name}, {size / 2**30:.2f} GB, {rows:,} rows x {args.features} "
              f"float32 (written in {time.perf_counter() - t:.1f} s)")
        out = work / f"pred.{args.out}"
        r = subprocess.run([sys.executable, "-c", CHILD, onnx_path, str(x_path), str(out),
                            str(args.batch_size), str(args.threads)],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            sys.exit(r.stderr)
        got = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"model: {args.features}-128-10 MLP, batch {args.batch_size}, "
              f"intra-op threads {args.threads or 'default'}, output .{args.out} "
              f"({os.path.getsize(out) / 2**20:.1f} MB)")
        print(f"predicted {got['rows']:,} rows in {got['seconds']:.2f} s: "
              f"{got['rows'] / got['seconds']:,.0f} rows/s, "
              f"{size / 2**20 / got['seconds']:,.0f} MB/s of input")
        print(f"peak RSS growth during predict: {got['peak_growth_mb']:.1f} MB "
              f"(baseline {got['base_mb']:.0f} MB; input file {size / 2**20:,.0f} MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
