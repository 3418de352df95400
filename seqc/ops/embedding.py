"""Embedding: y[..., :] = embeddings[ids[...]]; embeddings (input_dim, output_dim) as in Keras.

ONNX: Gather(embeddings, Cast(ids, int64)); mask_zero's mask is Not(Equal(ids, 0)).
Shape: (N, T, ...) ids (int, or float holding integers) -> (N, T, ..., output_dim) float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, DefinitionError
from ..ir.types import TensorType
from . import _numba
from .base import (
    BadExample,
    Example,
    Initializer,
    OpDef,
    ParamSpec,
    expect_rank,
    positive_int,
    register,
)


@dataclass(frozen=True)
class EmbeddingAttrs:
    input_dim: int
    output_dim: int
    embeddings_initializer: Initializer = "uniform"  # Keras: RandomUniform(-0.05, 0.05)
    mask_zero: bool = False


def token_ids(x: np.ndarray, input_dim: int) -> np.ndarray:
    """Ids as int64 (floats truncate, as Keras' cast does); an id outside [0, input_dim) is a
    DataError, never a silent wrap-around (NumPy's negative indexing) or a clipped lookup."""
    ids = x.astype(np.int64, copy=False)
    bad = (ids < 0) | (ids >= input_dim)
    if np.any(bad):
        value = x[tuple(np.argwhere(bad)[0])].item()
        lo, hi = x.min().item(), x.max().item()
        raise DataError(
            f"Embedding ids must be in [0, input_dim) = [0, {input_dim}); the data holds "
            f"{value}", field="input",
            received=f"id {value} (ids in this batch range from {lo} to {hi}), "
                     f"input_dim={input_dim}",
            hint="raise input_dim to the vocabulary size (largest id + 1), or map unknown "
                 "tokens to a reserved id")
    return ids


def scatter_add_rows(g, ids, rows):
    """g[ids[i]] += rows[i] in the order of i: np.add.at's sums bit for bit (the reduceat path
    adds each id's rows in another order: equal within rounding). ids are in range (token_ids
    checked them), so the loop needs no bounds check."""
    for i in range(ids.size):
        r = ids[i]
        for j in range(rows.shape[1]):
            g[r, j] += rows[i, j]


_SCATTER: dict[str, Any] = {}
_STATE: dict[str, bool] = {}


def _scatter_kernel(dtype: Any) -> Any:
    """scatter_add_rows compiled (numba, optional: ops/_numba.py) for float32 or float64
    rows, or None: then the sort-and-reduceat path runs. A loop, because the sort is most of
    that path's time (3,200 ids of a 1,000-word vocabulary: 0.9 ms against 0.05 ms)."""
    name = np.dtype(dtype).name
    if name not in ("float32", "float64") or not _numba.enabled(_STATE):
        return None
    if name not in _SCATTER:
        from numba import from_dtype, types  # noqa: PLC0415 - optional

        f = types.Array(from_dtype(np.dtype(dtype)), 2, "C")
        _SCATTER[name] = _numba.compile_kernel(
            scatter_add_rows, types.void(f, types.Array(types.int64, 1, "C"), f), _STATE)
    return _SCATTER[name]


@register
class Embedding(OpDef):
    kind = "Embedding"
    weight_args = {"embeddings": "embeddings"}
    Attrs = EmbeddingAttrs
    category = "core"
    summary = "Looks up a learnt vector for each integer id (token embedding)."
    examples = [
        Example({"input_dim": 5, "output_dim": 3}, (4,), "int32", (0, 5)),
        Example({"input_dim": 6, "output_dim": 2, "mask_zero": True}, (5,), "int32", (0, 6)),
        Example({"input_dim": 4, "output_dim": 2}, (2, 3), "int32", (0, 4)),  # rank 3 ids
        Example({"input_dim": 5, "output_dim": 2}, (None,), "int32", (0, 5)),
        # Ids read from a CSV arrive as float32; the integer part is the id.
        Example({"input_dim": 5, "output_dim": 2,
                 "embeddings_initializer": "random_normal"}, (3,), "float32", (0, 5)),
    ]
    bad_examples = [
        BadExample({"input_dim": 0, "output_dim": 2}, (3,), "input_dim"),
        BadExample({"input_dim": 5, "output_dim": -1}, (3,), "output_dim"),
        BadExample({"input_dim": 5, "output_dim": 2}, (), "rank"),
        BadExample({"input_dim": 5, "output_dim": 2, "mask_zero": True}, (2, 3), "steps"),
        BadExample({"input_dim": 5, "output_dims": 2}, (3,), "did you mean"),
    ]

    def id_count(self, a):
        return a.input_dim

    def check(self, a: EmbeddingAttrs) -> None:
        positive_int(a, "input_dim")
        positive_int(a, "output_dim")

    def infer(self, a: EmbeddingAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        expect_rank(x, 2, "Embedding")
        if x.dtype not in ("int32", "int64", "float32", "float64"):
            raise DefinitionError("Embedding needs integer ids (or floats holding them)",
                                  field="input", received=f"input {x}")
        if a.mask_zero and x.rank != 2:
            # seqc's masks are timestep masks (N, T); ids != 0 of (N, T, ...) ids is not one.
            raise DefinitionError("Embedding(mask_zero=True) needs ids of shape (batch, steps)",
                                  field="mask_zero", received=f"mask_zero=True, input {x}")
        return [TensorType((*x.shape, a.output_dim), "float32")]

    def output_masked(self, a: EmbeddingAttrs, in_masked: bool) -> bool:
        return a.mask_zero  # Keras: supports_masking = mask_zero; the mask is ids != 0

    def compute_mask(self, a, xs, mask):
        return xs[0] != 0

    def params(self, a: EmbeddingAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        return [ParamSpec("embeddings", (a.input_dim, a.output_dim), a.embeddings_initializer)]

    def forward(self, a, params, xs, ctx):
        ids = token_ids(xs[0], a.input_dim)
        return [params["embeddings"][ids]], ids

    def backward(self, a, params, cache, dys):
        ids = cache
        (dy,) = dys
        w = params["embeddings"]
        # Scatter-add of the output gradient rows onto the looked-up rows; a repeated id sums.
        # Sorted, then one reduceat over each id's run: 2-3x faster than np.add.at at every
        # size measured (vocabulary 3 to 10,000, 640 to 8,192 ids).
        flat = ids.reshape(-1)
        g = np.zeros_like(w)
        if not flat.size:
            return [None], {"embeddings": g}
        rows = dy.reshape(-1, w.shape[1])
        k = _scatter_kernel(g.dtype)
        if k is not None and rows.dtype == g.dtype:
            k(g, np.ascontiguousarray(flat), np.ascontiguousarray(rows))
            return [None], {"embeddings": g}
        order = np.argsort(flat, kind="stable")
        s = flat[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        g[s[starts]] = np.add.reduceat(rows[order], starts, axis=0)
        return [None], {"embeddings": g}  # ids are not differentiable

    def lower(self, a, params, xs, em):
        ids = em.op("Cast", [xs[0]], to=7)  # INT64: Gather's indices
        return [em.op("Gather", [em.weight("embeddings", params["embeddings"]), ids], axis=0)]

    def lower_mask(self, a, xs, mask, em):
        zero = em.const(np.array(0, np.dtype(em.type_of(xs[0]).dtype)), "zero")
        return em.op("Not", [em.op("Equal", [xs[0], zero])])
