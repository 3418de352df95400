"""A PyTorch forward folding an RNN's (N, T, H) output into (N * T, H) rows before per-step
layers (yunjey's language model: `out.reshape(out.size(0)*out.size(1), out.size(2))` ->
Linear; udacity's char-RNN: `out.contiguous().view(-1, self.n_hidden)`): seqc keeps (N, T, V)
in its IR (Graph.folds) and the ONNX model returns PyTorch's (N * T, V). Checked against real
PyTorch with the same weights and a nonzero state."""

from __future__ import annotations

import re

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import load_definition

torch = pytest.importorskip("torch")

LM = '''
import torch
import torch.nn as nn

class RNNLM(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
        super(RNNLM, self).__init__()
        self.hidden_size = hidden_size
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.drop = nn.Dropout(0.2)
        self.linear = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, h):
        x = self.embed(x)
        out, (h, c) = self.lstm(x, h)
        out = self.drop(out)
        out = {FOLD}
        out = self.linear(out)
        return out, (h, c)

model = RNNLM(20, 6, 5, 2)
# seqc: input_shape = [7]
'''
FOLDS = ["out.reshape(out.size(0)*out.size(1), out.size(2))",
         "out.contiguous().view(-1, self.hidden_size)", "out.reshape(-1, out.size(-1))"]


def _load(tmp_path, fold):
    from test_pyscript import _torch_weights

    text = LM.replace("{FOLD}", fold)
    path = tmp_path / "lm.py"
    path.write_text(text)
    defn = load_definition(path)
    ns: dict = {"__name__": "fixture"}
    exec(compile(text, str(path), "exec"), ns)  # noqa: S102 - the test's own fixture
    tmod = ns["model"].eval()
    defn.model.set_weights(_torch_weights(defn.model, tmod))
    return defn, tmod


def _inputs(n=4, t=7, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 20, (n, t)).astype(np.int64)
    return x, [rng.normal(size=(2, n, 5)).astype(np.float32) for _ in range(2)]


@pytest.mark.parametrize("fold", FOLDS)
def test_the_folded_output_matches_pytorch(tmp_path, fold):
    defn, tmod = _load(tmp_path, fold)
    g = defn.model.graph
    assert g.folds == (g.outputs[0],)
    assert g.types[g.outputs[0]].shape == (None, 7, 20)  # the IR: batch first
    assert g.boundary_type(g.outputs[0]).shape == (None, 20)  # PyTorch's (N * T, V)
    x, (h0, c0) = _inputs()
    with torch.no_grad():
        out, (hn, cn) = tmod(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
    got = defn.model.predict({"input": x, "h0": h0.transpose(1, 0, 2),
                              "c0": c0.transpose(1, 0, 2)})
    assert out.shape == (4 * 7, 20)
    np.testing.assert_allclose(got[0].reshape(-1, 20), out.numpy(), atol=1e-5)  # row n*T+t
    np.testing.assert_allclose(got[1].transpose(1, 0, 2), hn.numpy(), atol=1e-5)
    np.testing.assert_allclose(got[2].transpose(1, 0, 2), cn.numpy(), atol=1e-5)


def test_the_onnx_model_returns_pytorchs_folded_rows(tmp_path):
    import onnxruntime as ort

    import seqc

    defn, tmod = _load(tmp_path, FOLDS[0])
    path = defn.model.export(str(tmp_path / "m.onnx"))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert sess.get_outputs()[0].shape[1:] == [20]
    x, (h0, c0) = _inputs(n=3)
    got = sess.run(None, {"input": x, "h0": h0[:, :3], "c0": c0[:, :3]})
    with torch.no_grad():
        want = tmod(torch.from_numpy(x), (torch.from_numpy(h0[:, :3]),
                                          torch.from_numpy(c0[:, :3])))
    assert got[0].shape == tuple(want[0].shape) == (3 * 7, 20)
    for gv, wv in zip(got, (want[0], *want[1])):
        np.testing.assert_allclose(gv, wv.numpy(), atol=1e-5)
    # validation compares the same rows: the ONNX model's unfolded to the IR's (N, T, V)
    res = seqc.validate(defn.model, x, runtimes=["numpy", "onnxruntime"], print_table=False)
    assert res.ok
    # the IR file keeps the fold
    from seqc.ir.serialize import graph_from_json, graph_to_json

    assert graph_from_json(graph_to_json(defn.model.graph)).folds == defn.model.graph.folds
    # a .keras file would return (N, T, V): refused, not written with another output
    from seqc.errors import UsageError

    with pytest.raises(UsageError, match="folds the time steps") as e:
        defn.model.save(str(tmp_path / "m.keras"))
    assert "folds" in str(e.value) and not (tmp_path / "m.keras").exists()


@pytest.mark.parametrize("fold, after, what", [
    ("out.view(-1, 5)", "        out = torch.softmax(out, dim=1)\n",
     "per-step layers"),  # softmax(dim) names another axis once unfolded
    ("out.view(-1, 5)", "        out = self.linear(out)\n        out = out.view(-1, 7, 20)\n",
     "per-step layers"),
    ("out.view(out.size(0) * out.size(2), -1)", "", "multiplies the batch size"),
])
def test_a_fold_not_followed_by_per_step_layers_is_refused_with_its_line(
        tmp_path, fold, after, what):
    text = LM.replace("{FOLD}", fold).replace(
        "        out = self.linear(out)\n", after or "        out = self.linear(out)\n")
    p = tmp_path / "lm.py"
    p.write_text(text)
    with pytest.raises(DefinitionError) as e:
        load_definition(p)
    assert what in str(e.value) and re.search(r"lm\.py:\d+", str(e.value)), str(e.value)


@pytest.mark.parametrize("batch_first, steps, ret", [
    (True, "out, (h, c) = self.lstm(self.embed(x), h)\n        x = self.linear(out)", "out"),
    (False, "x, (h, c) = self.lstm(self.embed(x), h)", "self.linear(out)")])
def test_a_fold_of_other_than_a_batch_first_rnn_output_is_refused(tmp_path, batch_first,
                                                                  steps, ret):
    """Rows of a Linear's output (the fold read is of the recurrent layer's own, then
    per-step layers), or of a time-major layer's (T, N, H) (PyTorch's row t * N + n, not
    [n, t])."""
    text = LM.replace("batch_first=True", f"batch_first={batch_first}").replace(
        "        x = self.embed(x)\n        out, (h, c) = self.lstm(x, h)\n        out = "
        "self.drop(out)\n        out = {FOLD}\n        out = self.linear(out)\n        "
        "return out, (h, c)\n",
        f"        {steps}\n        out = x.reshape(x.size(0) * x.size(1), x.size(2))\n"
        f"        return {ret}, (h, c)\n")
    assert "{FOLD}" not in text
    p = tmp_path / "lm.py"
    p.write_text(text)
    with pytest.raises(DefinitionError) as e:
        load_definition(p)
    assert re.search(r"lm\.py:\d+", str(e.value)), str(e.value)
    assert "with batch_first=True" in str(e.value) or not batch_first, str(
        e.value)


TRAIN = '''
import torch
import torch.nn as nn

def detach(states):
    return [state.detach() for state in states]

class RNNLM(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
        super(RNNLM, self).__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, h):
        x = self.embed(x)
        out, (h, c) = self.lstm(x, h)
        out = out.reshape(out.size(0)*out.size(1), out.size(2))
        out = self.linear(out)
        return out, (h, c)

model = RNNLM(20, 6, 5, 2)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
for epoch in range(2):
    states = (torch.zeros(2, 4, 5), torch.zeros(2, 4, 5))
    for inputs, targets in train_loader:
        states = detach(states)
        outputs, states = model(inputs, states)
        loss = criterion(outputs, targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
# seqc: input_shape = [7]
'''


def test_training_on_the_folded_rows_matches_the_scripts_loop(tmp_path):
    """The script's CrossEntropyLoss of the (N * T, V) rows against targets.reshape(-1) is
    seqc's sparse crossentropy of (N, T, V) against (N, T) labels, averaged over the N * T
    positions; the state carried (detached) from batch to batch as the loop does."""
    from test_pyscript import _torch_weights

    import seqc

    path = tmp_path / "lm.py"
    path.write_text(TRAIN)
    defn = load_definition(path)
    assert defn.fit == {"reset_states": "epoch"}
    ns: dict = {"__name__": "fixture", "train_loader": []}
    exec(compile(TRAIN, str(path), "exec"), ns)  # noqa: S102 - the test's own fixture
    tmod, m = ns["model"], defn.model
    m.set_weights(_torch_weights(m, tmod))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, (12, 7)).astype(np.int64)
    y = rng.integers(0, 20, (12, 7)).astype(np.int64)
    opt = torch.optim.SGD(tmod.parameters(), lr=0.5)
    want = []
    for _ in range(2):
        st = (torch.zeros(2, 4, 5), torch.zeros(2, 4, 5))
        for b in range(0, 12, 4):
            st = [s.detach() for s in st]
            o, st = tmod(torch.from_numpy(x[b:b + 4]), st)
            loss = torch.nn.functional.cross_entropy(o, torch.from_numpy(y[b:b + 4]).reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            want.append(loss.item())
    m.compile(**defn.compile)
    avgs: list = []

    class Logs(seqc.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            avgs.append(logs["loss"])

    m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[Logs()],
          **defn.fit)
    # each step's loss from the running mean over equal batches
    got = [a * (i % 3 + 1) - (avgs[i - 1] * (i % 3) if i % 3 else 0)
           for i, a in enumerate(avgs)]
    np.testing.assert_allclose(got, want, atol=1e-5)
    for a, b in zip(m.get_weights(), _torch_weights(m, tmod)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_spec_declares_folds_and_the_ir_keeps_them(tmp_path):
    import json

    from seqc.ir.serialize import graph_from_json, graph_to_json

    spec = {"inputs": {"x": {"shape": [7], "dtype": "int64"}},
            "layers": [{"type": "Embedding", "name": "emb", "input_dim": 20, "output_dim": 4,
                        "from": ["x"]},
                       {"type": "LSTM", "name": "lstm", "units": 5, "return_sequences": True},
                       {"type": "Dense", "name": "fc", "units": 20}],
            "outputs": ["fc", "lstm"], "folds": ["fc"]}
    p = tmp_path / "m.json"
    p.write_text(json.dumps(spec))
    m = load_definition(p).model
    g = m.graph
    assert g.folds == ("fc",) and g.boundary_type("fc").shape == (None, 20)
    assert g.boundary_type("lstm").shape == (None, 7, 5)  # not folded
    assert graph_from_json(graph_to_json(g)).folds == ("fc",)
    bad = graph_to_json(g)
    bad["folds"] = ["nothing"]
    with pytest.raises(DefinitionError, match="folds"):
        graph_from_json(bad)
    for folds in (["emb"], ["nothing"]):  # not outputs
        p.write_text(json.dumps({**spec, "folds": folds}))
        with pytest.raises(DefinitionError, match="folds: each must name a model output"):
            load_definition(p)


def test_a_define_of_len_reaches_the_attribute_a_model_keeps(tmp_path):
    """The char-RNN's sizes: `CharRNN(chars)` keeps `self.chars = tokens` and sizes its layers
    `len(self.chars)`; `--define 'len(chars)=83'` (the script's own expression) gives them."""
    from seqc.frontend import Bindings, parse_defines

    p = tmp_path / "c.py"
    p.write_text("import torch.nn as nn\nchars = tuple(set(open('t.txt').read()))\n\n"
                 "class CharRNN(nn.Module):\n    def __init__(self, tokens, n_hidden=8):\n"
                 "        super().__init__()\n        self.chars = tokens\n"
                 "        self.fc = nn.Linear(len(self.chars), n_hidden)\n\n"
                 "    def forward(self, x):\n        return self.fc(x)\n\n"
                 "net = CharRNN(chars)\n")
    defn = load_definition(p, bindings=Bindings(defines=parse_defines(["len(chars)=83"])))
    assert defn.model.graph.input_type.shape == (None, 83)
    with pytest.raises(DefinitionError) as e:
        load_definition(p)
    assert re.search(r"c\.py:8:", str(e.value)) and "len(self.chars)" in str(e.value)


def test_build_validate_and_predict_keep_pytorchs_folded_rows(tmp_path):
    """`seqc build` with (N, T) labels trains and validates; `seqc predict` writes the folded
    output as onnxruntime gives it, (N * T, V), and counts input rows."""
    import onnxruntime as ort
    from click.testing import CliRunner

    from seqc.cli import cli

    (tmp_path / "lm.py").write_text(TRAIN)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, (12, 7)).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", rng.integers(0, 20, (12, 7)).astype(np.int64))
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["build", str(tmp_path / "lm.py"), "--x",
                                 str(tmp_path / "x.npy"), "--y", str(tmp_path / "y.npy"),
                                 "-o", str(out), "--epochs", "1", "--batch-size", "4", "-q"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["validate", str(out)])
    assert r.exit_code == 0 and "OK" in r.output, r.output
    np.savez(tmp_path / "in.npz", input=x[:5])
    r = CliRunner().invoke(cli, ["predict", str(out), str(tmp_path / "in.npz"), "-o",
                                 str(tmp_path / "p.npz"), "--batch-size", "2"])
    assert r.exit_code == 0 and "5 predictions" in r.output, r.output
    got = np.load(tmp_path / "p.npz")
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    zero = np.zeros((2, 5, 5), np.float32)
    want = sess.run(None, {"input": x[:5], "h0": zero, "c0": zero})
    assert got["linear"].shape == want[0].shape == (5 * 7, 20)
    for k, w in zip(("linear", "hn", "cn"), want):
        np.testing.assert_allclose(got[k], w, atol=1e-6)
