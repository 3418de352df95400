"""Reference model for corpus/torch/tut_char_rnn_classification.py.

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
alldata = SimpleNamespace(labels_uniq=[str(i) for i in range(18)])  # 18 languages in data/names

# --- tut_char_rnn_classification.py lines 90-91 (verbatim)
allowed_characters = string.ascii_letters + " .,;'"
n_letters = len(allowed_characters) 


# --- tut_char_rnn_classification.py lines 239-252 (verbatim)
class CharRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(CharRNN, self).__init__()

        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        output = self.h2o(hidden[0])
        output = self.softmax(output)

        return output


def build():
    torch.manual_seed(0)
    # tut_char_rnn_classification.py lines 258-259 (verbatim)
    n_hidden = 128
    rnn = CharRNN(n_letters, n_hidden, len(alldata.labels_uniq))
    example_input = torch.randn(10, 2, n_letters)
    return rnn, example_input
