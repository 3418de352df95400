"""PReLU: y = x for x >= 0, alpha * x below, with a learnt alpha per feature position.

alpha has shape input.shape[1:] with each of `shared_axes` set to 1 (Keras). ONNX: PRelu(x,
alpha); alpha broadcasts from the right, which lines it up with the feature axes.
Shape: unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DefinitionError
from ..ir.types import TensorType
from ._promote import always as promote_always
from .base import BadExample, Example, Initializer, OpDef, ParamSpec, expect_rank, register


@dataclass(frozen=True)
class PReLUAttrs:
    alpha_initializer: Initializer = "zeros"
    shared_axes: tuple[int, ...] | None = None


@register
class PReLU(OpDef):
    kind = "PReLU"
    weight_args = {"alpha": "alpha"}
    supports_masking = True  # passes a timestep mask on, as in Keras
    Attrs = PReLUAttrs
    category = "activation"
    promotes_integers = promote_always  # Keras' alpha * relu(-x) is float32 for int x
    summary = "Leaky ReLU whose negative slope is learnt per feature."
    examples = [
        Example({}, (4,)),
        Example({"shared_axes": [1]}, (3, 2)),
        Example({"shared_axes": 2, "alpha_initializer": "ones"}, (3, 2)),
        Example({"shared_axes": [1, 2]}, (None, 2, 3)),
    ]
    bad_examples = [
        BadExample({"shared_axes": [0]}, (3,), "shared_axes"),
        BadExample({"shared_axes": [2]}, (3,), "shared_axes"),
        BadExample({}, (None, 3), "unknown"),
        BadExample({"alpha_initializer": 3}, (3,), "alpha_initializer"),
    ]

    def _alpha_shape(self, a: PReLUAttrs, x: TensorType) -> tuple[int, ...]:
        expect_rank(x, 2, "PReLU")
        shared = a.shared_axes or ()
        bad = [i for i in shared if not 1 <= i < x.rank]
        if bad:
            raise DefinitionError(
                f"`shared_axes` must name feature axes, 1 to {x.rank - 1}", field="shared_axes",
                received=f"shared_axes={list(shared)}, input {x}")
        shape = [1 if i + 1 in shared else d for i, d in enumerate(x.shape[1:])]
        if None in shape:
            axis = shape.index(None) + 1
            raise DefinitionError(
                f"alpha needs a known size on axis {axis}, which is unknown",
                field="shared_axes", received=f"shared_axes={list(shared)}, input {x}",
                hint=f"add {axis} to shared_axes")
        return tuple(shape)

    def infer(self, a, in_types):
        self._alpha_shape(a, in_types[0])
        return list(in_types)

    def params(self, a, in_types):
        return [ParamSpec("alpha", self._alpha_shape(a, in_types[0]), a.alpha_initializer)]

    def forward(self, a, params, xs, ctx):
        (x,) = xs
        return [np.where(x >= 0, x, params["alpha"] * x).astype(x.dtype, copy=False)], x

    def backward(self, a, params, x, dys):
        (dy,) = dys
        alpha = params["alpha"]
        neg = x < 0
        dx = np.where(neg, alpha * dy, dy)
        # alpha broadcast over the batch and the shared axes: sum the gradient back over them.
        dalpha = (dy * np.where(neg, x, 0)).sum(axis=0)
        shared = tuple(i for i, s in enumerate(alpha.shape) if s == 1 and dalpha.shape[i] != 1)
        dalpha = dalpha.sum(axis=shared, keepdims=True) if shared else dalpha
        return [dx.astype(x.dtype, copy=False)], {"alpha": dalpha.astype(alpha.dtype)}

    def lower(self, a, params, xs, em):
        return [em.op("PRelu", [xs[0], em.weight("alpha", params["alpha"])])]
