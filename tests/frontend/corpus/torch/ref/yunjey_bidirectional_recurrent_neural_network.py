"""Reference model for corpus/torch/yunjey_bidirectional_recurrent_neural_network.py.

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

# --- yunjey_bidirectional_recurrent_neural_network.py lines 14-18 (verbatim)
sequence_length = 28
input_size = 28
hidden_size = 128
num_layers = 2
num_classes = 10


# --- yunjey_bidirectional_recurrent_neural_network.py lines 43-61 (verbatim)
class BiRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, num_classes):
        super(BiRNN, self).__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(hidden_size*2, num_classes)  # 2 for bidirection

    def forward(self, x):
        # Set initial states
        h0 = torch.zeros(self.num_layers*2, x.size(0), self.hidden_size).to(device) # 2 for bidirection 
        c0 = torch.zeros(self.num_layers*2, x.size(0), self.hidden_size).to(device)

        # Forward propagate LSTM
        out, _ = self.lstm(x, (h0, c0))  # out: tensor of shape (batch_size, seq_length, hidden_size*2)

        # Decode the hidden state of the last time step
        out = self.fc(out[:, -1, :])
        return out


def build():
    torch.manual_seed(0)
    # yunjey_bidirectional_recurrent_neural_network.py lines 63-63 (verbatim)
    model = BiRNN(input_size, hidden_size, num_layers, num_classes).to(device)
    example_input = torch.randn(2, 28, 28)
    return model, example_input
