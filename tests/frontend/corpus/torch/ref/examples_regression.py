"""Reference model for corpus/torch/examples_regression.py.

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

# --- examples_regression.py lines 11-13 (verbatim)
POLY_DEGREE = 4
W_target = torch.randn(POLY_DEGREE, 1) * 5
b_target = torch.randn(1) * 5


def build():
    torch.manual_seed(0)
    # examples_regression.py lines 45-45 (verbatim)
    fc = torch.nn.Linear(W_target.size(0), 1)
    example_input = torch.randn(2, 4)
    return fc, example_input
