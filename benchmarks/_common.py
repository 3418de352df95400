"""Shared by the benchmark scripts: thread setup, the memory sampler, the epoch timer, the
PyTorch training loop and the onnxruntime timing loop. Import it before numpy/torch load."""

from __future__ import annotations

import os

# Thread counts must be fixed before numpy / torch load their thread pools.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")

import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seqc.training.callbacks import Callback  # noqa: E402

THREADS = 2
# Seconds to pause before timing one framework after the other ran: the thread pools of
# OpenBLAS, PyTorch's OpenMP and onnxruntime spin-wait for a while after their last job, and on
# a 2-core machine a spinning pool steals the cores of whatever is timed next.
SETTLE_S = 0.3


class PeakRSS:
    """Samples this process's resident memory every 2 ms; `.peak_growth_mb` after the block."""

    def __enter__(self):
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())
        self.peak_growth_mb = (self.peak - self.base) / 2**20


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class EpochTimer(Callback):
    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t)


def torch_trainer(net, x, y, loss_name, opt_name, batch, seed, lr=1e-3):
    """A function that trains `net` for one epoch (PyTorch's usual loop, shuffled with seeded
    permutations like seqc's fit; Keras' epsilons) and returns seconds."""
    import torch

    torch.set_num_threads(THREADS)
    opt = {"adam": lambda p: torch.optim.Adam(p, lr=lr, eps=1e-7),
           "rmsprop": lambda p: torch.optim.RMSprop(p, lr=lr, alpha=0.9, eps=1e-7)}[opt_name](
        net.parameters())
    if loss_name in ("binary_crossentropy", "mse"):
        # The net ends in one logit (or value) per sample: labels as (n, 1) floats.
        lossf = torch.nn.BCEWithLogitsLoss() if loss_name != "mse" else torch.nn.MSELoss()
        yt = torch.from_numpy(y.astype(np.float32).reshape(len(y), -1))
    elif loss_name == "sparse_categorical_crossentropy":
        ce = torch.nn.CrossEntropyLoss()

        def lossf(out, t):  # one label per sample or per step: (N, [T,] C) logits, (N, [T])
            return ce(out.reshape(-1, out.shape[-1]), t.reshape(-1))

        yt = torch.from_numpy(y.astype(np.int64).reshape(len(y), -1))
    else:
        lossf = torch.nn.CrossEntropyLoss()
        yt = torch.from_numpy(y.argmax(1))
    xt = torch.from_numpy(x)
    rng = np.random.default_rng(seed)
    net.train()

    def epoch() -> float:
        t = time.perf_counter()
        perm = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        return time.perf_counter() - t

    return epoch


def torch_scale(scale: float):
    """An nn.Module computing x * scale: input scaling as a PyTorch user writes it into the
    model (Keras' Rescaling); torch.onnx.export turns it into one Mul."""
    from torch import nn

    class Scale(nn.Module):
        def forward(self, t):
            return t * scale

    return Scale()


def _session(path: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s, s.get_inputs()[0].name


def ort_speeds(paths: list[str], n_in: int | tuple | list, rounds: int = 5
               ) -> list[tuple[float, float]]:
    """(batch-1 latency in us, batch-1024 rows/s) per model. The models take turns, a block of
    runs each per round, so drift in machine load hits all of them alike; blocks are long
    enough that the cold-cache first runs after a switch barely move the medians."""
    # One per-sample input shape for all models, or one per model (NHWC vs NCHW inputs).
    shapes = n_in if isinstance(n_in, list) else [n_in] * len(paths)
    shapes = [s if isinstance(s, tuple) else (s,) for s in shapes]
    x1s = [np.random.default_rng(1).random((1, *s), dtype=np.float32) for s in shapes]
    xbs = [np.random.default_rng(2).random((1024, *s), dtype=np.float32) for s in shapes]
    return ort_speeds_on(paths, x1s, xbs, rounds)


def ort_speeds_on(paths: list[str], x1s: list[np.ndarray], xbs: list[np.ndarray],
                  rounds: int = 5) -> list[tuple[float, float]]:
    """`ort_speeds` on given inputs, one batch-1 and one large batch per model (token ids must
    be real ids, not random floats): (latency in us, rows/s)."""
    sessions = [_session(p) for p in paths]
    lat: list[list[float]] = [[] for _ in paths]
    thr: list[list[float]] = [[] for _ in paths]
    for _ in range(rounds):
        for i, (s, name) in enumerate(sessions):
            x1, xb = x1s[i], xbs[i]
            time.sleep(SETTLE_S)
            for _ in range(20):  # warm-up after the switch
                s.run(None, {name: x1})
            for _ in range(200):
                t = time.perf_counter()
                s.run(None, {name: x1})
                lat[i].append(time.perf_counter() - t)
            s.run(None, {name: xb})
            for _ in range(20):
                t = time.perf_counter()
                s.run(None, {name: xb})
                thr[i].append(time.perf_counter() - t)
    return [(statistics.median(a) * 1e6, len(xb) / statistics.median(b))
            for a, b, xb in zip(lat, thr, xbs)]




def alternate_epochs(model, x, y, batch: int, epochs: int, torch_epoch) -> dict:
    """Train seqc's `model` and (when `torch_epoch` is given) PyTorch for `epochs` epochs,
    alternating one epoch each, so drift in machine load hits both alike. The first epoch of
    each (allocations, warm-up) runs under the memory sampler and is left out of the median."""
    timer = EpochTimer()
    tt: list[float] = []
    out: dict = {}
    for e in range(epochs):
        time.sleep(SETTLE_S)
        with PeakRSS() as mem_s:
            model.fit(x, y, initial_epoch=e, epochs=e + 1, batch_size=batch,
                      callbacks=[timer], verbose=0, seed=0)
        if e == 0:
            out["seqc_peak_rss_mb"] = mem_s.peak_growth_mb
        if torch_epoch is not None:
            time.sleep(SETTLE_S)
            with PeakRSS() as mem_t:
                tt.append(torch_epoch())
            if e == 0:
                out["torch_peak_rss_mb"] = mem_t.peak_growth_mb
    out["seqc_epoch_s"] = statistics.median(timer.times[1:] or timer.times)
    if tt:
        out["torch_epoch_s"] = statistics.median(tt[1:] or tt)
        out["epoch_ratio"] = out["seqc_epoch_s"] / out["torch_epoch_s"]
    return out


def keras_jax_epochs(kmodel, x, y, batch: int, epochs: int, seed: int = 0) -> dict:
    """Train a compiled Keras model (built here, on any backend, holding seqc's initial
    weights; its optimizer's class and learning rate are used, other arguments default) for
    `epochs` epochs in a fresh process on the JAX backend, with seqc fit's per-epoch order
    (shuffle=False on numpy.random.default_rng([seed, epoch])'s permutation).
    {"keras_jax_epoch_s": median of epochs 2..N} or {"keras_jax_error": ...}."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        # The architecture as JSON and the weights as arrays: a .keras file saved on the torch
        # backend does not train on JAX (torch code runs in its fit).
        Path(d, "model.json").write_text(json.dumps({
            "model": kmodel.to_json(), "loss": kmodel.loss,
            "optimizer": {"class": type(kmodel.optimizer).__name__,
                          "learning_rate": float(kmodel.optimizer.learning_rate)}}))
        np.savez(os.path.join(d, "weights.npz"), *kmodel.get_weights())
        np.savez(os.path.join(d, "data.npz"), x=x, y=y)
        r = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("train_peers.py")), "--worker",
             "keras-file", "--dir", d, "--epochs", str(epochs), "--seed", str(seed),
             "--batch", str(batch)],
            env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True, text=True)
    if r.returncode != 0:
        return {"keras_jax_error": (r.stderr or r.stdout).strip().splitlines()[-1:]}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return {"keras_jax_epoch_s": out["epoch_s"]}


def keras_layers():
    """keras.layers, imported on the torch backend when none is chosen (Keras' default,
    TensorFlow, is not installed): for building models that keras_jax_epochs then trains."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


def print_row(r: dict) -> None:
    print(f"\n== {r['workload']}: {r['samples']} samples, batch {r['batch']}, {THREADS} threads")
    print(f"  epoch time   seqc {r['seqc_epoch_s'] * 1e3:9.1f} ms", end="")
    if "torch_epoch_s" in r:
        print(f"   torch {r['torch_epoch_s'] * 1e3:9.1f} ms   seqc/torch {r['epoch_ratio']:.2f}x")
    else:
        print()
    if "keras_jax_epoch_s" in r:
        k = r["keras_jax_epoch_s"]
        print(f"  epoch time   keras-jax {k * 1e3:9.1f} ms   "
              f"seqc/keras-jax {r['seqc_epoch_s'] / k:.2f}x")
    elif "keras_jax_error" in r:
        print(f"  keras-jax failed: {r['keras_jax_error']}")
    print(f"  peak RSS +   seqc {r['seqc_peak_rss_mb']:9.1f} MB", end="")
    print(f"   torch {r['torch_peak_rss_mb']:9.1f} MB" if "torch_peak_rss_mb" in r else "")
    print(f"  ORT b=1      seqc {r['seqc_ort_b1_us']:9.1f} us", end="")
    if "torch_ort_b1_us" in r:
        print(f"   torch {r['torch_ort_b1_us']:9.1f} us   seqc/torch {r['latency_ratio']:.2f}x")
    else:
        print()
    print(f"  ORT b=1024   seqc {r['seqc_ort_b1024_per_s']:9.0f} /s", end="")
    if "torch_ort_b1024_per_s" in r:
        print(f"   torch {r['torch_ort_b1024_per_s']:9.0f} /s   seqc/torch "
              f"{r['throughput_ratio']:.2f}x")
    else:
        print()


