"""PyTorch recurrent forwards over time (seqc/frontend/_pyscript_torch_steps.py): nn.RNN/
LSTM/GRU with batch_first=False (PyTorch's default) built batch-first, and loops of
nn.LSTMCell/GRUCell/RNNCell over `x.split(k, dim=1)` built as recurrent layers. Each is
checked against PyTorch from the same weights (the seqc model fed the script's tensors
transposed to (N, T, F) where the script is time-major) and against its ONNX export in
onnxruntime; what seqc cannot build that way is refused at its line."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_corpus import CORPUS, ENTRIES, read
from test_pyscript import write
from test_pyscript_subclass import _torch_reference

from seqc.errors import DefinitionError
from seqc.frontend.pyscript import load_script

HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def _weights(model, tmod) -> list[np.ndarray]:
    """seqc's weights (Keras order and layouts, float32) from the torch module's: recurrent
    layers and cells keep PyTorch's two biases; GRU gates (r, z, n) -> Keras' (z, r, h)."""
    torch = pytest.importorskip("torch")
    out = []
    for node in model.graph.nodes:
        if not node.params:
            continue
        m = re.fullmatch(r"(.*)_l(\d+)", node.layer)
        name, k = (m.group(1), int(m.group(2))) if m and node.op != "Dense" else (node.layer, 0)
        mod = tmod.get_submodule(name)
        p = {n: t.detach().double().numpy() for n, t in mod.state_dict().items()}
        if isinstance(mod, torch.nn.Linear):
            out += [p["weight"].T, p["bias"]]
        elif isinstance(mod, torch.nn.Embedding):
            out += [p["weight"]]
        else:
            gru = isinstance(mod, (torch.nn.GRU, torch.nn.GRUCell))

            def zrn(a, gru=gru):
                if not gru:
                    return a
                r, z, n = np.split(a, 3, axis=0)
                return np.concatenate([z, r, n], axis=0)

            for sfx in ("", "_reverse") if getattr(mod, "bidirectional", False) else ("",):
                # a layer's weight_ih_l{k}{sfx}; a cell's weight_ih
                ih, hh = (f"{b}_l{k}{sfx}" if f"{b}_l{k}{sfx}" in p else b
                          for b in ("weight_ih", "weight_hh"))
                out += [zrn(p[ih]).T, zrn(p[hh]).T]
                bias = [ih.replace("weight", "bias"), hh.replace("weight", "bias")]
                if bias[0] in p:
                    out.append(np.stack([zrn(p[bias[0]]), zrn(p[bias[1]])]))
    return [w.astype(np.float32) for w in out]


def _onnx_matches(model, x, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.export(str(tmp_path / "m.onnx")),
                                providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x), atol=1e-5)


def _corpus(ident: str):
    (fw, e), = [(fw, e) for fw, e in ENTRIES if e["id"] == ident]
    defn, err = read(fw, e)
    assert err is None, err
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location(f"ref_{ident}", CORPUS / fw / "ref" / f"{ident}.py")
    ref = module_from_spec(spec)
    spec.loader.exec_module(ref)
    return defn, ref.build()[0].eval()


# ---- batch_first=False ----


def test_char_rnn_tutorial_predicts_like_torch_on_transposed_input(tmp_path):
    """The tutorial's CharRNN (time-major nn.RNN, hidden[0], LogSoftmax): the seqc model
    takes the (T, N, F) line tensors transposed, and gives PyTorch's (N, 18)."""
    torch = pytest.importorskip("torch")
    defn, tmod = _corpus("tut_char_rnn_classification")
    assert any("batch_first=False" in n and "(N, T, F)" in n for n in defn.notes)
    assert any("batch_loss += loss" in n for n in defn.notes)  # a summed loss: no compile
    assert defn.compile is None
    model = defn.model
    model.set_weights(_weights(model, tmod))
    x = np.random.default_rng(0).standard_normal((10, 3, 57)).astype(np.float32)  # (T, N, F)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    xb = np.ascontiguousarray(x.transpose(1, 0, 2))
    np.testing.assert_allclose(model.predict(xb), want, atol=1e-5)
    _onnx_matches(model, xb, tmp_path)


TM = HEAD + '''
# seqc: input_shape = [7, 5]

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.{rnn}
        self.fc = nn.Linear({h}, 3)

    def forward(self, x):
        {body}

model = M()
'''
TM_CASES = {
    "lstm_h_last": ("LSTM(5, 6, 2)", 6, "out, (h, c) = self.rnn(x)\n        return self.fc(h[-1])"),
    "gru_out_last": ("GRU(5, 6)", 6, "out, h = self.rnn(x)\n        return self.fc(out[-1])"),
    "rnn_relu_out_last": ("RNN(5, 6, nonlinearity='relu')", 6,
                          "out = self.rnn(F.relu(x))[0]\n        return self.fc(out[-1, :, :])"),
    "bidir_lstm_out_last": ("LSTM(5, 4, bidirectional=True)", 8,
                            "out, _ = self.rnn(x)\n        return self.fc(out[-1])"),
}


@pytest.mark.parametrize("case", sorted(TM_CASES))
def test_time_major_layers_predict_like_torch(tmp_path, case):
    """h_n[-1] and out[-1] of a time-major layer are (N, H) in either layout; out[-1] of a
    bidirectional layer is the forward direction after every step beside the backward one
    after the first (reversed) step, as out[:, -1] batch-first."""
    torch = pytest.importorskip("torch")
    rnn, h, body = TM_CASES[case]
    src = TM.format(rnn=rnn, h=h, body=body)
    model = load_script(write(tmp_path, src)).model
    tmod = _torch_reference(src, "model")
    assert model.count_params() == sum(p.numel() for p in tmod.parameters())
    model.set_weights(_weights(model, tmod))
    x = np.random.default_rng(1).standard_normal((7, 4, 5)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(np.ascontiguousarray(x.transpose(1, 0, 2))), want,
                               atol=1e-5)


def test_a_time_major_embedding_model_predicts_like_torch():
    torch = pytest.importorskip("torch")
    src = HEAD + '''
# seqc: input_shape = [9]
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 4)
        self.drop = nn.Dropout(0.2)
        self.rnn = nn.GRU(4, 6)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        _, h = self.rnn(self.drop(self.emb(x)))
        return self.fc(h[-1])

model = M()
'''
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        model = load_script(write(Path(d), src)).model
    tmod = _torch_reference(src, "model")
    model.set_weights(_weights(model, tmod))
    x = np.random.default_rng(2).integers(0, 20, (9, 3))  # (T, N) token ids
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(np.ascontiguousarray(x.T)), want, atol=1e-5)


@pytest.mark.parametrize("body, why", [
    ("out, _ = self.rnn(x)\n        return self.fc(out[:, -1])", "last sample of the batch"),
    ("out, _ = self.rnn(x)\n        return self.fc(out)", "output sequence"),
    ("out, _ = self.rnn(x.view(x.size(0), 7, 5))\n        return self.fc(out[-1])",
     "other than the forward's input"),
])
def test_other_reads_of_a_time_major_layer_are_refused(tmp_path, body, why):
    src = TM.format(rnn="LSTM(5, 6)", h=6, body=body)
    with pytest.raises(DefinitionError, match=why) as e:
        load_script(write(tmp_path, src))
    assert "model.py:" in str(e.value)


def test_a_time_major_layer_in_a_sequential_stays_refused(tmp_path):
    src = HEAD + "# seqc: input_shape = [7, 5]\nmodel = nn.Sequential(nn.LSTM(5, 6))\n"
    with pytest.raises(DefinitionError, match="batch_first"):
        load_script(write(tmp_path, src))


# ---- cells over x.split(k, dim=1) ----


def test_time_sequence_prediction_predicts_like_torch(tmp_path):
    """pytorch/examples' Sequence: two LSTMCells and a Linear over the 999 steps, collected
    with torch.cat: LSTM -> LSTM -> Dense -> Flatten, against the script's float64 model."""
    torch = pytest.importorskip("torch")
    defn, tmod = _corpus("examples_time_sequence_prediction")
    assert any("seq.double()" in n and "float32" in n for n in defn.notes)
    assert any("LBFGS" in n and "no compile settings" in n for n in defn.notes)
    assert defn.compile is None
    model = defn.model
    assert [n.op for n in model.graph.nodes] == ["Reshape", "LSTM", "LSTM", "Dense", "Flatten"]
    model.set_weights(_weights(model, tmod))
    x = np.sin(np.arange(999) / 20.0 + np.arange(3)[:, None])  # (N, T), as the script's data
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(model.predict(x32), want, atol=1e-5)
    _onnx_matches(model, x32, tmp_path)


LOOP = HEAD + '''
# seqc: input_shape = [12]

class S(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.{cell}
        self.out = nn.Linear(5, 2)

    def forward(self, x, future=0):
        h = torch.zeros(x.size(0), 5)
        {init}
        ys = []
        for x_t in x.split({k}, {dim}):
            {step}
            y = torch.tanh(self.out(h))
            {collect}
        {after}
        return {ret}

model = S()
'''
LOOPS = {
    "gru_append_stack": dict(dim="dim=1", cell="GRUCell(3, 5)", init="", k=3,
                             step="h = self.cell(x_t, h)", collect="ys.append(y)", after="",
                             ret="torch.stack(ys, dim=1)", shape=(None, 4, 2)),
    "rnn_relu_cat": dict(dim="1", cell="RNNCell(2, 5, nonlinearity='relu')", init="", k=2,
                         step="h = self.cell(x_t, h)", collect="ys += [y]", after="",
                         ret="torch.cat(ys, dim=1)", shape=(None, 12)),
    "lstm_no_bias": dict(dim="dim=-1", cell="LSTMCell(1, 5, bias=False)",
                         init="c = torch.zeros(x.size(0), 5)", k=1,
                         step="h, c = self.cell(x_t, (h, c))", collect="ys += [y]",
                         after="", ret="torch.cat(ys, 1)", shape=(None, 24)),
}


@pytest.mark.parametrize("case", sorted(LOOPS))
def test_cell_loops_predict_like_torch(tmp_path, case):
    torch = pytest.importorskip("torch")
    kw = LOOPS[case]
    src = LOOP.format(**kw)
    model = load_script(write(tmp_path, src)).model
    assert tuple(model.graph.output_type.shape) == kw["shape"]
    tmod = _torch_reference(src, "model")
    assert model.count_params() == sum(p.numel() for p in tmod.parameters())
    model.set_weights(_weights(model, tmod))
    x = np.random.default_rng(3).standard_normal((4, 12)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), want, atol=1e-5)


LSTM = dict(dim="dim=1", cell="LSTMCell(1, 5)", init="c = torch.zeros(x.size(0), 5)", k=1,
            step="h, c = self.cell(x_t, (h, c))", collect="ys += [y]", after="",
            ret="torch.cat(ys, dim=1)")


@pytest.mark.parametrize("change, why", [
    ({"after": "for i in range(3):\n            h, c = self.cell(y, (h, c))\n            "
               "ys += [self.out(h)]"}, "after the loop over time steps"),
    ({"ret": "self.out(h)"}, "after the loop over time steps"),
    ({"step": "h, c = self.cell(x_t, (h, c))\n            h = torch.relu(h)"},
     "changes 'h', a cell's state"),
    ({"step": "y0 = self.out(h)\n            h, c = self.cell(x_t, (h, c))"},
     "previous step's state"),
    ({"step": "h2, c2 = self.cell(x_t, (h, c))"}, "names other than the state"),
    ({"step": "h, c = self.cell(x_t)"}, "without its state"),
    ({"init": "c = x"}, "made by torch.zeros"),
    ({"dim": "dim=0"}, "x.split"),
    ({"ret": "torch.cat(ys, dim=0)"}, "along dim=1"),
    ({"collect": "ys += [y]\n            ys += [y]"}, "one value collected per step"),
    ({"ret": "c"}, "reads 'c' after the loop"),
    ({"step": "h, c = self.cell(x_t, (h, c))\n            z = self.out(c)"},
     "LSTM cell state"),
])
def test_other_cell_loops_are_refused_at_their_line(tmp_path, change, why):
    src = LOOP.format(**{**LSTM, **change})
    with pytest.raises(DefinitionError, match=why) as e:
        load_script(write(tmp_path, src))
    assert re.search(r"model\.py:\d+", str(e.value))


def test_the_future_steps_fed_back_are_refused_when_the_model_is_called_with_them(tmp_path):
    src = LOOP.format(**{**LSTM, "after": "for i in range(future):\n            h, c = "
                         "self.cell(y, (h, c))\n            ys += [self.out(h)]"})
    load_script(write(tmp_path, src))  # future=0: the loop over the input only
    with pytest.raises(DefinitionError, match="after the loop over time steps"):
        load_script(write(tmp_path, src.replace("future=0", "future=2")))


def test_a_cell_outside_a_loop_over_steps_is_refused(tmp_path):
    src = HEAD + "# seqc: input_shape = [4]\nmodel = nn.Sequential(nn.GRUCell(4, 3))\n"
    with pytest.raises(DefinitionError, match="cell applied over the steps"):
        load_script(write(tmp_path, src))
    src = LOOP.format(**{**LSTM, "init": "c = torch.zeros(x.size(0), 5)\n        "
                                         "x = x.view(x.size(0), 12, 1)"})
    with pytest.raises(DefinitionError, match="rank 2"):
        load_script(write(tmp_path, src))


def test_a_loop_over_steps_takes_any_number_of_steps_without_data():
    """PyTorch's Sequence takes (N, T) of any T: without data the input is (N, ?)."""
    model = load_script(CORPUS / "torch" / "examples_time_sequence_prediction.py").model
    assert tuple(model.graph.input_type.shape) == (None, None)
    assert tuple(model.graph.output_type.shape) == (None, None)
    x = np.linspace(-1, 1, 2 * 17, dtype=np.float32).reshape(2, 17)
    assert model.predict(x).shape == (2, 17)


def test_the_cell_loop_trains_like_torch():
    """One SGD step on the MSE of time_sequence_prediction's Sequence: the same weights after
    it as torch's (float64 there), so the cells' gradients flow as through the loop."""
    torch = pytest.importorskip("torch")
    import seqc

    defn, tmod = _corpus("examples_time_sequence_prediction")
    model = load_script(CORPUS / "torch" / "examples_time_sequence_prediction.py").model
    model.set_weights(_weights(model, tmod))
    x = np.sin(np.arange(4 * 20).reshape(4, 20) / 5.0)
    y = np.cos(np.arange(4 * 20).reshape(4, 20) / 5.0)
    model.compile(optimizer=seqc.optimizers.SGD(learning_rate=0.5), loss="mse")
    model.fit(x.astype(np.float32), y.astype(np.float32), epochs=1, batch_size=4,
              shuffle=False, verbose=0)
    opt = torch.optim.SGD(tmod.parameters(), lr=0.5)
    loss = torch.nn.functional.mse_loss(tmod(torch.from_numpy(x)), torch.from_numpy(y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    for got, want in zip(model.get_weights(), _weights(model, tmod)):
        np.testing.assert_allclose(got, want, atol=1e-5)
