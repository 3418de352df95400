"""ConvLSTM1D: an LSTM over a sequence of 1-D signals whose input and recurrent transforms are
1-D convolutions (Keras 3): z_t = conv(x_t, kernel) + bias + conv(h_{t-1}, recurrent_kernel,
'same'); i, f, o = rec_act, g = act of z's filter blocks; c_t = f c_{t-1} + i g, h_t = o act(c_t).

ONNX: one Conv for every step's input term, then a Scan over time (recurrent Conv + gates).
Shape: (N, T, L, C) -> (N, T, L', filters) with return_sequences, else (N, L', filters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv_lstm import ConvLSTMAttrs, ConvLSTMBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class ConvLSTM1DAttrs(ConvLSTMAttrs):
    nd: ClassVar[int] = 1


@register
class ConvLSTM1D(ConvLSTMBase):
    kind = "ConvLSTM1D"
    Attrs = ConvLSTM1DAttrs
    summary = "Convolutional LSTM over a sequence of 1-D signals (batch, time, steps, channels)."
    examples = [
        Example({"filters": 2, "kernel_size": 3, "padding": "same"}, (3, 5, 2)),
        Example({"filters": 3, "kernel_size": 2, "return_sequences": True, "go_backwards": True},
                (4, 4, 1)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "return_sequences": True,
                 "data_format": "channels_first"}, (3, 2, 6)),
        Example({"filters": 2, "kernel_size": 2, "padding": "same", "return_sequences": True},
                (None, 4, 2)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 3}, (5, 2), "rank 4"),
        BadExample({"filters": 2, "kernel_size": 3, "stateful": True}, (3, 5, 2), "stateful"),
        BadExample({"filters": 2, "kernel_size": [3, 3]}, (3, 5, 2), "kernel_size"),
    ]
