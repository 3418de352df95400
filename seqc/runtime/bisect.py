"""Bisection: when an ONNX runtime disagrees with the reference, name the first layer whose
output diverges.

The ONNX model is re-run with every IR value exposed as an extra graph output; the exporter
records where each IR value lives in the metadata key "seqc.values" (JSON list, node order, of
{"value": IR value, "node": IR node computing it after the IR passes, "onnx": ONNX value,
"kind", "layer", "layout": "channels_last" | "channels_first" | [feature permutation]}).
Each value is brought
back to the IR's channels-last layout and compared with seqc's NumPy forward (or another ONNX
runtime) by validate's rule, |y - ref| <= atol + rtol * |ref|, in node order.

In a graph (branches, merges) node order is a topological order, so the first diverging
value's every ancestor agrees: it is where the difference starts. Its "last agreeing" values
are the compared values it reads (through nodes with no ONNX value of their own), not the
value before it in node order, which may sit on another branch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from .compare import compare, model_precision, tolerance
from .runners import (
    ONNX_RUNTIMES,
    ModelSource,
    check_input,
    get_runner,
    make_session,
    onnx_value_type,
    resolve,
)

VALUES_KEY = "seqc.values"


@dataclass
class Checkpoint:
    """One compared value: an IR node's output (or an ONNX node's, for a model without
    seqc's map and without the IR)."""

    layer: str  # the user's layer: Dense(activation=...) gives nodes 'dense', 'dense/activation'
    node: str
    kind: str
    value: str  # IR value name (ONNX value name at the ONNX level)
    onnx: str
    layout: Any = "channels_last"
    # IR nodes with no ONNX value of their own (a BatchNormalization folded into the conv),
    # checked together with this one.
    folded: list[str] = field(default_factory=list)
    # The compared values this one reads (IR level, with the IR); None: unknown, the value
    # before it in node order stands for its input (a chain, or the ONNX level).
    inputs: list[str] | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    ok: bool | None = None
    error: str | None = None  # the values could not be compared (shapes differ)

    def describe(self) -> str:
        """"layer 'dense_1' (Dense)", naming the node when it is not the layer's own."""
        inner = self.kind if self.node == self.layer else f"node '{self.node}', {self.kind}"
        text = f"layer '{self.layer}' ({inner})"
        if self.folded:
            text += f" with {', '.join(repr(f) for f in self.folded)} folded in"
        return text

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("layout", "ok", "inputs")}


@dataclass
class BisectResult:
    """What `bisect` returns. `first_divergence` is None when every exposed value agrees
    (the difference then arises after the last one: see `note`)."""

    runtime: str
    reference: str
    atol: float
    rtol: float
    level: str  # "ir": IR layers via seqc's map; "onnx": ONNX nodes (no map, no IR)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    note: str | None = None

    @property
    def first_divergence(self) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.ok is False), None)

    @property
    def last_agreeing(self) -> Checkpoint | None:
        """The compared value just upstream of the first divergence: the last in node order
        of those it reads (None when it reads only the model's input), or, where its inputs
        are unknown, the last agreeing value before it."""
        agreeing = self.agreeing_inputs
        return agreeing[-1] if agreeing else None

    @property
    def agreeing_inputs(self) -> list[Checkpoint]:
        """The agreeing compared values the first divergence reads, in node order."""
        first = self.first_divergence
        before = self.checkpoints[:self.checkpoints.index(first)] if first else self.checkpoints
        if first is None or first.inputs is None:
            last = next((c for c in reversed(before) if c.ok), None)
            return [] if last is None else [last]
        return [c for c in before if c.ok and c.value in first.inputs]

    def divergence_json(self) -> dict[str, Any] | None:
        """The first divergence as validate's RuntimeResult.first_divergence holds it."""
        first = self.first_divergence
        if first is None:
            return None
        agreeing = self.agreeing_inputs
        out = {**first.summary(),
               "last_agreeing": agreeing[-1].summary() if agreeing else None,
               "level": self.level, "reference": self.reference,
               "first_compared": first is self.checkpoints[0]}
        if len(agreeing) > 1:  # a merge whose inputs all agree: the merge itself differs
            out["agreeing_inputs"] = [c.summary() for c in agreeing]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "reference": self.reference, "atol": self.atol,
                "rtol": self.rtol, "level": self.level, "note": self.note,
                "first_divergence": self.divergence_json(),
                "checkpoints": [asdict(c) for c in self.checkpoints]}

    def __str__(self) -> str:
        return describe(self.divergence_json(), self.note)


def describe(div: dict[str, Any] | None, note: str | None = None) -> str:
    """One line: "first divergence: layer 'dense_1' (Dense), max abs err 0.31; last agreeing:
    layer 'dense' (Dense)"."""
    if div is None:
        return f"bisection found no diverging layer{f': {note}' if note else ''}"
    what = (div["error"] if div.get("error") else
            f"max abs err {div['max_abs_error']:.3g}")
    text = f"first divergence: {Checkpoint(**_fields(div)).describe()}, {what}"
    last = div.get("last_agreeing")
    agreeing = div.get("agreeing_inputs")
    if agreeing:
        text += "; its inputs agree: " + ", ".join(
            Checkpoint(**_fields(a)).describe() for a in agreeing)
    elif last:
        text += f"; last agreeing: {Checkpoint(**_fields(last)).describe()}"
    elif div.get("level") == "ir":
        text += ("; it is the first layer compared" if div.get("first_compared", True)
                 else "; it reads only the model's input")
    return text


def _fields(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("layer", "node", "kind", "value", "onnx", "folded") if k in d}


# ---- where IR values live in the ONNX graph ----

def value_map(src: ModelSource) -> list[dict[str, Any]] | None:
    """The model's "seqc.values" entries whose ONNX value exists in the model; None when the
    model carries no map (an older or foreign file) and there is no IR to rebuild it from."""
    proto = src.onnx_proto()
    props = src.metadata()
    try:
        entries = json.loads(props[VALUES_KEY]) if VALUES_KEY in props else None
    except json.JSONDecodeError:
        entries = None
    if not isinstance(entries, list):
        if not src.has_ir:
            return None
        entries = _rebuilt_map(src, props)
    present = _produced(proto) | {i.name for i in proto.graph.input}
    return [{"layout": "channels_last", **e} for e in entries
            if isinstance(e, dict) and e.get("onnx") in present and "value" in e]


def _rebuilt_map(src: ModelSource, props: dict[str, str]) -> list[dict[str, Any]]:
    # A file exported before the map existed: the exporter is deterministic, so exporting the
    # IR again with the file's opset and input layout names the values the same way.
    from ..export import to_onnx

    proto = src.onnx_proto()
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 17)
    again = to_onnx(src.graph, src.params, opset=opset,
                    input_layout=props.get("seqc.input_layout", "channels_last"))
    return json.loads({p.key: p.value for p in again.metadata_props}[VALUES_KEY])


def _produced(proto: Any) -> set[str]:
    return {o for n in proto.graph.node for o in n.output if o}


def to_ir_layout(y: np.ndarray, layout: Any) -> np.ndarray:
    """An ONNX value in the IR's layout: channels-first moves C last; a permutation P (feature
    j holds the IR's feature P[j]) is undone along axis 1."""
    if layout == "channels_first" and y.ndim >= 3:
        return np.moveaxis(y, 1, -1)
    if isinstance(layout, list):
        return np.take(y, np.argsort(np.asarray(layout, np.int64)), axis=1)
    return y


def _checkpoints(src: ModelSource, entries: list[dict[str, Any]] | None) -> list[Checkpoint]:
    """What to compare, in node order. With the IR: every IR node's output that has an ONNX
    value; a node the export folded away (BatchNormalization into the Conv before it) has
    none, and the value after it names both."""
    if entries is None:  # ONNX level: every node output of a foreign model
        return [Checkpoint(n.name or o, n.name or o, n.op_type, o, o)
                for n in src.onnx_proto().graph.node for o in n.output if o]
    inputs = {i.name for i in src.onnx_proto().graph.input}
    # A value that is the graph input itself (Dropout first, at inference) computes nothing.
    passthrough = {e["value"] for e in entries if e["onnx"] in inputs}
    entries = [e for e in entries if e["onnx"] not in inputs]
    by_value = {e["value"]: e for e in entries}
    if not src.has_ir:
        return [Checkpoint(e.get("layer", e.get("node", e["value"])),
                           e.get("node", e["value"]), e.get("kind", "?"),
                           e["value"], e["onnx"], e["layout"]) for e in entries]
    nodes = {n.name: n for n in src.graph.nodes}
    out = []
    # For a value with no ONNX value of its own: the IR nodes computing it since the last
    # compared values (folded into the next compared value that reads it), and those values.
    unmapped: dict[str, tuple[list[str], list[str]]] = {}
    for node in src.graph.nodes:
        pending: list[str] = []
        upstream: list[str] = []
        for i in node.inputs:
            if i in unmapped:
                pending += unmapped[i][0]
                upstream += unmapped[i][1]
            elif i in by_value:
                upstream.append(i)
        for v in node.outputs:
            e = by_value.get(v)
            if e is None:
                unmapped[v] = ([] if v in passthrough else [*pending, node.name], upstream)
                continue
            # The ONNX node that computes `v` may be another IR node with this one folded in.
            owner = nodes.get(e.get("node"), node)
            folded = [p for p in pending if p != owner.name]
            if owner is not node:
                folded.append(node.name)
            out.append(Checkpoint(owner.layer or owner.name, owner.name, owner.op, v, e["onnx"],
                                  e["layout"], list(dict.fromkeys(folded)),
                                  list(dict.fromkeys(upstream))))
    return out


# ---- running the ONNX model with its intermediate values exposed ----

def expose(proto: Any, names: list[str]) -> Any:
    """A copy of `proto` whose graph outputs also include `names`, typed by shape inference
    where it knows them (onnxruntime also takes an untyped output)."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(proto)
    try:
        inferred = onnx.shape_inference.infer_shapes(m).graph
        known = {vi.name: vi for vi in (*inferred.value_info, *inferred.output)}
    except Exception:  # noqa: BLE001 - types are a nicety; untyped outputs work too
        known = {}
    have = {o.name for o in m.graph.output}
    for n in names:
        if n in have:
            continue
        vi = onnx.ValueInfoProto(name=n)
        t = known.get(n)
        if t is not None and t.type.tensor_type.elem_type:
            vi.type.tensor_type.elem_type = t.type.tensor_type.elem_type
        m.graph.output.append(vi)
        have.add(n)
    return m


def run_onnx(proto: Any, feed: np.ndarray | dict[str, np.ndarray], runtime: str,
             names: list[str], **options: Any) -> dict[str, np.ndarray]:
    """Run `proto` (the values `names` exposed as outputs) on an ONNX runtime. `feed` is the
    one input's array, or {ONNX input name: array} for several."""
    ext = expose(proto, names)
    if not isinstance(feed, dict):
        feed = {proto.graph.input[0].name: feed}
    if runtime == "onnx-reference":
        from onnx.reference import ReferenceEvaluator

        with np.errstate(all="ignore"):  # see OnnxReferenceRunner: both np.where branches
            ys = ReferenceEvaluator(ext).run(names, feed)
    else:
        runner = get_runner(runtime)
        sess = make_session(ext, provider=runner.provider, optimization=runner.optimization,
                            intra_op_num_threads=options.get("intra_op_num_threads"))
        ys = sess.run(names, feed)
    return {n: np.asarray(y) for n, y in zip(names, ys)}


def _inputs(src: ModelSource, x: Any) -> tuple[Any, np.ndarray | dict[str, np.ndarray]]:
    """(what seqc's forward takes, what the ONNX model is fed), each input checked against
    its type. A model of several inputs takes a list in their order or a dict by name: the
    IR's input names (the exported model's) with the IR, else the ONNX file's."""
    if src.has_ir and len(src.graph.inputs) > 1:
        from ..export.onnx_export import onnx_input_names
        from ..training.executor import graph_inputs

        given = graph_inputs(src.graph, x)
        checked = {n: check_input(given[n], src.graph.types[n]) for n in src.graph.inputs}
        return checked, dict(zip(onnx_input_names(src.graph), checked.values()))
    if not src.has_ir and len(src.onnx_proto().graph.input) > 1:
        ins = list(src.onnx_proto().graph.input)
        if isinstance(x, dict):
            if sorted(x) != sorted(i.name for i in ins):
                raise UsageError(f"the model's inputs are {[i.name for i in ins]}",
                                 field="x", received=f"keys {sorted(map(str, x))}")
            x = [x[i.name] for i in ins]
        if not isinstance(x, (list, tuple)) or len(x) != len(ins):
            raise UsageError(f"the model takes {len(ins)} inputs {[i.name for i in ins]}",
                             field="x", hint="pass a list in that order, or a dict by name")
        feed = {i.name: check_input(v, onnx_value_type(i)) for i, v in zip(ins, x)}
        return feed, feed
    x = check_input(x, src.input_type(), src.token_ids())
    if src.has_ir and src.onnx_layouts()[0] == "channels_first":
        return x, np.ascontiguousarray(np.moveaxis(x, -1, 1))
    return x, x


def bisect(src: Any, x: Any, runtime: str = "onnxruntime", atol: float | None = None,
           rtol: float | None = None, *, reference: str | None = None,
           **options: Any) -> BisectResult:
    """Find the first layer whose output differs between `runtime` (an ONNX runtime) and
    `reference` ("numpy" when the IR is there, else "onnx-reference" or "onnxruntime").
    atol/rtol default to compare.py's TOLERANCES for the compared dtypes. `x` is an array, or
    for a model of several inputs a list in their order or a dict by input name.

    >>> import seqc, numpy as np
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> bisect(m, np.ones((2, 3), np.float32)).first_divergence is None
    True
    """

    src = resolve(src)
    runner = get_runner(runtime)
    if runner.name not in ONNX_RUNTIMES:
        raise UsageError("bisection runs an ONNX runtime with its intermediate values exposed",
                         field="runtime", received=runtime,
                         hint=f"use one of {', '.join(ONNX_RUNTIMES)}")
    if reference is None:
        reference = "numpy" if src.has_ir else next(
            r for r in ("onnx-reference", "onnxruntime") if r != runtime)
    get_runner(reference)
    if reference != "numpy" and reference not in ONNX_RUNTIMES:
        raise UsageError("the bisection reference must be numpy or an ONNX runtime",
                         field="reference", received=reference)
    if reference == "numpy" and not src.has_ir:
        raise UsageError("bisecting against numpy needs seqc's IR", field="reference",
                         received=src.label, hint="pass the build folder, not the .onnx file")
    for name in {runtime, reference} - {"numpy"}:
        why = get_runner(name).unavailable()
        if why:
            raise UsageError(f"runtime '{name}' cannot run here: {why}", field="runtime",
                             received=name)
    x, feed = _inputs(src, x)
    proto = src.onnx_proto()
    entries = value_map(src)
    if entries is None and reference == "numpy":
        raise DataError("the ONNX model has no seqc value map", field="model",
                        received=src.label)
    points = _checkpoints(src, entries)
    level = "onnx" if entries is None else "ir"
    names = list(dict.fromkeys(c.onnx for c in points))
    got = run_onnx(proto, feed, runner.name, names, **options)
    if reference == "numpy":
        from ..ops.base import RunContext
        from ..training.executor import forward

        ctx = RunContext(training=False, need_grad=False)
        _, tape = forward(src.graph, src.params, x, ctx,
                          keep=tuple(dict.fromkeys(c.value for c in points)))
        want = {c.value: tape.values[c.value] for c in points}
        got = {c.value: to_ir_layout(got[c.onnx], c.layout) for c in points}
    else:
        ref = run_onnx(proto, feed, reference, names, **options)
        want = {c.value: ref[c.onnx] for c in points}
        got = {c.value: got[c.onnx] for c in points}

    precision = model_precision(proto)
    tols = []
    for c in points:
        a, r = tolerance(atol, rtol, want[c.value].dtype, got[c.value].dtype, precision)
        tols.append((a, r))
        cmp = compare(got[c.value], want[c.value], a, r)
        c.ok = cmp["ok"]
        c.max_abs_error = cmp.get("max_abs_error")
        c.max_rel_error = cmp.get("max_rel_error")
        c.error = cmp.get("error")
    a0, r0 = tols[-1] if tols else tolerance(atol, rtol, np.float32, np.float32, precision)
    result = BisectResult(runner.name, reference, a0, r0, level, points)
    if not points:
        result.note = "the model exposes no intermediate values to compare"
    elif result.first_divergence is None:
        result.note = ("every layer output agrees within the tolerance; the difference "
                       "arises after the last one (the output conversion) or only on other "
                       "inputs")
    return result
