"""Training from shards larger than the memory the process may use, beside in-memory training.

    python benchmarks/train_out_of_core.py [--limit-mb 384] [--factor 3] [--features 256]
                                           [--shards 24] [--small-rows 100000] [--epochs 1]
                                           [--buffer 16384] [--batch-size 256] [--dir DIR]

Writes a learnable binary problem (y = [x . w + noise > 0]) as `.npy` shard pairs (float32
x, `--features` wide) totalling `--factor` x `--limit-mb` MB, shard by shard, to a temporary
folder (or `--dir`), and a 10,000-row test set. Then, each in a fresh child process:
- **sharded, limited**: RLIMIT_AS (`ulimit -v`) is set to `--limit-mb` at the child's start,
  before numpy or seqc is imported, so everything the process maps counts: the interpreter,
  libraries, thread stacks, the memory-mapped shard being read, the shuffle buffer. It
  trains a FEATURES-64-1 MLP on every shard with `seqc.data.Shards(shuffle_buffer=--buffer)`.
  BLAS/OpenMP run one thread and glibc two malloc arenas, so no thread pool reserves address
  space the data cannot use; the limit is then an honest bound on the process.
- **in-memory, small copy**: the first `--small-rows` rows loaded into arrays (no limit), the
  same model and seed.
- **sharded, small copy**: the same rows as shards, shuffle buffer >= rows: the weights must
  equal the in-memory child's (identical, np.array_equal), and with a small buffer
  (`--buffer`) the test accuracy must agree within noise.
- **control**: the full data loaded into arrays under the same limit, which must fail
  (MemoryError): the limit binds.
Printed per run: rows, seconds, rows/s, peak RSS (VmHWM), test accuracy; then the data
size over the limit, and whether the weights are identical. Shards are read from the page
cache when the machine has room for them (just written). A benchmark, not a test.
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
import json, os, resource, sys, time
cfg = json.loads(sys.argv[1])


def peak_rss_mb():
    # VmHWM, not ru_maxrss: after fork+exec ru_maxrss keeps the parent's peak.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if cfg["limit_mb"]:
    lim = cfg["limit_mb"] << 20
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
sys.path.insert(0, cfg["root"])
import numpy as np
import seqc
L = seqc.layers
m = seqc.Sequential([L.Input((cfg["features"],)), L.Dense(64, activation="relu"),
                     L.Dense(1, activation="sigmoid")], seed=0)
m.compile(optimizer=seqc.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy",
          metrics=["accuracy"])
if cfg["mode"] == "memory":
    parts = sorted(f for f in os.listdir(cfg["dir"]) if f.endswith(".x.npy"))
    xs, ys, n = [], [], 0
    for f in parts:
        x = np.load(os.path.join(cfg["dir"], f))
        y = np.load(os.path.join(cfg["dir"], f[:-6] + ".y.npy"))
        xs.append(x[:cfg["rows"] - n]); ys.append(y[:cfg["rows"] - n]); n += len(xs[-1])
        if n >= cfg["rows"]:
            break
    data = (np.concatenate(xs), np.concatenate(ys))
    rows = len(data[0])
else:
    data = (seqc.data.Shards(cfg["dir"], shuffle_buffer=cfg["buffer"]),)
    rows = len(data[0])
    bound = data[0].memory_bound(cfg["batch_size"])
t = time.perf_counter()
m.fit(*data, epochs=cfg["epochs"], batch_size=cfg["batch_size"], verbose=0)
secs = time.perf_counter() - t
tx, ty = np.load(cfg["test"] + ".x.npy"), np.load(cfg["test"] + ".y.npy")
acc = float(m.evaluate(tx, ty, verbose=0, batch_size=4096)[1])
np.savez(cfg["weights"], **m.params)
print(json.dumps({"rows": rows * cfg["epochs"], "seconds": secs,
                  "rows_per_s": rows * cfg["epochs"] / secs, "accuracy": acc,
                  "peak_rss_mb": peak_rss_mb(),
                  "data_bound_mb": None if cfg["mode"] == "memory" else bound / 2**20}))
"""


def write_shards(folder: Path, rows: int, shards: int, features: int, seed: int = 0) -> None:
    """`rows` rows in `shards` pairs, one shard in memory at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    w = np.random.default_rng(1234).normal(size=features).astype(np.float32)
    per = -(-rows // shards)
    for i in range(shards):
        m = min(per, rows - i * per)
        if m <= 0:
            break
        rng = np.random.default_rng([seed, i])
        x = rng.normal(size=(m, features)).astype(np.float32)
        y = ((x @ w) / np.sqrt(features) + 0.3 * rng.normal(size=m) > 0).astype(np.float32)
        np.save(folder / f"part-{i:04d}.x.npy", x)
        np.save(folder / f"part-{i:04d}.y.npy", y)


def run_child(cfg: dict, must_pass: bool = True) -> dict | str:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True,
                       text=True, env=env)
    if r.returncode != 0:
        if not must_pass:
            return (r.stderr.strip().splitlines() or [f"rc {r.returncode}"])[-1]
        raise SystemExit(f"{cfg['mode']} child failed (rc {r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit-mb", type=int, default=384)
    ap.add_argument("--factor", type=float, default=3.0)
    ap.add_argument("--features", type=int, default=256)
    ap.add_argument("--shards", type=int, default=24)
    ap.add_argument("--small-rows", type=int, default=100_000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--buffer", type=int, default=16384)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()

    row_bytes = a.features * 4 + 4
    rows = int(a.factor * (a.limit_mb << 20) / row_bytes) + 1
    tmp = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix="seqc-ooc-"))
    try:
        big, small = tmp / "big", tmp / "small"
        write_shards(big, rows, a.shards, a.features)
        small_rows = min(a.small_rows, rows)
        write_shards(small, small_rows, max(1, a.shards // 4), a.features, seed=7)
        write_shards(tmp / "test", 10_000, 1, a.features, seed=99)
        test = str(tmp / "test" / "part-0000")
        data_mb = sum(f.stat().st_size for f in big.iterdir()) / 2**20
        print(f"data: {rows} rows x {a.features} float32 in {a.shards} shards = {data_mb:.0f} MB"
              f" on disk; process limit (RLIMIT_AS) {a.limit_mb} MB: data / limit = "
              f"{data_mb / a.limit_mb:.2f}")
        base = {"root": str(ROOT), "features": a.features, "epochs": a.epochs,
                "batch_size": a.batch_size, "test": test}
        runs = {
            "sharded, limited": {**base, "mode": "shards", "dir": str(big),
                                 "limit_mb": a.limit_mb, "buffer": a.buffer,
                                 "weights": str(tmp / "w0.npz")},
            "in-memory, small copy": {**base, "mode": "memory", "dir": str(small),
                                      "limit_mb": 0, "rows": small_rows,
                                      "weights": str(tmp / "w1.npz")},
            "sharded, small copy, buffer >= rows": {
                **base, "mode": "shards", "dir": str(small), "limit_mb": 0,
                "buffer": small_rows, "weights": str(tmp / "w2.npz")},
            "sharded, small copy, small buffer": {
                **base, "mode": "shards", "dir": str(small), "limit_mb": 0,
                "buffer": a.buffer, "weights": str(tmp / "w3.npz")},
        }
        print(f"{'run':38s} {'rows':>9s} {'s':>7s} {'rows/s':>9s} {'peak RSS MB':>11s} "
              f"{'bound MB':>8s} {'test acc':>8s}")
        for name, cfg in runs.items():
            r = run_child(cfg)
            bound = "" if r["data_bound_mb"] is None else f"{r['data_bound_mb']:.0f}"
            print(f"{name:38s} {r['rows']:9d} {r['seconds']:7.1f} {r['rows_per_s']:9.0f} "
                  f"{r['peak_rss_mb']:11.0f} {bound:>8s} {r['accuracy']:8.4f}", flush=True)
        # The control: the same data loaded into arrays under the same limit cannot train.
        control = run_child({**base, "mode": "memory", "dir": str(big), "limit_mb": a.limit_mb,
                             "rows": rows, "weights": str(tmp / "w4.npz")}, must_pass=False)
        print(f"{'in-memory, full data, limited':38s} "
              + (f"failed as expected: {control[:60]}" if isinstance(control, str)
                 else f"ran ({control['peak_rss_mb']:.0f} MB): the limit does not bind"))
        w1, w2 = np.load(tmp / "w1.npz"), np.load(tmp / "w2.npz")
        same = all(np.array_equal(w1[k], w2[k]) for k in w1.files)
        print(f"weights, in-memory vs sharded with buffer >= rows: "
              f"{'identical' if same else 'DIFFERENT'}")
    finally:
        if not a.dir:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
