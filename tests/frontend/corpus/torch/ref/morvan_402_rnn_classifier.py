"""Reference model for corpus/torch/morvan_402_rnn_classifier.py.

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

# --- morvan_402_rnn_classifier.py lines 25-26 (verbatim)
TIME_STEP = 28          # rnn time step / image height
INPUT_SIZE = 28         # rnn input size / image width


# --- morvan_402_rnn_classifier.py lines 56-78 (verbatim)
class RNN(nn.Module):
    def __init__(self):
        super(RNN, self).__init__()

        self.rnn = nn.LSTM(         # if use nn.RNN(), it hardly learns
            input_size=INPUT_SIZE,
            hidden_size=64,         # rnn hidden unit
            num_layers=1,           # number of rnn layer
            batch_first=True,       # input & output will has batch size as 1s dimension. e.g. (batch, time_step, input_size)
        )

        self.out = nn.Linear(64, 10)

    def forward(self, x):
        # x shape (batch, time_step, input_size)
        # r_out shape (batch, time_step, output_size)
        # h_n shape (n_layers, batch, hidden_size)
        # h_c shape (n_layers, batch, hidden_size)
        r_out, (h_n, h_c) = self.rnn(x, None)   # None represents zero initial hidden state

        # choose r_out at the last time step
        out = self.out(r_out[:, -1, :])
        return out


def build():
    torch.manual_seed(0)
    # morvan_402_rnn_classifier.py lines 81-81 (verbatim)
    rnn = RNN()
    example_input = torch.randn(2, 28, 28)
    return rnn, example_input
