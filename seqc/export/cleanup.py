"""ONNX-level clean-up: small passes over a ModelProto, each reporting what it removed.

identity (drop Identity nodes) -> transpose (cancel Transpose pairs, merge chains, fold a
Transpose of a constant) -> constant_folding (nodes whose inputs are all constants, evaluated
with onnx.reference) -> dead_nodes (nodes and initializers nothing reads). Graph inputs and
outputs keep their names, types and values; the result passes onnx.checker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import ExportError, SeqcError, UsageError

# Ordering: identity first, so a Transpose pair split by an Identity becomes adjacent;
# transpose before constant_folding, so a cancelled pair over a weight never materialises a
# transposed copy; dead_nodes last, sweeping what the others orphaned (the first Transpose
# of a merged chain, initializers replaced by folded ones, unused Constant nodes).
PASSES = ("identity", "transpose", "constant_folding", "dead_nodes")

# Never folded: their value is not a function of their inputs.
NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                    "Multinomial", "Bernoulli"}
# A folded node may grow the file by at most this much over the constants it reads, so
# ConstantOfShape/Expand/Tile of a big shape stay computed at run time.
MAX_FOLD_GROWTH = 1024


class _Graph:
    """Index of a GraphProto: producers, consumers, constants, names read by subgraphs."""

    def __init__(self, g: onnx.GraphProto) -> None:
        self.g = g
        self.outputs = {o.name for o in g.output}
        self.inputs = {i.name for i in g.input}
        # An initializer that is also a graph input is a default the caller may override,
        # so it is not a constant (IR < 4 models list every initializer as an input).
        self.init = {t.name: t for t in g.initializer if t.name not in self.inputs}
        self.sub_refs: set[str] = set()
        for n in g.node:
            for a in n.attribute:
                for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                    self.sub_refs |= _names_read(sub)

    def producer(self) -> dict[str, onnx.NodeProto]:
        return {o: n for n in self.g.node for o in n.output if o}

    def consumers(self, name: str) -> list[onnx.NodeProto]:
        return [n for n in self.g.node if name in n.input]

    def replace_uses(self, old: str, new: str) -> None:
        for n in self.g.node:
            for i, v in enumerate(n.input):
                if v == old:
                    n.input[i] = new

    def remove(self, node: onnx.NodeProto) -> None:
        self.g.node.remove(node)


def _names_read(g: onnx.GraphProto) -> set[str]:
    """Every name a (sub)graph's nodes read, nested subgraphs included: a subgraph may read
    an outer value by name, so such values can be neither renamed nor removed."""
    names = set()
    for n in g.node:
        names.update(i for i in n.input if i)
        for a in n.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                names |= _names_read(sub)
    return names


def _entry(name: str) -> dict[str, Any]:
    return {"pass": name, "removed": 0, "changed": 0, "details": []}


def _bypass(gi: _Graph, node: onnx.NodeProto, src: str, renames: dict[str, str]) -> bool:
    """Remove `node`, whose only output equals its input value `src`; readers of its output
    read `src`. When the output is a graph output, `src` takes its name instead (only when
    `src` is an inner value nobody else names). False when neither is possible."""
    out = node.output[0]
    if out in gi.sub_refs:
        return False
    if out not in gi.outputs:
        gi.remove(node)
        gi.replace_uses(out, src)
        renames[out] = src
        return True
    prod = gi.producer().get(src)
    if (prod is None or src in gi.outputs or src in gi.sub_refs
            or src in gi.inputs or src in gi.init):
        return False
    gi.remove(node)
    for i, o in enumerate(prod.output):
        if o == src:
            prod.output[i] = out
    gi.replace_uses(src, out)
    renames[src] = out
    return True


def remove_identities(g: onnx.GraphProto, renames: dict[str, str]) -> dict[str, Any]:
    """Identity nodes: their readers read the Identity's input instead."""
    rep = _entry("identity")
    gi = _Graph(g)
    for node in [n for n in g.node if n.op_type == "Identity" and n.domain in ("", "ai.onnx")]:
        if _bypass(gi, node, node.input[0], renames):
            rep["removed"] += 1
            rep["details"].append(f"Identity {node.name or node.output[0]}")
    return rep


def _perm(node: onnx.NodeProto) -> list[int] | None:
    for a in node.attribute:
        if a.name == "perm":
            return list(a.ints)
    return None  # reversed axes: needs the rank, which is not always known here; left alone


def cancel_transposes(g: onnx.GraphProto, renames: dict[str, str]) -> dict[str, Any]:
    """Transpose(Transpose(x, p1), p2): removed when p1 then p2 is the identity, else one
    Transpose with the composed perm. A Transpose of a constant becomes a constant."""
    rep = _entry("transpose")
    gi = _Graph(g)
    orphan_candidates = []
    for node in [n for n in g.node if n.op_type == "Transpose" and n.domain in ("", "ai.onnx")]:
        p2 = _perm(node)
        x = node.input[0]
        out = node.output[0]
        if p2 is None:
            continue
        if x in gi.init and out not in gi.outputs and out not in gi.sub_refs:
            arr = np.transpose(numpy_helper.to_array(gi.init[x]), p2)
            t = numpy_helper.from_array(np.ascontiguousarray(arr), out)
            g.initializer.append(t)
            gi.init[out] = t
            gi.remove(node)
            rep["removed"] += 1
            rep["details"].append(f"Transpose {node.name or out} folded into constant {x}")
            continue
        prev = gi.producer().get(x)
        if prev is None or prev.op_type != "Transpose" or prev.domain not in ("", "ai.onnx"):
            continue
        p1 = _perm(prev)
        if p1 is None or len(p1) != len(p2):
            continue
        q = [p1[i] for i in p2]  # y[i] = t[p2[i]] = x[p1[p2[i]]]
        if q == list(range(len(q))):
            if _bypass(gi, node, prev.input[0], renames):
                rep["removed"] += 1
                rep["details"].append(f"Transpose pair {prev.name or x} -> "
                                      f"{node.name or out} cancelled")
                orphan_candidates.append(prev)
        else:
            node.input[0] = prev.input[0]
            del node.attribute[:]
            node.attribute.append(helper.make_attribute("perm", q))
            rep["changed"] += 1
            rep["details"].append(f"Transposes {prev.name or x} and {node.name or out} "
                                  f"merged into perm {q}")
            orphan_candidates.append(prev)
    # The first Transpose of a cancelled or merged pair goes too when nothing else reads it.
    for prev in orphan_candidates:
        o = prev.output[0]
        if prev in g.node and not gi.consumers(o) and o not in gi.outputs \
                and o not in gi.sub_refs:
            gi.remove(prev)
            rep["removed"] += 1
    return rep


def _evaluate(node: onnx.NodeProto, feeds: dict[str, np.ndarray],
              opsets: list[onnx.OperatorSetIdProto]) -> list[np.ndarray] | None:
    """The node's outputs computed by onnx.reference, or None when it cannot be evaluated."""
    from onnx.reference import ReferenceEvaluator

    try:
        ins = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype),
                                             v.shape) for k, v in feeds.items()]
        outs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
        m = helper.make_model(helper.make_graph([node], "fold", ins, outs),
                              opset_imports=opsets)
        ys = ReferenceEvaluator(m).run(None, feeds)
    except Exception:  # noqa: BLE001 - an op onnx.reference cannot run is simply not folded
        return None
    if not all(isinstance(y, np.ndarray) for y in ys):
        return None
    return ys


def fold_constants(g: onnx.GraphProto, opsets: list[onnx.OperatorSetIdProto],
                   renames: dict[str, str]) -> dict[str, Any]:
    """Nodes whose inputs are all constants (initializers or Constant outputs) become
    initializers holding their outputs, in order, so chains of constants fold in one pass."""
    rep = _entry("constant_folding")
    gi = _Graph(g)
    consts: dict[str, Callable[[], np.ndarray]] = {
        k: (lambda t=t: numpy_helper.to_array(t)) for k, t in gi.init.items()}
    for node in list(g.node):
        if node.domain not in ("", "ai.onnx") or node.op_type in NONDETERMINISTIC \
                or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                       for a in node.attribute):
            continue
        ins = [i for i in node.input if i]
        outs = [o for o in node.output if o]
        if node.op_type == "Constant":
            ys = _evaluate(node, {}, opsets)
            if ys is not None:  # kept as is; readers may fold, dead_nodes sweeps it after
                consts[outs[0]] = lambda y=ys[0]: y
            continue
        if not ins or not all(i in consts for i in ins) \
                or any(o in gi.outputs or o in gi.sub_refs for o in outs):
            continue
        feeds = {i: consts[i]() for i in ins}
        ys = _evaluate(node, feeds, opsets)
        if ys is None or len(ys) != len(outs):
            continue
        if sum(y.nbytes for y in ys) > sum(f.nbytes for f in feeds.values()) + MAX_FOLD_GROWTH:
            continue
        for o, y in zip(outs, ys):
            t = numpy_helper.from_array(np.ascontiguousarray(y), o)
            g.initializer.append(t)
            consts[o] = lambda y=y: y
        gi.remove(node)
        rep["removed"] += 1
        rep["details"].append(f"{node.op_type} {node.name or outs[0]}")
    return rep


def remove_dead(g: onnx.GraphProto, renames: dict[str, str]) -> dict[str, Any]:
    """Nodes none of whose outputs reach a graph output, and initializers nothing reads."""
    rep = _entry("dead_nodes")
    gi = _Graph(g)
    live = set(gi.outputs) | gi.sub_refs
    keep = []
    for node in reversed(list(g.node)):
        if any(o in live for o in node.output if o):
            keep.append(node)
            live.update(i for i in node.input if i)
        else:
            rep["removed"] += 1
            rep["details"].append(f"{node.op_type} {node.name or node.output[0]}")
    if rep["removed"]:
        del g.node[:]
        g.node.extend(reversed(keep))
    dead_init = [t for t in g.initializer if t.name not in live and t.name not in gi.inputs]
    for t in dead_init:
        g.initializer.remove(t)
        rep["details"].append(f"initializer {t.name}")
    rep["initializers_removed"] = len(dead_init)
    return rep


def _tidy(g: onnx.GraphProto) -> None:
    """value_info of values that no longer exist would confuse shape inference: drop it."""
    alive = {o for n in g.node for o in n.output} | {i.name for i in g.input}
    for vi in [v for v in g.value_info if v.name not in alive]:
        g.value_info.remove(vi)


def _fix_values_map(m: onnx.ModelProto, renames: dict[str, str]) -> None:
    """Keep seqc's "seqc.values" map (IR value -> ONNX value, read by the bisection) true:
    follow renames, and drop entries whose value was folded or removed."""
    for p in m.metadata_props:
        if p.key != "seqc.values":
            continue
        try:
            entries = json.loads(p.value)
        except ValueError:
            return
        present = {"input", *(o for n in m.graph.node for o in n.output)}
        out = []
        for e in entries:
            name = e.get("onnx")
            seen = set()
            while name in renames and name not in seen:
                seen.add(name)
                name = renames[name]
            if name in present:
                out.append({**e, "onnx": name})
        p.value = json.dumps(out, separators=(",", ":"))


def _fix_embedded_ir(before: onnx.ModelProto, after: onnx.ModelProto) -> None:
    """Keep seqc's "seqc.ir" entry true: a parameter whose initializer a pass folded or
    removed is stored inline instead (its values read from the model before clean-up)."""
    from ..ir import embedded

    entry = next((p for p in after.metadata_props if p.key == embedded.KEY), None)
    if entry is None:
        return
    try:
        doc = embedded.parse(entry.value, None)
        weights = doc["weights"]
        specs = doc["graph"]["params"]
    except (SeqcError, KeyError, TypeError):
        return
    old = {t.name: t for t in before.graph.initializer}
    new = {t.name: t for t in after.graph.initializer}
    changed = False
    for key, w in weights.items():
        name = w.get("init") if isinstance(w, dict) else None
        if name is None or (name in new and new[name].SerializeToString()
                            == old[name].SerializeToString()):
            continue
        spec = specs[key]
        value = embedded.read_param(w, tuple(spec["shape"]), spec.get("dtype", "float32"),
                                    lambda n: numpy_helper.to_array(old[n]))
        weights[key] = embedded.inline(value)
        changed = True
    if changed:
        entry.value = embedded.encode(doc)


def cleanup(model: onnx.ModelProto, *, passes: tuple[str, ...] | list[str] = PASSES
            ) -> tuple[onnx.ModelProto, list[dict[str, Any]]]:
    """Run the clean-up passes on a copy of `model`; returns (model, report), one report
    entry per pass: {"pass", "removed" (nodes), "changed", "details"} (dead_nodes also
    "initializers_removed"). The input model is not modified.

    >>> from onnx import helper, TensorProto
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    >>> g = helper.make_graph([helper.make_node("Identity", ["x"], ["t"]),
    ...                        helper.make_node("Relu", ["t"], ["y"])], "g", [x], [y])
    >>> m, rep = cleanup(helper.make_model(g))
    >>> [n.op_type for n in m.graph.node], rep[0]["removed"]
    (['Relu'], 1)
    """
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise UsageError(f"unknown clean-up pass {unknown[0]!r}", field="passes",
                         received=f"passes={list(passes)!r}",
                         hint=f"choose from {', '.join(PASSES)}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    renames: dict[str, str] = {}
    report = []
    for name in PASSES:  # always the documented order, whatever order `passes` lists
        if name not in passes:
            continue
        if name == "identity":
            report.append(remove_identities(g, renames))
        elif name == "transpose":
            report.append(cancel_transposes(g, renames))
        elif name == "constant_folding":
            report.append(fold_constants(g, list(out.opset_import), renames))
        else:
            report.append(remove_dead(g, renames))
    _tidy(g)
    _fix_values_map(out, renames)
    _fix_embedded_ir(model, out)
    try:
        onnx.checker.check_model(out, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"the cleaned-up ONNX model fails onnx.checker: {e}",
                          field="cleanup", received=f"passes {list(passes)}",
                          hint="this is a seqc bug; export without --cleanup meanwhile") from e
    return out, report


def cleanup_file(path_in: str | os.PathLike, path_out: str | os.PathLike | None = None, *,
                 passes: tuple[str, ...] | list[str] = PASSES) -> list[dict[str, Any]]:
    """`cleanup` an .onnx file into `path_out` (default: in place), written atomically;
    returns the per-pass report."""
    from ..fileio import atomic_write

    m, report = cleanup(onnx.load(os.fspath(path_in)), passes=passes)
    atomic_write(path_out if path_out is not None else path_in, m.SerializeToString())
    return report


def format_report(report: list[dict[str, Any]]) -> str:
    """One line per pass, for --verbose."""
    lines = []
    for r in report:
        what = [f"{r['removed']} removed"] + ([f"{r['changed']} changed"] if r["changed"] else [])
        if r.get("initializers_removed"):
            what.append(f"{r['initializers_removed']} initializers removed")
        lines.append(f"cleanup {r['pass']}: " + ", ".join(what))
    return "\n".join(lines)
