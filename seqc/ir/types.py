"""Tensor types: a shape whose first dimension is the symbolic batch, and a dtype.

`None` in a shape is a dimension unknown until run time: the batch (always axis 0, printed
`N`) or a variable length (printed `?`). Shapes are channels-last, as in Keras.
`ParamSpec` is one parameter's name, shape, initializer and dtype (a graph holds them; each
layer kind's `params` facet gives them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

DTYPES = {"float32": "f32", "float64": "f64", "int32": "i32", "int64": "i64", "bool": "b"}


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}")
        object.__setattr__(self, "shape", tuple(self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def features(self) -> tuple[int | None, ...]:
        """The shape without the batch dimension (what Keras calls `input_shape`)."""
        return self.shape[1:]

    def with_shape(self, shape: tuple[int | None, ...]) -> TensorType:
        return TensorType(tuple(shape), self.dtype)

    def numel_per_sample(self) -> int | None:
        n = 1
        for d in self.shape[1:]:
            if d is None:
                return None
            n *= d
        return n

    def __str__(self) -> str:
        dims = ["N" if i == 0 and d is None else ("?" if d is None else str(d))
                for i, d in enumerate(self.shape)]
        return f"{DTYPES[self.dtype]}[{','.join(dims)}]"

    def to_json(self) -> dict:
        return {"shape": list(self.shape), "dtype": self.dtype}

    @staticmethod
    def from_json(d: dict) -> TensorType:
        return TensorType(tuple(d["shape"]), d["dtype"])

    def matches(self, x: np.ndarray) -> bool:
        """True when a concrete array fits this type (None dims match anything)."""
        if x.ndim != self.rank:
            return False
        return all(d is None or d == s for d, s in zip(self.shape, x.shape))


def batched(features: tuple[int | None, ...], dtype: str = "float32") -> TensorType:
    """The type of a batch of samples with the given per-sample shape."""
    return TensorType((None, *features), dtype)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a layer. `initializer` is the attrs' initializer config."""

    name: str
    shape: tuple[int, ...]
    initializer: Any = "zeros"
    trainable: bool = True
    # "positive" tells test harnesses to draw values > 0 (variances, counts).
    domain: Literal["real", "positive"] = "real"
    dtype: str = "float32"
