"""A `seqc build` output folder -> Definition: the graph from model.ir.json, the trained
weights from weights.npz, and from report.json (when present) the class names and compile
settings, so `seqc.load("build/cancer_mlp")` gives back the trained model."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DefinitionError, SeqcError
from ..ir.serialize import graph_from_json, params_from_npz
from ..ir.verify import verify
from ..model import Model
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
    doc = parse_json(ir_raw, ir_path)
    try:
        graph = verify(graph_from_json(doc, file=ir_path))
    except SeqcError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
        raise DefinitionError("malformed seqc IR file", file=ir_path, field="nodes",
                              received=f"{type(e).__name__}: {e}",
                              hint="rebuild the folder with `seqc build`") from None
    w_raw = read_bytes(w_path)
    try:
        params = params_from_npz(w_path)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DefinitionError("unreadable weights file", file=w_path, field="weights",
                              received=f"{type(e).__name__}: {e}") from None
    params = _check_params(params, graph, w_path)

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
