"""Reverse lowering: an ONNX model seqc did not write -> a Sequential model, when the graph is
a chain of operators with a layer each. Anything else is refused naming the first node that
has none (op type, node name, index).

Mapped: Gemm and MatMul(+Add) -> Dense; Conv -> Conv1D/2D/3D (symmetric pads at stride 1 ->
"same", other pads -> ZeroPadding before a "valid" conv); MaxPool/AveragePool ->
MaxPooling/AveragePooling; GlobalAveragePool/GlobalMaxPool -> their Global layer (keepdims);
LSTM/GRU/RNN (one direction, default activations, zero initial state) ->
LSTM/GRU/SimpleRNN; Relu, Sigmoid, Tanh, Softmax, LeakyRelu, Elu, Selu, Softplus, Softsign
-> activations; Flatten and Reshape to (N, -1) -> Flatten; BatchNormalization; Dropout and
Identity -> nothing. Shape arithmetic feeding a reshape or an initial state (Shape, Gather,
Concat, ConstantOfShape...) is read, not mapped.

Layouts: ONNX spatial tensors are channels-first (N, C, *S), seqc's channels-last. The model
gets the input (*S, C) and `export_options["input_layout"] = "channels_first"`, so its export
takes the same (N, C, *S) input. Flattening a channels-first tensor orders features (C, *S),
seqc's Flatten (*S, C): the next Dense's kernel rows are permuted to match. A recurrent input
arrives as Transpose(x, [1, 0, 2]) of a batch-first (N, T, F) tensor; its output Y (T, 1, N, H)
comes back through Squeeze/Transpose (return_sequences) or is read at its last step or Y_h.

This module walks the graph and evaluates the shape arithmetic; `_onnx_reverse_layers.py` maps
each node on the chain to its layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DefinitionError
from ..ir.build import build_graph
from ..ir.types import batched
from ..model import Model
from ._onnx_reverse_layers import _attrs, _map, _Refused, _State, _Value
from .spec import Definition

# Nodes that only compute shapes or constants; their values are read where a mapped node
# needs them (a Reshape's target, an LSTM's zero initial state).
_AUX = ("Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "ConstantOfShape",
        "Slice", "Cast", "Mul", "Add", "Sub", "Div", "Reshape", "Identity")


def reverse(proto: Any, file: str, digest: str) -> Definition:
    """The Definition of an ONNX chain, or a DefinitionError naming the first unmapped node."""
    from onnx import numpy_helper

    g = proto.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise DefinitionError(
            "the reverse lowering maps a chain with one input and one output", file=file,
            field="graph", received=f"{len(inputs)} inputs, {len(g.output)} outputs",
            hint="seqc reads back any model it wrote itself (it carries seqc.ir)")
    x = inputs[0]
    tt = x.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    if tt.elem_type != 1 or len(shape) < 2 or any(d is None for d in shape[1:]):
        raise DefinitionError("the reverse lowering needs a float32 input with known sizes "
                              "past the batch axis", file=file, field=f"input '{x.name}'",
                              received=f"shape {shape}, elem_type {tt.elem_type}")
    shape = (None, *shape[1:])
    consumers = {n.op_type for n in g.node if x.name in n.input}
    kind = "flat" if len(shape) == 2 else "cf" if (len(shape) > 3 or "Conv" in consumers
                                                   or "MaxPool" in consumers
                                                   or "AveragePool" in consumers) else "seq"
    chain: dict[str, _Value] = {x.name: _Value(kind, shape)}
    aux: dict[str, Any] = dict(consts)
    st = _State()
    used: set[str] = set()
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
    for i, node in enumerate(g.node):
        ins = [v for v in node.input if v in chain]
        where = f"node {i} '{node.name or '(unnamed)'}' ({node.op_type})"
        try:
            if not ins:
                _aux(node, aux, opset)
                continue
            if len(ins) > 1 or ins[0] in used and node.op_type != "Shape":
                raise _Refused("it reads a value another layer already took (a branch or "
                               "merge): the reverse lowering maps chains")
            if node.op_type == "Shape":
                # The batch size as 0, which a Reshape target reads as "keep this axis":
                # x.view(x.size(0), -1) becomes [0, -1], a flatten.
                a = _attrs(node)
                dims = np.array([0 if d is None else d for d in chain[ins[0]].shape], np.int64)
                aux[node.output[0]] = dims[a.get("start", 0):a.get("end", len(dims))]
                continue
            used.add(ins[0])
            outs = _map(node, chain[ins[0]], aux, st, opset)
        except _Refused as e:
            raise DefinitionError(
                f"{where} has no seqc layer: {e.reason}", file=file,
                field=f"graph.node[{i}]", received=f"op_type {node.op_type}, name "
                f"'{node.name}', index {i}",
                hint="seqc loads an ONNX chain of Gemm/MatMul+Add, Conv, pooling, "
                     "LSTM/GRU/RNN, activations, Flatten/Reshape, BatchNormalization and "
                     "Dropout; a model seqc wrote loads whole") from None
        for name, v in zip(node.output, outs):
            if name and v is not None:
                chain[name] = v
    out = g.output[0].name
    if out not in chain:
        raise DefinitionError("the graph output is not computed from the input by mapped "
                              "layers", file=file, field="graph.output", received=out)
    final = chain[out]
    if final.kind not in ("flat", "cf", "seq") or (
            final.perm is not None and not np.array_equal(final.perm, np.arange(len(final.perm)))):
        raise DefinitionError("the graph output has no seqc layout (a recurrent output "
                              "read in ONNX's time-first form, or features flattened "
                              "channels-first)", file=file, field="graph.output",
                              received=f"{out} {final.kind}")
    if not st.layers:
        st.add("Identity", {})
    in_seqc = _seqc_shape(chain[x.name])
    graph = build_graph(g.name or "onnx_model", batched(in_seqc[1:]), st.layers, file=file)
    params = {}
    for node in graph.nodes:
        w = st.weights[st.names.index(node.layer or node.name)]
        for p in node.params:
            key = node.param_key(p)
            spec = graph.param_specs[key]
            if p not in w or tuple(w[p].shape) != tuple(spec.shape):
                raise DefinitionError(f"weight {key} does not fit the layer", file=file,
                                      field=key, received=f"{None if p not in w else w[p].shape}"
                                      f", expected {spec.shape}")
            params[key] = np.ascontiguousarray(w[p], dtype=spec.dtype)
    model = Model(graph, params, name=graph.name, source=file)
    if chain[x.name].kind == "cf":
        model.export_options = {"input_layout": "channels_first"}
    return Definition(model=model, compile=None, fit=None, data=None, path=file,
                      source_hash=digest, name=graph.name, format="onnx",
                      has_weights=True, notes=[f"read {len(g.node)} ONNX nodes as "
                                                 f"{len(st.layers)} layers"])


def _seqc_shape(v: _Value) -> tuple:
    s = v.shape
    return (s[0], *s[2:], s[1]) if v.kind == "cf" else s


def _aux(node: Any, aux: dict[str, Any], opset: int) -> None:
    """Evaluate a node off the chain where its value is needed later; unknown ones stay
    unknown (None) and are refused only if a mapped node reads them."""
    from onnx import numpy_helper

    a = _attrs(node)
    vals = [aux.get(v) for v in node.input]
    out: Any = None
    if node.op_type == "Constant" and "value" in a:
        out = numpy_helper.to_array(a["value"])
    elif node.op_type == "ConstantOfShape":
        value = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        out = ("fill", float(value.ravel()[0]))
    elif node.op_type not in _AUX:
        raise _Refused(f"an operator off the data path ({node.op_type}) that the reverse "
                       "lowering does not evaluate")
    elif all(isinstance(v, np.ndarray) for v in vals) and vals:
        try:
            out = _eval_const(node, vals, opset)
        except Exception:  # noqa: BLE001 - a value nothing may need; refused if one does
            out = None
    for name in node.output:
        aux[name] = out


def _eval_const(node: Any, vals: list[np.ndarray], opset: int) -> np.ndarray:
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    names = [f"i{k}" for k in range(len(vals))]
    n = helper.make_node(node.op_type, names, ["o"],
                         **{a.name: helper.get_attribute_value(a) for a in node.attribute})
    g = helper.make_graph([n], "c", [], [helper.make_tensor_value_info(
        "o", TensorProto.UNDEFINED, None)],
                          initializer=[helper.make_tensor(k, helper.np_dtype_to_tensor_dtype(
                              v.dtype), v.shape, v.ravel().tolist()) for k, v in zip(names, vals)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    return np.asarray(ReferenceEvaluator(model).run(None, {})[0])
