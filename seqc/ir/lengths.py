"""The size seqc gives a variable (None) input dimension when it makes inputs itself
(validation rows, test vectors, bench batches): the smallest size, at least DEFAULT_LENGTH,
that every layer's shape rule accepts, found by running shape inference with it.

A model with input (None, 14) and Conv1D(5) -> MaxPooling1D(3) -> Conv1D(5) needs 19 steps
(19 -> 15 -> 5 -> 1); 8 would leave the second convolution 1 step for a kernel of 5.
"""

from __future__ import annotations

from ..errors import SeqcError
from ..ops import REGISTRY
from ..ops._promote import infer
from .graph import Graph
from .types import TensorType

DEFAULT_LENGTH = 8
MAX_LENGTH = 4096  # past this, no length is tried; the default's own error is reported


def synthetic_length(graph: Graph | None) -> int:
    """The size to put in each None dimension of `graph`'s input (one size for all of them,
    so it fills the ONNX input in either layout). DEFAULT_LENGTH without a graph, without a
    None dimension, or when no size up to MAX_LENGTH fits every layer."""
    if graph is None or None not in graph.input_type.shape[1:]:
        return DEFAULT_LENGTH
    for n in range(DEFAULT_LENGTH, MAX_LENGTH + 1):
        if _fits(graph, n):
            return n
    return DEFAULT_LENGTH


def concrete_shape(t: TensorType, length: int = DEFAULT_LENGTH) -> tuple[int, ...]:
    """The per-sample shape of `t` with each None replaced by `length`."""
    return tuple(length if d is None else d for d in t.shape[1:])


def _fits(graph: Graph, n: int) -> bool:
    t = graph.input_type
    types = {graph.inputs[0]: t.with_shape((t.shape[0], *concrete_shape(t, n)))}
    try:
        for node in graph.nodes:
            outs = infer(REGISTRY[node.op], node.attrs, [types[v] for v in node.inputs])
            types.update(zip(node.outputs, outs))
    except SeqcError:
        return False
    return True
