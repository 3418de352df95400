"""ConvLSTM2D: an LSTM over a sequence of images whose input and recurrent transforms are 2-D
convolutions (Keras 3): z_t = conv(x_t, kernel) + bias + conv(h_{t-1}, recurrent_kernel, 'same');
i, f, o = rec_act, g = act of z's filter blocks; c_t = f c_{t-1} + i g, h_t = o act(c_t).

ONNX: one Conv for every step's input term, then a Scan over time (recurrent Conv + gates).
Shape: (N, T, H, W, C) -> (N, T, H', W', filters) with return_sequences, else (N, H', W',
filters); H', W' by the input conv's rule (see _conv_lstm.py for the maths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._conv_lstm import ConvLSTMAttrs, ConvLSTMBase
from .base import BadExample, Example, register


@dataclass(frozen=True)
class ConvLSTM2DAttrs(ConvLSTMAttrs):
    nd: ClassVar[int] = 2


@register
class ConvLSTM2D(ConvLSTMBase):
    kind = "ConvLSTM2D"
    Attrs = ConvLSTM2DAttrs
    summary = "Convolutional LSTM over a sequence of images (batch, time, rows, cols, channels)."
    examples = [
        Example({"filters": 2, "kernel_size": 3, "padding": "same"}, (3, 4, 4, 1)),
        Example({"filters": 2, "kernel_size": [2, 3], "return_sequences": True}, (3, 4, 5, 2)),
        Example({"filters": 2, "kernel_size": 2, "padding": "same", "go_backwards": True,
                 "return_sequences": True}, (3, 3, 4, 1)),
        Example({"filters": 1, "kernel_size": 3, "strides": 2, "go_backwards": True},
                (2, 5, 5, 2)),
        Example({"filters": 2, "kernel_size": 2, "dilation_rate": 2, "padding": "same",
                 "return_sequences": True}, (2, 4, 4, 1)),
        Example({"filters": 2, "kernel_size": 3, "padding": "same", "return_sequences": True,
                 "data_format": "channels_first"}, (3, 2, 4, 3)),
        Example({"filters": 2, "kernel_size": 3, "padding": "same",
                 "data_format": "channels_first"}, (2, 1, 3, 4)),
        Example({"filters": 2, "kernel_size": 3, "activation": "relu",
                 "recurrent_activation": "hard_sigmoid", "padding": "same"}, (3, 3, 3, 1),
                input_range=(-1.0, 1.0)),
        Example({"filters": 2, "kernel_size": 3, "use_bias": False, "unit_forget_bias": False},
                (2, 4, 4, 1)),
        Example({"filters": 2, "kernel_size": 3, "padding": "same", "return_sequences": True},
                (None, 4, 4, 1)),
        Example({"filters": 2, "kernel_size": 2, "dropout": 0.3, "recurrent_dropout": 0.4,
                 "padding": "same", "return_sequences": True}, (3, 3, 3, 2)),
        Example({"filters": 2, "kernel_size": 3, "strides": 2, "recurrent_dropout": 0.5},
                (3, 5, 5, 1)),
    ]
    bad_examples = [
        BadExample({"filters": 2, "kernel_size": 3}, (4, 4, 1), "rank 5"),
        BadExample({"filters": 2, "kernel_size": 3}, (3, None, 4, 1), "static"),
        BadExample({"filters": 2, "kernel_size": 5}, (3, 4, 4, 1), "larger"),
        BadExample({"filters": 2, "kernel_size": 3, "return_state": True}, (3, 4, 4, 1),
                   "return_state"),
        BadExample({"filters": 2, "kernel_size": 3, "stateful": True}, (3, 4, 4, 1),
                   "stateful"),
        BadExample({"filters": 2, "kernel_size": 3, "recurrent_dropout": -0.1}, (3, 4, 4, 1),
                   "recurrent_dropout"),
        BadExample({"filters": 2, "kernel_size": 3, "dropout": 1.5}, (3, 4, 4, 1), "dropout"),
        BadExample({"filters": 0, "kernel_size": 3}, (3, 4, 4, 1), "filters"),
        BadExample({"filter": 2, "kernel_size": 3}, (3, 4, 4, 1), "did you mean"),
        BadExample({"filters": 2, "kernel_size": [3, 3, 3]}, (3, 4, 4, 1), "kernel_size"),
        BadExample({"filters": 2, "kernel_size": 2, "strides": 2, "dilation_rate": 2},
                   (3, 6, 6, 1), "dilation_rate"),
        BadExample({"filters": 2, "kernel_size": 3, "activation": "softmax"}, (3, 4, 4, 1),
                   "elementwise"),
    ]
