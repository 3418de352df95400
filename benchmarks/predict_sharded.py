"""Sharded predict on each engine against single-process predict: rows/s and peak memory.

    python benchmarks/predict_sharded.py [--rows 1000000] [--shards 20] [--features 784]
                                         [--workers 2] [--batch-size 4096]
                                         [--engines single,local,ray,dask] [--dir DIR]

Writes `--rows` float32 rows of `--features` in `--shards` .npy shards to a temporary folder
(1M x 784 is 3.1 GB: needs that much free disk), exports a FEATURES-512-512-10 MLP with random
weights, then predicts the shards once per engine, each in a fresh child process:
- single: one process, one onnxruntime session with `--workers` intra-op threads, shard
  after shard (today's `seqc predict` per file);
- local / ray / dask: `seqc.predict_dataset(..., engine=E, workers=W, cpus_per_worker=1)`.
  The Ray and Dask clusters are started (`ray.init(num_cpus=W)`, a LocalCluster of W
  single-threaded workers) before the clock starts and their start time is printed apart;
  worker start-up and session creation are inside the timing for every engine.
Printed per engine: seconds, rows/s, the steady-state rows/s (the shards finished after each
worker's first, over the time they took: start-up left out), the driver's peak RSS, the largest
worker's peak RSS and their sum (the engine's footprint), whether the outputs equal
single-process predict's, then Ray's and Dask's rows/s over the local pool's. The
inputs were just written, so they are read from the page cache. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
engine, model, data, out, workers, batch = sys.argv[2:8]
workers, batch = int(workers), int(batch)

def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

start_s, options, steady = 0.0, {}, None
t = time.perf_counter()
if engine == "ray":
    import ray
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
elif engine == "dask":
    from distributed import LocalCluster
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    options = {"address": cluster.scheduler_address}
start_s = time.perf_counter() - t
if engine == "single":
    import glob
    from seqc.runtime.predict import Predictor
    t = time.perf_counter()
    p = Predictor(model, threads=workers)
    rows = 0
    for f in sorted(glob.glob(os.path.join(data, "*.npy"))):
        rows += p.run(f, os.path.join(out, os.path.basename(f)), batch_size=batch)[0]
    seconds = time.perf_counter() - t
    worker_peaks = []
else:
    import seqc
    t = time.perf_counter()
    r = seqc.predict_dataset(model, data, out, engine=engine, workers=workers,
                             cpus_per_worker=1, batch_size=batch, quiet=True, **options)
    seconds = time.perf_counter() - t
    assert not r["failed"], r["failed"]
    rows = r["rows_in"]
    worker_peaks = [w["peak_rss_mb"] for w in r["workers"].values()]
    recs = sorted((json.loads(line) for line in open(os.path.join(out, "_manifest.jsonl"))),
                  key=lambda rec: rec["finished_at"])
    # steady state: the shards finished after each worker's first, over the time they took
    later = recs[workers:]
    if later:
        steady = sum(rec["rows_in"] for rec in later) / (
            later[-1]["finished_at"] - recs[workers - 1]["finished_at"])
print(json.dumps({"rows": rows, "seconds": seconds, "start_s": start_s,
                  "driver_peak_mb": peak_mb(), "worker_peaks_mb": worker_peaks,
                  "steady_rows_s": steady}))
"""


def write_shards(folder: Path, rows: int, shards: int, features: int) -> None:
    rng = np.random.default_rng(0)
    per = -(-rows // shards)
    for s in range(shards):
        n = min(per, rows - s * per)
        with open(folder / f"part-{s:05d}.npy", "wb") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f4", "fortran_order": False, "shape": (n, features)})
            step = max(1, 2**24 // (features * 4))  # 16 MB slices
            for i in range(0, n, step):
                f.write(rng.standard_normal((min(step, n - i), features), np.float32).data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=20)
    ap.add_argument("--features", type=int, default=784)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--engines", default="single,local,ray,dask")
    ap.add_argument("--dir", default=None, help="folder for the temporary files")
    args = ap.parse_args()

    import seqc
    from seqc.export import export_model

    L = seqc.layers
    work = Path(tempfile.mkdtemp(prefix="seqc-predict-sharded-", dir=args.dir))
    try:
        need = args.rows * args.features * 4 * 1.1
        if shutil.disk_usage(work).free < need:
            sys.exit(f"needs {need / 2**30:.1f} GB free in {work}")
        model = seqc.Sequential([L.Input((args.features,)), L.Dense(512, activation="relu"),
                                 L.Dense(512, activation="relu"),
                                 L.Dense(10, activation="softmax")], seed=0)
        onnx_path = str(export_model(model, work / "model.onnx"))
        data = work / "data"
        data.mkdir()
        write_shards(data, args.rows, args.shards, args.features)
        size = sum(f.stat().st_size for f in data.iterdir())
        print(f"input: {args.rows:,} rows x {args.features} float32 in {args.shards} .npy "
              f"shards ({size / 2**30:.2f} GB); model {args.features}-512-512-10 MLP; "
              f"{args.workers} workers x 1 CPU; batch {args.batch_size}; {os.cpu_count()} CPUs")
        print(f"{'engine':8} {'start s':>8} {'seconds':>8} {'rows/s':>10} {'steady':>10} "
              f"{'driver MB':>10} {'worker MB':>10} {'total MB':>9}")
        rates, steadies, outputs = {}, {}, {}
        for engine in args.engines.split(","):
            out = work / f"out-{engine}"
            out.mkdir()
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            r = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), engine, onnx_path,
                                str(data), str(out), str(args.workers), str(args.batch_size)],
                               capture_output=True, text=True, check=False, env=env)
            if r.returncode != 0:
                print(f"{engine:8} failed:\n{r.stderr[-3000:]}")
                continue
            got = json.loads(r.stdout.strip().splitlines()[-1])
            rates[engine] = got["rows"] / got["seconds"]
            steady = got["steady_rows_s"]
            if steady:
                steadies[engine] = steady
            peaks = got["worker_peaks_mb"]
            total = got["driver_peak_mb"] + sum(peaks)
            print(f"{engine:8} {got['start_s']:8.1f} {got['seconds']:8.1f} "
                  f"{rates[engine]:10,.0f} {f'{steady:,.0f}' if steady else '-':>10} "
                  f"{got['driver_peak_mb']:10.0f} {max(peaks, default=0):10.0f} {total:9.0f}")
            outputs[engine] = {f.name: np.load(f) for f in sorted(out.glob("*.npy"))}
            shutil.rmtree(out)
        ref = outputs.get("single")
        for engine, outs in outputs.items():
            if ref is not None and engine != "single":
                same = outs.keys() == ref.keys() and all(
                    np.array_equal(outs[k], ref[k]) for k in ref)
                print(f"{engine}: outputs {'equal' if same else 'DIFFER from'} single-process")
        for engine in ("ray", "dask"):
            if engine in rates and "local" in rates:
                print(f"{engine}/local rows/s: {rates[engine] / rates['local']:.2f}"
                      + (f" (steady state {steadies[engine] / steadies['local']:.2f})"
                         if engine in steadies and "local" in steadies else ""))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
