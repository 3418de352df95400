"""The Emitter: what an op's `lower(attrs, params, xs, em)` writes ONNX nodes through.

Names are readable and unique: nodes `<layer>/<OpType>`, parameters `<layer>/<local name>`,
small constants `const/<hint>` shared between every node that uses the same value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..ir.types import DTYPES, TensorType
from ..ops._promote import promoted

CHANNELS_FIRST = "channels_first"

# Constants this small are shared by value (ReLU thresholds, GELU's 0.5 and 1.0, ...): one
# initializer for every node that uses them. Bigger ones are per-node and keep the node's name.
_SHARED_CONST_MAX = 8


class Emitter:
    """Collects nodes and initializers for one graph. What lowerings may use of it is the
    Protocol seqc.ops.emitter_api.Emitter (ops never import export).

    The exporter calls `begin(node_name)` before each IR node's `lower`, and `bind` after it
    to give the node's result its IR value name.
    """

    CHANNELS_FIRST = CHANNELS_FIRST  # for lowerings (ops never import export)

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._node_names: set[str] = set()
        self._value_names: set[str] = set()
        self._types: dict[str, TensorType] = {}
        self._shared: dict[tuple, str] = {}
        self._scope = "graph"
        self._scope_start = 0  # index in self.nodes where the current IR node's nodes begin
        # Physical layout of values that are not in the IR's own (channels-last) layout:
        # CHANNELS_FIRST, or an int64 array P for a flattened channels-first tensor whose
        # feature j holds the IR's feature P[j]. Absent = canonical.
        self._layouts: dict[str, Any] = {}
        self._converted: dict[tuple[str, str], str] = {}
        # Set by the exporter before each `lower`: the ONNX value of the timestep mask (bool
        # (N, T)) the node's input carries, or None.
        self.mask: str | None = None
        # Other forms a value can be had in, emitted only when a consumer asks: node name of the
        # value's producer -> {form: make()}. A stacked recurrent layer reads its input
        # "time_major" from the recurrent layer below instead of transposing it back (the
        # unused batch-major conversion is pruned at the end).
        self._forms: dict[str, dict[str, Callable[[], str]]] = {}

    # ---- the interface ops use ----

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs: Any) -> str | list[str]:
        """Add a node in the default domain; returns its output name (a list when n_out > 1)."""
        name = self._unique(f"{self._scope}/{op_type}", self._node_names)
        if n_out == 1:
            outputs = [self._unique(name, self._value_names)]
        else:
            outputs = [self._unique(f"{name}/out{i}", self._value_names) for i in range(n_out)]
        clean = {k: _attr(v) for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=name, **clean))
        return outputs[0] if n_out == 1 else outputs

    def const(self, array: np.ndarray, hint: str) -> str:
        """An initializer holding a constant; floating values become float32."""
        arr = _as_onnx_array(array)
        if arr.size <= _SHARED_CONST_MAX:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key not in self._shared:
                # A shared scalar is named by its value: the first user's hint would mislead
                # the others (GELU's 0.5 is not a ReLU threshold).
                label = _scalar_label(arr) if arr.ndim == 0 else hint
                self._shared[key] = self._add_initializer(f"const/{label}", arr)
            return self._shared[key]
        return self._add_initializer(f"{self._scope}/{hint}", arr)

    def weight(self, local_name: str, array: np.ndarray) -> str:
        """The current node's parameter, named `<node name>/<local_name>`."""
        return self._add_initializer(f"{self._scope}/{local_name}", _as_onnx_array(array))

    def type_of(self, value_name: str) -> TensorType:
        """The IR type of a value: any node input, or a constant/weight this emitter made."""
        try:
            return self._types[value_name]
        except KeyError:
            raise KeyError(
                f"no IR type known for ONNX value {value_name!r}; type_of answers for node "
                "inputs and initializers, not for values made inside a lowering") from None

    # ---- physical layouts (see seqc.ops.base.LAYOUTS) ----

    def layout_of(self, value: str) -> Any:
        """None (the IR's channels-last layout), CHANNELS_FIRST, or a feature permutation."""
        return self._layouts.get(value)

    def is_channels_first(self, value: str) -> bool:
        return isinstance(self._layouts.get(value), str)

    def set_layout(self, value: str, layout: Any) -> None:
        if layout is None:
            self._layouts.pop(value, None)
        else:
            self._layouts[value] = layout

    def offer_form(self, value: str, form: str, make: Callable[[], str]) -> None:
        """Record that `make()` emits `value` in another `form` ("time_major": (T, N, F)),
        made only when a consumer asks for it with `form_of`."""
        producer = next(n for n in reversed(self.nodes) if value in n.output)
        self._forms.setdefault(producer.name, {})[form] = make

    def form_of(self, value: str, form: str) -> str | None:
        """`value` in `form`, emitted now, when its producer offered that form; else None.
        Keyed by the producing node, so the exporter's renaming of the value keeps it."""
        producer = next((n for n in reversed(self.nodes) if value in n.output), None)
        make = None if producer is None else self._forms.get(producer.name, {}).get(form)
        return None if make is None else make()

    def canonical(self, value: str) -> str:
        """`value` in the IR's layout: a Transpose (channels-first) or a Gather (permuted
        features) when it is not; made once per value however many consumers ask."""
        layout = self._layouts.get(value)
        if layout is None:
            return value
        key = (value, "canonical")
        if key not in self._converted:
            t = self.type_of(value)
            if isinstance(layout, str):
                y = self._permute(value, t, [0, *range(2, t.rank), 1], channels_first=True)
            else:
                inverse = np.argsort(layout).astype(np.int64)
                y = self.op("Gather", [value, self.const(inverse, "unpermute")], axis=1)
            self._types[y] = t
            self._converted[key] = y
        return self._converted[key]

    def channels_first(self, value: str) -> str:
        """`value` as (N, C, *spatial) for rank >= 3; rank <= 2 values are returned canonical."""
        if self.is_channels_first(value):
            return value
        value = self.canonical(value)
        t = self.type_of(value)
        if t.rank < 3:
            return value
        key = (value, CHANNELS_FIRST)
        if key not in self._converted:
            y = self._permute(value, t, [0, t.rank - 1, *range(1, t.rank - 1)],
                              channels_first=False)
            self._types[y] = t
            self._layouts[y] = CHANNELS_FIRST
            self._converted[key] = y
        return self._converted[key]

    def _permute(self, value: str, t: TensorType, perm: list[int], *,
                 channels_first: bool) -> str:
        """Transpose `value` by `perm`. When the move only shifts size-1 axes (one channel,
        as in a grayscale image or a univariate signal), the data order does not change and a
        Reshape (a free view in onnxruntime) does the same; a Transpose copies the tensor."""
        # Physical shape of `value`: channels-first when converting back to the IR layout.
        phys = (t.shape[0], t.shape[-1], *t.shape[1:-1]) if channels_first else t.shape
        moved = [phys[i] for i in perm]
        big = [i for i in perm if phys[i] != 1]  # axes whose order matters (None: unknown)
        unknown = sum(1 for d in moved[1:] if d is None)
        if big == sorted(big) and unknown <= 1:
            shape = np.array([0] + [-1 if d is None else d for d in moved[1:]], np.int64)
            return self.op("Reshape", [value, self.const(shape, "shape")])
        return self.op("Transpose", [value], perm=perm)

    def lower_op(self, op: Any, attrs: Any, params: dict, xs: list[str],
                 out_types: list[TensorType]) -> list[str]:
        """Lower one layer kind: its inputs converted to the layout its `export_layout` asks
        for (LAYOUTS in seqc/ops/base.py), its outputs recorded with their IR types and
        physical layouts. The exporter lowers every node with it; wrappers (TimeDistributed)
        lower their inner layer with it."""
        xs = self._promoted(op, attrs, xs)
        mode = op.export_layout(attrs)
        if mode == "agnostic" and len(xs) > 1:
            xs = self.unify(xs)
        if mode == "canonical":
            xs = [self.canonical(x) for x in xs]
        elif mode == "channels_first":
            xs = [self.channels_first(x) for x in xs]
        ys = op.lower(attrs, params, xs, self)
        for y, t in zip(ys, out_types):
            if y in xs:
                continue  # passed through (Dropout at inference): keeps its type and layout
            self._types[y] = t
            if mode == "custom":
                continue  # the lowering declared its outputs' layouts itself
            if mode == "agnostic":
                self.set_layout(y, self.layout_of(xs[0]))
            else:
                self.set_layout(y, CHANNELS_FIRST if mode == "channels_first" and t.rank >= 3
                                else None)
        return ys

    def _promoted(self, op: Any, attrs: Any, xs: list[str]) -> list[str]:
        """The inputs as the kind computes on them: an integer input of a kind that promotes
        it (Dense on ids) cast to float32 first, as Keras and seqc's NumPy forward do
        (seqc/ops/_promote.py). One place, so every kind's lowering sees float32."""
        types = [self.type_of(x) for x in xs]
        out = []
        for x, t, c in zip(xs, types, promoted(op, attrs, types)):
            if c is not t:
                y = self.op("Cast", [x], to=onnx.TensorProto.FLOAT)
                self._types[y] = c
                self.set_layout(y, self.layout_of(x))
                x = y
            out.append(x)
        return out

    def unify(self, xs: list[str]) -> list[str]:
        """The inputs of a several-input node in one physical layout: kept where they all
        share one (and agree in rank), else each converted to the IR's layout (elementwise
        merges of a Conv1D output and its channels-last input, for one) or to channels-first
        when that needs fewer new conversions: a residual Add of a conv block's output and
        the block's channels-last input, whose channels-first copy the block's first conv
        already made, stays channels-first (no Transpose out and back in again)."""
        layouts = {repr(self.layout_of(x)) for x in xs}
        ranks = {self.type_of(x).rank for x in xs}
        if len(layouts) == 1 and len(ranks) == 1:
            return list(xs)
        if (len(ranks) == 1 and min(ranks) >= 3
                and all(self.layout_of(x) in (None, CHANNELS_FIRST) for x in xs)
                and self._new_conversions(xs, CHANNELS_FIRST)
                < self._new_conversions(xs, "canonical")):
            return [self.channels_first(x) for x in xs]
        return [self.canonical(x) for x in xs]

    def _new_conversions(self, xs: list[str], target: str) -> int:
        """How many of `xs` would need a new node to be in `target` ("canonical" or
        CHANNELS_FIRST): neither in it already nor converted to it before."""
        n = 0
        for x in dict.fromkeys(xs):
            first = self.is_channels_first(x)
            if (target == CHANNELS_FIRST) == first:
                continue
            if (x, target) not in self._converted:
                n += 1
        return n

    def subgraph(self, name: str, inputs: list[tuple[str, str, tuple]],
                 build: Callable[[list[str]], list[str]],
                 out_shapes: list[tuple]) -> onnx.GraphProto:
        """A body graph for Scan or Loop. `inputs` are (hint, dtype, shape) of its formal
        inputs (None for an unknown dimension); `build(names)` emits the body's nodes through
        this emitter (with `op`, as anywhere) and returns its float32 outputs, of
        `out_shapes`. Constants and weights stay in the outer graph, which a body reads by
        name; names stay unique across both, as ONNX's scoping requires. (onnxruntime wants
        every body output's rank declared at some opsets, so shapes are not optional.)"""
        outer, self.nodes = self.nodes, []
        try:
            names = [self._unique(f"{self._scope}/{name}/{hint}", self._value_names)
                     for hint, _, _ in inputs]
            outs = build(names)
            # A body output must be a value the body itself produces, each listed once.
            made = {o for n in self.nodes for o in n.output}
            fixed: list[str] = []
            for y in outs:
                if y not in made or y in fixed:
                    y = self.op("Identity", [y])
                fixed.append(y)
            body = self.nodes
        finally:
            self.nodes = outer
        elem = {"float32": onnx.TensorProto.FLOAT, "bool": onnx.TensorProto.BOOL}
        return helper.make_graph(
            body, f"{self._scope}/{name}",
            [helper.make_tensor_value_info(v, elem[dt], list(shape))
             for v, (_, dt, shape) in zip(names, inputs)],
            [helper.make_tensor_value_info(v, onnx.TensorProto.FLOAT, list(shape))
             for v, shape in zip(fixed, out_shapes)])

    def prune(self, output: str | list[str]) -> None:
        """Drop nodes and initializers the value `output` (or values, a list) does not
        depend on (masks no consumer read, conversions made but not used)."""
        needed, kept = set([output] if isinstance(output, str) else output), []
        for node in reversed(self.nodes):
            if any(o in needed for o in node.output):
                kept.append(node)
                needed.update(_reads(node))
        self.nodes[:] = kept[::-1]
        self.initializers[:] = [t for t in self.initializers if t.name in needed]

    def rename_value(self, old: str, new: str) -> None:
        """Rename a value produced anywhere in the graph (the exporter names the output)."""
        for n in self.nodes:
            for seq in (n.input, n.output):
                for i, v in enumerate(seq):
                    if v == old:
                        seq[i] = new
        self._move(old, new)

    # ---- used by the exporter ----

    def begin(self, scope: str) -> None:
        self._scope = scope
        self._scope_start = len(self.nodes)

    def declare(self, value_name: str, type_: TensorType) -> None:
        """Record a value that exists outside any node (the graph input) with its IR type."""
        self._value_names.add(value_name)
        self._types[value_name] = type_

    def reserve(self, value_name: str) -> None:
        self._value_names.add(value_name)

    def bind(self, value: str, want: str, type_: TensorType, *, reserved: bool = False) -> str:
        """Give `value` (a result of the current IR node) the name `want` when it was made by
        this node and the name is free (or `reserved` for it by the exporter); record its IR
        type. Returns the final name."""
        produced_here = any(value in n.output for n in self.nodes[self._scope_start:])
        if produced_here and value != want and (reserved or want not in self._value_names):
            self._rename(value, want)
            value = want
        self._types[value] = type_
        return value

    def _rename(self, old: str, new: str) -> None:
        for n in self.nodes[self._scope_start:]:
            for seq in (n.input, n.output):
                for i, v in enumerate(seq):
                    if v == old:
                        seq[i] = new
        self._move(old, new)

    def _move(self, old: str, new: str) -> None:
        self._value_names.discard(old)
        self._value_names.add(new)
        if old in self._layouts:
            self._layouts[new] = self._layouts.pop(old)
        if old in self._types:
            self._types[new] = self._types[old]
        self._converted = {(new if v == old else v, k): (new if y == old else y)
                           for (v, k), y in self._converted.items()}

    def _add_initializer(self, want: str, arr: np.ndarray) -> str:
        name = self._unique(want, self._value_names)
        self.initializers.append(numpy_helper.from_array(arr, name))
        if arr.dtype.name in DTYPES:
            self._types[name] = TensorType(arr.shape, arr.dtype.name)
        return name

    @staticmethod
    def _unique(want: str, taken: set[str]) -> str:
        name, i = want, 0
        while name in taken:
            i += 1
            name = f"{want}_{i}"
        taken.add(name)
        return name


def _reads(node: onnx.NodeProto) -> set[str]:
    """The values a node reads: its inputs and, for Scan/Loop/If, the outer values its
    subgraphs read by name."""
    names = {i for i in node.input if i}
    for a in node.attribute:
        for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
            for n in g.node:
                names |= _reads(n)
    return names


def _as_onnx_array(array: Any) -> np.ndarray:
    arr = np.asarray(array)
    if arr.dtype.kind == "f" and arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind == "b":
        arr = arr.astype(np.bool_)
    # Not np.ascontiguousarray: it turns a 0-d scalar into shape (1,).
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _scalar_label(arr: np.ndarray) -> str:
    v = arr.item()
    if isinstance(v, float):
        return np.format_float_positional(np.float32(v), trim="-")
    return str(v)


def _attr(v: Any) -> Any:
    """Normalise an attribute value for helper.make_node (numpy scalars, tuples, arrays)."""
    if isinstance(v, np.ndarray):
        return numpy_helper.from_array(_as_onnx_array(v))
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, (tuple, list)):
        return [_attr(x) for x in v]
    return v
