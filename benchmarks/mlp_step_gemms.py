"""Where the 60k MLP's training step spends its time, GEMM by GEMM (issue 19).

    python benchmarks/mlp_step_gemms.py [--steps 60] [--rounds 6] [--threads 2]

Trains train_peers.py's mlp60k model (784-512-512-10, batch 128, Adam) with every Dense
forward and backward instrumented: each matrix product (forward x @ W, backward x.T @ dy and
dy @ W.T) is timed where fit runs it, and the same call on the same arrays is timed again in
isolation (back to back, best of a few), in alternating rounds in this one process. Also
timed per step: the batch gather (x[perm[lo:hi]]), the bias add and relu forward (one fused
pass where a Dense feeds a relu, executor._fused_pairs), the relu mask and bias gradient (one
fused pass likewise), the last layer's bias add and gradient, the loss and metrics, the
optimizer, and what is left (the executor's and fit's Python). Printed as ms per step
(median over rounds) and the in-fit / isolated ratio per product; the GEMM floor computed as
train_peers.py does (each product's best call, summed) beside the step's products run in a
row. On a loaded machine read the ratios, not the times; --threads 1 takes the OpenBLAS
barrier waits (a descheduled worker thread) out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--threads", type=int, default=0, help="BLAS threads (0: as found)")
    args = ap.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    import train_peers as tp

    from seqc.ops import REGISTRY, _dense_fused
    from seqc.training import batches as batches_mod
    from seqc.training import fit as fit_mod
    from seqc.training import optimizer_base

    w = tp.workload("mlp60k")
    model = tp.seqc_model(w)
    n = args.steps * w["batch"]
    x, y = w["x"], w["y"]
    t_in: dict[str, float] = {}
    last: dict[str, tuple] = {}
    dense = REGISTRY["Dense"]
    cls = type(dense)
    methods = ("forward", "backward", "forward_relu", "backward_relu")
    saved_dense = {name: cls.__dict__[name] for name in methods}

    calls: dict[str, list[float]] = {}

    def add(key, dt):
        t_in[key] = t_in.get(key, 0.0) + dt
        calls.setdefault(key, []).append(dt)

    def forward(self, a, params, xs, ctx, relu=False):
        (xb,) = xs
        k = params["kernel"]
        t = time.perf_counter()
        yv = xb @ k
        t1 = time.perf_counter()
        if relu:
            _dense_fused.forward(yv, params["bias"])
        else:
            yv += params["bias"]
        t2 = time.perf_counter()
        name = f"fwd {xb.shape[1]}x{k.shape[1]}"
        add(name, t1 - t)
        add("bias add + relu (fused)" if relu else "bias add", t2 - t1)
        last[name] = (xb, k)
        return [yv], (xb, ctx.input_grad)

    def forward_relu(self, a, params, xs, ctx):  # a Dense + relu pair (executor._fused_pairs)
        [yv], cache = forward(self, a, params, xs, ctx, relu=True)
        return yv, cache, (yv, yv)

    def backward_relu(self, a, params, cache, relu_out, dy):
        t = time.perf_counter()
        g, gb = _dense_fused.backward(dy, relu_out, True)
        add("relu mask + bias grad (fused)", time.perf_counter() - t)
        return backward(self, a, params, cache, [g], gb)

    def backward(self, a, params, cache, dys, gb=None):
        xb, input_grad = cache
        (dy,) = dys
        k = params["kernel"]
        t = time.perf_counter()
        gk = xb.T @ dy
        t1 = time.perf_counter()
        own_gb = gb is None  # else the fused relu backward made it
        if own_gb:
            gb = dy.sum(axis=0)
        t2 = time.perf_counter()
        dx = dy @ k.T if input_grad else None
        t3 = time.perf_counter()
        add(f"xT@dy {xb.shape[1]}x{k.shape[1]}", t1 - t)
        if own_gb:
            add("bias grad", t2 - t1)
        last[f"xT@dy {xb.shape[1]}x{k.shape[1]}"] = (xb.T, dy)
        if input_grad:
            add(f"dy@WT {k.shape[1]}x{k.shape[0]}", t3 - t2)
            last[f"dy@WT {k.shape[1]}x{k.shape[0]}"] = (dy, k.T)
        return [dx], {"kernel": gk, "bias": gb}

    def timed(mod, name, key):
        f0 = getattr(mod, name)

        def f(*a, **kw):
            t = time.perf_counter()
            r = f0(*a, **kw)
            add(key, time.perf_counter() - t)
            return r
        setattr(mod, name, f)
        return f0

    for name, f in zip(methods, (forward, backward, forward_relu, backward_relu)):
        setattr(cls, name, f)
    acls = type(REGISTRY["Activation"])
    saved = [(fit_mod, "heads_loss_and_grad", timed(fit_mod, "heads_loss_and_grad", "loss")),
             (fit_mod, "update_metrics", timed(fit_mod, "update_metrics", "metrics")),
             (batches_mod, "take", timed(batches_mod, "take", "gather")),
             (optimizer_base.Optimizer, "apply",
              timed(optimizer_base.Optimizer, "apply", "optimizer")),
             (acls, "forward", timed(acls, "forward", "activation fwd")),
             (acls, "backward", timed(acls, "backward", "activation bwd"))]
    try:
        model.fit(x[:2 * w["batch"]], y[:2 * w["batch"]], batch_size=w["batch"], verbose=0)
        rows: dict[str, list[float]] = {}
        iso: dict[str, list[float]] = {}
        seq: list[float] = []
        for r in range(args.rounds):
            t_in.clear()
            t = time.perf_counter()
            model.fit(x[:n], y[:n], batch_size=w["batch"], verbose=0, seed=r)
            total = time.perf_counter() - t
            steps = args.steps
            for k, v in t_in.items():
                rows.setdefault(k, []).append(v / steps)
            rows.setdefault("step total", []).append(total / steps)
            for k, (a, b) in last.items():
                for _ in range(steps):
                    t = time.perf_counter()
                    a @ b
                    iso.setdefault(k, []).append(time.perf_counter() - t)
            pairs = list(last.values())
            t = time.perf_counter()
            for _ in range(steps):  # one step's products in a row, as an epoch of them
                for a, b in pairs:
                    a @ b
            seq.append((time.perf_counter() - t) / steps)
    finally:
        for name, f in saved_dense.items():
            setattr(cls, name, f)
        for mod, name, f0 in saved:
            setattr(mod, name, f0)
    med = {k: float(np.median(v)) for k, v in rows.items()}
    print(f"mlp60k step breakdown, {args.steps} steps x {args.rounds} rounds (ms per step, median)")
    gemm_in = gemm_iso = 0.0
    print("  per call: min / median / mean (ms), in fit and isolated (the same arrays, "
          "as many calls back to back)")
    for k in sorted(last):
        a, b = np.array(calls[k]), np.array(iso[k])
        gemm_in += a.mean()
        gemm_iso += b.mean()
        print(f"  {k:16s} fit {a.min() * 1e3:6.3f} {np.median(a) * 1e3:6.3f} "
              f"{a.mean() * 1e3:7.3f}  iso {b.min() * 1e3:6.3f} {np.median(b) * 1e3:6.3f} "
              f"{b.mean() * 1e3:7.3f}  median ratio {np.median(a) / np.median(b):5.2f}  "
              f"{_layout(last[k])}")
    print(f"  {'GEMMs (mean sum)':16s} fit {gemm_in * 1e3:7.3f}  iso {gemm_iso * 1e3:7.3f}  "
          f"ratio {gemm_in / gemm_iso:5.2f}")
    best = sum(min(v) for v in iso.values())
    print(f"  {'floor as train_peers':16s} {best * 1e3:7.3f} (sum of each product's best call)"
          f"; the step's products in a row {np.median(seq) * 1e3:7.3f} (median step)")
    other = med["step total"] - gemm_in
    for k in sorted(med):
        if k not in last and k != "step total":
            other -= med[k]
            per_step = len(calls[k]) / (args.steps * args.rounds)
            print(f"  {k:22s} {med[k] * 1e3:7.3f}  (median call x calls a step: "
                  f"{np.median(calls[k]) * per_step * 1e3:.3f})")
    print(f"  {'rest (Python)':22s} {other * 1e3:7.3f}")
    print(f"  {'step total':22s} {med['step total'] * 1e3:7.3f}")


def _layout(ab) -> str:
    def one(m):
        return "C" if m.flags.c_contiguous else "F" if m.flags.f_contiguous else "strided"
    return "/".join(one(m) for m in ab) + "/" + "/".join(str(m.dtype) for m in ab[:1])


if __name__ == "__main__":
    main()
