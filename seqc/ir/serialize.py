"""Lossless JSON for graphs (`model.ir.json`) and `.npz` for parameters.

Attributes go through each kind's own config round trip (`attrs_to_config` / `parse_attrs`),
so the JSON holds the canonical, fully defaulted Keras arguments.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from typing import Any

import numpy as np

from ..errors import DefinitionError
from ..ops import REGISTRY
from ..ops.attrs import freeze, to_json
from .graph import Graph, Node
from .types import DTYPES, ParamSpec, TensorType

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
                **({"training_args": to_json(n.training_args)} if n.training_args else {}),
                **({"shares": n.shares} if n.shares else {}),
            }
            for n in graph.nodes
        ],
        "params": {
            k: {"shape": list(s.shape), "initializer": to_json(s.initializer),
                "trainable": s.trainable, "domain": s.domain, "dtype": s.dtype}
            for k, s in graph.param_specs.items()
        },
        **({"states": dict(graph.states)} if graph.states else {}),
        **({"folds": list(graph.folds)} if graph.folds else {}),
    }


def graph_from_json(d: dict[str, Any], file: str | None = None) -> Graph:
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise DefinitionError("not a seqc IR file", file=file, field="format",
                              received=f"format={d.get('format') if isinstance(d, dict) else d!r}"
                              [:200])
    check_ir_doc(d, file)
    nodes = []
    for i, n in enumerate(d["nodes"]):
        op = REGISTRY[n["op"]]
        try:
            attrs = op.parse_attrs(n["attrs"])
        except DefinitionError as e:
            raise e.located(file=file, layer=f"nodes[{i}] '{n['name']}' ({n['op']})") from None
        nodes.append(Node(n["op"], n["name"], tuple(n["inputs"]), tuple(n["outputs"]),
                          attrs, tuple(n["params"]), n.get("layer", ""),
                          n.get("trainable", True), freeze(n.get("training_args")) or None,
                          n.get("shares", "")))
    # A spec's name is the node's local one ("forward/kernel" in a Bidirectional's table key
    # "bigru/forward/kernel"), not the key's last segment.
    local = {n.param_key(p): p for n in nodes for p in n.params}
    specs = {k: ParamSpec(local.get(k, k.split("/")[-1]), tuple(s["shape"]),
                          freeze(s["initializer"]), s["trainable"], s.get("domain", "real"),
                          s.get("dtype", "float32"))
             for k, s in d["params"].items()}
    states = d.get("states") or {}
    if not isinstance(states, dict) or not all(
            k in d["inputs"] and v in d["outputs"] for k, v in states.items()):
        raise DefinitionError("the IR's states must map graph inputs to graph outputs",
                              file=file, field="states", received=_short(states))
    folds = d.get("folds") or []
    if not isinstance(folds, list) or not all(v in d["outputs"] for v in folds):
        raise DefinitionError("the IR's folds must name graph outputs", file=file,
                              field="folds", received=_short(folds))
    return Graph(d["name"], tuple(d["inputs"]), tuple(d["outputs"]), tuple(nodes),
                 {k: TensorType.from_json(t) for k, t in d["types"].items()}, specs,
                 dict(states), tuple(folds))


def check_ir_doc(d: dict[str, Any], file: str | None) -> None:
    """The types of every field of a `model.ir.json`, checked before any is used: a file
    edited by hand or damaged is one DefinitionError naming the field, not a crash inside."""
    def need(ok: bool, where: str, expected: str, value: Any) -> None:
        if not ok:
            raise DefinitionError(f"malformed seqc IR file: {where} must be {expected}",
                                  file=file, field=where,
                                  received=f"{where}={_short(value)}",
                                  hint="rebuild the folder with `seqc build`")

    def strings(v: Any) -> bool:
        return isinstance(v, list) and all(isinstance(x, str) for x in v)

    def shape(v: Any) -> bool:  # None: the batch or a variable length
        return isinstance(v, list) and all(x is None or (_is_int(x) and x >= 0) for x in v)

    need(isinstance(d.get("name"), str), "name", "a string", d.get("name"))
    for key in ("inputs", "outputs"):
        need(strings(d.get(key)), key, "a list of value names", d.get(key))
    need(isinstance(d.get("nodes"), list), "nodes", "a list of node objects", d.get("nodes"))
    for i, n in enumerate(d["nodes"]):
        at = f"nodes[{i}]"
        need(isinstance(n, dict), at, "a node object", n)
        need(isinstance(n.get("op"), str) and n["op"] in REGISTRY, f"{at}.op",
             "a layer kind seqc knows", n.get("op"))
        need(isinstance(n.get("name"), str), f"{at}.name", "a string", n.get("name"))
        for key in ("inputs", "outputs", "params"):
            need(strings(n.get(key)), f"{at}.{key}", "a list of names", n.get(key))
        need(isinstance(n.get("attrs"), dict), f"{at}.attrs", "an object", n.get("attrs"))
        for key, ok, what in (("layer", str, "a string"), ("shares", str, "a string"),
                              ("trainable", bool, "true or false"),
                              ("training_args", dict, "an object")):
            if n.get(key) is not None:
                need(isinstance(n[key], ok), f"{at}.{key}", what, n[key])
    need(isinstance(d.get("params"), dict), "params", "an object", d.get("params"))
    for k, p in d["params"].items():
        at = f"params.{k}"
        need(isinstance(p, dict), at, "an object", p)
        need(shape(p.get("shape")) and None not in p["shape"], f"{at}.shape",
             "a list of sizes", p.get("shape"))
        need(isinstance(p.get("trainable"), bool), f"{at}.trainable", "true or false",
             p.get("trainable"))
        need(p.get("dtype", "float32") in DTYPES, f"{at}.dtype", f"one of {sorted(DTYPES)}",
             p.get("dtype"))
        need(isinstance(p.get("domain", "real"), str), f"{at}.domain", "a string",
             p.get("domain"))
    need(isinstance(d.get("types"), dict), "types", "an object", d.get("types"))
    for k, t in d["types"].items():
        at = f"types.{k}"
        need(isinstance(t, dict) and shape(t.get("shape")), f"{at}.shape",
             "a list of sizes (null for the batch or a variable length)",
             t.get("shape") if isinstance(t, dict) else t)
        need(t.get("dtype") in DTYPES, f"{at}.dtype", f"one of {sorted(DTYPES)}",
             t.get("dtype"))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def dumps(graph: Graph) -> str:
    return json.dumps(graph_to_json(graph), indent=1)


def params_to_npz_bytes(params: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **params)
    return buf.getvalue()


def params_from_npz(path_or_file: Any) -> dict[str, np.ndarray]:
    """The arrays of an `.npz`; a damaged archive or member is a DefinitionError naming the
    file (np.load reads members lazily, so each read is inside the check)."""
    file = path_or_file if isinstance(path_or_file, str) else None
    if file is not None and not zipfile.is_zipfile(file):
        raise DefinitionError("unreadable weights file: not an .npz (zip) archive", file=file,
                              field="weights", received=f"{os.path.getsize(file):,} bytes",
                              hint="rebuild the folder with `seqc build`")
    try:
        # allow_pickle=False: a weights file must never run code.
        z = np.load(path_or_file, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with z:
            return {k: z[k] for k in z.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error,
            NotImplementedError) as e:
        # zlib.error: a damaged deflate stream; NotImplementedError: an unknown zip
        # compression method; ValueError: a damaged .npy header or an object array.
        raise DefinitionError("unreadable weights file: damaged, or not an .npz of arrays",
                              file=file, field="weights",
                              received=f"{type(e).__name__}: {str(e)[:200]}",
                              hint="rebuild the folder with `seqc build`") from None
