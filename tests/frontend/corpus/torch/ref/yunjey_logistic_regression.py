"""Reference model for corpus/torch/yunjey_logistic_regression.py.

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

# --- yunjey_logistic_regression.py lines 11-12 (verbatim)
input_size = 28 * 28    # 784
num_classes = 10


def build():
    torch.manual_seed(0)
    # yunjey_logistic_regression.py lines 37-37 (verbatim)
    model = nn.Linear(input_size, num_classes)
    example_input = torch.randn(2, 784)
    return model, example_input
