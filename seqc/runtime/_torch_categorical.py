"""Torch builders for the categorical preprocessing kinds, written from Keras' definitions with
torch ops (torch.bucketize, F.one_hot), independent of seqc's NumPy forward: CategoryEncoding,
Discretization and IntegerLookup. Hashing and IntegerLookup's FarmHash OOV buckets are refused:
FarmHash and SipHash need unsigned 64-bit arithmetic, which PyTorch does not have."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ._torch_base import F, torch

if TYPE_CHECKING:
    from .torch_runtime import Builder

def _encode(ids: Any, mode: str, depth: int, dtype: Any, squeeze_one: bool = True) -> Any:
    """Keras' encode_categorical_inputs on int64 ids; ids outside [0, depth) fill no slot."""
    if mode == "int":
        return ids.to(dtype)
    if mode == "one_hot" and squeeze_one and ids.dim() > 1 and ids.shape[-1] == 1:
        ids = ids.squeeze(-1)
    inside = (ids >= 0) & (ids < depth)
    hot = F.one_hot(torch.where(inside, ids, 0), depth) * inside.unsqueeze(-1)
    if mode == "one_hot":
        return hot.to(dtype)
    if mode == "multi_hot":
        return hot.amax(dim=1).to(dtype)
    return hot.sum(dim=1).to(dtype)


def category_encoding(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    return lambda x, m: _encode(x.long(), a.output_mode, a.num_tokens, torch.float32)


def discretization(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    bounds = np.asarray(a.bin_boundaries if a.bin_boundaries is not None
                        else p["bin_boundaries"], np.float32)
    edges = torch.from_numpy(bounds)
    depth = len(bounds) + 1
    out = torch.int32 if a.output_mode == "int" else torch.float32
    # Keras' torch backend digitizes with torch.bucketize(x, bins, right=True), which for
    # sorted boundaries counts the boundaries <= x; counted directly, so the contract tests'
    # random (unsorted) boundaries mean the same here as in NumPy and ONNX.
    return lambda x, m: _encode((x.to(torch.float32).unsqueeze(-1) >= edges).sum(-1),
                                a.output_mode, depth, out)


def integer_lookup(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    from ..ops import integer_lookup as il

    if a.num_oov_indices > 1 and a.oov_method == "farmhash":
        raise b.refuse("IntegerLookup(oov_method='farmhash')")
    tokens = torch.from_numpy(il._tokens(a)[0])
    start, oov_start = il._token_start(a), il._oov_start(a)
    depth = il._depth(a)
    idf = torch.from_numpy(il._idf(a)) if a.output_mode == "tf_idf" else None

    def f(x, m):
        x = x.long()
        if a.invert:
            pos = x - start
            inside = (pos >= 0) & (pos < len(tokens))
            y = torch.where(inside, tokens[pos.clamp(0, len(tokens) - 1)], a.oov_token)
            return y if a.mask_token is None else torch.where(x == 0, a.mask_token, y)
        eq = x.unsqueeze(-1) == tokens
        ids = torch.where(eq.any(-1), eq.int().argmax(-1) + start,
                          torch.remainder(x, max(a.num_oov_indices, 1)) + oov_start
                          if a.num_oov_indices > 1 else
                          torch.full_like(x, oov_start if a.num_oov_indices else -1))
        known = eq.any(-1) if a.mask_token is None else eq.any(-1) | (x == a.mask_token)
        if a.num_oov_indices == 0 and not bool(known.all()):
            raise DataError("IntegerLookup with num_oov_indices=0 needs every value in the "
                            "vocabulary", field="num_oov_indices",
                            received=f"out-of-vocabulary value {x[~known][0].item()}")
        if a.mask_token is not None:
            masked = 0 if a.output_mode == "int" else -1  # -1 fills no slot
            ids = torch.where(x == a.mask_token, masked, ids)
        if idf is not None:
            return _encode(ids, "count", depth, torch.float32) * idf
        return _encode(ids, a.output_mode, depth,
                       torch.int64 if a.output_mode == "int" else torch.float32)
    return f


BUILDERS = {"CategoryEncoding": category_encoding, "Discretization": discretization,
            "IntegerLookup": integer_lookup}
