"""ONNX files checked at the boundary, before anything reads them further: onnx.load, the
ONNX checker, and the control flow (every reader of an .onnx file: predict, validate, bench
through seqc.runtime, and `seqc.load`, `summary`, `build`, `convert` through the definition
reader).

Control flow: a `Loop` whose trip count is a constant (an initializer or a Constant node,
through Identity/Cast/Reshape/Squeeze/Unsqueeze), or a `Scan` over an initializer, is refused
when its iterations, times those of the loops around it, exceed `MAX_ITERATIONS`; subgraphs
(Loop/Scan/If bodies) nested deeper than `MAX_SUBGRAPH_DEPTH` are refused, and so is a
ConstantOfShape/Expand of a constant shape too large to allocate. A loop whose trip count is
only known at run time is left to the runtime's time limit (seqc.runtime.bounds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import DataError, ResourceError

# Total iterations of a model's loops (nested ones multiplied): a float32 model that needs
# more than this is not something seqc is asked to run, and 2**62 of them never end.
MAX_ITERATIONS = 10**7
MAX_SUBGRAPH_DEPTH = 16
# A ConstantOfShape or Expand whose constant shape makes a tensor of more elements than this is
# refused before it runs (onnxruntime only skips folding it, then allocates it at run time).
MAX_CONSTANT_ELEMENTS = 2**30

_PASS_THROUGH = ("Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten")


@dataclass
class ControlFlow:
    """What `check_control_flow` found: the Loop nodes whose trip count is not a constant
    (their run is bounded by the time limit only)."""

    dynamic_loops: list[str] = field(default_factory=list)


def _node_label(node: Any, index: int) -> str:
    return f"{node.op_type} node '{node.name}'" if node.name else f"{node.op_type} node #{index}"


def _constants(graph: Any, outer: dict[str, Any]) -> dict[str, Any]:
    """Scalar-ish integer constants visible in `graph`: initializers and Constant nodes, and
    values passed unchanged through a shape-only op."""
    from onnx import numpy_helper

    consts = dict(outer)
    consts[_DIMS] = {**outer.get(_DIMS, {}), **{i.name: list(i.dims) for i in graph.initializer}}
    for init in graph.initializer:
        if _small(init):
            consts[init.name] = numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for a in node.attribute:
                if a.name == "value" and _small(a.t):
                    consts[node.output[0]] = numpy_helper.to_array(a.t)
                elif a.name == "value_int":
                    consts[node.output[0]] = a.i
                elif a.name == "value_ints" and len(a.ints) <= 16:
                    consts[node.output[0]] = list(a.ints)
        elif node.op_type in _PASS_THROUGH and node.input and node.input[0] in consts:
            consts[node.output[0]] = consts[node.input[0]]
    return consts


def _small(tensor: Any) -> bool:
    n = 1
    for d in tensor.dims:
        n *= d
    return n <= 16 and not tensor.data_location  # never read external data here


def _trip_count(value: Any) -> int | None:
    import numpy as np

    try:
        arr = np.asarray(value).reshape(-1)
    except (TypeError, ValueError):
        return None
    if arr.size != 1 or arr.dtype.kind not in "iu":
        return None
    return int(arr[0])


def check_control_flow(proto: Any, file: str, *,
                       max_iterations: int = MAX_ITERATIONS) -> ControlFlow:
    """Refuse (ResourceError naming `file` and the node) a model whose constant loop trip
    counts, nested ones multiplied, exceed `max_iterations`, or whose subgraphs nest deeper
    than MAX_SUBGRAPH_DEPTH; return the loops whose trip count is only known at run time."""
    found = ControlFlow()
    graphs = [(proto.graph, {}, 1, 0, "")]
    for fn in getattr(proto, "functions", ()):
        graphs.append((fn, {}, 1, 0, f"function '{fn.name}': "))
    while graphs:
        graph, outer, runs, depth, where = graphs.pop()
        if depth > MAX_SUBGRAPH_DEPTH:
            raise ResourceError(
                f"{where}subgraphs nest {depth} levels deep, over the limit of "
                f"{MAX_SUBGRAPH_DEPTH}", file=file, field="model", received=f"depth {depth}",
                hint="seqc runs models whose Loop/Scan/If bodies nest at most "
                     f"{MAX_SUBGRAPH_DEPTH} levels")
        consts = _constants(graph, outer) if hasattr(graph, "initializer") else dict(outer)
        for i, node in enumerate(graph.node):
            label = where + _node_label(node, i)
            inner, trips = runs, None
            if node.op_type == "Loop":
                m = node.input[0] if node.input else ""
                trips = _trip_count(consts[m]) if m in consts else None
                if trips is None:
                    found.dynamic_loops.append(label)
            elif node.op_type == "Scan":
                trips = _scan_length(node, consts.get(_DIMS, {}))
            if trips is not None:
                inner = runs * max(trips, 0)
                if inner > max_iterations:
                    raise ResourceError(
                        f"{label} runs {trips:,} iterations"
                        + (f" ({inner:,} with the loops around it)" if runs > 1 else "")
                        + f", over the limit of {max_iterations:,}",
                        file=file, layer=None, field=f"{node.name or node.op_type}",
                        received=f"trip count {trips:,}",
                        hint="a loop this long never finishes; re-export the model with "
                             "a smaller trip count")
            if node.op_type in ("ConstantOfShape", "Expand"):
                _check_shape_input(node, consts, label, file)
            for a in node.attribute:
                subs = [a.g] if a.HasField("g") else list(a.graphs)
                for g in subs:
                    graphs.append((g, consts, inner, depth + 1, f"{label} > "))
    return found


_DIMS = "\0dims"  # consts[_DIMS]: {initializer name: dims}, for Scan lengths


def _scan_length(node: Any, dims: dict[str, list[int]]) -> int | None:
    """The iterations of a Scan whose first scan input is an initializer (else None: its
    length is the data's)."""
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute
             if a.name in ("num_scan_inputs", "scan_input_axes")}
    m = int(attrs.get("num_scan_inputs", 0))
    if m <= 0 or len(node.input) < m:
        return None
    shape = dims.get(node.input[len(node.input) - m])
    axis = int((attrs.get("scan_input_axes") or [0])[0])
    if not shape or not -len(shape) <= axis < len(shape):
        return None
    return int(shape[axis])


def _check_shape_input(node: Any, consts: dict[str, Any], label: str, file: str) -> None:
    import numpy as np

    at = 0 if node.op_type == "ConstantOfShape" else 1
    name = node.input[at] if len(node.input) > at else ""
    if name not in consts:
        return
    try:
        dims = [int(d) for d in np.asarray(consts[name]).reshape(-1)]
    except (TypeError, ValueError):
        return
    n = 1
    for d in dims:
        n *= max(d, 1)
    if n > MAX_CONSTANT_ELEMENTS:
        raise ResourceError(
            f"{label} makes a tensor of shape {tuple(dims)} ({n:,} elements), over the limit "
            f"of {MAX_CONSTANT_ELEMENTS:,}", file=file, field=f"{node.name or node.op_type}",
            received=f"shape {tuple(dims)}",
            hint="a model this large does not run in memory; re-export it with real shapes")


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


def not_valid_onnx(path: str, e: BaseException) -> DataError:
    """The exit-2 error for an ONNX file that protobuf, onnx.checker or onnxruntime refuses."""
    return DataError(f"not a valid ONNX model: {_first_line(e)}", file=path, field="model",
                     received=path, hint="re-export the model; the file is damaged or was "
                                         "not written by an ONNX exporter")


def load_checked(path: str, *, load_external_data: bool = True) -> Any:
    """onnx.load plus onnx.checker.check_model (full_check), so a damaged file is a DataError
    naming it before anything else reads it (onnxruntime's load errors are internal-looking
    exceptions), and its control flow checked (`check_control_flow`: a loop that would never
    end)."""
    import onnx

    try:
        proto = onnx.load(path, load_external_data=load_external_data)
    except Exception as e:  # noqa: BLE001 - protobuf and onnx raise many kinds
        raise not_valid_onnx(path, e) from None
    try:
        # The path form checks models over protobuf's 2 GB limit and with external data;
        # full_check adds strict shape inference (cheap: shapes, not weights).
        onnx.checker.check_model(path if load_external_data else proto, full_check=True)
    except Exception as e:  # noqa: BLE001 - the checker raises several kinds
        if not _onnxruntime_loads(path):
            raise not_valid_onnx(path, e) from None
    check_initializers(proto, path)
    check_control_flow(proto, path)  # every reader of the file, before anything runs it
    return proto


def check_initializers(proto: Any, path: str) -> None:
    """Every initializer holds as many values as its dims say (onnx.checker does not look:
    a damaged raw_data otherwise fails later inside numpy, e.g. "buffer size must be a
    multiple of element size"); a DataError naming the file and the initializer."""
    import onnx

    for t in proto.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL or t.data_type in (
                onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
            continue
        n = 1
        for d in t.dims:
            n *= int(d)
        try:
            item = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        except (KeyError, ValueError, TypeError):
            continue  # a type onnx itself cannot map: the checker and onnxruntime decide
        if t.HasField("raw_data"):
            ok, got = len(t.raw_data) == n * item, f"{len(t.raw_data)} bytes of raw data"
        else:
            stored = max(len(t.float_data), len(t.int32_data), len(t.int64_data),
                         len(t.double_data), len(t.uint64_data))
            ok, got = stored in (n, 2 * n), f"{stored} values"  # complex: 2 per element
        if not ok:
            raise DataError(f"not a valid ONNX model: initializer {t.name!r} of dims "
                            f"{list(t.dims)} ({onnx.TensorProto.DataType.Name(t.data_type)}) "
                            f"holds {got}", file=path, field="model", received=path,
                            hint="re-export the model; the file is damaged")


def _onnxruntime_loads(path: str) -> bool:
    """The checker is stricter than onnxruntime in places (it wants nodes topologically
    sorted, as onnxconverter's float16 pass does not leave them, and graph outputs with a
    shape): a file it refuses is read when onnxruntime loads it, so what predict runs, the
    definition readers read too."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 4  # the refusal says why; no log line before it
    try:
        ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - onnxruntime's load errors share no base class
        return False
    return True
