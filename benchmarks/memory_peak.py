"""The --max-memory estimate (seqc/ir/memory.py) against the measured peak of `seqc build`,
`seqc convert` and `seqc predict`.

    python benchmarks/memory_peak.py                   # the table, default models
    python benchmarks/memory_peak.py --models dense15000 --json out.json

The peak is the growth of the process's resident high-water mark (VmHWM, reset by writing 5
to /proc/self/clear_refs; Linux) over the command, each model in a fork of one process that
has run a tiny build (a fresh heap for each, the libraries and onnxruntime already loaded).
tests/test_bounds.py measures small models the same way and checks peak <= estimate <= 3x
peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name: (input shape, layers, rows of training data)
MODELS = {
    "dense3000": ([3000], [{"type": "Dense", "units": 3000}], 64),
    "mlp": ([784], [{"type": "Dense", "units": 2048, "activation": "relu"},
                    {"type": "Dense", "units": 2048, "activation": "relu"},
                    {"type": "Dense", "units": 10}], 256),
    "cnn": ([64, 64, 3], [{"type": "Conv2D", "filters": 64, "kernel_size": 3,
                           "activation": "relu"},
                          {"type": "Conv2D", "filters": 64, "kernel_size": 3,
                           "activation": "relu"},
                          {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
                          {"type": "Dense", "units": 10}], 64),
    "lstm": ([50, 64], [{"type": "LSTM", "units": 512, "return_sequences": True},
                        {"type": "LSTM", "units": 512}, {"type": "Dense", "units": 10}], 64),
    "dense8000": ([8000], [{"type": "Dense", "units": 8000}], 64),
    # The case: refused under the default 4 GB; measured with --max-memory none.
    "dense15000": ([15000], [{"type": "Dense", "units": 15000}], 64),
}
SMALL = ("dense3000", "mlp", "cnn", "lstm")

CHILD = r"""
import ctypes, gc, json, os, sys
import numpy as np
import onnx, onnxruntime  # loaded once, before the forks
import seqc
from seqc import convert, pipeline
from seqc.ir.memory import estimate_memory
from seqc.runtime.bench import _PeakRSS

stage, jobs = sys.argv[1], json.loads(sys.argv[2])
# A tiny build first, so the lazily imported modules and onnxruntime's environment are loaded
# before the forks and the peaks are the models' own.
warm = os.path.join(os.path.dirname(jobs[0]), "warm")
os.makedirs(warm, exist_ok=True)
json.dump({"input_shape": [2], "layers": [{"type": "Dense", "units": 1}],
           "compile": {"optimizer": "adam", "loss": "mse"}, "fit": {"epochs": 1}},
          open(os.path.join(warm, "m.json"), "w"))
np.savez(os.path.join(warm, "d.npz"), x=np.zeros((8, 2), np.float32),
         y=np.zeros((8, 1), np.float32))
pipeline.build(os.path.join(warm, "m.json"), pipeline.BuildOptions(
    out_dir=os.path.join(warm, "b"), data=os.path.join(warm, "d.npz"), verbose=0))


def one(folder):
    spec, data = os.path.join(folder, "m.json"), os.path.join(folder, "d.npz")
    graph = seqc.load(spec, max_memory=None).graph
    with np.load(data) as z:
        rows, data_bytes = len(z["x"]), sum(z[k].nbytes for k in z.files)
    if stage == "build":
        est = estimate_memory(graph, batch_size=32, data_bytes=data_bytes,
                              rows=min(rows, 1024))
        run = lambda: pipeline.build(spec, pipeline.BuildOptions(
            out_dir=os.path.join(folder, "b"), data=data, verbose=0, max_memory=None))
    elif stage == "convert":
        est = estimate_memory(graph, train=False)  # validated on 64 synthetic rows
        run = lambda: convert.convert(os.path.join(folder, "model.keras"),
                                      os.path.join(folder, "c.onnx"),
                                      convert.ConvertOptions(max_memory=None))
    else:
        from seqc.runtime.predict import predict_file
        est = estimate_memory(graph, train=False, rows=min(rows, 1024))  # one batch
        run = lambda: predict_file(os.path.join(folder, "b"), os.path.join(folder, "x.npy"),
                                   os.path.join(folder, "y.npy"))
    del graph
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with _PeakRSS() as m:
        run()
    return {"estimate_mb": est.total / 2**20, "peak_mb": m.growth_mb,
            "phases_mb": {k: v / 2**20 for k, v in est.phases.items()},
            "parameters": est.parameters}


for folder in jobs:  # each model in a fork of this process: a fresh heap, libraries loaded
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 1
        try:
            os.write(w, json.dumps(one(folder)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    _, status = os.waitpid(pid, 0)
    if status:
        sys.exit(f"the {stage} of {folder} failed")
    print(text, flush=True)
"""


def prepare(name: str, spec: tuple, folder: str) -> str:
    """Write `folder`/m.json (the model, Adam + MSE, batch 32) and d.npz (random rows)."""
    import numpy as np

    shape, layers, rows = spec
    os.makedirs(folder, exist_ok=True)
    last = layers[-1].get("units") or layers[-1].get("filters")
    with open(os.path.join(folder, "m.json"), "w") as f:
        json.dump({"name": name, "input_shape": shape, "layers": layers,
                   "compile": {"optimizer": "adam", "loss": "mse"},
                   "fit": {"epochs": 1, "batch_size": 32}}, f)
    rng = np.random.default_rng(0)
    x = rng.random((rows, *shape), np.float32)
    np.savez(os.path.join(folder, "d.npz"), x=x, y=rng.random((rows, last), np.float32))
    np.save(os.path.join(folder, "x.npy"), x)
    return folder


def measure(models: dict, stage: str = "build", root: str | None = None) -> list[dict]:
    """[{"estimate_mb", "peak_mb", ...}] for each model (name: (input shape, layers, rows))
    and one stage, measured one after another in one fresh process."""
    root = root or tempfile.mkdtemp(prefix="seqc-mem-")
    folders = [prepare(n, spec, os.path.join(root, n)) for n, spec in models.items()]
    if stage != "build":  # predict reads the build folder; convert a .keras written from it
        _child("build", folders)
        if stage == "convert":
            import seqc

            for f in folders:
                seqc.load(os.path.join(f, "b")).save(os.path.join(f, "model.keras"))
    return [{"model": n, "stage": stage, **r}
            for n, r in zip(models, _child(stage, folders))]


def _child(stage: str, folders: list[str]) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", CHILD, stage, json.dumps(folders)],
                       capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{stage} failed:\n{r.stderr[-3000:]}")
    return [json.loads(line) for line in r.stdout.strip().splitlines()[-len(folders):]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(SMALL))
    ap.add_argument("--stages", default="build,convert,predict")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    print(f"{'model':12} {'stage':8} {'params':>12} {'estimate MB':>12} {'peak MB':>9} "
          f"{'ratio':>6}")
    for name in args.models.split(","):
        for stage in args.stages.split(","):
            with tempfile.TemporaryDirectory(prefix="seqc-mem-") as root:
                r, = measure({name: MODELS[name]}, stage, root)
            rows.append(r)
            print(f"{name:12} {stage:8} {r['parameters']:>12,} {r['estimate_mb']:>12.0f} "
                  f"{r['peak_mb']:>9.0f} {r['estimate_mb'] / max(r['peak_mb'], 1e-9):>6.2f}",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
