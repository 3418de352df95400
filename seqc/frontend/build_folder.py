"""A `seqc build` output folder -> Definition: the graph from model.ir.json, the trained
weights from weights.npz, and from report.json (when present) the class names and compile
settings, so `seqc.load("build/cancer_mlp")` gives back the trained model."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..errors import DefinitionError, SeqcError, layer_label
from ..ir.graph import Graph
from ..ir.serialize import graph_from_json, params_from_npz
from ..ir.verify import verify
from ..model import Model
from ..ops import REGISTRY
from ..ops._promote import promoted
from ._json import parse_json, read_bytes
from .spec import Definition

IR_FILE = "model.ir.json"
WEIGHTS_FILE = "weights.npz"
REPORT_FILE = "report.json"


def load_build_folder(path: str | os.PathLike, **_: object) -> Definition:
    folder = os.fspath(path)
    ir_path = os.path.join(folder, IR_FILE)
    w_path = os.path.join(folder, WEIGHTS_FILE)
    for p in (ir_path, w_path):
        if not os.path.isfile(p):
            raise DefinitionError(
                f"not a seqc build folder: {os.path.basename(p)} is missing", file=folder,
                field="path", received=f"files {sorted(os.listdir(folder))}",
                hint="build one with `seqc build DEF -o DIR`, or pass a definition file")
    ir_raw = read_bytes(ir_path)
    graph = read_ir(ir_path, ir_raw)
    w_raw = read_bytes(w_path)
    params = read_weights(w_path, graph)

    report = _report(folder)
    name = graph.name
    seed = int(report.get("seed", 0)) if isinstance(report.get("seed"), int) else 0
    model = Model(graph, params, name=name, seed=seed, source=folder)
    if isinstance(report.get("class_names"), list):
        model.class_names = [str(c) for c in report["class_names"]]
    compile_cfg = report.get("compile") if isinstance(report.get("compile"), dict) else None
    digest = hashlib.sha256(ir_raw + w_raw).hexdigest()
    return Definition(model=model, compile=compile_cfg, fit=None, data=None, path=folder,
                      source_hash=digest, name=name, format="build-folder",
                      extra={"report": report} if report else {}, has_weights=True)


def read_ir(ir_path: str, raw: bytes | None = None) -> Graph:
    """A build folder's model.ir.json, its fields checked before use and the graph verified."""
    doc = parse_json(read_bytes(ir_path) if raw is None else raw, ir_path)
    try:
        return _consistent(verify(graph_from_json(doc, file=ir_path)), ir_path)
    except SeqcError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
        raise DefinitionError("malformed seqc IR file", file=ir_path, field="nodes",
                              received=f"{type(e).__name__}: {e}",
                              hint="rebuild the folder with `seqc build`") from None


def _consistent(graph: Graph, file: str) -> Graph:
    """The stored types and parameter shapes are what each node's kind gives for its inputs
    (shape inference rerun from the graph inputs), so nothing downstream trusts an edited
    file: a model.ir.json is user input like any definition."""
    # A stateful recurrent layer's model keeps its fixed batch (spec.py's _input_type).
    fixed_ok = any(getattr(n.attrs, "stateful", False) is True for n in graph.nodes)
    for v in graph.inputs:
        t = graph.types[v]
        if not t.shape or (t.shape[0] is not None and not (
                fixed_ok and isinstance(t.shape[0], int) and t.shape[0] > 0)):
            raise DefinitionError(
                f"graph input '{v}' must have the batch (null) as its first dimension",
                file=file, field=f"types.{v}.shape", received=f"shape={list(t.shape)}",
                hint="rebuild the folder with `seqc build`")
    needed: set[str] = set()
    for i, n in enumerate(graph.nodes):
        op = REGISTRY[n.op]
        in_types = promoted(op, n.attrs, [graph.types[v] for v in n.inputs])
        try:
            op.check(n.attrs)
            outs = op.infer(n.attrs, in_types)
            specs = op.params(n.attrs, in_types)
        except SeqcError as e:
            raise e.located(file=file, layer=layer_label(i, n.name, n.op)) from None
        stored = [graph.types[v] for v in n.outputs]
        if list(outs) != stored:
            raise DefinitionError(
                "the stored output type does not follow from the node's inputs",
                file=file, layer=layer_label(i, n.name, n.op), field="types",
                received=f"stored {[str(t) for t in stored]}, {n.op} gives "
                         f"{[str(t) for t in outs]}", hint="rebuild the folder with `seqc build`")
        if tuple(n.params) != tuple(s.name for s in specs):
            raise DefinitionError(
                "the node's parameter names are not its kind's", file=file,
                layer=layer_label(i, n.name, n.op), field="params",
                received=f"stored {list(n.params)}, {n.op} has {[s.name for s in specs]}",
                hint="rebuild the folder with `seqc build`")
        for s in specs:
            needed.add(n.param_key(s.name))
            key = n.param_key(s.name)
            have = graph.param_specs.get(key)
            if have is None or tuple(have.shape) != tuple(s.shape):
                raise DefinitionError(
                    f"parameter {key} does not have the shape the node needs", file=file,
                    layer=layer_label(i, n.name, n.op), field=f"params.{key}",
                    received=f"stored {None if have is None else list(have.shape)}, "
                             f"needs {list(s.shape)}", hint="rebuild the folder with `seqc build`")
    stray = sorted(set(graph.param_specs) - needed)
    if stray:
        raise DefinitionError(
            "the file declares parameters no node uses", file=file, field="params",
            received=f"{stray}", hint="rebuild the folder with `seqc build`")
    return graph


def read_weights(w_path: str, graph: Graph) -> dict[str, np.ndarray]:
    """A build folder's weights.npz: every array the graph names, of its shape, as a real
    number array (cast to the parameter's dtype)."""
    return _check_params(params_from_npz(w_path), graph, w_path)


def _check_params(params: dict[str, np.ndarray], graph, file: str) -> dict[str, np.ndarray]:
    specs = graph.param_specs
    missing = [k for k in specs if k not in params]
    extra = [k for k in params if k not in specs]
    if missing or extra:
        raise DefinitionError(
            "weights.npz does not match model.ir.json", file=file, field="weights",
            received=f"missing {missing}, unexpected {extra}",
            hint="the two files come from different builds; rebuild the folder")
    out = {}
    for k, spec in specs.items():
        w = params[k]
        if w.dtype.kind not in "biuf":  # complex, strings, structured records: not weights
            raise DefinitionError(
                f"weight {k} is not an array of real numbers", file=file, field=k,
                received=f"dtype {w.dtype}, expected {spec.dtype}",
                hint="the file was altered; rebuild the folder with `seqc build`")
        if tuple(w.shape) != tuple(spec.shape):
            raise DefinitionError(
                f"weight {k} has the wrong shape", file=file, field=k,
                received=f"shape {tuple(w.shape)}, expected {tuple(spec.shape)}")
        out[k] = w.astype(spec.dtype, copy=False)
    return out


def _report(folder: str) -> dict:
    p = Path(folder) / REPORT_FILE
    if not p.is_file():
        return {}
    try:
        doc = parse_json(p.read_bytes(), str(p))
    except DefinitionError:
        return {}  # the report is informative only; the model is complete without it
    return doc if isinstance(doc, dict) else {}
