"""Export variants of a float32 model (runtime/variants.py runs each on held-out rows next to
the float32 model, compares and scores them).

float16 (onnxruntime.transformers.float16, float32 I/O kept), int8 (onnxruntime.quantization:
dynamic, or static QDQ calibrated on training rows), the onnxruntime-optimized model, and
external data (`<model>.onnx.data`) for models over protobuf's 2 GiB.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import DataError, ExportError, UsageError

# Protobuf cannot serialize a message of 2 GiB or more; leave room for the graph around the
# weights. At or above it, weights go to `<model>.onnx.data`.
EXTERNAL_DATA_THRESHOLD = 2**31 - 2**24
EXTERNAL_TENSOR_MIN_BYTES = 1024  # smaller tensors stay in the .onnx (onnx's own default)
CALIBRATION_ROWS = 1024
VARIANT_KEY = "seqc.variant"
VECTORS_KEY = "seqc.test_vectors"  # seqc.runtime.vectors.KEY (export must not import runtime)
# A variant's weights are rounded or quantized: the float32 model's embedded IR would read
# them back as if they were its own, so variants do not carry it.
IR_KEY = "seqc.ir"
FILES = {"float16": "model.fp16.onnx", "int8": "model.int8.onnx", "optimized": "model.opt.onnx"}
LEVELS = ("basic", "extended", "layout", "all")


# ---------------------------------------------------------------- writing files

def _external_locations(path: str) -> list[str]:
    import onnx

    m = onnx.load(path, load_external_data=False)
    locs = set()
    for t in m.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            locs.update(e.value for e in t.external_data if e.key == "location")
    return sorted(locs)


def _fsync(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@contextmanager
def _staged(path_out: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path with `path_out`'s file name, in a private folder beside it;
    when the block succeeds the model and the external-data files it names replace the
    targets: data first, then the model, so a reader never sees the new model without its
    data. (Two renames are not one atomic step: a reader of the old model in that instant
    may see the new data file. A failed write changes nothing.)"""
    path_out = os.fspath(path_out)
    folder = os.path.dirname(os.path.abspath(path_out))
    if not os.path.isdir(folder):
        raise UsageError("the output folder does not exist", field="path", received=path_out,
                         hint=f"create {folder} first")
    base = os.path.basename(path_out)
    tmpdir = tempfile.mkdtemp(prefix=f".{base}.", dir=folder)
    try:
        tmp = os.path.join(tmpdir, base)
        yield tmp
        for loc in _external_locations(tmp):
            _fsync(os.path.join(tmpdir, loc))
            os.replace(os.path.join(tmpdir, loc), os.path.join(folder, loc))
        _fsync(tmp)
        os.replace(tmp, path_out)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def save(model: Any, path: str | os.PathLike, *,
         external_data_threshold: int = EXTERNAL_DATA_THRESHOLD) -> dict[str, Any]:
    """Write a ModelProto to `path`; when it is `external_data_threshold` bytes or more, its
    weights (tensors of 1 KiB or more) go to one file `<model>.onnx.data` beside it, which
    onnxruntime and onnx.load read from the model's folder. Both files are replaced only
    when both were written. Returns {"path", "bytes", "external_data" (file name or None)}.
    The model passed in is not modified (an external-data save works on a copy).

    >>> import seqc, onnx, os, tempfile
    >>> from seqc.export import to_onnx
    >>> m = seqc.Sequential([seqc.layers.Input((300,)), seqc.layers.Dense(8)])
    >>> p = os.path.join(tempfile.mkdtemp(), "model.onnx")
    >>> save(to_onnx(m.graph, m.params), p, external_data_threshold=0)["external_data"]
    'model.onnx.data'
    """
    import onnx

    path = os.fspath(path)
    size = model.ByteSize()
    data_name = os.path.basename(path) + ".data"
    if not isinstance(external_data_threshold, int) or external_data_threshold < 0:
        raise UsageError("external_data_threshold must be a number of bytes >= 0",
                         field="external_data_threshold",
                         received=f"external_data_threshold={external_data_threshold!r}")
    external = size >= external_data_threshold
    with _staged(path) as tmp:
        if external:
            copy = onnx.ModelProto()
            copy.CopyFrom(model)  # conversion to external data empties the tensors it moves
            onnx.save_model(copy, tmp, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data_name, size_threshold=EXTERNAL_TENSOR_MIN_BYTES)
            external = bool(_external_locations(tmp))  # every tensor may be under 1 KiB
        else:
            with open(tmp, "wb") as f:
                f.write(model.SerializeToString())
    stale = os.path.join(os.path.dirname(os.path.abspath(path)), data_name)
    if not external and os.path.isfile(stale):
        os.unlink(stale)  # an earlier save's weights, which the new model does not name
    return {"path": path, "bytes": size, "external_data": data_name if external else None}


def set_meta(model: Any, updates: dict[str, str | None]) -> None:
    for key, value in updates.items():
        for i in reversed(range(len(model.metadata_props))):
            if model.metadata_props[i].key == key:
                del model.metadata_props[i]
        if value is not None:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value


def variant_meta(kind: str, source: str, atol: float | None, **extra: Any) -> dict[str, Any]:
    # The float32 model's embedded test vectors hold its own tolerance, which a variant does
    # not meet; the caller re-embeds them with the variant's (see make_variants' report).
    doc = {"kind": kind, "source": os.path.basename(source), "atol": atol, "rtol": 0.0, **extra}
    return {VARIANT_KEY: json.dumps(doc), VECTORS_KEY: None, IR_KEY: None}


def rewrite_meta(path: str, updates: dict[str, Any]) -> None:
    import onnx

    m = onnx.load(path)
    set_meta(m, updates)
    save(m, path)


# ---------------------------------------------------------------- float16

_CPU_FP16: set[str] | None = None


def cpu_float16_kernels() -> set[str]:
    """Op types onnxruntime's CPU provider has a float16 kernel for (default domain). The
    others still load in a float16 model: onnxruntime casts around them at session creation
    and computes them in float32 (its InsertCastTransformer)."""
    global _CPU_FP16
    if _CPU_FP16 is None:
        try:
            from onnxruntime.capi import _pybind_state as c

            _CPU_FP16 = {k.op_name for k in c.get_all_opkernel_def()
                         if k.provider == "CPUExecutionProvider" and k.domain in ("", "ai.onnx")
                         and any("tensor(float16)" in v for v in k.type_constraints.values())}
        except (ImportError, AttributeError):  # a private API; its absence only loses a note
            _CPU_FP16 = set()
    return _CPU_FP16


_NOT_IMPLEMENTED = re.compile(r"Could not find an implementation for (\w+)\(")


def _cpu_refusal(model: Any) -> tuple[str | None, str | None]:
    """(op type onnxruntime's CPU provider cannot run, error text) or (None, None)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - read the refusal to learn which op to keep float32
        m = _NOT_IMPLEMENTED.search(str(e))
        return (m.group(1) if m else None), str(e).splitlines()[0]
    return None, None


def float16(model: Any, *, keep_io_types: bool = True,
            op_block_list: list[str] | tuple[str, ...] | None = None) -> Any:
    """A float16 copy of a float32 ModelProto, by onnxruntime's own converter
    (onnxruntime.transformers.float16.convert_float_to_float16).

    Float32 graph inputs and outputs stay float32 (`keep_io_types`), with Casts inside. The
    converter's DEFAULT_OP_BLOCK_LIST (ops without float16 support or needing float32
    precision) and `op_block_list` stay float32; if onnxruntime's CPU provider then refuses a
    node ("Could not find an implementation"), its op type joins the block list and the
    conversion is redone, so the result always loads on CPU. The input is not modified.
    """
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    block = set(DEFAULT_OP_BLOCK_LIST) | set(op_block_list or ())
    n_types = len({n.op_type for n in model.graph.node})
    for _ in range(n_types + 1):
        src = onnx.ModelProto()
        src.CopyFrom(model)
        out = convert_float_to_float16(src, keep_io_types=keep_io_types,
                                       op_block_list=sorted(block))
        refused, error = _cpu_refusal(out)
        if error is None:
            return out
        if refused is None or refused in block:
            raise ExportError(f"the float16 model does not load in onnxruntime: {error}",
                              field="float16", received=f"block list {sorted(block)}",
                              hint="this is a seqc bug; ship the float32 model meanwhile")
        block.add(refused)
    raise ExportError("the float16 conversion did not converge", field="float16",
                      received=f"block list {sorted(block)}")


# ---------------------------------------------------------------- int8

def _preprocess(path_in: str, tmpdir: str) -> tuple[str, str | None]:
    """onnxruntime's recommended pre-processing (symbolic shape inference and its basic
    graph optimizations) before quantizing: it gives the quantizer every tensor's shape.
    Returns (model path, None) or (the original path, why it was skipped)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = os.path.join(tmpdir, "preprocessed.onnx")
    try:
        quant_pre_process(path_in, out)
    except Exception as e:  # noqa: BLE001 - quantizing without it still works, less well
        return path_in, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return out, None


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    # onnxruntime.quantization logs advice on the root logger at WARNING for every call.
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def check_model_path(path_in: str | os.PathLike) -> str:
    path = os.fspath(path_in)
    if not os.path.isfile(path):
        raise UsageError("model file not found", field="model", received=path)
    return path


def quantize_dynamic(path_in: str | os.PathLike, path_out: str | os.PathLike, *,
                     per_channel: bool = True, preprocess: bool = True) -> dict[str, Any]:
    """int8 weights, activations quantized at run time (onnxruntime.quantization's
    quantize_dynamic, QuantType.QInt8): Gemm/MatMul, Conv, LSTM, Gather. Needs no data.
    Returns {"path", "mode", "per_channel", "preprocessed", "preprocess_skipped"}."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    path_in = check_model_path(path_in)
    with tempfile.TemporaryDirectory() as td, _staged(path_out) as tmp, _quiet_root_logger():
        src, skipped = _preprocess(path_in, td) if preprocess else (path_in, None)
        ort_quantize_dynamic(src, tmp, weight_type=QuantType.QInt8, per_channel=per_channel)
    return {"path": os.fspath(path_out), "mode": "dynamic", "per_channel": per_channel,
            "preprocessed": preprocess and skipped is None, "preprocess_skipped": skipped}


def _calibration_rows(x: np.ndarray, n: int) -> np.ndarray:
    """At most `n` rows spread evenly over `x` (data files are often sorted by class)."""
    if len(x) <= n:
        return x
    return x[np.linspace(0, len(x) - 1, n).round().astype(int)]


WEIGHTED = {"Gemm", "MatMul", "Conv", "ConvTranspose"}


def _float_outputs(path: str) -> dict[str, Any]:
    """quantize_static arguments that keep the graph outputs float: a Quantize/Dequantize
    pair on an output only rounds what the user reads (on the digits MLP it put softmax
    probabilities on a 1/255 grid and raised the held-out loss by 0.02, against 0.00 without).
    A weighted node keeps its int8 weights, with its output left unquantized; any other
    node making an output (Softmax, Sigmoid, a Rescaling's Mul) runs in float32."""
    import onnx

    g = onnx.load(path, load_external_data=False).graph
    outs = {o.name for o in g.output}
    makers = [n for n in g.node if set(n.output) & outs]
    kinds = sorted({n.op_type for n in makers if n.op_type in WEIGHTED})
    names = [n.name for n in makers if n.op_type not in WEIGHTED and n.name]
    kw: dict[str, Any] = {}
    if names:
        kw["nodes_to_exclude"] = names
    if kinds:
        kw["extra_options"] = {"OpTypesToExcludeOutputQuantization": kinds}
    return kw


def quantize_static(path_in: str | os.PathLike, path_out: str | os.PathLike,
                    calibration_x: Any, *, per_channel: bool = True, preprocess: bool = True,
                    max_rows: int = CALIBRATION_ROWS, batch_size: int = 64) -> dict[str, Any]:
    """int8 weights (QInt8, per output channel) and activations (QUInt8, the pairing
    onnxruntime recommends on x86-64), QDQ format, activation ranges calibrated (MinMax)
    on up to `max_rows` rows of `calibration_x` (the training inputs, in the ONNX model's
    layout). Returns quantize_dynamic's dict plus "calibration_rows"."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    path_in = check_model_path(path_in)
    x = np.asarray(calibration_x) if calibration_x is not None else None
    if x is None or x.ndim == 0 or len(x) == 0:
        raise DataError("static int8 quantization needs calibration rows (training inputs)",
                        field="x_calib", received="none" if x is None else f"shape {x.shape}",
                        hint="pass the training inputs, or use dynamic quantization")
    proto = onnx.load(path_in, load_external_data=False)
    name = proto.graph.input[0].name
    x = _calibration_rows(x, max_rows)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(range(0, len(x), batch_size))

        def get_next(self) -> dict[str, np.ndarray] | None:
            lo = next(self.batches, None)
            return None if lo is None else {name: x[lo:lo + batch_size]}

    with tempfile.TemporaryDirectory() as td, _staged(path_out) as tmp, _quiet_root_logger():
        src, skipped = _preprocess(path_in, td) if preprocess else (path_in, None)
        ort_quantize_static(src, tmp, Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, weight_type=QuantType.QInt8,
                            activation_type=QuantType.QUInt8, **_float_outputs(src))
    return {"path": os.fspath(path_out), "mode": "static", "per_channel": per_channel,
            "preprocessed": preprocess and skipped is None, "preprocess_skipped": skipped,
            "calibration_rows": int(len(x))}


# ---------------------------------------------------------------- onnxruntime-optimized

def save_optimized(path_in: str | os.PathLike, path_out: str | os.PathLike,
                   level: str = "all") -> str:
    """The model as onnxruntime optimizes it at session creation
    (SessionOptions.optimized_model_filepath), at `level` basic/extended/layout/all.

    The file is tied to the onnxruntime version and CPU it was made with: "extended" and above
    insert com.microsoft fused ops, and "layout"/"all" CPU-specific blocked layouts (NCHWc)
    chosen for this machine's instruction set. Load it with the same onnxruntime, and keep
    the portable model.onnx as the artifact of record.
    """
    import onnxruntime as ort

    levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "layout": getattr(ort.GraphOptimizationLevel, "ORT_ENABLE_LAYOUT",
                                ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    if level not in levels:
        raise UsageError("the optimization level must be basic, extended, layout or all",
                         field="level", received=f"level={level!r}")
    path_in = check_model_path(path_in)
    with _staged(path_out) as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = levels[level]
        so.optimized_model_filepath = tmp
        so.log_severity_level = 3
        ort.InferenceSession(path_in, so, providers=["CPUExecutionProvider"])
        import onnx

        m = onnx.load(tmp)
        set_meta(m, {VARIANT_KEY: json.dumps({"kind": f"onnxruntime-optimized-{level}",
                                               "source": os.path.basename(path_in),
                                               "onnxruntime": ort.__version__}),
                      VECTORS_KEY: None, IR_KEY: None})
        with open(tmp, "wb") as f:
            f.write(m.SerializeToString())
    return os.fspath(path_out)
