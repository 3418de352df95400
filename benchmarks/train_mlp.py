"""Training and inference speed of seqc vs PyTorch eager on three MLP workloads, side by side.

    python benchmarks/train_mlp.py [--epochs 5] [--workloads breast_cancer,digits,mnist_like]
                                   [--json out.json]

For each workload both frameworks start from identical weights (seqc's initializers copied into
torch), use the same batch size, optimizer and shuffling, and 2 threads. Printed per workload:
epoch time (median over epochs 2..N), the seqc/PyTorch ratio (< 1 means seqc is faster), peak
RSS growth while training, and onnxruntime batch-1 latency / batch-1024 throughput of seqc's
model.onnx vs torch.onnx.export's graph of the same network. A benchmark, not a test.
"""

from __future__ import annotations

import os

# Thread counts must be fixed before numpy / torch load their thread pools.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import seqc  # noqa: E402
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


# ---- workloads ----
def _csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from seqc.training.data import load_csv

    d = load_csv(str(path), "label")
    return d.x.astype(np.float32), d.y


def workloads(selected: list[str]):
    data = ROOT / "examples" / "data"
    if "breast_cancer" in selected:
        x, y = _csv(data / "breast_cancer.csv")
        y = y.astype(np.float32).reshape(-1, 1)
        layers = [("dense", 32, "relu"), ("dense", 1, "sigmoid")]
        yield ("breast_cancer", x, y, layers, 0.0, "adam", "binary_crossentropy", 32, True)
    if "digits" in selected:
        x, y = _csv(data / "digits.csv")
        y = np.eye(10, dtype=np.float32)[y.astype(int)]
        layers = [("dense", 512, "relu"), ("dropout", 0.2), ("dense", 512, "relu"),
                  ("dropout", 0.2), ("dense", 10, "softmax")]
        yield ("digits", x / 16.0, y, layers, 0.2, "rmsprop", "categorical_crossentropy", 32,
               False)
    if "mnist_like" in selected:
        rng = np.random.default_rng(0)
        x = rng.random((60000, 784), dtype=np.float32)
        w = rng.normal(size=(784, 10)).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[(x @ w).argmax(1)]
        layers = [("dense", 512, "relu"), ("dense", 512, "relu"), ("dense", 10, "softmax")]
        yield ("mnist_like 784-512-512-10", x, y, layers, 0.0, "adam",
               "categorical_crossentropy", 128, False)


def seqc_model(n_in: int, layers, normalize: bool):
    ls = [seqc.layers.Input((n_in,))]
    if normalize:
        ls.append(seqc.layers.Normalization())
    for spec in layers:
        if spec[0] == "dense":
            ls.append(seqc.layers.Dense(spec[1], activation=spec[2]))
        else:
            ls.append(seqc.layers.Dropout(spec[1]))
    return seqc.Sequential(ls, seed=0)


def torch_model(model, layers, normalize: bool, x):
    import torch
    from torch import nn

    mods: list[nn.Module] = []
    params = model.params
    if normalize:
        mean = params["normalization/mean"].reshape(-1)
        std = np.maximum(np.sqrt(params["normalization/variance"].reshape(-1)), 1e-7)

        class Norm(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("mean", torch.from_numpy(mean.copy()))
                self.register_buffer("std", torch.from_numpy(std.astype(np.float32)))

            def forward(self, t):
                return (t - self.mean) / self.std

        mods.append(Norm())
    dense_names = [n.name for n in model.graph.nodes if n.op == "Dense"]
    di = 0
    for spec in layers:
        if spec[0] == "dense":
            k = params[f"{dense_names[di]}/kernel"]
            lin = nn.Linear(k.shape[0], k.shape[1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(k.T.copy()))
                lin.bias.copy_(torch.from_numpy(params[f"{dense_names[di]}/bias"]))
            mods.append(lin)
            di += 1
            if spec[2] == "relu":
                mods.append(nn.ReLU())
            # sigmoid / softmax live in the loss (BCEWithLogits / CrossEntropy), as PyTorch
            # users write it; the exported inference graph adds them back.
        else:
            mods.append(nn.Dropout(spec[1]))
    return nn.Sequential(*mods)


def torch_trainer(net, x, y, loss_name, opt_name, batch, seed):
    """A function that trains `net` for one epoch (PyTorch's usual loop) and returns seconds."""
    import torch

    torch.set_num_threads(THREADS)
    opt = {"adam": lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-7),
           "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-7)}[opt_name](
        net.parameters())
    if loss_name == "binary_crossentropy":
        lossf = torch.nn.BCEWithLogitsLoss()
        yt = torch.from_numpy(y)
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


def _session(path: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s, s.get_inputs()[0].name


def ort_speeds(paths: list[str], n_in: int, rounds: int = 5) -> list[tuple[float, float]]:
    """(batch-1 latency in us, batch-1024 rows/s) per model. The models take turns, a block of
    runs each per round, so drift in machine load hits all of them alike; blocks are long
    enough that the cold-cache first runs after a switch barely move the medians."""
    sessions = [_session(p) for p in paths]
    x1 = np.random.default_rng(1).random((1, n_in), dtype=np.float32)
    xb = np.random.default_rng(2).random((1024, n_in), dtype=np.float32)
    lat: list[list[float]] = [[] for _ in paths]
    thr: list[list[float]] = [[] for _ in paths]
    for _ in range(rounds):
        for i, (s, name) in enumerate(sessions):
            time.sleep(SETTLE_S)
            for _ in range(20):  # warm-up after the switch
                s.run(None, {name: x1})
            for _ in range(200):
                t = time.perf_counter()
                s.run(None, {name: x1})
                lat[i].append(time.perf_counter() - t)
            s.run(None, {name: xb})
            for _ in range(5):
                t = time.perf_counter()
                s.run(None, {name: xb})
                thr[i].append(time.perf_counter() - t)
    return [(statistics.median(a) * 1e6, 1024 / statistics.median(b)) for a, b in zip(lat, thr)]


def torch_export(net, layers, n_in: int, path: str) -> None:
    import torch

    last = layers[-1]
    act = {"sigmoid": torch.nn.Sigmoid(), "softmax": torch.nn.Softmax(dim=-1)}.get(last[2])
    infer = torch.nn.Sequential(net, act) if act is not None else net
    infer.eval()
    torch.onnx.export(infer, (torch.zeros(1, n_in),), path, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}},
                      opset_version=17, dynamo=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workloads", default="breast_cancer,digits,mnist_like")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        torch = None
        print("torch is not installed: printing seqc figures only (pip install -e '.[bench]')")

    results = []
    for (name, x, y, layers, _split, opt, loss, batch, normalize) in workloads(
            args.workloads.split(",")):
        model = seqc_model(x.shape[1], layers, normalize)
        model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
        if normalize:  # adapt once, outside the timed epochs, for both frameworks
            model.fit(x[:1], y[:1], epochs=0, verbose=0)
        net = torch_model(model, layers, normalize, x) if torch else None
        # Epochs alternate between the two frameworks, so drift in machine load hits both
        # alike; the first epoch of each (allocations, warm-up) runs under the memory sampler
        # and is left out of the median.
        timer = EpochTimer()
        torch_epoch = torch_trainer(net, x, y, loss, opt, batch, 0) if torch else None
        tt: list[float] = []
        for e in range(args.epochs):
            time.sleep(SETTLE_S)
            with PeakRSS() as mem_s:
                model.fit(x, y, initial_epoch=e, epochs=e + 1, batch_size=batch,
                          callbacks=[timer], verbose=0, seed=0)
            if e == 0:
                seqc_mem = mem_s.peak_growth_mb
            if torch_epoch is not None:
                time.sleep(SETTLE_S)
                with PeakRSS() as mem_t:
                    tt.append(torch_epoch())
                if e == 0:
                    torch_mem = mem_t.peak_growth_mb
        row = {"workload": name, "samples": len(x), "batch": batch,
               "seqc_epoch_s": statistics.median(timer.times[1:] or timer.times),
               "seqc_peak_rss_mb": seqc_mem}
        if torch:
            row.update(torch_epoch_s=statistics.median(tt[1:] or tt), torch_peak_rss_mb=torch_mem)
            row["epoch_ratio"] = row["seqc_epoch_s"] / row["torch_epoch_s"]
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "seqc.onnx")
            model.export(p)
            paths = [p]
            if torch:
                paths.append(os.path.join(d, "torch.onnx"))
                torch_export(net, layers, x.shape[1], paths[1])
            speeds = ort_speeds(paths, x.shape[1])
            row["seqc_ort_b1_us"], row["seqc_ort_b1024_per_s"] = speeds[0]
            if torch:
                row["torch_ort_b1_us"], row["torch_ort_b1024_per_s"] = speeds[1]
                row["latency_ratio"] = row["seqc_ort_b1_us"] / row["torch_ort_b1_us"]
                row["throughput_ratio"] = (row["seqc_ort_b1024_per_s"]
                                           / row["torch_ort_b1024_per_s"])
        results.append(row)
        _print_row(row)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def _print_row(r: dict) -> None:
    print(f"\n== {r['workload']}: {r['samples']} samples, batch {r['batch']}, {THREADS} threads")
    print(f"  epoch time   seqc {r['seqc_epoch_s'] * 1e3:9.1f} ms", end="")
    if "torch_epoch_s" in r:
        print(f"   torch {r['torch_epoch_s'] * 1e3:9.1f} ms   seqc/torch {r['epoch_ratio']:.2f}x")
    else:
        print()
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


if __name__ == "__main__":
    main()
