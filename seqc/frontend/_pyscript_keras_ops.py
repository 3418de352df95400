"""Keras and TensorFlow functions on one tensor, in a Lambda body or a subclassed model's
call(): `tf.nn.relu(x)`, `keras.ops.softmax(x, axis)`, `tf.reshape(x, (-1, 28, 28, 1))` and
`tf.transpose(x, [0, 2, 1])` become the seqc layer that computes the same (Activation,
Softmax, Reshape, Permute); anything else is refused with its line.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from ._pyscript_forward_values import Dim
from ._pyscript_names import function_name
from ._pyscript_values import Layer, is_const

if TYPE_CHECKING:
    from ._pyscript_forward import Chain

_ACTS = {"relu", "sigmoid", "tanh", "elu", "selu", "gelu", "silu", "softplus", "softsign",
         "relu6", "exponential", "hard_sigmoid", "mish", "linear"}
_ALIASES = {"swish": "silu", "exp": "exponential", "hard_silu": "hard_silu"}
_PREFIXES = ("keras.activations.", "keras.ops.", "keras.backend.", "tensorflow.nn.",
             "tensorflow.math.", "tensorflow.")


def functional(chain: Chain, path: str, rest: list, kwargs: dict, node: ast.Call) -> Any:
    """A keras.ops / tf function applied to the current tensor -> a Layer."""
    name = next((path[len(p):] for p in _PREFIXES if path.startswith(p)
                 and "." not in path[len(p):]), None)
    if name is None:
        name = function_name(path)
    name = _ALIASES.get(name or "", name)
    for v in [*rest, *kwargs.values()]:
        if not _const_or_batch(v):
            raise chain.refuse(node, f"{path}(): an argument is not a constant")
    if name in _ACTS and not rest and not kwargs:
        return Layer("Activation", [name], {}, node)
    if name in ("softmax", "log_softmax"):
        bound = dict(zip(["axis"], rest)) if len(rest) <= 1 else None
        extra = {k: v for k, v in kwargs.items() if k not in ("axis", "dim")}
        if bound is None or extra:
            raise chain.refuse(node, f"{path}() with arguments seqc does not read")
        axis = kwargs.get("axis", kwargs.get("dim", bound.get("axis", -1)))
        axis = -1 if axis is None else axis
        if name == "softmax":
            return Layer("Softmax", [], {"axis": axis}, node)
        return Layer("Activation", [{"type": "log_softmax", "axis": axis}], {}, node)
    if name == "reshape":
        shape = rest[0] if rest else kwargs.get("shape", kwargs.get("newshape"))
        if len(rest) + len(kwargs) != 1 or not isinstance(shape, (list, tuple)) or not shape:
            raise chain.refuse(node, f"{path}(x, shape) needs a constant shape")
        first, tail = shape[0], list(shape[1:])
        if not (first in (-1, None) or _is_batch(first)) or not tail or not all(
                isinstance(d, int) and not isinstance(d, bool) for d in tail):
            raise chain.refuse(node, f"{path}(): the first size must be the batch (-1, None "
                                     "or tf.shape(x)[0]) and the others integers; seqc "
                                     "reshapes each sample")
        return Layer("Reshape", [tail], {}, node)
    if name in ("transpose", "permute_dimensions"):
        perm = rest[0] if rest else kwargs.get("perm", kwargs.get("axes", kwargs.get(
            "pattern")))
        if not isinstance(perm, (list, tuple)) or len(perm) < 2 or perm[0] != 0:
            raise chain.refuse(node, f"{path}() must keep the batch first, e.g. "
                                     "tf.transpose(x, [0, 2, 1])")
        return Layer("Permute", [list(perm[1:])], {}, node)
    raise chain.refuse(node, f"calls {path}, which seqc has no layer for",
                       hint="a Lambda may be an activation (tf.nn.relu, keras.ops.softmax), "
                            "a reshape, a transpose that keeps the batch first, or x[:, -1]")


def _const_or_batch(v: Any) -> bool:
    if isinstance(v, (list, tuple)):
        return all(_const_or_batch(x) for x in v)
    return is_const(v) or _is_batch(v)


def _is_batch(v: Any) -> bool:
    return isinstance(v, Dim) and v.index == 0
