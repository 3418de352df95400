"""The size seqc puts in a variable input dimension when it makes inputs itself."""

from __future__ import annotations

import pytest

from seqc.ir.build import LayerConfig, build_graph
from seqc.ir.lengths import DEFAULT_LENGTH, concrete_shape, synthetic_length
from seqc.ir.types import batched
from seqc.runtime.validate import random_inputs


def _graph(input_shape, layers):
    return build_graph("g", batched(tuple(input_shape)),
                       [LayerConfig(d.pop("type"), d) for d in map(dict, layers)])


CONV = [{"type": "Conv1D", "filters": 4, "kernel_size": 5}, {"type": "MaxPooling1D",
        "pool_size": 3}, {"type": "Conv1D", "filters": 4, "kernel_size": 5},
        {"type": "GlobalMaxPooling1D"}, {"type": "Dense", "units": 1}]


@pytest.mark.parametrize("input_shape,layers,want", [
    ([None, 14], CONV, 19),  # 19 -> 15 -> 5 -> 1; 17 and 18 leave 4 steps for a kernel of 5
    ([None, 3], [{"type": "LSTM", "units": 2}], DEFAULT_LENGTH),  # any length: the default
    ([6, 3], CONV[:1] + [{"type": "Flatten"}], DEFAULT_LENGTH),  # no variable dimension
    ([None, None, 1], [{"type": "Conv2D", "filters": 2, "kernel_size": 9},
                       {"type": "GlobalAveragePooling2D"}], 9),
])
def test_synthetic_length_is_the_smallest_every_layer_accepts(input_shape, layers, want):
    g = _graph(input_shape, layers)
    assert synthetic_length(g) == want
    assert synthetic_length(None) == DEFAULT_LENGTH


def test_random_inputs_use_it_with_the_graph():
    g = _graph([None, 14], CONV)
    assert random_inputs(g.input_type, rows=2, graph=g).shape == (2, 19, 14)
    assert random_inputs(g.input_type, rows=2).shape == (2, DEFAULT_LENGTH, 14)
    assert concrete_shape(batched((None, None, 3)), 11) == (11, 11, 3)
