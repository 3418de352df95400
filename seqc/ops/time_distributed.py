"""TimeDistributed(layer): y[:, t] = layer(x[:, t]) for every step t, one shared set of weights.

NumPy and ONNX both fold time into the batch: Reshape (N, T, ...) -> (N*T, ...), the inner
layer's own forward or lowering, Reshape back to (N, T, ...) (N and T stay dynamic).
Shape: (N, T, *f) -> (N, T, *g) where the inner layer maps (M, *f) -> (M, *g).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._promote import promotes
from .base import (
    KIND_ALIASES,
    REGISTRY,
    BadExample,
    Example,
    LayerSpec,
    OpDef,
    ParamSpec,
    expect_rank,
    freeze,
    register,
)

# Inner kinds whose Keras call reads the mask: TimeDistributed would hand them one step's
# (N,) slice of it, which seqc does not model; a masked input is refused for them.
MASK_READERS = ("Bidirectional", "TimeDistributed", "GlobalAveragePooling1D", "Softmax")
INT64_MAX = np.iinfo(np.int64).max


class InnerLayer:
    """A LayerSpec that also keeps a Dense/Conv `activation` (the IR splits activations into
    their own node, but inside a wrapper the activation belongs to the wrapped layer)."""

    description = LayerSpec.description

    @staticmethod
    def coerce(value: Any, name: str) -> Any:
        activation = None
        if isinstance(value, dict):
            keras_form = isinstance(value.get("class_name"), str)
            kind = value.get("class_name") if keras_form else value.get("type")
            kind = KIND_ALIASES.get(kind, kind)
            if kind in REGISTRY and REGISTRY[kind].splits_activation:
                value = copy.deepcopy(dict(value))
                config = value.setdefault("config", {}) if keras_form else value
                if isinstance(config, dict):
                    activation = config.pop("activation", None)
        spec = LayerSpec.coerce(value, name)
        if activation is None:
            return spec
        act_op = REGISTRY["Activation"]
        try:
            act = act_op.attrs_to_config(act_op.parse_attrs({"activation": activation}))
        except DefinitionError as e:
            e.field = f"{name}.activation"
            raise
        if act["activation"] == "linear":
            return spec
        return freeze({"class_name": spec["class_name"],
                        "config": {**spec["config"], "activation": act["activation"]}})


@dataclass(frozen=True)
class TimeDistributedAttrs:
    layer: InnerLayer


@functools.lru_cache(maxsize=256)
def inner(a: TimeDistributedAttrs) -> tuple[OpDef, Any, Any]:
    """(inner kind, its attrs, Activation attrs or None) of a TimeDistributed."""
    op = REGISTRY[a.layer["class_name"]]
    config = dict(a.layer["config"])
    act = config.pop("activation", None) if op.splits_activation else None
    act_attrs = REGISTRY["Activation"].parse_attrs({"activation": act}) if act else None
    return op, op.parse_attrs(config), act_attrs


def _inner_error(e: DefinitionError) -> DefinitionError:
    e.field = f"layer.{e.field}" if e.field else "layer"
    return e


@register
class TimeDistributed(OpDef):
    kind = "TimeDistributed"
    wrapped_weights = {"layer": ("", None)}
    Attrs = TimeDistributedAttrs
    supports_masking = True  # Keras passes the mask on unchanged
    category = "core"
    summary = "Applies the wrapped layer to every timestep with shared weights."
    examples = [
        Example({"layer": {"type": "Dense", "units": 3}}, (2, 4)),
        Example({"layer": {"type": "Dense", "units": 2, "activation": "tanh"}}, (None, 3)),
        Example({"layer": {"class_name": "Dense", "config": {"units": 2, "use_bias": False}}},
                (3, 2), mask_lengths=(3, 1, 2)),
        Example({"layer": {"type": "Conv2D", "filters": 2, "kernel_size": 3}}, (2, 4, 4, 1)),
        Example({"layer": {"type": "Conv2D", "filters": 2, "kernel_size": 2, "strides": 2,
                           "padding": "same", "activation": "relu"}}, (2, 3, 3, 2)),
        Example({"layer": {"type": "Conv1D", "filters": 2, "kernel_size": 2,
                           "data_format": "channels_first"}}, (2, 2, 4)),
        Example({"layer": {"type": "MaxPooling2D", "pool_size": 2}}, (2, 4, 4, 2)),
        Example({"layer": {"type": "Flatten"}}, (2, 2, 3)),
        Example({"layer": {"type": "Dropout", "rate": 0.5}}, (3, 2), training=False),
    ]
    bad_examples = [
        BadExample({"layer": {"type": "Dense", "units": 2}}, (3,), "rank >= 3"),
        BadExample({"layer": {"type": "Dense", "units": 0}}, (3, 2), "units"),
        BadExample({"layer": {"type": "Dence", "units": 2}}, (3, 2), "did you mean"),
        BadExample({"layer": "Dense"}, (3, 2), "layer"),
        BadExample({"layer": {"type": "Conv2D", "filters": 2, "kernel_size": 5}}, (2, 3, 3, 1),
                   "kernel_size"),
        BadExample({"layer": {"type": "Dense", "units": 2, "activation": "relux"}}, (3, 2),
                   "activation"),
        BadExample({"layers": {"type": "Dense", "units": 2}}, (3, 2), "did you mean"),
    ]

    def check(self, a: TimeDistributedAttrs) -> None:
        op, _, _ = inner(a)
        if op.adapt is not None or op.kind == "InputLayer":
            raise DefinitionError(f"TimeDistributed cannot wrap {op.kind}", field="layer",
                                  received=f"layer={op.kind}")
        if getattr(inner(a)[1], "return_state", False):  # several outputs: seqc wraps one
            raise DefinitionError(f"TimeDistributed cannot wrap a {op.kind} with "
                                  "return_state=True", field="layer.return_state",
                                  received="return_state=True")

    def output_masked(self, a: TimeDistributedAttrs, in_masked: bool) -> bool:
        op, _, _ = inner(a)
        if op.category == "recurrent" or op.kind in MASK_READERS:
            self.refuse_mask(in_masked, f"Keras would pass one step's slice of the mask to "
                                        f"the wrapped {op.kind}, which seqc does not model")
        return in_masked

    def promotes_integers(self, a: TimeDistributedAttrs) -> bool:
        """As the wrapped kind: TimeDistributed(Dense) casts an integer input to float32 first,
        TimeDistributed(Embedding) reads it as it is."""
        return promotes(*inner(a)[:2])

    def _inner_type(self, x: TensorType) -> TensorType:
        return TensorType((None, *x.shape[2:]), x.dtype)

    def infer(self, a: TimeDistributedAttrs, in_types: list[TensorType]) -> list[TensorType]:
        (x,) = in_types
        expect_rank(x, 3, "TimeDistributed")
        op, attrs, _ = inner(a)
        try:
            (y,) = op.infer(attrs, [self._inner_type(x)])
        except DefinitionError as e:
            raise _inner_error(e) from None
        return [TensorType((x.shape[0], x.shape[1], *y.shape[1:]), y.dtype)]

    def params(self, a: TimeDistributedAttrs, in_types: list[TensorType]) -> list[ParamSpec]:
        op, attrs, _ = inner(a)
        return op.params(attrs, [self._inner_type(in_types[0])])

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        n, t = x.shape[:2]
        op, attrs, act = inner(a)
        mask, ctx.mask = ctx.mask, None  # the wrapped kinds allowed here read no mask
        try:
            (y,), cache = op.forward(attrs, params, [x.reshape(n * t, *x.shape[2:])], ctx)
            act_cache = None
            if act is not None:
                (y,), act_cache = REGISTRY["Activation"].forward(act, {}, [y], ctx)
        finally:
            ctx.mask = mask
        return [y.reshape(n, t, *y.shape[1:])], (n, t, cache, act_cache)

    def backward(self, a, params, cache, dys):
        n, t, inner_cache, act_cache = cache
        op, attrs, act = inner(a)
        dy = dys[0].reshape(n * t, *dys[0].shape[2:])
        if act is not None:
            (dy,), _ = REGISTRY["Activation"].backward(act, {}, act_cache, [dy])
        (dx,), grads = op.backward(attrs, params, inner_cache, [dy])
        return [None if dx is None else dx.reshape(n, t, *dx.shape[1:])], grads

    def lower(self, a, params, xs, em):
        (x,) = xs
        xt = em.type_of(x)
        op, attrs, act = inner(a)
        (yt,) = op.infer(attrs, [self._inner_type(xt)])
        shape = em.op("Shape", [x])
        feats = xt.shape[2:]
        if None in feats:
            rest = em.op("Slice", [shape, self._i64([2], em), self._i64([INT64_MAX], em)])
            flat_shape = em.op("Concat", [self._i64([-1], em), rest], axis=0)
        else:
            flat_shape = self._i64([-1, *feats], em)
        xi = em.op("Reshape", [x, flat_shape])
        em.declare(xi, self._inner_type(xt))
        mask, em.mask = em.mask, None
        try:
            (yi,) = em.lower_op(op, attrs, params, [xi], [yt])
        finally:
            em.mask = mask
        if act is not None:
            (yi,) = em.lower_op(REGISTRY["Activation"], act, {}, [yi], [yt])
        yi = em.canonical(yi)
        out = (xt.shape[1], *yt.shape[1:])
        if None in out:
            steps = em.op("Slice", [shape, self._i64([0], em), self._i64([2], em)])
            rest = em.op("Slice", [em.op("Shape", [yi]), self._i64([1], em),
                                   self._i64([INT64_MAX], em)])
            back = em.op("Concat", [steps, rest], axis=0)
        else:
            back = self._i64([-1, *out], em)
        return [em.op("Reshape", [yi, back])]

    @staticmethod
    def _i64(values: list[int], em) -> str:
        return em.const(np.array(values, np.int64), "shape")
