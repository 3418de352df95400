"""Which ONNX opsets and IR versions an export may use: MIN_OPSET (13) up to the highest the
installed onnxruntime loads (probed once per process), the IR version that came with each
opset capped at what onnxruntime reads, and the check of a user's `opset` argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import UsageError

MIN_OPSET = 13
DEFAULT_OPSET = 17

# (max IR version, max opset) onnxruntime loads; probed once per process.
_ORT_LIMITS: tuple[int, int] | None = None


def _probe_model(opset: int, ir_version: int) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=ir_version)


def _loads(opset: int, ir_version: int) -> bool:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 4  # a refused probe is expected; keep onnxruntime quiet about it
    try:
        ort.InferenceSession(_probe_model(opset, ir_version).SerializeToString(), so,
                             providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - any refusal means "not loadable", which is the answer
        return False
    return True


def runtime_limits() -> tuple[int, int]:
    """(max IR version, max opset) that both onnx and the installed onnxruntime handle.

    onnxruntime publishes no such table, so probe it with an Identity model per version
    (about a millisecond each); the answer is cached for the process.
    """
    global _ORT_LIMITS
    if _ORT_LIMITS is None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            # Without onnxruntime, onnx's own limits are the only ones that apply.
            _ORT_LIMITS = (onnx.IR_VERSION, onnx.defs.onnx_opset_version())
            return _ORT_LIMITS
        max_ir = next((ir for ir in range(onnx.IR_VERSION, 6, -1) if _loads(MIN_OPSET, ir)),
                      7)
        max_opset = next((op for op in range(onnx.defs.onnx_opset_version(), MIN_OPSET - 1, -1)
                          if _loads(op, min(_ir_for(op), max_ir))), MIN_OPSET)
        _ORT_LIMITS = (max_ir, max_opset)
    return _ORT_LIMITS


def supported_opsets() -> range:
    """The opsets `to_onnx` accepts: 13 up to the highest the installed onnxruntime loads."""
    return range(MIN_OPSET, runtime_limits()[1] + 1)


def _ir_for(opset: int) -> int:
    return helper.find_min_ir_version_for([helper.make_opsetid("", opset)])


def ir_version_for(opset: int) -> int:
    """The IR version released with `opset` (onnx's VERSION_TABLE), capped for onnxruntime."""
    return min(_ir_for(opset), runtime_limits()[0])


def check_opset(opset: Any) -> int:
    ok = supported_opsets()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or opset not in ok:
        raise UsageError(
            f"opset must be an integer from {ok.start} to {ok.stop - 1}", field="opset",
            received=f"opset={opset!r}",
            hint=f"choose an opset in {ok.start}..{ok.stop - 1} (the installed onnxruntime "
                 f"loads up to {ok.stop - 1}); the default is {DEFAULT_OPSET}")
    return int(opset)
