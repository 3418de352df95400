"""Keras `layers.Lambda` bodies and the functional calls of a subclassed model's call():
`tf.nn.relu(x)`, `keras.ops.softmax(x, axis)`, `tf.reshape(x, (-1, 28, 28, 1))`,
`tf.transpose(x, [0, 2, 1])` and `x[:, -1]` become the seqc layer that computes the same
(Activation, Softmax, Reshape, Permute, Cropping1D + Reshape). Anything else is refused with
its line: a Lambda is code, and seqc never runs it.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from ..errors import SeqcError
from ._pyscript_names import function_name
from ._pyscript_values import Func, Lam, Layer, Sym, is_const

if TYPE_CHECKING:
    from ._pyscript_forward import Chain
    from .pyscript import Reader

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
    from ._pyscript_forward import Dim

    return isinstance(v, Dim) and v.index == 0


def lambda_layers(r: Reader, lay: Layer) -> list[Layer]:
    """`layers.Lambda(fn)` -> the layers its body applies, read like a call()."""
    from ._pyscript_forward import Chain

    fn = lay.args[0] if lay.args else lay.kwargs.get("function")
    extra = [k for k in lay.kwargs if k not in ("function", "output_shape", "name")]
    where = f"the Lambda at line {lay.node.lineno}"
    if extra or len(lay.args) > 2:
        raise r.error(lay.node, f"{where}: arguments seqc does not read "
                                f"({', '.join(extra) or 'positional'})", field="Lambda",
                      received=r.seg(lay.node))
    chain = Chain(r, "keras", where)
    if isinstance(fn, (Func, Lam)):
        chain.run(fn.node, fn.scope, method=False)
    elif isinstance(fn, Sym):
        from ._pyscript_forward import Tensor

        x = Tensor(lay.node)
        chain.current = x
        chain.apply(functional(chain, fn.path, [], {}, lay.node), x, lay.node, "lambda")
    else:
        raise r.error(lay.node, f"{where}: its function is not a lambda or a function "
                                "defined in the script", field="Lambda", received=r.seg(lay.node))
    if not chain.items:
        raise r.error(lay.node, f"{where} returns its input unchanged; remove it",
                      field="Lambda", received=r.seg(lay.node))
    return [v for _, v, _ in chain.items]


def resolve_last_steps(r: Reader, doc: dict, nodes: list[ast.AST]) -> None:
    """`x[:, -1]` (a `<last_step>` placeholder) -> Cropping1D((T - 1, 0)) + Reshape((F,)),
    which needs T and F: the layer types are inferred up to the placeholder."""
    from ..ir.types import batched
    from ._pyscript_torch import _step

    layers = doc["layers"]
    if not any(d["type"] == "<last_step>" for d in layers):
        return
    shape = doc.get("input_shape")
    start = 0
    if shape is None and layers and layers[0]["type"] == "InputLayer":
        shape, start = layers[0].get("shape"), 1
    elif shape is None and layers:
        shape = layers[0].get("input_shape")
    if shape is None:
        i = next(i for i, d in enumerate(layers) if d["type"] == "<last_step>")
        raise r.error(nodes[i], "x[:, -1] needs the input shape to know the sequence length",
                      field="input_shape", received=r.seg(nodes[i]),
                      hint="add a comment `# seqc: input_shape = [T, F]`")
    t = batched(tuple(shape), doc.get("input_dtype", "float32"))
    out, out_nodes = layers[:start], nodes[:start]
    for i in range(start, len(layers)):
        d, node = layers[i], nodes[i]
        if d["type"] != "<last_step>":
            try:
                t = _step(r, {k: v for k, v in d.items() if k != "input_shape"}, t, node,
                          len(out))
            except SeqcError:
                out.extend(layers[i:])
                out_nodes.extend(nodes[i:])
                break  # the IR builder reports it, with the layer's index
            out.append(d)
            out_nodes.append(node)
            continue
        if len(t.shape) != 3 or t.shape[1] is None:
            raise r.error(node, "x[:, -1] is read on a (batch, steps, features) tensor with a "
                                "known number of steps", field="Lambda", received=
                          f"{r.seg(node)} on a tensor of shape {t.shape}")
        steps, feats = t.shape[1], t.shape[2]
        for d2 in ({"type": "Cropping1D", "cropping": [steps - 1, 0]},
                   {"type": "Reshape", "target_shape": [feats]}):
            t = _step(r, d2, t, node, len(out))
            out.append(d2)
            out_nodes.append(node)
    doc["layers"], nodes[:] = out, out_nodes
