"""IR -> ONNX. The only package that imports onnx (runtime/ loads models with it too).

`to_onnx(graph, params, opset=17)` returns a checked ModelProto; `export_model(model, path)`
writes it atomically. Each layer kind lowers itself through the Emitter (`emitter.py`).
"""

from .onnx_export import export_model, to_onnx, write_atomic
from .opsets import DEFAULT_OPSET, MIN_OPSET, ir_version_for, runtime_limits, supported_opsets

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "export_model", "ir_version_for", "runtime_limits",
           "supported_opsets", "to_onnx", "write_atomic"]
