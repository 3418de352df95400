"""A PyTorch training loop that saves the model's state_dict when the validation loss
improves and reloads it after the loop (the Udacity CIFAR-10 notebook): read as restoring the
best val_loss epoch over a holdout of the training rows, or refused at the load."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend.pyscript import load_script
from seqc.training.callback_base import Callback

HEAD = """\
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data.sampler import SubsetRandomSampler
train_data = datasets.CIFAR10('data', train=True)
valid_size = 0.25
num_train = len(train_data)
indices = list(range(num_train))
np.random.shuffle(indices)
split = int(np.floor(valid_size * num_train))
train_idx, valid_idx = indices[split:], indices[:split]
train_loader = torch.utils.data.DataLoader(train_data, batch_size=4,
                                           sampler=SubsetRandomSampler(train_idx))
valid_sampler = SubsetRandomSampler(valid_idx)
valid_loader = torch.utils.data.DataLoader(train_data, batch_size=4, sampler=valid_sampler)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
valid_loss_min = np.inf
for epoch in range(1, 31):
    valid_loss = 0.0
    model.train()
    for data, target in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(data), target)
        loss.backward()
        optimizer.step()
    model.eval()
    for data, target in valid_loader:
        loss = criterion(model(data), target)
        valid_loss += loss.item() * data.size(0)
    valid_loss = valid_loss / len(valid_loader.sampler)
    if valid_loss <= valid_loss_min:
        torch.save(model.state_dict(), 'model_cifar.pt')
        valid_loss_min = valid_loss
model.load_state_dict(torch.load('model_cifar.pt'))
"""


def _write(tmp_path, text):
    p = tmp_path / "model.py"
    p.write_text(textwrap.dedent(text))
    return p


def test_a_best_only_state_dict_reloaded_restores_the_best_val_loss_epoch(tmp_path):
    p = tmp_path / "model.py"
    p.write_text(HEAD.replace("valid_loss_min = np.inf", "valid_loss_min = np.inf  # seqc: "
                              "input_shape = [4]"))
    defn = load_script(p)
    assert defn.fit["validation_split"] == 0.25
    assert defn.fit["callbacks"] == [{"type": "EarlyStopping", "monitor": "val_loss",
                                      "mode": "min", "patience": 2 ** 31 - 1,
                                      "restore_best_weights": True}]
    assert any("model.py:36:1" in n and "restoring the best epoch's weights" in n
               for n in defn.notes)
    # The build restores the epoch of lowest val_loss: its weights are the ones kept.
    model = defn.model
    model.compile(**defn.compile)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.integers(0, 3, 64)
    seen = []

    class Record(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((logs["val_loss"], [w.copy() for w in self.model.get_weights()]))

    fit = {**defn.fit, "callbacks": [*defn.fit["callbacks"], Record()]}
    hist = model.fit(x, y, epochs=6, batch_size=8, verbose=0, seed=0, **fit)
    assert len(hist.history["val_loss"]) == 6
    best = min(range(6), key=lambda i: seen[i][0])
    for got, want in zip(model.get_weights(), seen[best][1]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("change, why", [
    ("if valid_loss <= valid_loss_min:", "if valid_loss >= valid_loss_min:"),
    ("valid_loader = torch.utils.data.DataLoader(train_data, batch_size=4, "
     "sampler=valid_sampler)", "valid_loader = torch.utils.data.DataLoader(test_data, "
     "batch_size=4)"),
    ("indices[:split]", "indices[split:]"),
    ("split = int(np.floor(valid_size * num_train))", "split = int(np.floor(valid_size))"),
    ("torch.save(model.state_dict()", "torch.save(other.state_dict()"),
])
def test_other_conditional_checkpoints_are_refused_at_the_load(tmp_path, change, why):
    text = HEAD.replace(change, why)
    assert text != HEAD
    p = tmp_path / "model.py"
    p.write_text(text + "# seqc: input_shape = [4]\n")
    with pytest.raises(DefinitionError, match=r"model\.py:36:1: .*only when"):
        load_script(p)


def test_the_loop_and_its_condition_are_never_run(tmp_path):
    canary = tmp_path / "canary.txt"
    text = HEAD.replace("valid_loss_min = np.inf", f"import os\nvalid_loss_min = np.inf"
                        f"  # seqc: input_shape = [4]\nos.system('touch {canary}')")
    text = text.replace("if valid_loss <= valid_loss_min:",
                        f"if valid_loss <= valid_loss_min and not os.system('touch {canary}'):")
    text = text.replace("valid_size = 0.25", f"valid_size = 0.25 + os.system('touch {canary}')")
    p = tmp_path / "model.py"
    p.write_text(text)
    with pytest.raises(DefinitionError):
        load_script(p)
    assert not canary.exists()


def test_a_pretrained_file_the_script_never_wrote_is_refused(tmp_path):
    p = _write(tmp_path, """\
        import torch
        import torch.nn as nn
        model = nn.Sequential(nn.Linear(4, 2))  # seqc: input_shape = [4]
        model.load_state_dict(torch.load("lenet_mnist_model.pth", map_location="cpu"))
        """)
    with pytest.raises(DefinitionError, match="model.py:4:1: .* a file this script does not "
                                              "write \\(pretrained weights"):
        load_script(p)
