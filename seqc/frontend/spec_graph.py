"""The graph form of the seqc spec: named entries reading the values their `from` names,
top-level `inputs` and `outputs`, shared layers (`share`) and repeated blocks (`repeat`).

A spec without these keys is a chain and never comes here (seqc.frontend.spec builds it as
before). The entries are expanded (repeats unrolled, names given, every `from` resolved to a
name) and handed to `seqc.ir.build.build_dag`, which checks the graph; its messages are
relabelled with the entry's place in the file (`layers[3].layers[1] (repeat 2 of 4)`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import DefinitionError, SeqcError, layer_label
from ..ir.build import NodeConfig, _auto_name, build_dag, snake_case
from ..ir.graph import Graph
from ..ir.types import TensorType, batched
from ..ops import get_op

GRAPH_KEYS = ("from", "share", "repeat")
BLOCK_INPUT = "$input"  # inside a repeated block: the value entering this repetition


def is_graph_spec(doc: dict) -> bool:
    """Whether the spec uses the graph form (`inputs`, `outputs`, or an entry with `from`,
    `share` or `repeat`)."""
    return "inputs" in doc or "outputs" in doc or _uses_graph_keys(doc.get("layers") or [])


def _uses_graph_keys(items: list) -> bool:
    return any(isinstance(d, dict) and (any(k in d for k in GRAPH_KEYS) or "type" not in d
                                        and isinstance(d.get("layers"), list))
               for d in items)


def graph_inputs(doc: dict, file: str) -> dict[str, TensorType]:
    """The top-level `inputs`: name -> [shape] or {"shape": [...], "dtype": ...}."""
    out = {}
    for name, v in doc["inputs"].items():
        shape, dtype = (v, "float32") if isinstance(v, list) else (v["shape"],
                                                                   v.get("dtype", "float32"))
        if name.startswith("$"):
            raise DefinitionError("input names may not start with '$'", file=file,
                                  field=f"inputs.{name}", received=repr(name))
        out[name] = batched(tuple(shape), dtype)
    for key in ("input_shape", "input_dtype"):
        if key in doc:
            raise DefinitionError(f"{key} and inputs both give the model's input", file=file,
                                  field=key, received=f"{key}={doc[key]!r}, "
                                                      f"inputs={list(doc['inputs'])}",
                                  hint="keep inputs (name -> shape)")
    return out


@dataclass
class _Entry:
    type: str
    config: dict
    name: str | None
    refs: list  # each a name (str) or the index (int) of an expanded entry
    share: str | None
    trainable: bool
    where: str  # its place in the file: layers[3].layers[1]
    repetition: str  # " (repeat 2 of 4)" inside a repeated block, else ""


def build_spec_graph(name: str, doc: dict, layers: list, inputs: dict[str, TensorType],
                     file: str, first_index: int = 0) -> Graph:
    """Expand the entries and build the graph (errors located at the entries' places)."""
    entries: list[_Entry] = []
    first_ref: str | int | None = next(iter(inputs)) if len(inputs) == 1 else None
    _expand(layers, "layers", first_index, first_ref, {}, entries, file)
    names = _assign_names(entries, inputs)
    configs = [NodeConfig(e.type, e.config, names[i],
                          [names[r] if isinstance(r, int) else r for r in e.refs],
                          e.trainable, e.share) for i, e in enumerate(entries)]
    outs = doc.get("outputs")
    if outs is None:
        outs = [names[-1]] if names else []
    elif isinstance(outs, str):
        outs = [outs]
    try:
        return build_dag(name, inputs, configs, list(outs), file=file)
    except SeqcError as e:
        m = re.match(r"layers\[(\d+)\]", e.layer or "")
        if m and int(m.group(1)) < len(entries):
            entry = entries[int(m.group(1))]
            e.layer = entry.where + e.layer[m.end():] + entry.repetition
            e.args = (e.format(),)
        raise


def _expand(items: list, prefix: str, offset: int, prev: str | int | None,
            rename: dict[str, str | int], out: list[_Entry], file: str,
            repetition: str = "") -> str | int | None:
    """Append the expanded entries of `items` to `out`; returns the ref of the last one.
    `prev` is what an entry without `from` reads; `rename` maps names local to the
    repetitions being unrolled (and `$input`) to their refs."""
    for j, d in enumerate(items):
        where = f"{prefix}[{j + offset}]"
        label = layer_label(None, d.get("name"), d.get("type"))
        place = f"{where} {label}".strip() + repetition
        if "repeat" in d:
            prev = _expand_repeat(d, where, prev, rename, out, file, repetition)
            continue
        if d["type"] in ("InputLayer", "Input"):
            raise DefinitionError(
                "an InputLayer is a graph input, not an entry", file=file, layer=place,
                field="type", received=f"type={d['type']!r}",
                hint='declare the inputs at the top level: "inputs": {"x": [4]} (or start a '
                     'one-input model with the InputLayer)')
        refs = _refs(d, prev, rename, file, place)
        config = {k: v for k, v in d.items()
                  if k not in ("type", "name", "trainable", "from", "share")}
        lname = d.get("name")
        if lname is not None and isinstance(rename.get(lname), str):
            lname = rename[lname]
        share = d.get("share")
        if share is not None:
            share = rename.get(share, share)
            if isinstance(share, int):
                raise DefinitionError("share names a layer by its name", file=file,
                                      layer=place, field="share",
                                      received=f"share={d['share']!r}")
        out.append(_Entry(d["type"], config, lname, refs, share, d.get("trainable", True),
                          where, repetition))
        prev = len(out) - 1
    return prev


def _expand_repeat(d: dict, where: str, prev, rename: dict, out: list[_Entry], file: str,
                   repetition: str):
    """`{"repeat": n, "layers": [...]}` or `{"type": ..., "repeat": n}`: n copies, in a chain.
    A name `c` given inside becomes `c_1` ... `c_n`; `from` inside names the block's entries
    by their own names, `$input` the value entering the repetition. The block's `from` (or the
    entry's, for one repeated layer) is what the first repetition reads."""
    n = d["repeat"]
    if "type" in d:
        inner = [{k: v for k, v in d.items() if k not in ("repeat", "from")}]
        local = [d["name"]] if "name" in d else []
    else:
        inner = d["layers"]
        local = _local_names(inner)
    block_in = _refs(d, prev, rename, file, where)[0] if "from" in d else prev
    if isinstance(d.get("from"), list) and len(d["from"]) != 1:
        raise DefinitionError("a repeated block reads one value", file=file, layer=where,
                              field="from", received=f"from={d['from']!r}")
    if "type" in d:  # one repeated layer: its repetitions are labelled at its own place
        prefix, _, index = where.rpartition("[")
        offset = int(index[:-1])
    else:
        prefix, offset = f"{where}.layers", 0
    for r in range(1, n + 1):
        sub = dict(rename)
        sub.update({nm: f"{nm}_{r}" for nm in local})
        sub[BLOCK_INPUT] = block_in
        block_in = _expand(inner, prefix, offset, block_in, sub, out, file,
                           f"{repetition} (repeat {r} of {n})")
    return block_in


def _local_names(items: list) -> list[str]:
    names = []
    for d in items:
        if "name" in d:
            names.append(d["name"])
        if "type" not in d and "layers" in d:
            names += _local_names(d["layers"])
    return names


def _refs(d: dict, prev, rename: dict, file: str, place: str) -> list:
    if "from" not in d:
        if prev is None:
            raise DefinitionError(
                "the first entry must say which input it reads: the model has several",
                file=file, layer=place, field="from", received="no from",
                hint='add "from": "<input name>"')
        return [prev]
    refs = d["from"] if isinstance(d["from"], list) else [d["from"]]
    out = []
    for r in refs:
        if r.startswith("$") and r not in rename:
            raise DefinitionError(f"'{r}' is only defined inside a repeated block"
                                  if r == BLOCK_INPUT else f"'{r}' names nothing",
                                  file=file, layer=place, field="from",
                                  received=f"from={d['from']!r}")
        out.append(rename.get(r, r))
    return out


def _assign_names(entries: list[_Entry], inputs: dict) -> list[str]:
    """Keras' automatic names (dense, dense_1, ...) for entries without one, skipping the
    names given in the file."""
    used = set(inputs) | {e.name for e in entries if e.name}
    counters: dict[str, int] = {}
    names = []
    for e in entries:
        if e.name:
            names.append(e.name)
            continue
        try:
            kind = get_op(e.type).kind
        except SeqcError:
            kind = e.type  # build_dag reports the unknown kind, located
        nm = _auto_name(snake_case(kind), counters, used)
        used.add(nm)
        names.append(nm)
    return names


def with_states(graph: Graph, states: dict, file: str) -> Graph:
    """The spec's "states" ({input: output}, a PyTorch forward(x, hidden)): each names a graph
    input and the output of the same type giving its next value."""
    for k, v in states.items():
        out = next((o for o in graph.outputs if o == v or o == f"{v}/activation"), None)
        if k not in graph.inputs or out is None or graph.types[k] != graph.types[out]:
            raise DefinitionError(
                f"states: '{k}' must be a model input and '{v}' an output of the same shape",
                file=file, field="states", received=f"states={states!r}",
                hint="map each recurrent state input to the output giving its next value")
    return graph.replace(states={k: next(o for o in graph.outputs if o in (v, f"{v}/activation"))
                                 for k, v in states.items()})


def with_folds(graph: Graph, folds: list, file: str) -> Graph:
    """The spec's "folds" (a PyTorch forward folding an RNN's steps into the batch): graph
    outputs of rank 3 or more, (N, T, ...) in the IR and (N * T, ...) in the ONNX model."""
    got = [next((o for o in graph.outputs if o in (v, f"{v}/activation")), None)
           for v in folds]
    if any(o is None or graph.types[o].rank < 3 or None in graph.types[o].shape[1:]
           for o in got):
        raise DefinitionError("folds: each must name a model output of shape (N, T, ...) of "
                              "known sizes", file=file, field="folds",
                              received=f"folds={folds!r}")
    return graph.replace(folds=tuple(got))
