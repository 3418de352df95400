"""PyTorch forward(x, hidden) -> (out, hidden) (the language-model, char-RNN and sentiment
tutorials): read with state inputs h0 (c0) and outputs hn (cn), checked against real PyTorch
with the same weights and a nonzero state, and the exported ONNX model's interface against
what torch.onnx.export gives (PyTorch's (layers, N, hidden) state)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import load_definition

torch = pytest.importorskip("torch")

SENTIMENT = '''
import torch
import torch.nn as nn

class SentimentRNN(nn.Module):
    def __init__(self, vocab_size, output_size, embedding_dim, hidden_dim, n_layers,
                 drop_prob=0.5):
        super(SentimentRNN, self).__init__()
        self.output_size = output_size
        self.n_layers = n_layers
        self.hidden_dim = hidden_dim
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, n_layers, dropout=drop_prob,
                            batch_first=True)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(hidden_dim, output_size)
        self.sig = nn.Sigmoid()

    def forward(self, x, hidden):
        batch_size = x.size(0)
        x = x.long()
        embeds = self.embedding(x)
        lstm_out, hidden = self.lstm(embeds, hidden)
        lstm_out = lstm_out[:, -1, :]
        out = self.dropout(lstm_out)
        out = self.fc(out)
        sig_out = self.sig(out)
        return sig_out, hidden

    def init_hidden(self, batch_size):
        weight = next(self.parameters()).data
        hidden = (weight.new(self.n_layers, batch_size, self.hidden_dim).zero_(),
                  weight.new(self.n_layers, batch_size, self.hidden_dim).zero_())
        return hidden

net = SentimentRNN(20, 1, 6, 5, 2)
'''

GRU = '''
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 6)
        self.gru = nn.GRU(6, 5, 1, batch_first=True)
        self.fc = nn.Linear(5, 3)

    def forward(self, x, h):
        x = self.embed(x)
        out, h = self.gru(x, h)
        out = self.fc(out)
        return out, h

model = Net()
'''


def _load(tmp_path, text, name="m.py"):
    from test_pyscript import _torch_weights

    path = tmp_path / name
    path.write_text(text)
    defn = load_definition(path)
    ns: dict = {"__name__": "fixture", "train_loader": []}
    exec(compile(text, str(path), "exec"), ns)  # noqa: S102 - the test's own fixture
    tmod = next(v for v in ns.values() if isinstance(v, torch.nn.Module)).eval()
    defn.model.set_weights(_torch_weights(defn.model, tmod))
    return defn, tmod


def _inputs(lstm, layers=2, n=4, t=7, hidden=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 20, (n, t)).astype(np.int64)
    states = [rng.normal(size=(layers, n, hidden)).astype(np.float32)
              for _ in range(2 if lstm else 1)]
    return x, states


@pytest.mark.parametrize("text, lstm, layers", [(SENTIMENT, True, 2), (GRU, False, 1)],
                         ids=["lstm2", "gru1"])
def test_forward_with_a_state_matches_pytorch(tmp_path, text, lstm, layers):
    defn, tmod = _load(tmp_path, text)
    g = defn.model.graph
    assert g.inputs == (("input", "h0", "c0") if lstm else ("input", "h0"))
    assert len(g.outputs) == (3 if lstm else 2)
    assert g.types["h0"].shape == (None, layers, 5)  # the IR: batch first
    x, states = _inputs(lstm, layers)
    with torch.no_grad():
        hid = tuple(torch.from_numpy(s) for s in states) if lstm else torch.from_numpy(
            states[0])
        out, hn = tmod(torch.from_numpy(x), hid)
    want = [out.numpy(), *[h.numpy() for h in (hn if lstm else (hn,))]]
    feed = {"input": x, **{n: s.transpose(1, 0, 2) for n, s in zip(("h0", "c0"), states)}}
    got = defn.model.predict(feed)
    assert len(got) == len(want)
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    for gv, wv in zip(got[1:], want[1:]):  # IR (N, layers, H) = PyTorch's (layers, N, H)
        np.testing.assert_allclose(gv.transpose(1, 0, 2), wv, atol=1e-5)


def test_the_onnx_model_takes_and_returns_pytorchs_state_layout(tmp_path):
    import onnxruntime as ort

    defn, tmod = _load(tmp_path, SENTIMENT)
    path = defn.model.export(str(tmp_path / "m.onnx"))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ins = {i.name: i.shape for i in sess.get_inputs()}
    outs = [o.name for o in sess.get_outputs()]
    assert ins == {"input": ins["input"], "h0": [2, "N", 5],
                   "c0": [2, "N", 5]}
    assert outs[1:] == ["hn", "cn"]
    x, (h0, c0) = _inputs(True)
    got = sess.run(None, {"input": x, "h0": h0, "c0": c0})
    with torch.no_grad():
        out, (hn, cn) = tmod(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
    for gv, wv in zip(got, (out, hn, cn)):
        np.testing.assert_allclose(gv, wv.numpy(), atol=1e-5)
    ref = defn.model.predict({"input": x, "h0": h0.transpose(1, 0, 2),
                              "c0": c0.transpose(1, 0, 2)})
    np.testing.assert_allclose(got[1], ref[1].transpose(1, 0, 2), atol=1e-6)


def test_validation_feeds_a_missing_state_zeros(tmp_path):
    import seqc

    defn, tmod = _load(tmp_path, SENTIMENT)
    x, _ = _inputs(True)
    res = seqc.validate(defn.model, x, runtimes=["numpy", "onnxruntime"], print_table=False)
    assert res.ok
    zero = np.zeros((2, len(x), 5), np.float32)
    with torch.no_grad():
        out, _ = tmod(torch.from_numpy(x), (torch.from_numpy(zero), torch.from_numpy(zero)))
    np.testing.assert_allclose(defn.model.predict({"input": x, "h0": zero.transpose(1, 0, 2),
                                                   "c0": zero.transpose(1, 0, 2)})[0],
                               out.numpy(), atol=1e-5)


def test_a_callback_watching_validation_of_a_state_model_is_refused(tmp_path):
    """Validation starts each batch from zero states, not the state a script's validation
    loop carries: a callback deciding on val_* is refused, one on loss is not."""
    from seqc.errors import UsageError
    from seqc.training.callbacks import EarlyStopping

    defn, _ = _load(tmp_path, SENTIMENT)
    m = defn.model
    m.compile(optimizer="sgd", loss="binary_crossentropy")
    x, _ = _inputs(True)
    y = np.zeros((len(x), 1), np.float32)
    for cb in (EarlyStopping(), {"type": "ReduceLROnPlateau", "monitor": "val_loss"}):
        with pytest.raises(UsageError, match="starts each batch from zero states"):
            m.fit(x, y, batch_size=2, epochs=1, verbose=0, validation_split=0.5, callbacks=[cb])
    m.fit(x, y, batch_size=len(x), epochs=1, verbose=0, callbacks=[EarlyStopping(monitor="loss")])


@pytest.mark.parametrize("body, what", [
    ("        out = self.fc(x)\n        return out, hidden\n", "second input 'hidden'"),
    ("        out, h = self.gru(x, hidden)\n        return self.fc(out)\n",
     "is not returned"),
    ("        out, h = self.gru(x, hidden)\n        return self.fc(out), h[0]\n",
     "reads both the output and the final state"),
    ("        out, h = self.gru(x, hidden)\n"
     "        out = out.reshape(out.size(0) * out.size(2), out.size(1))\n"
     "        return self.fc(out), h\n", "folds the time steps into the batch"),
])
def test_a_state_argument_used_otherwise_is_refused_with_its_line(tmp_path, body, what):
    text = ('import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n'
            '        super().__init__()\n        self.gru = nn.GRU(3, 5, batch_first=True)\n'
            '        self.fc = nn.Linear(5 if True else 3, 2)\n\n'
            '    def forward(self, x, hidden):\n' + body + '\nmodel = Net()\n'
            '# seqc: input_shape = [4, 3]\n')
    p = tmp_path / "m.py"
    p.write_text(text)
    with pytest.raises(DefinitionError) as e:
        load_definition(p)
    assert what in str(e.value) and re.search(r"m\.py:\d+", str(e.value)), str(e.value)


# ---- training as the script's loop does it ----

TRAIN = '''
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, n_layers=2, hidden=5):
        super().__init__()
        self.n_layers, self.hidden = n_layers, hidden
        self.embed = nn.Embedding(20, 6)
        self.lstm = nn.LSTM(6, hidden, n_layers, batch_first=True)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x, hidden):
        x = self.embed(x)
        out, hidden = self.lstm(x, hidden)
        out = self.fc(out[:, -1, :])
        return out, hidden

    def init_hidden(self, batch_size):
        weight = next(self.parameters()).data
        return (weight.new(self.n_layers, batch_size, self.hidden).zero_(),
                weight.new(self.n_layers, batch_size, self.hidden).zero_())

net = Net()
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
for e in range(2):
LOOP'''
CARRIED = '''    h = net.init_hidden(4)
    for inputs, labels in train_loader:
        h = tuple([each.data for each in h])
        net.zero_grad()
        output, h = net(inputs, h)
        loss = criterion(output.squeeze(), labels.float())
        loss.backward()
        optimizer.step()
'''
FRESH = '''    for inputs, labels in train_loader:
        h = net.init_hidden(4)
        net.zero_grad()
        output, h = net(inputs, h)
        loss = criterion(output.squeeze(), labels.float())
        loss.backward()
        optimizer.step()
'''


def _torch_losses(tmod, x, y, carried):
    opt = torch.optim.SGD(tmod.parameters(), lr=0.1)
    out = []
    for _ in range(2):
        h = tmod.init_hidden(4)
        for b in range(0, len(x), 4):
            h = tuple(s.data for s in h) if carried else tmod.init_hidden(4)
            tmod.zero_grad()
            o, h = tmod(torch.from_numpy(x[b:b + 4]), h)
            loss = torch.nn.functional.mse_loss(o.squeeze(), torch.from_numpy(y[b:b + 4]))
            loss.backward()
            opt.step()
            out.append(loss.item())
    return np.array(out)


@pytest.mark.parametrize("loop, how", [(CARRIED, "epoch"), (FRESH, "batch")])
def test_training_feeds_the_state_as_the_scripts_loop_does(tmp_path, loop, how):
    import seqc

    defn, tmod = _load(tmp_path, TRAIN.replace("LOOP", loop))
    assert defn.fit == {"reset_states": how}
    tmod.train()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, (12, 7)).astype(np.int64)
    y = rng.normal(size=(12,)).astype(np.float32)
    want = _torch_losses(tmod, x, y, carried=how == "epoch")
    m = defn.model
    m.compile(**defn.compile)
    avgs: list = []

    class Logs(seqc.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            avgs.append(logs["loss"])

    m.fit(x, y[:, None], batch_size=4, epochs=2, shuffle=False, verbose=0,
          callbacks=[Logs()], **defn.fit)
    # each step's loss from the running mean over equal batches
    got = np.array([a * (i % 3 + 1) - (avgs[i - 1] * (i % 3) if i % 3 else 0)
                    for i, a in enumerate(avgs)])
    np.testing.assert_allclose(got, want, atol=1e-5)
    from test_pyscript import _torch_weights

    for a, b in zip(m.get_weights(), _torch_weights(m, tmod)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # the other way of feeding the state trains differently: the test can tell them apart
    other = _torch_losses(_load(tmp_path, TRAIN.replace("LOOP", loop), "o.py")[1], x, y,
                          carried=how != "epoch")
    assert np.abs(other[1:3] - want[1:3]).max() > 1e-4


def test_a_state_carried_without_detaching_is_refused_with_its_line(tmp_path):
    text = TRAIN.replace("LOOP", CARRIED.replace(
        "        h = tuple([each.data for each in h])\n", ""))
    p = tmp_path / "m.py"
    p.write_text(text)
    with pytest.raises(DefinitionError) as e:
        load_definition(p)
    assert "without detaching it" in str(e.value) and re.search(r"m\.py:\d+", str(e.value))


def test_build_trains_and_seqc_predict_takes_pytorchs_state_layout(tmp_path):
    """`seqc build` with only the data (x, y): trained with the loop's carried state; `seqc
    predict` of the folder feeds a state given in the .npz ((layers, N, hidden)) and zeros
    for one not given, and writes hn/cn in that layout, as onnxruntime computes them."""
    import onnxruntime as ort
    from click.testing import CliRunner

    from seqc.cli import cli

    script = tmp_path / "m.py"
    script.write_text(TRAIN.replace("LOOP", CARRIED))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, (12, 7)).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", rng.normal(size=(12, 1)).astype(np.float32))
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["build", str(script), "--x", str(tmp_path / "x.npy"), "--y",
                                 str(tmp_path / "y.npy"), "-o", str(out), "--epochs", "1",
                                 "--batch-size", "4", "-q"])
    assert r.exit_code == 0, r.output
    h0 = rng.normal(size=(2, 12, 5)).astype(np.float32)
    np.savez(tmp_path / "in.npz", input=x, h0=h0)
    r = CliRunner().invoke(cli, ["predict", str(out), str(tmp_path / "in.npz"), "-o",
                                 str(tmp_path / "p.npz"), "--batch-size", "5"])
    assert r.exit_code == 0, r.output
    got = np.load(tmp_path / "p.npz")
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"input": x, "h0": h0, "c0": np.zeros_like(h0)})
    for k, w in zip(("fc", "hn", "cn"), want):
        np.testing.assert_allclose(got[k], w, atol=1e-6)


def test_the_interface_is_the_one_torch_onnx_export_gives(tmp_path):
    """Same inputs and outputs, in order, with the same shapes (batch 3 there, N here), and
    the same values as PyTorch's own ONNX export of the module called as (x, hidden)."""
    import io
    import warnings

    import onnx
    import onnxruntime as ort

    defn, tmod = _load(tmp_path, SENTIMENT)
    x, (h0, c0) = _inputs(True, n=3)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and LSTM notes
        torch.onnx.export(tmod, (torch.from_numpy(x), tmod.init_hidden(3)), buf, dynamo=False)
    theirs = onnx.load_from_string(buf.getvalue())
    ours = onnx.load(defn.model.export(str(tmp_path / "m.onnx")))

    def dims(vals):
        return [[d.dim_value or 3 if d.dim_param in ("", "N") else d.dim_param
                 for d in v.type.tensor_type.shape.dim] for v in vals]

    # the token ids: any length here (no input shape in the script), 7 in the trace
    assert dims(ours.graph.input)[0] == [3, "d1"] and dims(theirs.graph.input)[0] == [3, 7]
    assert dims(ours.graph.input)[1:] == dims(theirs.graph.input)[1:] == [[2, 3, 5]] * 2
    assert dims(ours.graph.output) == dims(theirs.graph.output)
    feed = [x, h0, c0]
    run = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
           for m in (ours, theirs)]
    got, want = (s.run(None, {i.name: v for i, v in zip(s.get_inputs(), feed)}) for s in run)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-5)


SPEC = {
    "inputs": {"input": [7, 3], "h0": [1, 4]},
    "layers": [
        {"type": "Reshape", "name": "h0_l0", "target_shape": [4], "from": "h0"},
        {"type": "GRU", "name": "gru", "units": 4, "return_state": True,
         "from": ["input", "h0_l0"]},
        {"type": "Reshape", "name": "hn", "target_shape": [1, 4], "from": "gru:1"},
    ],
    "outputs": ["gru", "hn"],
    "states": {"h0": "hn"},
}


def test_a_spec_declares_states_and_the_ir_keeps_them(tmp_path):
    import json

    from seqc.ir.serialize import graph_from_json, graph_to_json

    p = tmp_path / "m.json"
    p.write_text(json.dumps(SPEC))
    g = load_definition(p).model.graph
    assert g.states == {"h0": "hn"}
    assert graph_from_json(graph_to_json(g)).states == {"h0": "hn"}
    bad = graph_to_json(g)
    bad["states"] = {"h0": "nothing"}
    with pytest.raises(DefinitionError, match="states"):
        graph_from_json(bad)
    p.write_text(json.dumps({**SPEC, "states": {"h0": "gru"}}))  # (N, 4) is not h0's shape
    with pytest.raises(DefinitionError, match="states: 'h0' must be a model input"):
        load_definition(p)
