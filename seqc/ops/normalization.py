"""Normalization (Keras preprocessing): y = (x - mean) / max(sqrt(variance), 1e-7); with
invert=True, y = mean + x * max(sqrt(variance), 1e-7). Statistics per index of `axis`,
broadcast over the other axes. ONNX: Sub + Div (Mul + Add when inverted), so production
sends raw features. Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, DefinitionError
from ..ir.types import TensorType
from ._numbers import Numbers
from .base import BadExample, Example, OpDef, ParamSpec, known_axes, register

# keras.config.epsilon(): guards constant features (variance 0) against division by zero.
EPSILON = 1e-7


@dataclass(frozen=True)
class NormalizationAttrs:
    # Axes that keep their own statistics; None (or []) means one scalar mean and variance.
    axis: tuple[int, ...] | None = (-1,)
    mean: Numbers | None = None
    variance: Numbers | None = None
    invert: bool = False

    def __post_init__(self) -> None:
        if self.axis is None:
            object.__setattr__(self, "axis", ())


def _axes(a: NormalizationAttrs, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(kept axes, reduced axes) for an input of this rank (batch included)."""
    keep = tuple(sorted({d % rank for d in a.axis}))
    return keep, tuple(d for d in range(rank) if d not in keep)


def _broadcast_shape(keep: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s if d in keep else 1 for d, s in enumerate(shape))


def _fixed(value, keep, shape, dtype) -> np.ndarray:
    """Keras' placement of a given mean/variance: its dims go to the last kept axes, then it
    broadcasts over the rest (a scalar broadcasts everywhere)."""
    v = np.asarray(value, dtype=dtype)
    target = _broadcast_shape(keep, shape)
    if v.ndim:
        expanded = [1] * len(shape)
        for i in range(1, v.ndim + 1):
            expanded[keep[-i]] = v.shape[-i]
        v = v.reshape(expanded)
    return np.broadcast_to(v, target)


def _stats(a, params, x_shape, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(mean, denominator), both shaped to broadcast against the input."""
    keep, _ = _axes(a, len(x_shape))
    if a.mean is not None:
        mean = _fixed(a.mean, keep, x_shape, dtype)
        var = _fixed(a.variance, keep, x_shape, dtype)
    else:
        target = _broadcast_shape(keep, x_shape)
        mean = params["mean"].astype(dtype, copy=False).reshape(target)
        var = params["variance"].astype(dtype, copy=False).reshape(target)
    return mean, np.maximum(np.sqrt(var), np.asarray(EPSILON, dtype))


def _out_dtype(dtype: str) -> str:
    # Keras casts inputs to the compute dtype; integer features (counts, codes) become float32.
    return dtype if dtype.startswith("float") else "float32"


@register
class Normalization(OpDef):
    kind = "Normalization"
    supports_masking = True  # passes a timestep mask on, as in Keras
    Attrs = NormalizationAttrs
    category = "preprocessing"
    summary = "Shifts and scales features by a mean and variance (adapted or given)."
    examples = [
        Example({}, (4,)),
        Example({"axis": None}, (3,)),
        Example({"axis": [1, 2]}, (2, 3)),
        Example({"axis": -2}, (3, 2)),
        Example({"invert": True}, (4,)),
        Example({"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 0.25]}, (3,)),
        Example({"mean": 0.5, "variance": 2.0, "invert": True}, (2, 3)),
        Example({"axis": [1, 2], "mean": [1.0, -1.0], "variance": [4.0, 0.01]}, (3, 2)),
        Example({}, (3,), input_dtype="int32", input_range=(0, 100)),
    ]
    bad_examples = [
        BadExample({"mean": [1.0]}, (1,), "variance"),
        BadExample({"mean": [1.0, 2.0], "variance": [1.0]}, (2,), "same shape"),
        BadExample({"mean": [0.0], "variance": [-1.0]}, (1,), "variance"),
        BadExample({"axis": 0}, (4,), "batch"),
        BadExample({"axis": 3}, (4,), "axis"),
        BadExample({"mean": [1.0, 2.0], "variance": [1.0, 1.0]}, (3,), "broadcast"),
        BadExample({"axis": [1], "mean": [[1.0]], "variance": [[1.0]]}, (3,), "rank"),
        BadExample({"mean": "zero", "variance": 1.0}, (3,), "mean"),
        BadExample({"axis": [1]}, (None, 3), "unknown"),
    ]

    def check(self, a: NormalizationAttrs) -> None:
        if (a.mean is None) != (a.variance is None):
            raise DefinitionError("`mean` and `variance` must be given together",
                                  field="mean" if a.mean is None else "variance",
                                  received=f"mean={a.mean!r}, variance={a.variance!r}")
        if a.mean is None:
            return
        m, v = np.asarray(a.mean), np.asarray(a.variance)
        if m.shape != v.shape:
            raise DefinitionError("`mean` and `variance` must have the same shape",
                                  field="variance",
                                  received=f"mean shape {m.shape}, variance shape {v.shape}")
        if m.ndim > len(a.axis):
            raise DefinitionError(
                "the rank of `mean` must not exceed the number of normalized axes",
                field="mean", received=f"mean shape {m.shape}, axis={list(a.axis)}")
        if (v < 0).any():
            raise DefinitionError("`variance` must be >= 0", field="variance",
                                  received=f"variance={a.variance!r}")

    def infer(self, a: NormalizationAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        known_axes(a.axis, x)
        keep, _ = _axes(a, x.rank)
        if a.mean is not None:
            shape = tuple(1 if d is None else d for d in x.shape)
            try:
                _fixed(a.mean, keep, shape, np.float64)
            except ValueError:
                raise DefinitionError(
                    "`mean`/`variance` do not broadcast to the normalized axes",
                    field="mean", received=f"mean shape {np.shape(a.mean)}, axis="
                    f"{list(a.axis)}, input {x}") from None
        return [TensorType(x.shape, _out_dtype(x.dtype))]

    def params(self, a: NormalizationAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        if a.mean is not None:
            return []  # given as arguments: fixed constants, no weights (as in Keras)
        x = in_types[0]
        keep, _ = _axes(a, x.rank)
        shape = tuple(x.shape[d] for d in keep)
        # Keras' weights, in its order. `count` is kept so weight lists match Keras 1:1;
        # Keras 3 never updates or reads it.
        return [ParamSpec("mean", shape, "zeros", trainable=False),
                ParamSpec("variance", shape, "ones", trainable=False, domain="positive"),
                ParamSpec("count", (), "zeros", trainable=False, dtype="int32")]

    def adapt(self, a: NormalizationAttrs, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-index mean and (population) variance over every axis not in `axis`."""
        if a.mean is not None:
            return {}
        if x.ndim == 0 or x.shape[0] == 0:
            raise DataError("Normalization.adapt needs at least one sample",
                            received=f"data shape {x.shape}")
        keep, reduce = _axes(a, x.ndim)
        # Two passes in float64: the one-pass E[x^2] - E[x]^2 cancels catastrophically on
        # large-offset features (timestamps, prices).
        x64 = np.asarray(x, dtype=np.float64)
        mean = x64.mean(axis=reduce, keepdims=True)
        var = np.square(x64 - mean).mean(axis=reduce)
        mean = mean.reshape(var.shape)
        if not (np.isfinite(mean).all() and np.isfinite(var).all()):
            raise DataError("Normalization.adapt data contains NaN or infinite values",
                            received=f"data shape {x.shape}")
        return {"mean": mean.astype(np.float32), "variance": var.astype(np.float32)}

    def forward(self, a, params, xs, ctx):
        x = xs[0]
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        mean, denom = _stats(a, params, x.shape, x.dtype)
        y = mean + x * denom if a.invert else (x - mean) / denom
        return [y.astype(x.dtype, copy=False)], denom

    def backward(self, a, params, denom, dys):
        (dy,) = dys
        # mean and variance are not trainable: only the input gradient is needed.
        return [dy * denom if a.invert else dy / denom], {}

    def affine(self, a, params, in_type):
        shape = tuple(1 if d is None else d for d in in_type.shape)
        # float32 statistics, as forward and lower compute them, then exact float64 maths.
        mean, denom = (np.asarray(v, np.float64) for v in _stats(a, params, shape, np.float32))
        return (denom, mean) if a.invert else (1.0 / denom, -mean / denom)

    def lower(self, a, params, xs, em):
        (x,) = xs
        t = em.type_of(x)
        if not t.dtype.startswith("float"):
            x = em.op("Cast", [x], to=1)  # TensorProto.FLOAT
        shape = tuple(1 if d is None else d for d in t.shape)
        mean, denom = _stats(a, params, shape, np.float32)
        # Precomputed in float32 exactly as forward computes it, so both agree bit for bit.
        m = em.weight("mean", np.ascontiguousarray(mean))
        s = em.weight("stddev", np.ascontiguousarray(denom))
        if a.invert:
            return [em.op("Add", [em.op("Mul", [x, s]), m])]
        return [em.op("Div", [em.op("Sub", [x, m]), s])]
