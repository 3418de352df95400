"""ConvLSTM3D: an LSTM over a sequence of volumes whose input and recurrent transforms are 3-D
convolutions (Keras 3): z_t = conv(x_t, kernel) + bias + conv(h_{t-1}, recurrent_kernel,
'same'); i, f, o = rec_act, g = act of z's filter blocks; c_t = f c_{t-1} + i g, h_t = o act(c_t).

ONNX: one Conv for every step's input term, then a Scan over time (recurrent Conv + gates).
Shape: (N, T, D, H, W, C) -> (N, T, D', H', W', filters) with return_sequences, else
(N, D', H', W', filters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv_lstm import ConvLSTMAttrs, ConvLSTMBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class ConvLSTM3DAttrs(ConvLSTMAttrs):
    nd: ClassVar[int] = 3


@register
class ConvLSTM3D(ConvLSTMBase):
    kind = "ConvLSTM3D"
    Attrs = ConvLSTM3DAttrs
    summary = "Convolutional LSTM over a sequence of volumes (batch, time, d1, d2, d3, channels)."
    examples = [
        Example({"filters": 2, "kernel_size": 2, "padding": "same"}, (2, 3, 3, 2, 1)),
        Example({"filters": 1, "kernel_size": [2, 2, 1], "return_sequences": True,
                 "go_backwards": True}, (3, 3, 2, 2, 2)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 2}, (3, 3, 3, 1), "rank 6"),
        BadExample({"filters": 2, "kernel_size": 2, "return_state": True}, (2, 3, 3, 3, 1),
                   "return_state"),
    ]
