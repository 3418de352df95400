"""The two recurrent examples in seqc vs PyTorch eager (nn.LSTM, nn.GRU), side by side.

    python benchmarks/train_rnn.py [--epochs 12] [--workloads sunspots,sequences] [--json out.json]

- sunspots: examples/sunspots_lstm.json, Normalization -> LSTM(32) -> Dense(1) -> Rescaling on
  the 285 24-year windows (1 feature), batch 32, Adam, mse.
- sequences: examples/sequence_classifier.json, Embedding(3, 8, mask_zero) -> LSTM(32) ->
  Dense(1, sigmoid) on 2000 post-padded token strings of 20 steps, batch 32, Adam, binary
  crossentropy. In PyTorch the mask becomes the output of nn.LSTM at each string's last
  valid step (a gather at length - 1): with padding at the end that is exactly the state
  Keras' mask keeps over the padded steps, and torch.onnx.export can export it.
  `--torch-mask packed` trains with pack_padded_sequence instead (the other usual PyTorch
  form; torch.onnx.export fails on it with enforce_sorted=False, so the exported graph is the
  gather form either way); `--torch-mask none` runs plain nn.LSTM's last state over the
  padding (a different function: it has seen the padding).
- sunspots_gru, sequences_gru: the same two networks with GRU(32) (Keras' default
  reset_after=True) in place of the LSTM, against nn.GRU.

Both frameworks start from identical weights (seqc's initializers copied into torch: Keras'
LSTM gates i, f, c, o are PyTorch's i, f, g, o, so kernel -> weight_ih.T, recurrent_kernel ->
weight_hh.T, bias -> bias_ih with bias_hh = 0; Keras' reset_after GRU is PyTorch's GRU with
the gates z, r, h reordered to r, z, n, bias[0] -> bias_ih and bias[1] -> bias_hh; the
Normalization statistics adapted by seqc become constants), use the same batch size, the
same optimizer and the same per-epoch shuffling (one permutation sequence for both), and 2
threads. Both run in one process, so
seqc's malloc setting (seqc/training/heap.py, made on its first forward) applies to PyTorch
too; run with SEQC_MALLOPT=0 to compare both without it. Printed: epoch time (median of
epochs 2..N) and the seqc/PyTorch ratio (< 1: seqc is faster), peak RSS growth, and
onnxruntime batch-1 latency / batch-1024 throughput of seqc's model.onnx vs torch.onnx.export's
graph of the same network (dynamo=False, opset 17), on real rows of the dataset. A benchmark,
not a test.
"""

# ruff: noqa: I001, E402
from __future__ import annotations

# _common first: it fixes the thread counts before numpy and torch load their pools.
from _common import (ROOT, _session, alternate_epochs, keras_jax_epochs, keras_layers,
                     ort_speeds_on, print_row, torch_trainer)

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from seqc.frontend import load_definition
from seqc.build_data import load_build_data
from seqc.pipeline import BuildOptions
from seqc.training.adapt import adapt_once

BATCH = 32
EXAMPLES = ROOT / "examples"


def load_example(spec: str, cell: str = "lstm"):
    """The example's model, compiled, and its data; with cell "gru" the LSTM layer becomes a
    GRU of the same units (the definition is rewritten into a temporary copy)."""
    if cell == "lstm":
        defn = load_definition(str(EXAMPLES / spec))
    else:
        d = json.loads((EXAMPLES / spec).read_text())
        d["name"] = d["name"].replace("lstm", "gru")
        for layer in d["layers"]:
            if layer["type"] == "LSTM":
                layer["type"] = "GRU"
        d["data"]["path"] = str(EXAMPLES / d["data"]["path"])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "gru.json")
            Path(path).write_text(json.dumps(d))
            defn = load_definition(path)
    ds = load_build_data(defn, BuildOptions())
    model = defn.model
    model.compile(**defn.compile)
    return model, ds.x, ds.y


def keras_example(spec: str, cell: str, model):
    """The example's network in Keras (its layouts are seqc's), holding seqc's initial weights
    (the adapted Normalization statistics as constants), compiled like the example."""
    keras = keras_layers()
    d = json.loads((EXAMPLES / spec).read_text())
    p = model.params
    ls = [keras.Input(tuple(d["input_shape"]), dtype=d.get("input_dtype") or "float32")]
    for layer in d["layers"]:
        args = {k: v for k, v in layer.items() if k != "type"}
        kind = "GRU" if layer["type"] == "LSTM" and cell == "gru" else layer["type"]
        if kind == "Normalization":
            args.update(mean=p["normalization/mean"].reshape(-1).tolist(),
                        variance=p["normalization/variance"].reshape(-1).tolist())
        ls.append(getattr(keras.layers, kind)(**args))
    k = keras.Sequential(ls)
    k.set_weights([v for key, v in p.items() if not key.startswith("normalization/")])
    opt = d["compile"]["optimizer"]
    assert opt["type"] == "adam", opt
    k.compile(optimizer=keras.optimizers.Adam(learning_rate=opt["learning_rate"]),
              loss=d["compile"]["loss"])
    return k


def lstm_into(lstm, p: dict, name: str) -> None:
    import torch

    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(p[f"{name}/kernel"].T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(p[f"{name}/recurrent_kernel"].T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(p[f"{name}/bias"]))
        lstm.bias_hh_l0.zero_()


def gru_into(gru, p: dict, name: str, suffix: str = "") -> None:
    """Keras' GRU (reset_after=True) into nn.GRU: gate columns z, r, h -> rows r, z, n;
    bias (2, 3u) is [input-side, recurrent-side] -> bias_ih, bias_hh. `suffix` "_reverse"
    fills a bidirectional nn.GRU's backward direction."""
    import torch

    u = gru.hidden_size

    def rzn(a: np.ndarray) -> np.ndarray:  # (..., 3u) in z, r, h -> (..., 3u) in r, z, n
        return np.concatenate([a[..., u:2 * u], a[..., :u], a[..., 2 * u:]], axis=-1)

    with torch.no_grad():
        b = rzn(p[f"{name}/bias"])
        for attr, w in (("weight_ih", rzn(p[f"{name}/kernel"]).T),
                        ("weight_hh", rzn(p[f"{name}/recurrent_kernel"]).T),
                        ("bias_ih", b[0]), ("bias_hh", b[1])):
            getattr(gru, f"{attr}_l0{suffix}").copy_(torch.from_numpy(w.copy()))


def torch_rnn(p: dict, cell: str, n_in: int):
    """nn.LSTM or nn.GRU(n_in, 32) holding seqc's layer's weights."""
    from torch import nn

    if cell == "lstm":
        rnn = nn.LSTM(n_in, 32, batch_first=True)
        lstm_into(rnn, p, "lstm")
    else:
        rnn = nn.GRU(n_in, 32, batch_first=True)
        gru_into(rnn, p, "gru")
    return rnn


def last_state(out) -> object:
    """h_n of the last layer from nn.LSTM's (y, (h, c)) or nn.GRU's (y, h)."""
    h = out[1]
    return (h[0] if isinstance(h, tuple) else h)[-1]


def linear_from(p: dict, name: str):
    import torch

    k = p[f"{name}/kernel"]
    fc = torch.nn.Linear(*k.shape)
    with torch.no_grad():
        fc.weight.copy_(torch.from_numpy(k.T.copy()))
        fc.bias.copy_(torch.from_numpy(p[f"{name}/bias"]))
    return fc


def torch_sunspots(model, cell: str = "lstm"):
    """Normalization (constants) -> LSTM or GRU -> last output -> Linear -> scale and offset."""
    from torch import nn

    p = model.params
    rescale = next(n for n in model.graph.nodes if n.op == "Rescaling").attrs
    mean = float(p["normalization/mean"][0])
    std = float(max(np.sqrt(p["normalization/variance"][0]), 1e-7))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch_rnn(p, cell, 1)
            self.fc = linear_from(p, "dense")

        def forward(self, x):
            h = last_state(self.rnn((x - mean) / std))
            return self.fc(h) * float(rescale.scale) + float(rescale.offset)

    return Net()


def torch_sequences(model, mask: str, cell: str = "lstm"):
    """Embedding -> LSTM or GRU -> the state at each string's end (mask "gather" or "packed") or
    after all 20 steps ("none") -> Linear logits. The sigmoid lives in the loss
    (BCEWithLogitsLoss), as PyTorch users write it."""
    import torch
    from torch import nn

    p = model.params

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(*p["embedding/embeddings"].shape)
            with torch.no_grad():
                self.emb.weight.copy_(torch.from_numpy(p["embedding/embeddings"]))
            self.rnn = torch_rnn(p, cell, self.emb.embedding_dim)
            self.fc = linear_from(p, "dense")

        def forward(self, tokens):
            e = self.emb(tokens)
            lengths = (tokens != 0).sum(1)
            if self.mask == "packed":
                e = nn.utils.rnn.pack_padded_sequence(e, lengths.cpu(), batch_first=True,
                                                      enforce_sorted=False)
                return self.fc(last_state(self.rnn(e)))
            out = self.rnn(e)
            if self.mask == "none":
                return self.fc(last_state(out))
            y = out[0]
            # torch.gather, not y[arange(N), ...]: the tracer would freeze N.
            idx = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, y.shape[-1])
            return self.fc(y.gather(1, idx).squeeze(1))

    net = Net()
    net.mask = mask
    return net


def torch_export(net, example: np.ndarray, path: str, sigmoid: bool) -> None:
    import torch

    class Infer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            y = self.net(x)
            return torch.sigmoid(y) if sigmoid else y

    infer = Infer().eval()
    mask = getattr(net, "mask", None)
    if mask == "packed":
        net.mask = "gather"  # the same function, in a form torch.onnx.export can export
    try:
        torch.onnx.export(infer, (torch.from_numpy(example),), path, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "N"}},
                          opset_version=17, dynamo=False)
    finally:
        if mask is not None:
            net.mask = mask


def node_counts(path: str) -> dict:
    import onnx

    ops: dict[str, int] = {}
    for n in onnx.load(path).graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return dict(sorted(ops.items()))


WORKLOADS = ("sunspots", "sequences", "sunspots_gru", "sequences_gru")


def run(workload: str, epochs: int, torch, torch_mask: str, keras_jax: bool = True) -> dict:
    if workload not in WORKLOADS:
        raise SystemExit(f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")
    cell = "gru" if workload.endswith("_gru") else "lstm"
    if workload.startswith("sunspots"):
        model, x, y = load_example("sunspots_lstm.json", cell)
        adapt_once(model, x)  # the Normalization statistics both frameworks start from
        net = torch_sunspots(model, cell) if torch else None
        loss, lr, sigmoid, tx = "mse", 0.01, False, x
    else:
        model, x, y = load_example("sequence_classifier.json", cell)
        x = x.astype(np.int32)
        net = torch_sequences(model, torch_mask, cell) if torch else None
        loss, lr, sigmoid, tx = "binary_crossentropy", 0.003, True, x.astype(np.int64)
    spec = "sunspots_lstm.json" if workload.startswith("sunspots") else \
        "sequence_classifier.json"
    kj = keras_jax_epochs(keras_example(spec, cell, model), x, y, BATCH, epochs) if keras_jax \
        else {}
    if torch:
        row0 = {"torch_vs_seqc_onnx_max_diff_at_init": check_same(model, net, x[:256], sigmoid)}
    row = {"workload": workload, "samples": len(x), "batch": BATCH, **kj,
           **(row0 if torch else {}),
           **alternate_epochs(model, x, y, BATCH, epochs,
                              torch_trainer(net, tx, y, loss, "adam", BATCH, 0, lr=lr)
                              if torch else None)}
    # Real rows for serving: one sample, and 1024 (the dataset repeated as needed).
    xb = np.resize(x, (1024, *x.shape[1:]))
    x1s, xbs = [x[:1]], [xb]
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, "seqc.onnx")]
        info: dict = {}
        model.export(paths[0], report=info)
        row["seqc_onnx_nodes"] = info["nodes"]
        if torch:
            paths.append(os.path.join(tmp, "torch.onnx"))
            torch_export(net, x[:2], paths[1], sigmoid)
            row["torch_onnx_nodes"] = node_counts(paths[1])
            x1s.append(x[:1])
            xbs.append(xb)
        speeds = ort_speeds_on(paths, x1s, xbs)
    row["seqc_ort_b1_us"], row["seqc_ort_b1024_per_s"] = speeds[0]
    if torch:
        row["torch_ort_b1_us"], row["torch_ort_b1024_per_s"] = speeds[1]
        row["latency_ratio"] = row["seqc_ort_b1_us"] / row["torch_ort_b1_us"]
        row["throughput_ratio"] = row["seqc_ort_b1024_per_s"] / row["torch_ort_b1024_per_s"]
    return row


def check_same(model, net, x: np.ndarray, sigmoid: bool) -> float:
    """Before training, from identical weights, seqc's ONNX and torch's ONNX must compute the
    same function (the masked classifier included): the largest difference on `x`."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, "seqc.onnx"), os.path.join(tmp, "torch.onnx")]
        model.export(paths[0])
        torch_export(net, x[:2], paths[1], sigmoid)
        outs = [s.run(None, {name: x})[0] for s, name in map(_session, paths)]
    return float(np.max(np.abs(outs[0] - outs[1])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--workloads", default="sunspots,sequences",
                    help=f"comma-separated, from {', '.join(WORKLOADS)}")
    ap.add_argument("--torch-mask", default="gather", choices=("gather", "packed", "none"),
                    help="how PyTorch's classifier handles the padding in training")
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-keras-jax", dest="keras_jax", action="store_false",
                    help="leave out the Keras 3 on JAX peer")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: printing seqc figures only (pip install -e '.[bench]')")
    rows = []
    for w in args.workloads.split(","):
        row = run(w, args.epochs, torch, args.torch_mask, args.keras_jax)
        print_row(row)
        if "torch_vs_seqc_onnx_max_diff_at_init" in row:
            print(f"  same function at init: max |seqc - torch| = "
                  f"{row['torch_vs_seqc_onnx_max_diff_at_init']:.2e}")
        print(f"  ONNX nodes   seqc {row['seqc_onnx_nodes']}")
        if "torch_onnx_nodes" in row:
            print(f"               torch {row['torch_onnx_nodes']}")
        rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
