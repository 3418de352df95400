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


def test_a_state_dict_saved_by_one_model_and_loaded_into_another_is_refused(tmp_path):
    head = """\
        import torch
        import torch.nn as nn
        a = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))  # seqc: input_shape = [4]
        torch.save(a.state_dict(), "a.pt")
        sd = torch.load("a.pt")
        """
    head = textwrap.dedent(head)
    own = load_script(_write(tmp_path, head + "a.load_state_dict(sd)\n"))
    assert any("model.py:6:1: a.load_state_dict(sd) reloads the weights the script saved at "
               "line 4" in n for n in own.notes)
    with pytest.raises(DefinitionError, match="model.py:7:1: .* loads the weights another "
                                              "model saved at line 4"):
        load_script(_write(tmp_path, head + textwrap.dedent("""\
            model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
            model.load_state_dict(sd)
            """)))


NETWORK = textwrap.dedent("""\
    import torch.nn.functional as F
    from torch import nn

    class Network(nn.Module):
        def __init__(self, input_size, output_size, hidden_layers, drop_p=0.5):
            super().__init__()
            self.hidden_layers = nn.ModuleList([nn.Linear(input_size, hidden_layers[0])])
            layer_sizes = zip(hidden_layers[:-1], hidden_layers[1:])
            self.hidden_layers.extend([nn.Linear(h1, h2) for h1, h2 in layer_sizes])
            self.output = nn.Linear(hidden_layers[-1], output_size)
            self.dropout = nn.Dropout(p=drop_p)

        def forward(self, x):
            for each in self.hidden_layers:
                x = F.relu(each(x))
                x = self.dropout(x)
            x = self.output(x)
            return F.log_softmax(x, dim=1)

    """)


def test_zip_and_comprehensions_over_constructor_arguments(tmp_path):
    from seqc.ir.summary import parameter_counts

    defn = load_script(_write(tmp_path, NETWORK + textwrap.dedent("""\
        model = Network(784, 10, [512, 256, 128])  # seqc: input_shape = [784]
        """)))
    assert parameter_counts(defn.model.graph)["trainable"] == 567434
    # Sizes from a checkpoint torch.load reads: the error names the load, not the zip.
    with pytest.raises(DefinitionError, match=r"model.py:21:\d+: .*torch.load\(\.\.\.\) is a "
                                              r"call seqc does not run; checkpoint is set at "
                                              "line 21"):
        load_script(_write(tmp_path, NETWORK + textwrap.dedent("""\
            import torch
            checkpoint = torch.load("checkpoint.pth")
            model = Network(784, 10, checkpoint["hidden_layers"])  # seqc: input_shape = [784]
            """)))


def test_a_fresh_instance_of_the_same_modules_reloads_the_trained_weights(tmp_path):
    head = textwrap.dedent("""\
        import torch
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self, n=8):
                super().__init__()
                self.fc = nn.Linear(4, n)
            def forward(self, x):
                return self.fc(x)
        model = Net()  # seqc: input_shape = [4]
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.save(model.state_dict(), "model.pth")
        """)
    from seqc.frontend import Bindings

    net2 = Bindings(model="net2")
    defn = load_script(_write(tmp_path, head + "net2 = Net()\n"
                              "net2.load_state_dict(torch.load('model.pth'))\n"), bindings=net2)
    assert any("reloads the weights the script saved at line 11" in n for n in defn.notes)
    with pytest.raises(DefinitionError, match="model.py:13:1: .* loads the weights another "
                                              "model saved at line 11"):
        load_script(_write(tmp_path, head + "net2 = Net(n=6)\n"
                           "net2.load_state_dict(torch.load('model.pth'))\n"), bindings=net2)
