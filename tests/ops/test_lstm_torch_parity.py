"""LSTM(recurrent_bias=True), seqc's form of a PyTorch LSTM (b_ih and b_hh): the same
parameters, forward and SGD step as torch.nn.LSTM. Keras has no such argument, so this is
the framework its parity is checked against. Skipped without torch."""

from __future__ import annotations

import numpy as np
import pytest

import seqc
from seqc.ir.summary import parameter_counts

torch = pytest.importorskip("torch")


def test_two_bias_lstm_trains_like_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)
    y = rng.normal(size=(6, 4)).astype(np.float32)
    m = seqc.Sequential([seqc.layers.Input((5, 3)),
                         seqc.layers.LSTM(4, recurrent_bias=True, unit_forget_bias=False)])
    assert parameter_counts(m.graph)["total"] == 4 * 4 * (3 + 4) + 2 * 4 * 4

    torch.manual_seed(0)
    t = torch.nn.LSTM(3, 4, batch_first=True)
    p = {k: v.detach().numpy() for k, v in t.state_dict().items()}
    # torch gates i, f, g, o are Keras' i, f, c, o
    m.set_weights([p["weight_ih_l0"].T, p["weight_hh_l0"].T,
                   np.stack([p["bias_ih_l0"], p["bias_hh_l0"]])])
    with torch.no_grad():
        want = t(torch.from_numpy(x))[0][:, -1].numpy()
    np.testing.assert_allclose(m.predict(x), want, atol=1e-6)

    m.compile(optimizer=seqc.optimizers.SGD(learning_rate=0.5), loss="mse")
    m.fit(x, y, epochs=1, batch_size=6, shuffle=False, verbose=0)
    opt = torch.optim.SGD(t.parameters(), lr=0.5)
    loss = torch.nn.functional.mse_loss(t(torch.from_numpy(x))[0][:, -1], torch.from_numpy(y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    _, _, bias = m.get_weights()
    np.testing.assert_allclose(bias[0], t.bias_ih_l0.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(bias[1], t.bias_hh_l0.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(m.get_weights()[1], t.weight_hh_l0.detach().numpy().T,
                               atol=1e-6)


def test_keras_cannot_hold_a_second_lstm_bias(tmp_path):
    from seqc.errors import UsageError

    m = seqc.Sequential([seqc.layers.Input((5, 3)),
                         seqc.layers.LSTM(4, recurrent_bias=True, unit_forget_bias=False)])
    with pytest.raises(UsageError, match="recurrent_bias"):
        m.save(str(tmp_path / "m.keras"))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_two_bias_simple_rnn_trains_like_torch(nonlinearity):
    """SimpleRNN(recurrent_bias=True), seqc's form of torch.nn.RNN: the same forward and SGD
    step (each bias row gets the whole bias gradient)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)
    y = rng.normal(size=(6, 4)).astype(np.float32)
    m = seqc.Sequential([seqc.layers.Input((5, 3)),
                         seqc.layers.SimpleRNN(4, activation=nonlinearity, recurrent_bias=True)])
    assert parameter_counts(m.graph)["total"] == 4 * (3 + 4) + 2 * 4
    torch.manual_seed(0)
    t = torch.nn.RNN(3, 4, nonlinearity=nonlinearity, batch_first=True)
    p = {k: v.detach().numpy() for k, v in t.state_dict().items()}
    m.set_weights([p["weight_ih_l0"].T, p["weight_hh_l0"].T,
                   np.stack([p["bias_ih_l0"], p["bias_hh_l0"]])])
    with torch.no_grad():
        want = t(torch.from_numpy(x))[0][:, -1].numpy()
    np.testing.assert_allclose(m.predict(x), want, atol=1e-6)
    m.compile(optimizer=seqc.optimizers.SGD(learning_rate=0.5), loss="mse")
    m.fit(x, y, epochs=1, batch_size=6, shuffle=False, verbose=0)
    opt = torch.optim.SGD(t.parameters(), lr=0.5)
    loss = torch.nn.functional.mse_loss(t(torch.from_numpy(x))[0][:, -1], torch.from_numpy(y))
    opt.zero_grad()
    loss.backward()
    opt.step()
    kernel, rec, bias = m.get_weights()
    np.testing.assert_allclose(bias[0], t.bias_ih_l0.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(bias[1], t.bias_hh_l0.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(rec, t.weight_hh_l0.detach().numpy().T, atol=1e-6)
    np.testing.assert_allclose(kernel, t.weight_ih_l0.detach().numpy().T, atol=1e-6)
