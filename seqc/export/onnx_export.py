"""IR -> ONNX: each node lowered in order by its kind's `lower` facet through the Emitter.

Graph input "input", output "output", channels-last, batch dimension dynamic ("N"). The opset
is the user's choice within what the installed onnxruntime loads; the IR version is the one
that came with that opset, capped at what onnxruntime reads (export/opsets.py).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import ExportError, UsageError, layer_label
from ..fileio import atomic_write
from ..ir.embedded import KEY as IR_KEY
from ..ir.embedded import weights_digest
from ..ir.graph import Graph, node_masks
from ..ir.summary import parameter_counts
from ..ir.types import TensorType
from ..ops import REGISTRY
from .emitter import CHANNELS_FIRST, Emitter
from .opsets import DEFAULT_OPSET, check_opset, ir_version_for

ONNX_DTYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE,
               "int32": TensorProto.INT32, "int64": TensorProto.INT64, "bool": TensorProto.BOOL}

def _value_info(name: str, t: TensorType) -> onnx.ValueInfoProto:
    dims = ["N" if i == 0 and d is None else (f"d{i}" if d is None else d)
            for i, d in enumerate(t.shape)]
    return helper.make_tensor_value_info(name, ONNX_DTYPES[t.dtype], dims)


def _state_value_info(name: str, t: TensorType) -> onnx.ValueInfoProto:
    """A recurrent state as PyTorch holds it: (layers, N, hidden), the IR's (N, layers,
    hidden) with the first two axes swapped (Graph.states)."""
    return helper.make_tensor_value_info(name, ONNX_DTYPES[t.dtype], [t.shape[1], "N",
                                                                      *t.shape[2:]])


def _state_inputs(graph: Graph, em: Emitter, in_names: list[str]) -> dict[str, str]:
    """Each state input, given as PyTorch's (layers, N, hidden), transposed to the IR's
    (N, layers, hidden): {IR value: ONNX value}."""
    env = {}
    for v, name in zip(graph.inputs, in_names):
        if v in graph.states:
            em.begin(f"{v}/state")
            y = em.op("Transpose", [name], perm=[1, 0, 2])
            em.declare(y, graph.types[v])
            env[v] = y
    return env


INPUT_LAYOUTS = ("channels_last", "channels_first")


def check_input_layout(layout: Any, in_type: TensorType) -> str:
    """'channels_last' (Keras' layout, the default) or 'channels_first' (also 'nhwc'/'nchw',
    'nwc'/'ncw', 'ndhwc'/'ncdhw'); channels-first needs an input with spatial axes."""
    names = {"channels_last": "channels_last", "channels_first": "channels_first",
             "nwc": "channels_last", "nhwc": "channels_last", "ndhwc": "channels_last",
             "ncw": "channels_first", "nchw": "channels_first", "ncdhw": "channels_first"}
    key = layout.lower() if isinstance(layout, str) else layout
    if key not in names:
        raise UsageError("input_layout must be channels_last (nhwc) or channels_first (nchw)",
                         field="input_layout", received=f"input_layout={layout!r}")
    if names[key] == "channels_first" and in_type.rank < 3:
        raise UsageError(
            "a channels-first input needs a model input with spatial axes (rank >= 3, batch "
            "included)", field="input_layout", received=f"input_layout={layout!r}, model input "
            f"{in_type}", hint="leave the input layout at channels_last for this model")
    return names[key]


def _physical(t: TensorType, layout: Any) -> TensorType:
    if not isinstance(layout, str):
        return t
    s = t.shape
    return t.with_shape((s[0], s[-1], *s[1:-1]))


def to_onnx(graph: Graph, params: dict[str, np.ndarray], *, opset: int = DEFAULT_OPSET,
            metadata: dict[str, Any] | None = None, input_layout: str = "channels_last",
            fold_batchnorm: bool = True, fold_preprocessing: bool = True,
            report: dict | None = None, embed_ir: bool = False) -> onnx.ModelProto:
    """Lower a graph and its parameters to a checked ONNX model.

    The graph input and output keep the IR's channels-last layout unless `input_layout` is
    "channels_first": then the input is (N, C, *spatial) and needs no Transpose, and a
    spatial output stays channels-first too. Inside, spatial kinds run channels-first and a
    conversion is inserted only where a consumer needs the other layout. The IR passes
    (seqc.ir.passes) run first; `fold_batchnorm=False` skips BatchNormalization folding and
    `fold_preprocessing=False` Rescaling/Normalization folding. When
    `report` is a dict it receives {"passes": ..., "nodes": {op type: count}}. With
    `embed_ir` the model carries the graph under "seqc.ir" (seqc.ir.embedded), its weights
    read back from the initializers, so the file alone gives back the seqc model.

    >>> import seqc
    >>> from seqc.export import to_onnx
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> [n.op_type for n in to_onnx(m.graph, m.params).graph.node]
    ['Gemm']
    """
    opset = check_opset(opset)
    input_layout = check_input_layout(input_layout, graph.input_type)
    options = {"opset": opset, "input_layout": input_layout, "fold_batchnorm": fold_batchnorm,
               "fold_preprocessing": fold_preprocessing}
    model, props, pass_report = _lower(graph, params, **options)
    if embed_ir:
        props[IR_KEY] = _ir_entry(graph, params, model, options)
    for k, v in (metadata or {}).items():
        # Accept the short key too; the file always carries the namespaced one.
        props["seqc.source_hash" if k == "source_hash" else str(k)] = (
            v if isinstance(v, str) else json.dumps(v))
    helper.set_model_props(model, props)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"the exported ONNX model fails onnx.checker: {e}", field="opset",
                          received=f"opset={opset}",
                          hint="this is a seqc bug in a lowering; a different opset may "
                               "avoid it") from e
    if report is not None:
        counts: dict[str, int] = {}
        for n in model.graph.node:
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
        report["passes"] = pass_report
        report["nodes"] = dict(sorted(counts.items()))
    return model


def _lower(graph: Graph, params: dict[str, np.ndarray], *, opset: int, input_layout: str,
           fold_batchnorm: bool, fold_preprocessing: bool
           ) -> tuple[onnx.ModelProto, dict[str, str], dict]:
    """The IR passes and every node's lowering: (model, its seqc metadata, the passes'
    report). The options are checked by the caller."""
    from ..ir.passes import run_passes

    if input_layout == "channels_first" and len(graph.inputs) > 1:
        raise UsageError("a channels-first input layout applies to one-input models",
                         field="input_layout", received=f"input_layout={input_layout!r}, "
                         f"{len(graph.inputs)} inputs", hint="export channels_last")
    graph, params, pass_report = run_passes(
        graph, params, skip=[name for name, on in (("fold_batchnorm", fold_batchnorm),
                                                   ("fold_preprocessing", fold_preprocessing))
                             if not on])
    em = Emitter(opset)
    in_names = onnx_input_names(graph)
    in_layout = CHANNELS_FIRST if input_layout == "channels_first" else None
    env = {}
    for v, name in zip(graph.inputs, in_names):
        em.declare(name, graph.types[v])
        em.set_layout(name, in_layout)
        env[v] = name
    if graph.states:  # PyTorch's (layers, N, hidden) state at the boundary: into the IR's
        env.update(_state_inputs(graph, em, in_names))
    out_names = onnx_output_names(graph)
    for name in out_names:
        em.reserve(name)
    masks: dict[str, str] = {}  # IR value -> ONNX value of its timestep mask (bool (N, T))
    failures: list[tuple[Any, str, str | None]] = []
    for node in graph.nodes:
        xs = [env[v] for v in node.inputs]
        em.begin(node.name)
        try:
            op = REGISTRY[node.op]
            node_params = {p: params[node.param_key(p)] for p in node.params}
            em.mask = node_masks(op, node.inputs, masks)
            ys = em.lower_op(op, node.attrs, node_params, xs,
                             [graph.types[v] for v in node.outputs])
            if node.outputs[0] in graph.masked:
                # Emitted eagerly; the final prune drops masks no consumer reads.
                masks[node.outputs[0]] = op.lower_mask(
                    node.attrs, [em.canonical(x) for x in xs], em.mask, em)
        except (KeyError, NotImplementedError, ExportError) as e:
            if isinstance(e, KeyError) and node.op in REGISTRY:
                raise  # a missing parameter or a bug in a lowering, not an unsupported kind
            reason, hint = _reason(node, e)
            failures.append((node, reason, hint))
            # Stand-in names keep later nodes lowerable, so every failure is reported at once.
            ys = [f"<failed {v}>" for v in node.outputs]
            for y, v in zip(ys, node.outputs):
                em.declare(y, graph.types[v])
                em.set_layout(y, None)
        for v, y in zip(node.outputs, ys):
            env[v] = em.bind(y, v, graph.types[v])  # the layout moves with a rename
    if failures:
        raise _export_error(failures, opset)
    em.begin("output")
    outs, out_layouts = [], []
    for v in graph.outputs:
        out = env[v]
        keep_cf = in_layout == CHANNELS_FIRST and em.is_channels_first(out)
        if not keep_cf:
            out = em.canonical(out)
        if v in graph.states.values():  # the IR's (N, layers, hidden) out as PyTorch's
            em.begin(f"{v}/state")
            out = em.op("Transpose", [out], perm=[1, 0, 2])
        if v in graph.folds:  # the IR's (N, T, ...) out as PyTorch's (N * T, ...)
            em.begin(f"{v}/fold")
            rest = list(graph.types[v].shape[2:])
            out = em.op("Reshape", [out, em.const(np.array([-1, *rest], np.int64), "shape")])
        outs.append(out)
        out_layouts.append(em.layout_of(out))
    values = _value_entries(graph, env, em)
    em.prune(outs)
    renamed: dict[str, str] = {}
    for out, name in zip(outs, out_names):
        if out in in_names or out in renamed or any(i.name == out for i in em.initializers):
            # The model passes its input through (Dropout at inference), produced nothing,
            # or returns one value twice.
            em.nodes.append(helper.make_node("Identity", [renamed.get(out, out)], [name],
                                             name=f"{name}/Identity"))
        else:
            em.rename_value(out, name)
            renamed[out] = name
            values = [{**e, "onnx": name} if e["onnx"] == out else e for e in values]
    out_layout = out_layouts[0]

    g = helper.make_graph(
        em.nodes, graph.name,
        [_state_value_info(name, graph.types[v]) if v in graph.states else
         _value_info(name, _physical(graph.types[v], in_layout))
         for v, name in zip(graph.inputs, in_names)],
        [_state_value_info(name, graph.types[v]) if v in graph.states.values() else
         _value_info(name, _physical(graph.boundary_type(v), lay))
         for v, name, lay in zip(graph.outputs, out_names, out_layouts)],
        initializer=em.initializers)
    from .._version import __version__

    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=ir_version_for(opset), producer_name="seqc",
                              producer_version=__version__)
    props = {"seqc.version": __version__, "seqc.input_layout": input_layout,
             "seqc.output_layout": "channels_first" if isinstance(out_layout, str)
             else "channels_last",
             "seqc.values": _values_json(values, em, in_names)}
    # Frozen layers (trainable=False) count as non-trainable, as in summary and report.json.
    props["seqc.parameters"] = json.dumps(parameter_counts(graph))
    if graph.states:  # the inputs and outputs with the batch on axis 1 (PyTorch's state)
        props["seqc.states"] = json.dumps({
            "inputs": [n for v, n in zip(graph.inputs, in_names) if v in graph.states],
            "outputs": [n for v, n in zip(graph.outputs, out_names)
                        if v in graph.states.values()]})
    if graph.folds:  # the outputs folded to (N * T, ...): [name, T] (Graph.folds)
        props["seqc.folds"] = json.dumps([[n, graph.types[v].shape[1]] for v, n in zip(
            graph.outputs, out_names) if v in graph.folds])
    ids = token_ids_of(graph)
    if ids:
        props["seqc.token_ids"] = json.dumps(ids)
    return model, props, pass_report


def _ir_entry(graph: Graph, params: dict[str, np.ndarray], model: onnx.ModelProto,
              options: dict[str, Any]) -> str:
    """The "seqc.ir" metadata: the graph, the export options, and where each parameter's
    values are in `model`'s initializers (found by lowering again with coded parameters,
    seqc.ir.embedded)."""
    from onnx import numpy_helper

    from ..ir import embedded
    from ..ir.serialize import graph_to_json

    inits = {t.name: t for t in model.graph.initializer}
    cache: dict[str, np.ndarray] = {}

    def initializer(name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = numpy_helper.to_array(inits[name])
        return cache[name]

    shapes = {k: tuple(w.shape) for k, w in params.items()}

    codes = embedded.code_table(params)

    def locate(opts: dict[str, Any]) -> dict[str, dict[str, Any]]:
        runs = []
        for coded in embedded.coded_runs(params, codes):
            try:
                with np.errstate(all="ignore"):
                    runs.append(_lower(graph, coded, **opts)[0].graph.initializer)
            except Exception:  # noqa: BLE001 - a lowering refusing coded values: inline them
                return {}
        if not runs:
            return {}
        # The runs differ only in values, so their initializers pair up by name.
        by_name = [{t.name: t for t in inits} for inits in runs]
        floats = [t.name for t in runs[0] if t.data_type == TensorProto.FLOAT
                  and all(t.name in b for b in by_name)]
        return embedded.locate(codes, shapes, (  # lazily: one initializer's arrays at a time
            (n, [numpy_helper.to_array(b[n]) for b in by_name]) for n in floats))

    # A folding pass scales kernels: where they sit without folding is where their scaled
    # values are (seqc.ir.embedded.scaled).
    unfolded = None if not (options["fold_batchnorm"] or options["fold_preprocessing"]) else \
        lambda: locate({**options, "fold_batchnorm": False, "fold_preprocessing": False})
    weights = embedded.mapping({k: params[k] for k in graph.param_specs}, locate(options),
                               initializer, unfolded)
    return embedded.document(graph_to_json(graph), weights, options)


# ---- "seqc.values": where each IR value lives in the ONNX graph (read by seqc.runtime.bisect)

def _value_entries(graph: Graph, env: dict[str, str], em: Emitter) -> list[dict[str, Any]]:
    """One entry per IR node output, in node order: its ONNX value and physical layout, and
    the node that computes it in the exported graph (after the IR passes: a Conv with a
    BatchNormalization folded in computes the BN's output value)."""
    out = []
    for node in graph.nodes:
        for v in node.outputs:
            layout = em.layout_of(env[v])
            layout = ("channels_first" if isinstance(layout, str) else "channels_last"
                      if layout is None else [int(i) for i in layout])
            out.append({"value": v, "node": node.name, "kind": node.op,
                        "layer": node.layer or node.name, "onnx": env[v], "layout": layout})
    return out


def token_ids_of(graph: Graph) -> dict[str, Any] | None:
    """{"count": n, "layer": label}: the range [0, n) the graph input's ids must lie in,
    from the kinds that index a table with it (the smallest, when several do)."""
    found = [(REGISTRY[n.op].id_count(n.attrs), layer_label(None, n.layer or n.name, n.op))
             for n in graph.nodes
             if graph.inputs[0] in n.inputs and REGISTRY[n.op].id_count is not None]
    if not found:
        return None
    count, layer = min(found)
    return {"count": int(count), "layer": layer}


def onnx_input_names(graph: Graph) -> list[str]:
    """The exported model's input names: "input" for a one-input graph (seqc's contract),
    else the graph's own input names, in order."""
    return ["input"] if len(graph.inputs) == 1 else list(graph.inputs)


def onnx_output_names(graph: Graph) -> list[str]:
    """The exported model's output names: "output" for a one-output graph, else the name of
    the layer computing each output (Dense(activation=...)'s output is the layer's)."""
    return ["output"] if len(graph.outputs) == 1 else graph.output_names


def _values_json(values: list[dict[str, Any]], em: Emitter, in_names: list[str]) -> str:
    """The entries whose ONNX value survived pruning (and the graph input), as compact JSON.
    Layout "channels_first" is (N, C, *spatial); a list P is a flattened channels-first
    tensor whose feature j holds the IR's feature P[j]."""
    present = {*in_names, *(o for n in em.nodes for o in n.output)}
    return json.dumps([e for e in values if e["onnx"] in present], separators=(",", ":"))


def _reason(node: Any, e: Exception) -> tuple[str, str | None]:
    if isinstance(e, KeyError):
        return f"unknown layer kind '{node.op}'", None
    if isinstance(e, ExportError):
        return e.message, e.hint
    text = str(e)
    return (text if text else f"{node.op} has no ONNX lowering"), None


def _export_error(failures: list, opset: int) -> ExportError:
    lines = [f"  - {layer_label(None, n.name, n.op)}: {reason}" for n, reason, _ in failures]
    kinds = sorted({n.op for n, _, _ in failures})
    hints = [h for _, _, h in failures if h]
    noun = "layer" if len(failures) == 1 else "layers"
    return ExportError(
        f"{len(failures)} {noun} cannot be exported to ONNX opset {opset}:\n" + "\n".join(lines),
        field="layers", received=f"layer kinds {', '.join(kinds)}",
        hint="; ".join(dict.fromkeys(hints)) if hints else
        "replace or remove these layers (`seqc ops` lists the kinds with an ONNX lowering)")


# Metadata that holds only for the weights it was written with: a model loaded from an
# .onnx file carries them along (so it re-exports byte for byte) until its weights change.
WEIGHT_BOUND = ("seqc.test_vectors", "seqc.metrics")


def model_metadata(model: Any) -> dict[str, str]:
    """Metadata a Model contributes: its own entries first, in their order (a model loaded
    from an .onnx file carries the file's), then final training metrics and class labels,
    which replace a carried value in place. Carried WEIGHT_BOUND entries are dropped once
    the weights differ from the ones they were loaded with (`model.metadata_weights`)."""
    meta: dict[str, str] = {}
    for k, v in (getattr(model, "metadata", None) or {}).items():
        meta[str(k)] = v if isinstance(v, str) else json.dumps(_jsonable(v))
    bound = getattr(model, "metadata_weights", None)
    if bound is not None and bound != weights_digest(model.params):
        for k in WEIGHT_BOUND:
            meta.pop(k, None)
    history = getattr(model, "history", None)
    hist = getattr(history, "history", history)
    if isinstance(hist, dict) and hist:
        final = {k: _jsonable(v[-1] if isinstance(v, (list, tuple)) and v else v)
                 for k, v in hist.items()}
        meta["seqc.metrics"] = json.dumps(final)
    if getattr(model, "class_names", None):
        meta["seqc.class_names"] = json.dumps([_jsonable(c) for c in model.class_names])
    return meta


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def write_atomic(path: str | os.PathLike, data: bytes) -> str:
    """Write `data` to `path` atomically (seqc.fileio): readers see the old file or the new
    one, never a half-written one, and a failure leaves no temp file."""
    return atomic_write(path, data)


def export_model(model: Any, path: str | os.PathLike, *, opset: int = DEFAULT_OPSET,
                 metadata: dict[str, Any] | None = None, input_layout: str = "channels_last",
                 fold_batchnorm: bool = True, fold_preprocessing: bool = True,
                 report: dict | None = None, embed_ir: bool = True) -> str:
    """Export a `seqc.model.Model` to `path` atomically; returns the path. The keyword
    arguments are `to_onnx`'s; the file carries the IR ("seqc.ir") unless `embed_ir=False`.

    >>> import seqc, tempfile, os
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> p = m.export(os.path.join(tempfile.mkdtemp(), "model.onnx"))
    """
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise UsageError("the output folder does not exist", field="path",
                         received=os.fspath(path), hint=f"create {folder} first")
    meta = model_metadata(model)
    meta.update(metadata or {})
    proto = to_onnx(model.graph, model.params, opset=opset, metadata=meta,
                    input_layout=input_layout, fold_batchnorm=fold_batchnorm,
                    fold_preprocessing=fold_preprocessing, report=report, embed_ir=embed_ir)
    from .variants import save

    # Atomic; at protobuf's 2 GiB limit the weights go to <model>.onnx.data beside the model
    # (and a stale one from an earlier, larger export is removed).
    return save(proto, path)["path"]
