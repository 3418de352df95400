"""Reference model for corpus/torch/yunjey_language_model.py.

Model classes and construction copied verbatim from the corpus file
(line ranges noted below); argparse/dataset-derived values replaced by
their defaults (see `defines` in manifest.json).
"""
import math
import random
import string
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.init as init
import torch.optim as optim
from torch import nn, optim

device = torch.device("cpu")

# --- values the script gets from argparse / datasets / environment
vocab_size = 10000  # len(corpus.dictionary) for data/train.txt (PTB)
batch_size = 2

# --- yunjey_language_model.py lines 17-19 (verbatim)
embed_size = 128
hidden_size = 1024
num_layers = 1


# --- yunjey_language_model.py lines 34-53 (verbatim)
class RNNLM(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
        super(RNNLM, self).__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, h):
        # Embed word ids to vectors
        x = self.embed(x)

        # Forward propagate LSTM
        out, (h, c) = self.lstm(x, h)

        # Reshape output to (batch_size*sequence_length, hidden_size)
        out = out.reshape(out.size(0)*out.size(1), out.size(2))

        # Decode hidden states of all time steps
        out = self.linear(out)
        return out, (h, c)


def build():
    torch.manual_seed(0)
    # yunjey_language_model.py lines 55-55 (verbatim)
    model = RNNLM(vocab_size, embed_size, hidden_size, num_layers).to(device)
    example_input = (torch.randint(0, vocab_size, (2, 30)), (torch.zeros(num_layers, 2, hidden_size), torch.zeros(num_layers, 2, hidden_size)))
    return model, example_input
