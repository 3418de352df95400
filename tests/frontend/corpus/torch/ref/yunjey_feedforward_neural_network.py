"""Reference model for corpus/torch/yunjey_feedforward_neural_network.py.

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

# --- yunjey_feedforward_neural_network.py lines 14-16 (verbatim)
input_size = 784
hidden_size = 500
num_classes = 10


# --- yunjey_feedforward_neural_network.py lines 41-52 (verbatim)
class NeuralNet(nn.Module):
    def __init__(self, input_size, hidden_size, num_classes):
        super(NeuralNet, self).__init__()
        self.fc1 = nn.Linear(input_size, hidden_size) 
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, num_classes)  

    def forward(self, x):
        out = self.fc1(x)
        out = self.relu(out)
        out = self.fc2(out)
        return out


def build():
    torch.manual_seed(0)
    # yunjey_feedforward_neural_network.py lines 54-54 (verbatim)
    model = NeuralNet(input_size, hidden_size, num_classes).to(device)
    example_input = torch.randn(2, 784)
    return model, example_input
