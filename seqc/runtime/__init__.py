"""Run a model on a named runtime (numpy, onnxruntime CPU/CUDA, onnx reference) and compare
runtimes. onnx and onnxruntime load inside the functions that use them."""

from .runners import (
    RUNTIMES,
    ModelSource,
    check_input,
    get_runner,
    load_build_dir,
    make_session,
    prepare,
    resolve,
    run,
)
from .validate import ValidationResult, validate

__all__ = ["RUNTIMES", "ModelSource", "ValidationResult", "check_input", "get_runner",
           "load_build_dir", "make_session", "prepare", "resolve", "run", "validate"]
