"""`torch.save(obj, f)` of a value the reader knows, read back by `torch.load` of the same
file: the value as it was at the save (the char-RNN notebook's checkpoint dict, written with
`with open(name, 'wb') as f` and reloaded into a fresh instance). A torch.load of a file the
script does not write stays unknown, and so refused where a model needs it."""

from __future__ import annotations

import textwrap

import pytest

from seqc.errors import DefinitionError
from seqc.frontend import Bindings, parse_defines
from seqc.frontend.pyscript import load_script
from seqc.ir.summary import parameter_counts

HEAD = textwrap.dedent("""\
    import torch
    from torch import nn

    with open('data/anna.txt', 'r') as f:
        text = f.read()
    chars = tuple(set(text))

    class CharRNN(nn.Module):
        def __init__(self, tokens, n_hidden=16, n_layers=2):
            super().__init__()
            self.n_hidden = n_hidden
            self.n_layers = n_layers
            self.chars = tokens
            self.lstm = nn.LSTM(len(self.chars), n_hidden, n_layers, batch_first=True)
            self.fc = nn.Linear(n_hidden, len(self.chars))

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.fc(out[:, -1])

    net = CharRNN(chars, 8, 1)  # seqc: input_shape = [10, 5]
    opt = torch.optim.Adam(net.parameters(), lr=0.001)
    criterion = nn.CrossEntropyLoss()
    checkpoint = {'n_hidden': net.n_hidden, 'n_layers': net.n_layers,
                  'state_dict': net.state_dict(), 'tokens': net.chars}
    """)
SAVE = "with open('rnn.net', 'wb') as f:\n    torch.save(checkpoint, f)\n"
LOAD = textwrap.dedent("""\
    with open('rnn.net', 'rb') as f:
        checkpoint = torch.load(f)
    loaded = CharRNN(checkpoint['tokens'], n_hidden=checkpoint['n_hidden'],
                     n_layers=checkpoint['n_layers'])
    loaded.load_state_dict(checkpoint['state_dict'])
    """)
V = 5  # len(chars), given with --define
# LSTM(5 -> 8): 4 * (5 * 8 + 8 * 8 + 2 * 8) (PyTorch's two biases); Linear(8 -> 5)
PARAMS = 4 * (V * 8 + 8 * 8 + 2 * 8) + 8 * V + V


def _load(tmp_path, text, model=None):
    p = tmp_path / "model.py"
    p.write_text(text)
    return load_script(p, bindings=Bindings(defines=parse_defines([f"len(chars)={V}"]),
                                            model=model))


def _line(text, part):
    return next(i for i, s in enumerate(text.splitlines(), 1) if part in s)


@pytest.mark.parametrize("model", [None, "net", "loaded"])
def test_a_checkpoint_dict_saved_and_loaded_gives_its_values_back(tmp_path, model):
    text = HEAD + SAVE + LOAD
    defn = _load(tmp_path, text, model)
    # net is the model the script trains; loaded is a fresh CharRNN of the same sizes with
    # net's weights at the save: either builds the same model
    assert defn.model.graph.input_type.shape[-1] == V
    assert parameter_counts(defn.model.graph)["total"] == PARAMS
    at = _line(text, "loaded.load_state_dict")
    assert any(f"model.py:{at}:1: loaded.load_state_dict(checkpoint['state_dict']) reloads "
               f"the weights the script saved at line {_line(text, 'torch.save')}" in n
               for n in defn.notes)


def test_the_loaded_value_is_the_one_at_the_save(tmp_path):
    """The dict changed after the save: torch.load gives what the file holds (n_hidden 8).
    Saved again after the change: the second save's n_hidden 6, whose CharRNN is not the
    one whose weights the dict holds (PyTorch's load_state_dict fails on the sizes)."""
    changed = HEAD + SAVE + "checkpoint['n_hidden'] = 6\n" + LOAD
    assert parameter_counts(_load(tmp_path, changed, "loaded").model.graph)["total"] == PARAMS
    resaved = changed.replace(LOAD, "torch.save(checkpoint, 'rnn.net')\n" + LOAD)
    with pytest.raises(DefinitionError, match=rf"model\.py:{_line(resaved, 'loaded.load')}:1: "
                       r"loaded\.load_state_dict\(checkpoint\['state_dict'\]\) loads the "
                       "weights another model saved at line "
                       f"{_line(resaved, 'torch.save(checkpoint, ' + repr('rnn.net'))}"):
        _load(tmp_path, resaved, "loaded")


@pytest.mark.parametrize("change", [
    ("with open('rnn.net', 'rb')", "with open('pretrained.net', 'rb')"),  # another file
    ("with open('rnn.net', 'wb')", "with open('rnn.net', 'ab')"),  # appended: not read
    ("with open('rnn.net', 'wb') as f:\n    torch.save(checkpoint, f)\n",  # saved again
     "with open('rnn.net', 'wb') as f:\n    torch.save(checkpoint, f)\n"
     "for epoch in range(len(text)):\n    torch.save(net, 'rnn.net')\n"),  # in a loop
])
def test_a_torch_load_of_a_file_seqc_does_not_know_stays_refused(tmp_path, change):
    text = (HEAD + SAVE + LOAD).replace(*change)
    with pytest.raises(DefinitionError) as e:
        _load(tmp_path, text, "loaded")
    # loaded's sizes come from what torch.load gives: unknown, as without the save
    assert f"model.py:{_line(text, 'nn.LSTM')}:29: nn.LSTM(input_size=...) cannot be read " \
           "without running the script: len(self.chars) is not computed" in str(e.value)


def test_a_saved_model_object_is_not_copied_back(tmp_path):
    """torch.save(net, p) pickles the whole module; the reader does not make a copy of a
    model, so its torch.load stays unknown (what load_state_dict of it needs is refused)."""
    text = HEAD + "torch.save({'model': net}, 'rnn.net')\nsd = torch.load('rnn.net')\n" \
        "net.load_state_dict(sd['model'])\n"
    with pytest.raises(DefinitionError, match=r"model\.py:\d+:1: net\.load_state_dict"):
        _load(tmp_path, text, "net")
