"""Reference model for corpus/torch/examples_mnist_hogwild.py.

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

# --- examples_mnist_hogwild.py lines 42-58 (verbatim)
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def build():
    torch.manual_seed(0)
    # examples_mnist_hogwild.py lines 91-91 (verbatim)
    model = Net().to(device)
    example_input = torch.randn(2, 1, 28, 28)
    return model, example_input
