"""Lossless JSON for graphs (`model.ir.json`) and `.npz` for parameters.

Attributes go through each kind's own config round trip (`attrs_to_config` / `parse_attrs`),
so the JSON holds the canonical, fully defaulted Keras arguments.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from ..errors import DefinitionError
from ..ops import REGISTRY
from ..ops.base import ParamSpec, _freeze, _to_json
from .graph import Graph, Node
from .types import TensorType

FORMAT = "seqc-ir"
VERSION = 1


def graph_to_json(graph: Graph) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": graph.name,
        "inputs": list(graph.inputs),
        "outputs": list(graph.outputs),
        "types": {k: t.to_json() for k, t in graph.types.items()},
        "nodes": [
            {
                "op": n.op,
                "name": n.name,
                "inputs": list(n.inputs),
                "outputs": list(n.outputs),
                "attrs": REGISTRY[n.op].attrs_to_config(n.attrs),
                "params": list(n.params),
                "layer": n.layer,
                "trainable": n.trainable,
                **({"training_args": _to_json(n.training_args)} if n.training_args else {}),
                **({"shares": n.shares} if n.shares else {}),
            }
            for n in graph.nodes
        ],
        "params": {
            k: {"shape": list(s.shape), "initializer": _to_json(s.initializer),
                "trainable": s.trainable, "domain": s.domain, "dtype": s.dtype}
            for k, s in graph.param_specs.items()
        },
    }


def graph_from_json(d: dict[str, Any], file: str | None = None) -> Graph:
    if d.get("format") != FORMAT:
        raise DefinitionError("not a seqc IR file", file=file, field="format",
                              received=f"format={d.get('format')!r}")
    nodes = []
    for n in d["nodes"]:
        op = REGISTRY[n["op"]]
        nodes.append(Node(n["op"], n["name"], tuple(n["inputs"]), tuple(n["outputs"]),
                          op.parse_attrs(n["attrs"]), tuple(n["params"]), n.get("layer", ""),
                          n.get("trainable", True), _freeze(n.get("training_args")) or None,
                          n.get("shares", "")))
    # A spec's name is the node's local one ("forward/kernel" in a Bidirectional's table key
    # "bigru/forward/kernel"), not the key's last segment.
    local = {n.param_key(p): p for n in nodes for p in n.params}
    specs = {k: ParamSpec(local.get(k, k.split("/")[-1]), tuple(s["shape"]),
                          _freeze(s["initializer"]), s["trainable"], s.get("domain", "real"),
                          s.get("dtype", "float32"))
             for k, s in d["params"].items()}
    return Graph(d["name"], tuple(d["inputs"]), tuple(d["outputs"]), tuple(nodes),
                 {k: TensorType.from_json(t) for k, t in d["types"].items()}, specs)


def dumps(graph: Graph) -> str:
    return json.dumps(graph_to_json(graph), indent=1)


def params_to_npz_bytes(params: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **params)
    return buf.getvalue()


def params_from_npz(path_or_file: Any) -> dict[str, np.ndarray]:
    # allow_pickle=False: a weights file must never run code.
    with np.load(path_or_file, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
