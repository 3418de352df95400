"""Keras `layers.Lambda` bodies: read like a call() (_pyscript_forward), their functions
(`tf.nn.relu(x)`, `keras.ops.softmax(x, axis)`, reshape, transpose: _pyscript_keras_ops) and
`x[:, -1]` become the seqc layers that compute the same (Activation, Softmax, Reshape,
Permute, Cropping1D + Reshape). Anything else is refused with its line: a Lambda is code, and
seqc never runs it.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from ..errors import SeqcError
from ._pyscript_forward import Chain
from ._pyscript_forward_values import Tensor
from ._pyscript_keras_ops import functional
from ._pyscript_values import Func, Lam, Layer, Sym

if TYPE_CHECKING:
    from .pyscript import Reader

def lambda_layers(r: Reader, lay: Layer) -> list[Layer]:
    """`layers.Lambda(fn)` -> the layers its body applies, read like a call()."""
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
    from ._pyscript_layer_type import _step

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
