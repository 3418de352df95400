"""Training epoch time of seqc vs PyTorch eager vs Keras 3 on JAX, each in its own process.

    python benchmarks/train_peers.py [--workloads digits_dropout,mlp60k,token_lstm]
                                     [--epochs 5] [--peers torch,keras-jax]
                                     [--profile-steps 40] [--json out.json]

Workloads (issue 19):
- digits_dropout: Dense 64-512-512-10, relu, Dropout(0.2) after each hidden layer, softmax,
  the 1797 shipped digits (x / 16), batch 64, RMSprop, categorical crossentropy;
- mlp60k: Dense 784-512-512-10, relu, softmax, 60,000 generated samples (labels from a random
  linear map), batch 128, Adam, categorical crossentropy;
- token_lstm: Embedding(1000, 32) -> LSTM(32) -> Dense(1, sigmoid) on 5000 generated sequences
  of 50 tokens (4000 trained, 1000 held out), batch 64, Adam, binary crossentropy. Each
  sequence holds exactly one token 7 and one token 9 at random places; the label is whether
  the 7 comes first. No padding, so no mask (mask_zero=False in all three frameworks).

The three frameworks start from seqc's initial weights (saved to a file each worker loads),
use the same batch, optimizer and per-epoch order (seqc's permutation for epoch e,
numpy.random.default_rng([0, e]), fed to Keras with shuffle=False and to PyTorch's loop), and
run one after the other in fresh subprocesses (KERAS_BACKEND=jax is set in the Keras worker's
environment before it imports keras). Each worker reports its epoch times; the median over
epochs 2..N is compared (the first epoch holds Keras' XLA compilation and everyone's warm-up).

Also printed per workload:
- the GEMM floor: the time NumPy takes for just one epoch's matrix products, at their real
  shapes (forward and backward listed separately), timed here best-of-rounds;
- with numba installed (seqc's fused optimizer kernels on), seqc again with SEQC_NUMBA=0
  ("seqc-numpy": the NumPy-only optimizer path);
- seqc's epoch split into forward, backward, optimizer, loss/metrics and the rest (Python
  overhead in the fit loop, batch gathering, callbacks), from cProfile over `--profile-steps`
  steps in a separate worker, scaled to the measured epoch time; forward and backward are
  also given above their share of the floor. cProfile inflates Python-heavy parts (the LSTM's
  step loop) more than BLAS-bound ones: read the split as shares, not as timings.
And the machine: threadpoolctl's BLAS (library, kernel architecture, threads) and a GEMM
calibration (1024^3 float32 products, GFLOP/s) at the start and at the end: when they differ
by more than ~10 %, the machine was busy and the run should be repeated.

A benchmark, not a test. Run it on an otherwise idle machine.
"""

# ruff: noqa: I001, E402
from __future__ import annotations

# _common first: it fixes the thread counts before numpy and torch load their pools.
from _common import ROOT, THREADS

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORKLOADS = ("digits_dropout", "mlp60k", "token_lstm")
PEERS = ("torch", "keras-jax")
HERE = Path(__file__).resolve()


# ---------------------------------------------------------------- workloads (data + shape)

def workload(name: str) -> dict:
    """Data and the network's description: {x, y, x_val, y_val, kind, sizes, ...}."""
    if name == "digits_dropout":
        from seqc.training.data import load_csv

        d = load_csv(str(ROOT / "examples" / "data" / "digits.csv"), "label")
        x = (d.x / 16.0).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[d.y.astype(int)]
        return {"x": x, "y": y, "kind": "mlp", "sizes": [64, 512, 512, 10], "dropout": 0.2,
                "opt": "rmsprop", "batch": 64}
    if name == "mlp60k":
        rng = np.random.default_rng(0)
        x = rng.random((60000, 784), dtype=np.float32)
        w = rng.normal(size=(784, 10)).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[(x @ w).argmax(1)]
        return {"x": x, "y": y, "kind": "mlp", "sizes": [784, 512, 512, 10], "dropout": 0.0,
                "opt": "adam", "batch": 128}
    if name == "token_lstm":
        x, y = token_sequences(5000, seed=0)
        return {"x": x[:4000], "y": y[:4000], "x_val": x[4000:], "y_val": y[4000:],
                "kind": "lstm", "vocab": 1000, "dim": 32, "units": 32, "opt": "adam",
                "batch": 64}
    raise SystemExit(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")


def token_sequences(n: int, seed: int, length: int = 50, vocab: int = 1000):
    """n sequences of `length` tokens in 1..vocab-1, each with exactly one 7 and one 9; label 1
    when the 7 comes first."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab - 2, (n, length)).astype(np.int32)
    x[x >= 7] += 1  # skip 7
    x[x >= 9] += 1  # skip 9
    pos = np.argsort(rng.random((n, length)), axis=1)[:, :2]
    rows = np.arange(n)
    x[rows, pos[:, 0]] = 7
    x[rows, pos[:, 1]] = 9
    y = (pos[:, 0] < pos[:, 1]).astype(np.float32).reshape(-1, 1)
    return x, y


def seqc_model(w: dict, seed: int = 0):
    import seqc

    L = seqc.layers
    if w["kind"] == "mlp":
        s = w["sizes"]
        ls = [L.Input((s[0],))]
        for units in s[1:-1]:
            ls.append(L.Dense(units, activation="relu"))
            if w["dropout"]:
                ls.append(L.Dropout(w["dropout"]))
        ls.append(L.Dense(s[-1], activation="softmax"))
        loss = "categorical_crossentropy"
    else:
        ls = [L.Input((w["x"].shape[1],), dtype="int32"), L.Embedding(w["vocab"], w["dim"]),
              L.LSTM(w["units"]), L.Dense(1, activation="sigmoid")]
        loss = "binary_crossentropy"
    m = seqc.Sequential(ls, seed=seed)
    m.compile(optimizer=w["opt"], loss=loss, metrics=["accuracy"])
    return m


def weight_list(model) -> list[np.ndarray]:
    """seqc's trainable weights in layer order, in Keras' layouts (get_weights order)."""
    return [np.asarray(v) for v in model.params.values()]


def epoch_perm(n: int, epoch: int, seed: int = 0) -> np.ndarray:
    """seqc fit's shuffling for `epoch` (fit(seed=seed)), reused by the peers."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def gemm_shapes(w: dict) -> list[tuple[str, int, int, int, int]]:
    """(phase, count per epoch, M, K, N) of every matrix product in one training epoch."""
    n, b = len(w["x"]), w["batch"]
    batches = [b] * (n // b) + ([n % b] if n % b else [])
    out: list = []
    for bs in sorted(set(batches)):
        c = batches.count(bs)
        if w["kind"] == "mlp":
            s = w["sizes"]
            for i, (k, m) in enumerate(zip(s[:-1], s[1:])):
                out.append(("forward", c, bs, k, m))
                out.append(("backward", c, k, bs, m))  # kernel gradient
                if i:
                    out.append(("backward", c, bs, m, k))  # input gradient
        else:
            t, e, u = w["x"].shape[1], w["dim"], w["units"]
            out += [("forward", c, t * bs, e + 1, 4 * u),  # [x, 1] @ [kernel; bias]
                    ("forward", c * (t - 1), bs, u, 4 * u),  # h @ recurrent_kernel per step
                    ("forward", c, bs, u, 1),
                    ("backward", c, u, bs, 1), ("backward", c, bs, 1, u),
                    ("backward", c * (t - 1), bs, 4 * u, u),  # dz @ recurrent_kernel.T
                    ("backward", c, e + 1, t * bs, 4 * u),  # kernel gradient
                    ("backward", c, u, t * bs, 4 * u),  # recurrent kernel gradient
                    ("backward", c, t * bs, 4 * u, e)]  # gradient into the embedding
    return out


def gemm_floor(w: dict, rounds: int = 7) -> dict:
    """Seconds NumPy takes for one epoch's products, per phase (best of `rounds` per shape)."""
    rng = np.random.default_rng(0)
    floor = {"forward": 0.0, "backward": 0.0}
    for phase, count, m, k, n in gemm_shapes(w):
        a = rng.random((m, k), dtype=np.float32)
        bm = rng.random((k, n), dtype=np.float32)
        reps = max(1, min(200, int(2e8 / max(1, 2 * m * k * n))))
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(reps):
                a @ bm
            best = min(best, (time.perf_counter() - t) / reps)
        floor[phase] += best * count
    floor["total"] = floor["forward"] + floor["backward"]
    return floor


# ---------------------------------------------------------------- the machine

def machine() -> dict:
    info: dict = {"threads": THREADS, "cpus": os.cpu_count()}
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: d.get(k) for k in ("internal_api", "architecture", "num_threads",
                                                "version")}
                        for d in threadpool_info() if d.get("user_api") == "blas"]
    except ImportError:
        info["blas"] = "threadpoolctl not installed (pip install -e '.[bench]')"
    info["numba"] = numba_version()
    return info


def numba_version() -> str | None:
    """numba's version when seqc's fused optimizer kernels are on (the `fast` extra), else
    None: then seqc's optimizers run their NumPy path."""
    from seqc.training import _fused

    if not _fused.enabled():
        return None
    import numba

    return numba.__version__


def calibrate(n: int = 1024, rounds: int = 10) -> float:
    """Best-of-rounds GFLOP/s of an n^3 float32 product."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(rounds))
    return 2 * n ** 3 / best / 1e9


def _timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


# ---------------------------------------------------------------- workers (subprocesses)

def run_worker(framework: str, name: str, d: str, epochs: int, seed: int = 0,
               init: str = "shared", extra_env: dict | None = None) -> dict:
    """Runs this file as a worker in a fresh process; returns its JSON result."""
    env = {**os.environ, **(extra_env or {})}
    if framework.startswith("keras-"):
        env["KERAS_BACKEND"] = framework.split("-", 1)[1]
    args = [sys.executable, str(HERE), "--worker", framework, "--workloads", name,
            "--dir", d, "--epochs", str(epochs), "--seed", str(seed), "--init", init]
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout).strip().splitlines()[-1:] or ["failed"]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def prepare(name: str, d: str, seeds=(0,)) -> dict:
    """Writes the workload's data, and seqc's initial weights for each seed, into `d`."""
    w = workload(name)
    arrays = {k: w[k] for k in ("x", "y", "x_val", "y_val") if k in w}
    np.savez(os.path.join(d, "data.npz"), **arrays)
    for seed in seeds:
        np.savez(os.path.join(d, f"shared{seed}.npz"), *weight_list(seqc_model(w, seed)))
    return w


def _load(d: str, init: str | None) -> tuple[dict, list[np.ndarray] | None]:
    """The data, and the initial weights in file `init` (None: each framework's own init)."""
    data = dict(np.load(os.path.join(d, "data.npz")))
    if init is None:
        return data, None
    with np.load(os.path.join(d, f"{init}.npz")) as f:
        weights = [f[f"arr_{i}"] for i in range(len(f.files))]
    return data, weights


def worker(framework: str, name: str, d: str, epochs: int, seed: int, init: str,
           profile_steps: int = 0) -> dict:
    w = workload(name)  # the description; the arrays come from the file
    data, weights = _load(d, None if init == "own" else f"{init}{seed}")
    w.update(data)
    fn = {"seqc": _seqc, "torch": _torch}.get(framework, _keras)
    return fn(w, weights, epochs, seed, init, profile_steps)


def _result(times: list[float], acc: float | None, losses: list[float]) -> dict:
    return {"epoch_s": statistics.median(times[1:] or times), "times": times,
            "val_accuracy": acc, "losses": losses}


def _seqc(w, weights, epochs, seed, init, profile_steps):
    import seqc  # noqa: F401
    from _common import EpochTimer

    model = seqc_model(w, seed)
    if weights is not None:
        for k, v in zip(model.params, weights):
            model.params[k][...] = v
    if profile_steps:
        return _profile(model, w, profile_steps)
    timer = EpochTimer()
    losses = []
    for e in range(epochs):
        h = model.fit(w["x"], w["y"], batch_size=w["batch"], epochs=e + 1, initial_epoch=e,
                      seed=seed, verbose=0, callbacks=[timer])
        losses.append(h.history["loss"][-1])
    acc = None
    if "x_val" in w:
        p = model.predict(w["x_val"], batch_size=256)
        acc = float(((p > 0.5) == (w["y_val"] > 0.5)).mean())
    return _result(timer.times, acc, losses)


# cProfile categories: (file suffix, function) whose cumulative time is the phase.
_PHASES = {"forward": [("executor.py", "forward")], "backward": [("executor.py", "backward")],
           "optimizer": [("optimizer_base.py", "apply")],
           "loss/metrics": [("loss_heads.py", "heads_loss_and_grad"),
                            ("fit_logs.py", "update_metrics"), ("fit_logs.py", "log_dict")]}


def _profile(model, w, steps: int) -> dict:
    import cProfile
    import pstats

    n = min(len(w["x"]), steps * w["batch"])
    x, y = w["x"][:n], w["y"][:n]
    model.fit(x[:w["batch"] * 2], y[:w["batch"] * 2], batch_size=w["batch"], verbose=0)  # warm
    pr = cProfile.Profile()
    pr.enable()
    model.fit(x, y, batch_size=w["batch"], verbose=0, seed=0)
    pr.disable()
    stats = pstats.Stats(pr).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
    total = sum(ct for (f, _, fn), (_, _, _, ct, _) in stats.items()
                if f.endswith("fit.py") and fn == "fit")
    out = {}
    for phase, keys in _PHASES.items():
        out[phase] = sum(ct for (f, _, fn), (_, _, _, ct, _) in stats.items()
                         if any(f.endswith(s) and fn == name for s, name in keys))
    out["python/other"] = total - sum(out.values())
    return {"profile_total_s": total, "shares": {k: v / total for k, v in out.items()}}


def _torch(w, weights, epochs, seed, init, profile_steps):
    import torch
    from torch import nn

    torch.set_num_threads(THREADS)
    torch.manual_seed(seed)  # dropout, and the initial weights when init is "own"
    if w["kind"] == "mlp":
        s, mods, it = w["sizes"], [], iter(weights)
        for i, (k, m) in enumerate(zip(s[:-1], s[1:])):
            lin = nn.Linear(k, m)
            if weights is not None:
                with torch.no_grad():
                    lin.weight.copy_(torch.from_numpy(next(it).T.copy()))
                    lin.bias.copy_(torch.from_numpy(next(it)))
            mods.append(lin)
            if i < len(s) - 2:
                mods.append(nn.ReLU())
                if w["dropout"]:
                    mods.append(nn.Dropout(w["dropout"]))
        net = nn.Sequential(*mods)  # softmax lives in CrossEntropyLoss, as PyTorch users write
        lossf = nn.CrossEntropyLoss()
        yt = torch.from_numpy(w["y"].argmax(1))
        xt = torch.from_numpy(w["x"])
    else:
        net = _TorchLSTM(w, weights)
        lossf = nn.BCEWithLogitsLoss()
        yt = torch.from_numpy(w["y"])
        xt = torch.from_numpy(w["x"].astype(np.int64))
    opt = (torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7) if w["opt"] == "adam" else
           torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7))
    n, b = len(xt), w["batch"]
    times, losses = [], []
    for e in range(epochs):
        net.train()
        perm = torch.from_numpy(epoch_perm(n, e, seed))
        t = time.perf_counter()
        total = 0.0
        for i in range(0, n, b):
            idx = perm[i:i + b]
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        times.append(time.perf_counter() - t)
        losses.append(float(total) / n)
    acc = None
    if "x_val" in w:
        net.eval()
        with torch.no_grad():
            logits = net(torch.from_numpy(w["x_val"].astype(np.int64))).numpy()
        acc = float(((logits > 0) == (w["y_val"] > 0.5)).mean())
    return _result(times, acc, losses)


def _TorchLSTM(w, weights):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(w["vocab"], w["dim"])
            self.rnn = nn.LSTM(w["dim"], w["units"], batch_first=True)
            self.fc = nn.Linear(w["units"], 1)
            if weights is not None:
                emb, k, rk, bias, dk, db = weights
                with torch.no_grad():
                    self.emb.weight.copy_(torch.from_numpy(emb))
                    # Keras' gates i, f, c, o are PyTorch's i, f, g, o: same order.
                    self.rnn.weight_ih_l0.copy_(torch.from_numpy(k.T.copy()))
                    self.rnn.weight_hh_l0.copy_(torch.from_numpy(rk.T.copy()))
                    self.rnn.bias_ih_l0.copy_(torch.from_numpy(bias))
                    self.rnn.bias_hh_l0.zero_()
                    self.fc.weight.copy_(torch.from_numpy(dk.T.copy()))
                    self.fc.bias.copy_(torch.from_numpy(db))

        def forward(self, tokens):
            return self.fc(self.rnn(self.emb(tokens))[1][0][-1])

        def keras_weights(self) -> list[np.ndarray]:
            """These weights in Keras' layouts (get_weights order): PyTorch's two LSTM biases
            summed into Keras' one."""
            r = self.rnn
            return [t.detach().numpy().copy() for t in (
                self.emb.weight, r.weight_ih_l0.T, r.weight_hh_l0.T, r.bias_ih_l0 + r.bias_hh_l0,
                self.fc.weight.T, self.fc.bias)]

    return Net()


def _keras(w, weights, epochs, seed, init, profile_steps):
    import keras
    from _common import EpochTimer

    keras.utils.set_random_seed(seed)
    if w["kind"] == "mlp":
        s = w["sizes"]
        ls = [keras.Input((s[0],))]
        for units in s[1:-1]:
            ls.append(keras.layers.Dense(units, activation="relu"))
            if w["dropout"]:
                ls.append(keras.layers.Dropout(w["dropout"]))
        ls.append(keras.layers.Dense(s[-1], activation="softmax"))
        loss = "categorical_crossentropy"
    else:
        ls = [keras.Input((w["x"].shape[1],), dtype="int32"),
              keras.layers.Embedding(w["vocab"], w["dim"]), keras.layers.LSTM(w["units"]),
              keras.layers.Dense(1, activation="sigmoid")]
        loss = "binary_crossentropy"
    model = keras.Sequential(ls)
    if weights is not None:
        model.set_weights(weights)
    opt = keras.optimizers.Adam() if w["opt"] == "adam" else keras.optimizers.RMSprop()
    model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    timer = _KerasEpochTimer(keras, EpochTimer)
    n = len(w["x"])
    losses = []
    for e in range(epochs):
        perm = epoch_perm(n, e, seed)
        h = model.fit(w["x"][perm], w["y"][perm], batch_size=w["batch"], epochs=e + 1,
                      initial_epoch=e, shuffle=False, verbose=0, callbacks=[timer])
        losses.append(float(h.history["loss"][-1]))
    acc = None
    if "x_val" in w:
        p = model.predict(w["x_val"], batch_size=256, verbose=0)
        acc = float(((p > 0.5) == (w["y_val"] > 0.5)).mean())
    return _result(timer.times, acc, losses)


def keras_file_worker(d: str, epochs: int, seed: int, batch: int) -> dict:
    """Trains `d`/model.json (architecture, optimizer class and rate, loss) from `d`/weights.npz on
    `d`/data.npz: the Keras
    peer of train_mlp.py, train_cnn.py and train_rnn.py (_common.keras_jax_epochs)."""
    import keras
    from _common import EpochTimer

    spec = json.loads(Path(d, "model.json").read_text())
    model = keras.models.model_from_json(spec["model"])
    with np.load(os.path.join(d, "weights.npz")) as f:
        model.set_weights([f[f"arr_{i}"] for i in range(len(f.files))])
    opt = spec["optimizer"]
    model.compile(optimizer=getattr(keras.optimizers, opt["class"])(
        learning_rate=opt["learning_rate"]), loss=spec["loss"])
    data = np.load(os.path.join(d, "data.npz"))
    x, y = data["x"], data["y"]
    timer = _KerasEpochTimer(keras, EpochTimer)
    losses = []
    for e in range(epochs):
        perm = epoch_perm(len(x), e, seed)
        h = model.fit(x[perm], y[perm], batch_size=batch, epochs=e + 1, initial_epoch=e,
                      shuffle=False, verbose=0, callbacks=[timer])
        losses.append(float(h.history["loss"][-1]))
    return _result(timer.times, None, losses)


def _KerasEpochTimer(keras, base):
    class T(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []

        on_epoch_begin = base.on_epoch_begin
        on_epoch_end = base.on_epoch_end

    return T()


# ---------------------------------------------------------------- the report

def bench(name: str, epochs: int, peers: list[str], profile_steps: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        w = prepare(name, d)
        row: dict = {"workload": name, "samples": len(w["x"]), "batch": w["batch"],
                     "gemm_floor_s": gemm_floor(w)}
        for fw in ("seqc", *peers):
            row[fw] = run_worker(fw, name, d, epochs)
        if numba_version():  # the same without the fused kernels, for comparison
            row["seqc-numpy"] = run_worker("seqc", name, d, epochs, extra_env={"SEQC_NUMBA": "0"})
        if profile_steps:
            row["seqc_profile"] = run_worker("seqc-profile", name, d, profile_steps)
    return row


def print_bench(r: dict) -> None:
    print(f"\n== {r['workload']}: {r['samples']} samples, batch {r['batch']}, {THREADS} threads")
    s = r["seqc"].get("epoch_s")
    for fw in ("seqc", "seqc-numpy", *PEERS):
        if fw not in r:
            continue
        v = r[fw]
        if "error" in v:
            print(f"  {fw:10s} failed: {v['error']}")
            continue
        line = f"  {fw:10s} epoch {v['epoch_s'] * 1e3:9.1f} ms"
        if fw != "seqc" and s:
            line += f"   seqc/{fw} {s / v['epoch_s']:.2f}x"
        if v.get("val_accuracy") is not None:
            line += f"   held-out accuracy {v['val_accuracy']:.3f}"
        print(line)
    f = r["gemm_floor_s"]
    print(f"  GEMM floor {f['total'] * 1e3:9.1f} ms (forward {f['forward'] * 1e3:.1f}, "
          f"backward {f['backward'] * 1e3:.1f})", end="")
    print(f"   seqc/floor {s / f['total']:.2f}x" if s else "")
    p = r.get("seqc_profile")
    if s and p and "shares" in p:
        sh = p["shares"]
        parts = {k: v * s for k, v in sh.items()}
        above = {**parts, "forward": parts["forward"] - f["forward"],
                 "backward": parts["backward"] - f["backward"]}
        print(f"  seqc above the floor {(s - f['total']) * 1e3:.1f} ms, by phase (profile shares "
              "scaled to the epoch):")
        print("    " + "   ".join(f"{k} {v * 1e3:.1f} ms" for k, v in above.items()))
        print("    profile shares: " + "   ".join(f"{k} {v:.0%}" for k, v in sh.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--profile-steps", type=int, default=40)
    ap.add_argument("--json", default=None)
    # worker mode (internal)
    ap.add_argument("--worker", default=None)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--init", default="shared", choices=("shared", "own", "torchinit"))
    args = ap.parse_args()
    if args.worker == "keras-file":
        print(json.dumps(keras_file_worker(args.dir, args.epochs, args.seed, args.batch)))
        return
    if args.worker:
        fw = args.worker
        prof = args.epochs if fw == "seqc-profile" else 0
        out = worker("seqc" if prof else fw, args.workloads, args.dir, args.epochs, args.seed,
                     args.init, prof)
        print(json.dumps(out))
        return
    peers = [p for p in args.peers.split(",") if p]
    run = {"machine": machine(), "gflops_start": calibrate(), "rows": []}
    print(f"machine: {run['machine']}")
    print(f"GEMM calibration at start: {run['gflops_start']:.0f} GFLOP/s (1024^3 float32)")
    for name in args.workloads.split(","):
        row = bench(name, args.epochs, peers, args.profile_steps)
        print_bench(row)
        run["rows"].append(row)
    run["gflops_end"] = calibrate()
    print(f"\nGEMM calibration at end: {run['gflops_end']:.0f} GFLOP/s "
          f"(start {run['gflops_start']:.0f}; a gap over ~10 % means a busy machine)")
    if args.json:
        Path(args.json).write_text(json.dumps(run, indent=1))


if __name__ == "__main__":
    main()
