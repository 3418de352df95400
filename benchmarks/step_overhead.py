"""The fit loop's fixed per-step cost, this tree against a reference tree (issue 19).

    python benchmarks/step_overhead.py --ref /path/to/other/seqc/checkout [--rounds 5]

Times a training step (ms, median of epochs) of two models from train_peers.py: the 60k MLP
(784-512-512-10, batch 128, Adam) on its first `--steps` batches, and a tiny 8-8-8-10 MLP
of the same kind, whose matrix products cost nothing, so its step is the fit loop's,
executor's, loss's, metrics' and optimizer's fixed cost. Each (tree, model) runs in its own
subprocess (two versions of seqc cannot share one process); the two trees alternate, round
by round, in alternating order, so load on the machine falls on both alike. Prints each
round's figures and the median ratio this / reference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
sys.path.insert(0, {bench!r})
import numpy as np
import train_peers as tp
name, steps, epochs = {name!r}, {steps}, {epochs}
w = tp.workload("mlp60k")
x, y = w["x"][:steps * 128], w["y"][:steps * 128]
if name == "tiny":
    w["sizes"] = [8, 8, 8, 10]
    x = np.ascontiguousarray(x[:, :8])
m = tp.seqc_model(w)
m.fit(x[:256], y[:256], batch_size=128, verbose=0)
times = []
for _ in range(epochs):
    t = time.perf_counter()
    m.fit(x, y, batch_size=128, verbose=0)
    times.append((time.perf_counter() - t) / steps * 1e3)
print(json.dumps(sorted(times)[len(times) // 2]))
"""


def step_ms(tree: Path, name: str, steps: int, epochs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = CHILD.format(bench=str(ROOT / "benchmarks"), name=name, steps=steps, epochs=epochs)
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True, help="the reference checkout's root")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=60, help="mlp60k steps per epoch timed")
    args = ap.parse_args()
    trees = {"ref": Path(args.ref).resolve(), "this": ROOT}
    for name, steps in (("tiny", 400), ("mlp60k", args.steps)):
        got: dict[str, list[float]] = {"ref": [], "this": []}
        for r in range(args.rounds):
            order = ("ref", "this") if r % 2 == 0 else ("this", "ref")
            for k in order:
                got[k].append(step_ms(trees[k], name, steps, args.epochs))
            print(f"{name} round {r}: ref {got['ref'][-1]:.3f} ms/step, "
                  f"this {got['this'][-1]:.3f} ms/step", flush=True)
        ratios = [t / f for t, f in zip(got["this"], got["ref"])]
        print(f"{name}: ref {statistics.median(got['ref']):.3f} ms/step, this "
              f"{statistics.median(got['this']):.3f} ms/step, this/ref median ratio "
              f"{statistics.median(ratios):.3f}", flush=True)


if __name__ == "__main__":
    main()
