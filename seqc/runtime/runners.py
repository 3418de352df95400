"""Run one input on a named runtime: seqc's NumPy forward, onnxruntime (CPU or CUDA), or the
ONNX reference evaluator. `RUNTIMES` maps each name to its runner.

A model comes as a `seqc.model.Model`, a build folder (`model.ir.json` + `weights.npz`, and
`model.onnx`), an `.onnx` path or an `onnx.ModelProto`; `resolve` turns any of them into a
`ModelSource` (source.py, with the `Runner` interface and `check_input`). The NumPy runtime
needs the IR; the ONNX runtimes need an ONNX model, exported in memory from the IR when none
was given.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np

from ..errors import UsageError, did_you_mean
from ..frontend.onnx_checks import not_valid_onnx
from .source import (  # noqa: F401 (names callers import from runners.py too)
    IR_FILE,
    NUMPY_BATCH,
    ONNX_FILE,
    WEIGHTS_FILE,
    ModelSource,
    Predict,
    Runner,
    check_input,
    load_build_dir,
    onnx_value_type,
    resolve,
)


class NumpyRunner(Runner):
    name = "numpy"
    needs = "ir"
    description = "seqc's own NumPy forward pass (the reference)"

    def load(self, src: ModelSource, *, batch_size: int | None = None, **_: Any) -> Predict:
        from ..ops.base import RunContext
        from ..training.executor import forward

        graph, params = src.graph, src.params
        step = batch_size or NUMPY_BATCH

        def predict(x: Any) -> Any:
            """x: an array, or a dict by input name; a list of outputs when several."""
            from ..training.checks import n_samples, take

            ctx = RunContext(training=False, need_grad=False)
            outs = [forward(graph, params, take(x, slice(i, i + step)), ctx)[0]
                    for i in range(0, n_samples(x), step)]
            if len(outs) == 1:
                return outs[0]
            if isinstance(outs[0], list):
                return [np.concatenate(p) for p in zip(*outs)]
            return np.concatenate(outs)

        return predict


PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


# onnxruntime's graph optimization levels, by the name the runners use.
OPTIMIZATION_LEVELS = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
                       "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def make_session(model: Any, *, provider: str = "cpu",
                 intra_op_num_threads: int | None = None, optimization: str = "all",
                 label: str | None = None) -> Any:
    """An onnxruntime InferenceSession for a model (anything `resolve` takes, or the bytes of
    an ONNX model, which need no `onnx` import). `provider` is
    "cpu", "cuda" or "auto" (CUDA when a session really starts on it here, else CPU; see
    `cuda_problem`). "cuda" is a UsageError when CUDA is missing or fails to start.
    `optimization` is a graph optimization level (OPTIMIZATION_LEVELS; onnxruntime's default
    is "all")."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if provider == "auto":
        provider = "cpu" if cuda_problem() else "cuda"
    if provider not in PROVIDERS:
        raise UsageError("provider must be cpu, cuda or auto", field="provider",
                         received=f"provider={provider!r}",
                         hint=did_you_mean(str(provider), [*PROVIDERS, "auto"]))
    if PROVIDERS[provider] not in available:
        raise UsageError(f"this onnxruntime has no {PROVIDERS[provider]}", field="provider",
                         received=f"provider={provider!r}; available: {', '.join(available)}",
                         hint="install onnxruntime-gpu for CUDA, or use --provider cpu")
    from .bounds import bounded

    so = ort.SessionOptions()
    if intra_op_num_threads is not None:
        so.intra_op_num_threads = int(intra_op_num_threads)
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                          OPTIMIZATION_LEVELS[optimization])
    if isinstance(model, bytes):
        # A sharded-predict worker's copy of a model its parent resolved (and checked).
        m, label = model, label or "the model's bytes"  # label: the file it was read from
    else:
        src = resolve(model)
        src.control_flow()  # a loop that would never end is refused before onnxruntime
        m, label = src.onnx(), src.label
    data = m if isinstance(m, (str, bytes)) else m.SerializeToString()
    providers = [PROVIDERS[provider]] + (["CPUExecutionProvider"] if provider == "cuda" else [])
    try:
        sess = ort.InferenceSession(data, so, providers=providers)
    except Exception as e:  # noqa: BLE001 - onnxruntime's load errors (Fail, InvalidGraph,
        # InvalidArgument, InvalidProtobuf) share no base class but RuntimeError/Exception.
        raise not_valid_onnx(data if isinstance(data, str) else label, e) from None
    if provider == "cuda" and sess.get_providers()[0] != PROVIDERS["cuda"]:
        # onnxruntime-gpu without a usable GPU (no driver, CUDA or cuDNN libraries) logs an
        # error and quietly runs the session on the CPU: a "CUDA" run or comparison would
        # then be a CPU one, so it is refused instead.
        raise UsageError(
            "onnxruntime lists the CUDAExecutionProvider but could not start it",
            field="provider", received=f"provider='cuda'; the session runs on "
            f"{', '.join(sess.get_providers())}",
            hint="check the GPU driver and the CUDA/cuDNN versions onnxruntime-gpu needs "
                 "(onnxruntime's log above names the missing library), or use --provider cpu")
    return bounded(sess, label)


@functools.cache
def cuda_problem() -> str | None:
    """Why onnxruntime cannot run on CUDA here, or None: the provider must be listed and a
    session must really start on it (probed once per process on a one-node model)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if PROVIDERS["cuda"] not in ort.get_available_providers():
        return f"this onnxruntime has no {PROVIDERS['cuda']} (install onnxruntime-gpu)"
    vi = helper.make_tensor_value_info
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                          [vi("x", TensorProto.FLOAT, [1])], [vi("y", TensorProto.FLOAT, [1])])
    try:
        make_session(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)],
                                       ir_version=7),
                     provider="cuda")
    except UsageError as e:
        return e.message
    return None


class OnnxRuntimeRunner(Runner):
    name = "onnxruntime"
    description = "onnxruntime, CPU execution provider, every graph optimization"
    provider = "cpu"
    optimization = "all"

    def unavailable(self) -> str | None:
        try:
            import onnxruntime as ort
        except ImportError:
            return "onnxruntime is not installed"
        if self.provider == "cuda":
            return cuda_problem()
        if PROVIDERS[self.provider] not in ort.get_available_providers():
            return f"this onnxruntime has no {PROVIDERS[self.provider]}"
        return None

    def load(self, src: ModelSource, *, batch_size: int | None = None,
             intra_op_num_threads: int | None = None, **_: Any) -> Predict:
        sess = make_session(src, provider=self.provider, optimization=self.optimization,
                            intra_op_num_threads=intra_op_num_threads)
        name = sess.get_inputs()[0].name

        def predict(x: np.ndarray) -> np.ndarray:
            if batch_size is None:
                return sess.run(None, {name: x})[0]
            return np.concatenate([sess.run(None, {name: x[i:i + batch_size]})[0]
                                   for i in range(0, len(x), batch_size)])

        return src.to_onnx_layout(predict)


class OnnxRuntimeBasicRunner(OnnxRuntimeRunner):
    # Graph rewrites (fusions, constant folding, layout changes) are where an onnxruntime
    # bug would change a result: the same model at fewer optimizations checks them.
    name = "onnxruntime-basic"
    description = "onnxruntime, CPU, basic graph optimizations only (ORT_ENABLE_BASIC)"
    optimization = "basic"


class OnnxRuntimeNoOptRunner(OnnxRuntimeRunner):
    name = "onnxruntime-noopt"
    description = "onnxruntime, CPU, graph optimizations disabled (ORT_DISABLE_ALL)"
    optimization = "disabled"


class OnnxRuntimeCudaRunner(OnnxRuntimeRunner):
    name = "onnxruntime-cuda"
    description = "onnxruntime, CUDA execution provider"
    provider = "cuda"


# onnx.reference's recurrent operators ignore `sequence_lens` (onnx/reference/ops/op_lstm.py
# marks it unused) and the `activations` attribute (LSTM/GRU always run sigmoid/tanh, RNN only
# Tanh), so a masked or non-default recurrent model would be compared with the wrong function.
_DEFAULT_RNN_ACTIVATIONS = {"RNN": ["Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"],
                            "GRU": ["Sigmoid", "Tanh"]}


def reference_evaluator_limits(proto: Any) -> str | None:
    """Why onnx.reference would compute the wrong function for this model, or None."""
    from onnx import helper

    for node in proto.graph.node:
        if node.op_type == "GridSample" and any(
                a.name == "mode" and a.s == b"bilinear" for a in node.attribute):
            return "onnx.reference's GridSample knows opset 20's mode names only (linear)"
        default = _DEFAULT_RNN_ACTIVATIONS.get(node.op_type)
        if default is None:
            continue
        if len(node.input) > 4 and node.input[4]:
            return (f"onnx.reference's {node.op_type} ignores sequence_lens (a masked "
                    "recurrent layer)")
        for attr in node.attribute:
            if attr.name == "activations":
                acts = [a.decode() for a in helper.get_attribute_value(attr)]
                if any(a != default[i % len(default)] for i, a in enumerate(acts)):
                    return (f"onnx.reference's {node.op_type} ignores the activations "
                            f"attribute ({', '.join(acts)})")
    return None


class OnnxReferenceRunner(Runner):
    name = "onnx-reference"
    description = "onnx.reference.ReferenceEvaluator (pure Python, slow, exact semantics)"

    def cannot_run(self, src: ModelSource) -> str | None:
        loops = src.control_flow().dynamic_loops
        if loops:  # a pure-Python run cannot be stopped the way onnxruntime's can
            return (f"the trip count of {loops[0]} is only known at run time, and "
                    "onnx.reference has no time limit")
        return reference_evaluator_limits(src.onnx_proto())

    def load(self, src: ModelSource, **_: Any) -> Predict:
        from onnx.reference import ReferenceEvaluator

        proto = src.onnx_proto()
        ref = ReferenceEvaluator(proto)
        name = proto.graph.input[0].name

        def predict(x: np.ndarray) -> np.ndarray:
            # The evaluator's ops compute both branches of np.where (its Sigmoid overflows in
            # the unused one); the results are right, the RuntimeWarnings are noise.
            with np.errstate(all="ignore"):
                return np.asarray(ref.run(None, {name: x})[0])

        return src.to_onnx_layout(predict)


def _cross_checks() -> tuple[Runner, ...]:
    # Keras and PyTorch rebuild the model with their own layers; their modules import keras
    # and torch only inside load(), so listing them costs nothing.
    from .keras_runtime import KerasRunner
    from .torch_runtime import TorchRunner

    return (KerasRunner(), TorchRunner())


RUNTIMES: dict[str, Runner] = {r.name: r for r in (
    NumpyRunner(), OnnxRuntimeRunner(), OnnxRuntimeBasicRunner(), OnnxRuntimeNoOptRunner(),
    OnnxRuntimeCudaRunner(), OnnxReferenceRunner(), *_cross_checks())}
# The runtimes that run the ONNX model (validate bisects them; bisect runs them).
ONNX_RUNTIMES = tuple(n for n, r in RUNTIMES.items() if r.needs == "onnx" and r.default)


def get_runner(name: str) -> Runner:
    try:
        return RUNTIMES[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown runtime '{name}'. Valid runtimes: {', '.join(RUNTIMES)}",
                         field="runtimes", received=repr(name),
                         hint=did_you_mean(str(name), RUNTIMES)) from None


def available_runtimes(src: ModelSource) -> list[str]:
    """Every runtime usable here for this model, NumPy first when the IR is there."""
    return [n for n, r in RUNTIMES.items()
            if r.unavailable() is None and (r.needs != "ir" or src.has_ir)
            and r.cannot_run(src) is None]


def prepare(runtime: str, model: Any, **options: Any) -> Predict:
    """predict(x) for `model` on `runtime`; errors when the runtime cannot take it."""
    runner = get_runner(runtime)
    src = resolve(model)
    reason = runner.unavailable()
    if reason:
        raise UsageError(f"runtime '{runtime}' is not available: {reason}", field="runtimes",
                         received=runtime)
    if runner.needs == "ir" and not src.has_ir:
        raise UsageError(f"runtime '{runtime}' needs seqc's IR, which an .onnx file lacks",
                         field="runtimes", received=src.label,
                         hint="pass the build folder (model.ir.json + weights.npz) instead")
    return runner.load(src, **options)


def run(model: Any, x: Any, runtime: str = "onnxruntime", **options: Any) -> np.ndarray:
    """Run `x` through `model` on the named runtime.

    >>> import seqc, numpy as np
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> run(m, np.ones((4, 3), np.float32), "numpy").shape
    (4, 2)
    """
    src = resolve(model)
    x = check_input(x, src.input_type(), src.token_ids())
    return prepare(runtime, src, **options)(x)


def timed(predict: Predict, x: np.ndarray) -> tuple[np.ndarray, float]:
    t = time.perf_counter()
    y = predict(x)
    return (y if isinstance(y, list) else np.asarray(y)), time.perf_counter() - t
