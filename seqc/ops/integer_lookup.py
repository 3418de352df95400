"""IntegerLookup (Keras preprocessing, keras/src/layers/preprocessing/index_lookup.py): integer
tokens -> vocabulary indices (mask 0, out-of-vocabulary buckets next, then the vocabulary), as
int64 or encoded one_hot / multi_hot / count / tf_idf; `invert` maps indices back to tokens.
ONNX: Equal(x[..., None], vocabulary) weighted by the indices and summed (one match at most),
Where for the OOV buckets and the mask, then the encoding. Shape: int keeps it; see _categorical.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import DataError, DefinitionError
from ..ir.types import TensorType
from ._categorical import encode, encoded_type, float_out, lower_encode
from ._hashes import hash_bins, lower_hash_bins
from .base import BadExample, Example, OpDef, expect_rank, register
from .category_encoding import refuse_sparse

MASKED = np.iinfo(np.int64).max  # Keras' index for a mask token outside "int" mode: no slot


@dataclass(frozen=True)
class IntegerLookupAttrs:
    max_tokens: int | None = None
    num_oov_indices: int = 1
    mask_token: int | None = None
    oov_token: int = -1
    vocabulary: tuple[int, ...] | str | None = None
    vocabulary_dtype: Literal["int64"] = "int64"
    idf_weights: tuple[float, ...] | None = None
    invert: bool = False
    output_mode: Literal["int", "one_hot", "multi_hot", "count", "tf_idf", "binary",
                         "tf-idf"] = "int"
    sparse: bool = False
    pad_to_max_tokens: bool = False
    oov_method: Literal["floormod", "farmhash"] = "floormod"
    salt: int | tuple[int, int] | None = None  # Keras: an int s means (s, s)
    vocabulary_size: int | None = None  # Keras' record of the size (get_config)

    def __post_init__(self) -> None:
        if isinstance(self.salt, int):
            object.__setattr__(self, "salt", (self.salt, self.salt))
        mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(self.output_mode)
        if mode:  # Keras' deprecated names
            object.__setattr__(self, "output_mode", mode)


def _oov_start(a) -> int:
    return 1 if a.mask_token is not None and a.output_mode == "int" else 0


def _token_start(a) -> int:
    return _oov_start(a) + a.num_oov_indices


def _specials(a) -> list[int]:
    return [a.mask_token] * _oov_start(a) + [a.oov_token] * a.num_oov_indices


def _tokens(a) -> tuple[np.ndarray, bool]:
    """(the vocabulary's own tokens, whether it began with the special tokens)."""
    v = list(a.vocabulary)
    n = _token_start(a)
    found = v[:n] == _specials(a)
    return np.asarray(v[n:] if found else v, np.int64), found


def _depth(a) -> int:
    return a.max_tokens if a.pad_to_max_tokens else _token_start(a) + len(_tokens(a)[0])


def _idf(a) -> np.ndarray:
    """Keras' set_vocabulary: idf_weights front-padded with their mean for the special
    tokens (unless the vocabulary lists them), back-padded with 0 up to max_tokens."""
    w = np.asarray(a.idf_weights, np.float64)
    _, found = _tokens(a)
    front = 0 if found else _token_start(a)
    w = np.concatenate([np.full(front, w.mean()), w])
    return np.pad(w, (0, _depth(a) - len(w))).astype(np.float32)


def adapted_vocabulary(a, data: np.ndarray) -> dict[str, Any]:
    """Keras' `IntegerLookup(...).adapt(data)` as the layer's arguments: the vocabulary (with
    its special tokens first, as get_vocabulary() lists it) and, for tf_idf, idf_weights.
    Tokens by descending count, ties by descending token; each row is a document."""
    data = np.asarray(data).astype(np.int64)
    data = data[:, None] if data.ndim == 1 else data.reshape(len(data), -1)
    counts = Counter(data.reshape(-1).tolist())
    for special in (a.mask_token, a.oov_token):
        counts.pop(special, None)
    tokens = np.array(list(counts), np.int64)
    order = np.lexsort((tokens, np.array([counts[t] for t in tokens.tolist()])))[::-1]
    if a.max_tokens:
        order = order[:a.max_tokens - _token_start(a)]
    tokens = tokens[order]
    out: dict[str, Any] = {"vocabulary": _specials(a) + tokens.tolist()}
    if a.output_mode == "tf_idf":
        docs = Counter(t for row in data.tolist() for t in set(row))
        idf = np.log(1 + len(data) / (1 + np.array([docs[t] for t in tokens.tolist()])))
        idf = idf.astype(np.float32)
        out["idf_weights"] = [float(idf.mean())] * _token_start(a) + idf.tolist()
    return out


@register
class IntegerLookup(OpDef):
    kind = "IntegerLookup"
    Attrs = IntegerLookupAttrs
    category = "preprocessing"
    summary = "Maps integer tokens to vocabulary indices (or back), encoded like CategoryEncoding."
    examples = [
        Example({"vocabulary": [12, 36, 1138, 42]}, (3,), "int64", (0, 50)),
        Example({"vocabulary": [3, 1, 4], "num_oov_indices": 2, "mask_token": 0}, (4,),
                "int32", (-3, 6)),
        Example({"vocabulary": [2, 0, 1], "num_oov_indices": 0}, (2,), "int64", (0, 3)),
        Example({"vocabulary": [5, 2, 7], "output_mode": "multi_hot", "mask_token": 0},
                (3,), "int64", (0, 9)),
        Example({"vocabulary": [5, 2, 7], "output_mode": "one_hot", "max_tokens": 6,
                 "pad_to_max_tokens": True}, (2,), "int64", (0, 9)),
        Example({"vocabulary": [5, 2, 7], "output_mode": "count"}, (4,), "float32", (0, 9)),
        Example({"vocabulary": [5, 2, 7], "output_mode": "tf_idf",
                 "idf_weights": [0.5, 1.0, 2.0]}, (4,), "int64", (0, 9)),
        Example({"vocabulary": [0, -1, 5, 2, 7], "invert": True, "mask_token": 0}, (3,),
                "int64", (0, 6)),
        Example({"vocabulary": [4, 8], "num_oov_indices": 3, "oov_method": "farmhash"},
                (5,), "int64", (-20, 20)),
        Example({"vocabulary": [4, 8], "num_oov_indices": 2, "oov_method": "farmhash",
                 "salt": [5, 6]}, (3,), "int64", (-20, 20)),
    ]
    bad_examples = [
        BadExample({}, (3,), "vocabulary"),
        BadExample({"vocabulary": [1, 2, 1]}, (3,), "repeated"),
        BadExample({"vocabulary": [1, 0, 2], "mask_token": 0}, (3,), "mask token"),
        BadExample({"vocabulary": [1, 2, 3], "max_tokens": 3}, (3,), "max_tokens"),
        BadExample({"vocabulary": [1, 2], "output_mode": "tf_idf"}, (3,), "idf_weights"),
        BadExample({"vocabulary": [1, 2], "invert": True, "output_mode": "count"}, (3,),
                   "invert"),
        BadExample({"vocabulary": "vocab.txt"}, (3,), "file"),
        BadExample({"vocabulary": [1, 2], "salt": 7, "num_oov_indices": 2}, (3,), "salt"),
        BadExample({"vocabulary": [1, 2], "sparse": True, "output_mode": "count"}, (3,),
                   "sparse"),
    ]

    def check(self, a: IntegerLookupAttrs) -> None:
        refuse_sparse(a)
        if a.vocabulary is None:
            raise DefinitionError(
                "IntegerLookup needs its vocabulary when the model is built (its size sets "
                "the indices and the output shape)", field="vocabulary",
                received="vocabulary=None",
                hint="pass vocabulary=[...]; in a Python script, layer.adapt(data) before "
                     "the model is built computes Keras' vocabulary from the data")
        if isinstance(a.vocabulary, str):
            raise DefinitionError(
                "a vocabulary file is read only inside the Keras archive or as a list",
                field="vocabulary", received=f"vocabulary={a.vocabulary!r}",
                hint="pass the vocabulary as a list of integers")
        if a.max_tokens is not None and a.max_tokens <= 1:
            raise DefinitionError("`max_tokens` must be greater than 1", field="max_tokens",
                                  received=f"max_tokens={a.max_tokens}")
        if a.pad_to_max_tokens and a.max_tokens is None:
            raise DefinitionError("pad_to_max_tokens=True needs max_tokens",
                                  field="pad_to_max_tokens", received="max_tokens=None")
        if a.num_oov_indices < 0:
            raise DefinitionError("`num_oov_indices` must be >= 0", field="num_oov_indices",
                                  received=f"num_oov_indices={a.num_oov_indices}")
        if a.invert and a.output_mode != "int":
            raise DefinitionError("`output_mode` must be 'int' when `invert` is true",
                                  field="output_mode", received=f"output_mode={a.output_mode!r}")
        if a.salt is not None and a.oov_method != "farmhash":
            raise DefinitionError("`salt` can only be used with oov_method='farmhash'",
                                  field="salt", received=f"salt={a.salt!r}, "
                                  f"oov_method={a.oov_method!r}")
        if (a.idf_weights is None) != (a.output_mode != "tf_idf"):
            raise DefinitionError("`idf_weights` go with output_mode='tf_idf', and only with it",
                                  field="idf_weights", received=f"idf_weights={a.idf_weights!r}"
                                  f", output_mode={a.output_mode!r}")
        tokens, _ = _tokens(a)
        if not len(tokens):
            raise DefinitionError("the vocabulary is empty", field="vocabulary",
                                  received=f"vocabulary={list(a.vocabulary)}")
        repeated = sorted(t for t, n in Counter(tokens.tolist()).items() if n > 1)
        if repeated:
            raise DefinitionError("the vocabulary has repeated tokens", field="vocabulary",
                                  received=f"repeated {repeated}")
        if a.mask_token is not None and a.mask_token in tokens:
            raise DefinitionError(
                f"the mask token may only come first in the vocabulary, followed by the OOV "
                f"tokens: {_specials(a)}", field="vocabulary",
                received=f"mask_token={a.mask_token} inside vocabulary={list(a.vocabulary)}")
        if a.invert and a.oov_token in tokens:
            raise DefinitionError("with invert=True the OOV token may not be in the vocabulary",
                                  field="vocabulary", received=f"oov_token={a.oov_token}")
        size = _token_start(a) + len(tokens)
        if a.max_tokens is not None and size > a.max_tokens:
            raise DefinitionError("the vocabulary is larger than max_tokens", field="max_tokens",
                                  received=f"vocabulary size {size}, max_tokens={a.max_tokens}")
        if a.vocabulary_size is not None and a.vocabulary_size != size:
            raise DefinitionError("`vocabulary_size` does not match the vocabulary",
                                  field="vocabulary_size", received=f"vocabulary_size="
                                  f"{a.vocabulary_size}, vocabulary of size {size}")
        if a.idf_weights is not None and len(a.idf_weights) != len(a.vocabulary):
            raise DefinitionError("`idf_weights` must be as long as the vocabulary",
                                  field="idf_weights", received=f"{len(a.idf_weights)} weights, "
                                  f"{len(a.vocabulary)} tokens")

    def infer(self, a: IntegerLookupAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        expect_rank(x, 2, "IntegerLookup")
        if x.dtype not in ("int32", "int64", "float32", "float64"):
            raise DefinitionError("IntegerLookup needs integer tokens", field="input",
                                  received=f"input {x}")
        mode = "count" if a.output_mode == "tf_idf" else a.output_mode
        out = "int64" if mode == "int" else "float32"
        return [encoded_type(x, mode, _depth(a), out, "IntegerLookup")]

    def forward(self, a, params, xs, ctx):
        x = xs[0].astype(np.int64)
        tokens, _ = _tokens(a)
        start = _token_start(a)
        if a.invert:
            pos = x - start
            inside = (pos >= 0) & (pos < len(tokens))
            y = np.where(inside, tokens[np.clip(pos, 0, len(tokens) - 1)], a.oov_token)
            if a.mask_token is not None:
                y = np.where(x == 0, a.mask_token, y)
            return [y.astype(np.int64)], None
        match = x[..., None] == tokens
        found = match.any(axis=-1)
        ids = np.where(found, match.argmax(axis=-1) + start, -1)
        known = found if a.mask_token is None else found | (x == a.mask_token)
        if a.num_oov_indices == 0 and not known.all():
            value = x[~known].reshape(-1)[0]
            raise DataError(f"IntegerLookup with num_oov_indices=0 needs every value in the "
                            f"vocabulary; the data holds {value}", field="num_oov_indices",
                            received=f"out-of-vocabulary value {value}",
                            hint="set num_oov_indices=1")
        ids = np.where(found, ids, self._oov(a, x))
        if a.mask_token is not None:
            ids = np.where(x == a.mask_token, 0 if a.output_mode == "int" else MASKED, ids)
        return [self._encode(a, ids, float_out(xs[0]))], None

    def _oov(self, a, x):
        if a.num_oov_indices <= 1:
            return _oov_start(a)
        if a.oov_method == "farmhash":
            return hash_bins(x, a.num_oov_indices, a.salt) + _oov_start(a)
        return np.mod(x, a.num_oov_indices) + _oov_start(a)  # floormod

    def _encode(self, a, ids, dtype):
        if a.output_mode == "tf_idf":
            return encode(ids, "count", _depth(a), dtype) * _idf(a).astype(dtype)
        return encode(ids, a.output_mode, _depth(a), "int64" if a.output_mode == "int"
                      else dtype)

    def backward(self, a, params, cache, dys):
        return [None], {}  # tokens are not differentiable

    def lower(self, a, params, xs, em):
        t = em.type_of(xs[0])
        x = em.op("Cast", [xs[0]], to=7)  # INT64
        tokens, _ = _tokens(a)
        start = _token_start(a)
        last = em.const(np.array([-1], np.int64), "last_axis")

        def const(v, hint):
            return em.const(np.asarray(v, np.int64), hint)

        if a.invert:
            pos = em.op("Sub", [x, const(start, "start")])
            inside = em.op("And", [em.op("GreaterOrEqual", [pos, const(0, "zero")]),
                                   em.op("Less", [pos, const(len(tokens), "size")])])
            clipped = em.op("Clip", [pos, const(0, "zero"), const(len(tokens) - 1, "top")])
            y = em.op("Where", [inside, em.op("Gather", [em.weight("vocabulary", tokens),
                                                         clipped], axis=0),
                                const(a.oov_token, "oov_token")])
            if a.mask_token is not None:
                y = em.op("Where", [em.op("Equal", [x, const(0, "zero")]),
                                    const(a.mask_token, "mask_token"), y])
            return [y]
        # One match at most (the vocabulary is unique): the matched index + 1, or 0.
        match = em.op("Cast", [em.op("Equal", [em.op("Unsqueeze", [x, last]),
                                               em.weight("vocabulary", tokens)])], to=7)
        index = em.weight("indices", np.arange(start + 1, start + len(tokens) + 1))
        hit = em.op("ReduceSum", [em.op("Mul", [match, index]), last], keepdims=0)
        found = em.op("Greater", [hit, const(0, "zero")])
        if a.num_oov_indices <= 1:
            oov = const(_oov_start(a) if a.num_oov_indices else -1, "oov")
        elif a.oov_method == "farmhash":
            oov = em.op("Add", [lower_hash_bins(em, x, t.rank, a.num_oov_indices, a.salt),
                                const(_oov_start(a), "oov_start")])
        else:  # ONNX Mod with fmod=0 is Python's floormod for integers
            oov = em.op("Add", [em.op("Mod", [x, const(a.num_oov_indices, "buckets")]),
                                const(_oov_start(a), "oov_start")])
        ids = em.op("Where", [found, em.op("Sub", [hit, const(1, "one")]), oov])
        if a.mask_token is not None:
            masked = 0 if a.output_mode == "int" else MASKED
            ids = em.op("Where", [em.op("Equal", [x, const(a.mask_token, "mask_token")]),
                                  const(masked, "masked"), ids])
        if a.output_mode == "tf_idf":
            counts = lower_encode(em, ids, t, "count", _depth(a), "float32")
            return [em.op("Mul", [counts, em.weight("idf_weights", _idf(a))])]
        mode_dtype = "int64" if a.output_mode == "int" else "float32"
        return [lower_encode(em, ids, t, a.output_mode, _depth(a), mode_dtype)]
