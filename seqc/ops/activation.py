"""Activation: y = f(x) for a named Keras activation function (see _activations.py).

ONNX: the function's own operator (Relu, Sigmoid, Softmax, ...) or a short formula.
Shape: unchanged. Also the node the IR adds for any layer's `activation=` argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import split_spec
from ..errors import DefinitionError, did_you_mean
from ..ir.types import TensorType
from ._activations import ACTIVATIONS, ActivationFn, canonical
from .base import BadExample, Example, OpDef, coerce, register


class ActivationSpec:
    """Annotation: an activation name, or `{"type": name, <function kwargs>}`.

    Canonical form: the bare name when every kwarg is at its default, else a dict with all
    kwargs filled in, so equal activations compare equal.
    """

    description = "an activation name or {\"type\": name, ...}"

    @staticmethod
    def coerce(value: Any, name: str) -> Any:
        if value is None:
            return "linear"
        if isinstance(value, (dict, str)):
            fn_name, kw = split_spec(value)
        else:
            raise DefinitionError(f"'{name}' must be {ActivationSpec.description}", field=name,
                                  received=f"{name}={value!r}")
        if not isinstance(fn_name, str) or canonical(fn_name) not in ACTIVATIONS:
            raise DefinitionError(
                f"unknown activation '{fn_name}'", field=name, received=f"{name}={value!r}",
                hint=did_you_mean(str(fn_name), ACTIVATIONS)
                or f"valid activations: {', '.join(sorted(ACTIVATIONS))}")
        fn = ACTIVATIONS[canonical(fn_name)]
        defaults = dict(fn.defaults)
        for k in kw:
            if k not in defaults:
                raise DefinitionError(
                    f"activation '{fn.name}' has no argument '{k}'"
                    + (f"; valid: {', '.join(defaults)}" if defaults else ""),
                    field=name, received=f"{name}={value!r}", hint=did_you_mean(k, defaults))
        full = {**defaults, **{k: _num(v, k) for k, v in kw.items()}}
        if full == defaults:
            return fn.name
        from .base import FrozenDict
        return FrozenDict({"type": fn.name, **full})


def _num(v: Any, k: str) -> Any:
    if v is None or isinstance(v, bool):
        return v
    return coerce(float, v, k)


def resolve(spec: Any) -> tuple[Any, dict]:
    """Canonical activation spec -> (ActivationFn, kwargs)."""
    if isinstance(spec, str):
        return ACTIVATIONS[spec], {}
    kw = {k: v for k, v in spec.items() if k != "type"}
    if "axis" in kw:
        kw["axis"] = int(kw["axis"])
    return ACTIVATIONS[spec["type"]], kw


def check_feature_axis(axis: int, x: TensorType, field: str) -> None:
    """A softmax axis must name a feature axis of the input: never the batch (axis 0)."""
    r = x.rank
    if not -r <= axis < r:
        raise DefinitionError(f"`axis` must be in [-{r}, {r}) for a rank-{r} input",
                              field=field, received=f"axis={axis}, input {x}")
    if axis % r == 0:
        raise DefinitionError("softmax over the batch axis mixes samples; use a feature axis "
                              "(1 or more, or -1)", field=field,
                              received=f"axis={axis}, input {x}")


class FunctionLayer(OpDef):
    """A layer that applies one activation function of _activations.py with arguments taken
    from its attributes (Activation, ReLU, LeakyReLU, ELU, Softmax): the maths, derivative and
    lowering live once, in the function table; the layer only maps attributes to arguments."""

    category = "activation"
    supports_masking = True  # passes a timestep mask on, as in Keras

    def function(self, a: Any) -> tuple[ActivationFn, dict]:
        raise NotImplementedError

    def export_layout(self, a: Any) -> str:
        # Elementwise functions run in any layout; the ones with an axis (softmax) need the IR's.
        fn, _ = self.function(a)
        return "canonical" if any(k == "axis" for k, _ in fn.defaults) else "agnostic"

    def infer(self, a, in_types):
        return list(in_types)

    def forward(self, a, params, xs, ctx):
        fn, kw = self.function(a)
        (x,) = xs
        y = fn.forward(x, **kw)
        return [y], (x, y)

    def backward(self, a, params, cache, dys):
        fn, kw = self.function(a)
        x, y = cache
        return [fn.backward(x, y, dys[0], **kw).astype(x.dtype, copy=False)], {}

    def lower(self, a, params, xs, em):
        fn, kw = self.function(a)
        return [fn.lower(xs[0], em, **kw)]


@dataclass(frozen=True)
class ActivationAttrs:
    activation: ActivationSpec


@register
class Activation(FunctionLayer):
    kind = "Activation"
    Attrs = ActivationAttrs
    summary = "Applies a named activation function."
    examples = [Example({"activation": n}, (4,)) for n in sorted(ACTIVATIONS)] + [
        Example({"activation": {"type": "gelu", "approximate": True}}, (4,)),
        Example({"activation": {"type": "softmax", "axis": 1}}, (3, 4)),
        Example({"activation": {"type": "relu", "max_value": 1.0, "negative_slope": 0.1,
                                "threshold": 0.5}}, (5,)),
    ]
    bad_examples = [
        BadExample({"activation": "rellu"}, (3,), "did you mean 'relu'"),
        BadExample({"activation": {"type": "gelu", "aproximate": True}}, (3,), "approximate"),
    ]

    def loss_fusion(self, a, rank):
        spec = a.activation
        if isinstance(spec, str):
            return spec if spec in ("softmax", "sigmoid") else None
        if spec.get("type") == "softmax" and int(spec.get("axis", -1)) % rank == rank - 1:
            return "softmax"
        return None

    def function(self, a):
        return resolve(a.activation)

    def infer(self, a, in_types):
        if isinstance(a.activation, dict) and "axis" in a.activation:
            check_feature_axis(int(a.activation["axis"]), in_types[0], "activation")
        return list(in_types)
