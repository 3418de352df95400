"""Keras' `encode_categorical_inputs` (keras.src.utils.numerical_utils), shared by
CategoryEncoding, Discretization, IntegerLookup and Hashing: integer indices -> "int" (as they
are), "one_hot", "multi_hot" or "count" vectors of `depth` slots. An index outside
[0, depth) fills no slot (Keras: a negative id one-hots to zeros; IntegerLookup's mask index is
dropped from the counts). ONNX: Equal(ids[..., None], slots), then ReduceSum over the sample
axis (count) and Greater(0) (multi hot).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType

OutputMode = Literal["int", "one_hot", "multi_hot", "count"]
ONNX_DTYPES = {"float32": 1, "float64": 11, "int32": 6, "int64": 7, "bool": 9}


def encoded_type(x: TensorType, mode: str, depth: int, dtype: str, who: str) -> TensorType:
    """The output type of `mode` over indices of type `x` (Keras' compute_output_shape)."""
    if mode == "int":
        return TensorType(x.shape, dtype)
    if mode == "one_hot":
        # (N, 1) -> (N, depth); any other shape gains a depth axis.
        keep = x.shape[:-1] if x.rank > 1 and x.shape[-1] == 1 else x.shape
        return TensorType((*keep, depth), dtype)
    if x.rank != 2:
        # Keras treats the last axis as the sample's values; its eager "count" sums axis 1
        # whatever the rank, so only (batch, values) has one meaning in Keras.
        raise DefinitionError(
            f"{who} with output_mode='{mode}' needs an input of shape (batch, values)",
            field="output_mode", received=f"output_mode={mode!r}, input {x}",
            hint="reshape the input to (batch, values) first, or use output_mode='one_hot'")
    return TensorType((x.shape[0], depth), dtype)


def encode(ids: np.ndarray, mode: str, depth: int, dtype: str) -> np.ndarray:
    """NumPy: int64 indices -> the encoded output (dtype `dtype`)."""
    if mode == "int":
        return ids.astype(dtype)
    if mode == "one_hot" and ids.ndim > 1 and ids.shape[-1] == 1:
        ids = ids[..., 0]
    hot = ids[..., None] == np.arange(depth)
    if mode == "one_hot":
        return hot.astype(dtype)
    if mode == "multi_hot":
        return hot.any(axis=1).astype(dtype)
    return hot.sum(axis=1).astype(dtype)


def lower_encode(em, ids: str, in_type: TensorType, mode: str, depth: int, dtype: str) -> str:
    """ONNX: int64 indices value `ids` (of IR type `in_type`) -> the encoded output."""
    to = ONNX_DTYPES[dtype]
    if mode == "int":
        return em.op("Cast", [ids], to=to)
    if mode == "one_hot" and in_type.rank > 1 and in_type.shape[-1] == 1:
        ids = em.op("Squeeze", [ids, em.const(np.array([-1], np.int64), "last_axis")])
    slots = em.const(np.arange(depth, dtype=np.int64), "slots")
    unsq = em.op("Unsqueeze", [ids, em.const(np.array([-1], np.int64), "last_axis")])
    hot = em.op("Equal", [unsq, slots])
    if mode == "one_hot":
        return em.op("Cast", [hot], to=to)
    axis = em.const(np.array([1], np.int64), "sample_axis")
    counts = em.op("ReduceSum", [em.op("Cast", [hot], to=7), axis], keepdims=0)  # int64
    if mode == "multi_hot":
        counts = em.op("Greater", [counts, em.const(np.array(0, np.int64), "zero")])
    return em.op("Cast", [counts], to=to)


def float_out(x: np.ndarray) -> str:
    """float32, or float64 for a float64 input (the gradient checks run in float64)."""
    return "float64" if x.dtype == np.float64 else "float32"
