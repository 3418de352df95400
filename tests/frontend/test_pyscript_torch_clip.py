"""Gradient clipping in a PyTorch training loop (seqc/frontend/_pyscript_torch_compile.py):
`clip_grad_norm_(model.parameters(), m)` is the optimizer's global_clipnorm and
`clip_grad_value_(model.parameters(), v)` its clipvalue; a clip seqc does not model leaves the
script's training out with a note, never trains without the clipping."""

from __future__ import annotations

import numpy as np
import pytest
from test_pyscript import write

from seqc.frontend.pyscript import load_script

SCRIPT = """import torch
import torch.nn as nn
model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
for epoch in range(2):
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        {clip}
        optimizer.step()
"""


@pytest.mark.parametrize("clip, key, value", [
    ("nn.utils.clip_grad_norm_(model.parameters(), 0.25)", "global_clipnorm", 0.25),
    ("torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1)", "global_clipnorm", 1.0),
    ("torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=0.1)", "clipvalue", 0.1),
])
def test_clipping_is_the_optimizers(tmp_path, clip, key, value):
    d = load_script(write(tmp_path, SCRIPT.format(clip=clip)))
    assert d.compile["optimizer"][key] == value
    assert any(f"read as the optimizer's {key}" in n for n in d.notes)


@pytest.mark.parametrize("clip, why", [
    ("nn.utils.clip_grad_norm_(model[0].parameters(), 0.25)", "not every parameter"),
    ("nn.utils.clip_grad_norm_(model.parameters(), 0.25, norm_type=1)", "norm_type=1"),
    ("nn.utils.clip_grad_norm_(model.parameters(), unknown_value)", "cannot read"),
])
def test_clipping_seqc_does_not_model_leaves_training_out(tmp_path, clip, why):
    d = load_script(write(tmp_path, SCRIPT.format(clip=clip)))
    assert d.compile is None or "optimizer" not in (d.compile or {})
    assert any(why in n and "training is not taken" in n for n in d.notes), d.notes


def test_clipped_steps_match_torch(tmp_path):
    """Three SGD steps clipped by the global norm: the weights match PyTorch's loop."""
    torch = pytest.importorskip("torch")
    d = load_script(write(tmp_path, SCRIPT.format(
        clip="nn.utils.clip_grad_norm_(model.parameters(), 0.25)")))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype(np.float32) * 3
    y = rng.integers(0, 3, 16)
    m = d.model
    m.compile(optimizer=d.compile["optimizer"], loss=d.compile["loss"])
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        ws = [p.copy() for p in m.get_weights()]
        tm[0].weight.copy_(torch.from_numpy(ws[0].T)), tm[0].bias.copy_(torch.from_numpy(ws[1]))
        tm[2].weight.copy_(torch.from_numpy(ws[2].T)), tm[2].bias.copy_(torch.from_numpy(ws[3]))
    opt = torch.optim.SGD(tm.parameters(), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        torch.nn.utils.clip_grad_norm_(tm.parameters(), 0.25)
        opt.step()
    m.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    got = m.get_weights()
    want = [tm[0].weight.detach().numpy().T, tm[0].bias.detach().numpy(),
            tm[2].weight.detach().numpy().T, tm[2].bias.detach().numpy()]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-6)
