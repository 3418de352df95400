"""InputLayer: declares the model input; as a node it is the identity on a value of that type.

Frontends read it to type the graph input (`shape` per sample, or Keras' `batch_shape`).
ONNX: nothing (the input is returned unchanged). Shape: unchanged; must match (N, *shape).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DefinitionError
from ..ir.types import DTYPES, TensorType
from .base import BadExample, Example, PassThrough, register


@dataclass(frozen=True)
class InputLayerAttrs:
    # Keras accepts `shape` (per sample) or `batch_shape` (batch first, what get_config writes);
    # the canonical form keeps `shape` plus `batch_size`, so both spellings compare equal.
    shape: tuple[int | None, ...] | None = None
    batch_size: int | None = None
    dtype: str | None = "float32"
    sparse: bool | None = False
    ragged: bool | None = False
    batch_shape: tuple[int | None, ...] | None = None
    optional: bool = False

    def __post_init__(self) -> None:
        if self.batch_shape is not None:
            if self.shape is not None:
                raise DefinitionError(
                    "InputLayer takes `shape` or `batch_shape`, not both", field="batch_shape",
                    received=f"shape={list(self.shape)}, batch_shape={list(self.batch_shape)}")
            if self.batch_size is not None:
                raise DefinitionError(
                    "InputLayer takes `batch_size` or `batch_shape`, not both",
                    field="batch_shape", received=f"batch_size={self.batch_size}, "
                    f"batch_shape={list(self.batch_shape)}")
            if len(self.batch_shape) == 0:
                raise DefinitionError(
                    "`batch_shape` must start with the batch dimension", field="batch_shape",
                    received="batch_shape=[]", hint="use [null, ...] for any batch size")
            object.__setattr__(self, "batch_size", self.batch_shape[0])
            object.__setattr__(self, "shape", tuple(self.batch_shape[1:]))
            object.__setattr__(self, "batch_shape", None)
        if self.shape is None:
            raise DefinitionError("InputLayer needs a `shape` argument", field="shape",
                                  received="shape=None", hint="e.g. {\"shape\": [30]}")
        # Keras: dtype/sparse/ragged None mean their defaults.
        if self.dtype is None:
            object.__setattr__(self, "dtype", "float32")
        for flag in ("sparse", "ragged"):
            if getattr(self, flag) is None:
                object.__setattr__(self, flag, False)


@register
class InputLayer(PassThrough):
    kind = "InputLayer"
    Attrs = InputLayerAttrs
    aliases = {"input_shape": "shape", "batch_input_shape": "batch_shape"}
    summary = "Declares the model input (per-sample shape and dtype)."
    examples = [
        Example({"shape": [4]}, (4,)),
        Example({"batch_shape": [None, 2, 3]}, (2, 3)),
        Example({"shape": [None, 3]}, (None, 3)),
        Example({"input_shape": [5], "dtype": "int32"}, (5,), input_dtype="int32",
                input_range=(0, 10)),
    ]
    bad_examples = [
        BadExample({"shape": [4]}, (5,), "does not match"),
        BadExample({"shape": [3], "dtype": "int32"}, (3,), "dtype"),
        BadExample({"shape": [4], "batch_shape": [None, 4]}, (4,), "not both"),
        BadExample({"shape": [0]}, (4,), "positive"),
        BadExample({"shape": [3], "dtype": "float16"}, (3,), "dtype"),
        BadExample({"shape": [3], "sparse": True}, (3,), "sparse"),
        BadExample({}, (3,), "shape"),
    ]

    def check(self, a: InputLayerAttrs) -> None:
        for d in a.shape:
            if d is not None and d <= 0:
                raise DefinitionError("every dimension of `shape` must be positive or null",
                                      field="shape", received=f"shape={list(a.shape)}")
        if a.batch_size is not None and a.batch_size <= 0:
            raise DefinitionError("`batch_size` must be positive or null", field="batch_size",
                                  received=f"batch_size={a.batch_size}")
        if a.dtype not in DTYPES:
            raise DefinitionError(f"unsupported input dtype; valid: {', '.join(DTYPES)}",
                                  field="dtype", received=f"dtype={a.dtype!r}")
        for flag in ("sparse", "ragged", "optional"):
            if getattr(a, flag):
                raise DefinitionError(f"`{flag}=True` inputs are not supported by seqc",
                                      field=flag, received=f"{flag}=True")

    def infer(self, a: InputLayerAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        declared = TensorType((None, *a.shape), a.dtype)
        same = x.rank == declared.rank and all(
            d is None or e is None or d == e for d, e in zip(x.shape[1:], declared.shape[1:]))
        if not same:
            raise DefinitionError(f"the incoming value does not match the declared input "
                                  f"{declared}", field="shape",
                                  received=f"shape={list(a.shape)}, input {x}")
        if x.dtype != a.dtype:
            raise DefinitionError(f"the incoming dtype does not match the declared dtype "
                                  f"{a.dtype}", field="dtype",
                                  received=f"dtype={a.dtype!r}, input {x}")
        # The batch always stays symbolic: `batch_size` is kept for Keras configs only.
        return [x]
