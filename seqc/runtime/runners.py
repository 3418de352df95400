"""Run one input on a named runtime: seqc's NumPy forward, onnxruntime (CPU or CUDA), or the
ONNX reference evaluator. `RUNTIMES` maps each name to its runner.

A model comes as a `seqc.model.Model`, a build folder (`model.ir.json` + `weights.npz`, and
`model.onnx`), an `.onnx` path or an `onnx.ModelProto`; `resolve` turns any of them into a
`ModelSource`. The NumPy runtime needs the IR; the ONNX runtimes need an ONNX model, exported
in memory from the IR when none was given.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, did_you_mean
from ..fileio import regular_file
from ..frontend.onnx_checks import load_checked as load_onnx_checked
from ..frontend.onnx_checks import not_valid_onnx
from ..ir.graph import Graph
from ..ir.types import TensorType

Predict = Callable[[np.ndarray], np.ndarray]

IR_FILE = "model.ir.json"
WEIGHTS_FILE = "weights.npz"
ONNX_FILE = "model.onnx"
NUMPY_BATCH = 1024  # rows per NumPy forward: bounds peak memory on large inputs


# ---- model sources ----

@dataclass
class ModelSource:
    """What a runtime may need: the IR (graph + params) and/or an ONNX model (path or proto)."""

    graph: Graph | None = None
    params: dict[str, np.ndarray] | None = None
    onnx_model: Any = None
    label: str = "model"
    _proto: Any = field(default=None, repr=False)
    _meta: dict[str, str] | None = field(default=None, repr=False)
    _flow: Any = field(default=None, repr=False)
    # True when graph and params came from the ONNX file's own "seqc.ir" entry.
    ir_embedded: bool = False

    def attach_embedded_ir(self) -> str | None:
        """Take the IR a model seqc wrote carries in its metadata (seqc.ir.embedded), so
        the NumPy reference runs on a lone .onnx file. Returns why it cannot, or None (also
        when there is nothing to attach)."""
        if self.has_ir or self.onnx_model is None:
            return None
        from ..errors import SeqcError
        from ..frontend.onnx_reader import embedded_ir

        try:
            found = embedded_ir(self.onnx_proto(), self.label)
        except SeqcError as e:
            return f"the embedded seqc IR cannot be used ({e.message})"
        if found is not None:
            self.graph, self.params = found[0], found[1]
            self.ir_embedded = True
        return None

    @property
    def has_ir(self) -> bool:
        return self.graph is not None and self.params is not None

    def onnx(self) -> Any:
        """An .onnx path or ModelProto; exported in memory from the IR when none was given."""
        if self.onnx_model is None:
            if not self.has_ir:
                raise UsageError("no ONNX model and no IR to export one from", field="model",
                                 received=self.label)
            from ..export import to_onnx

            self.onnx_model = to_onnx(self.graph, self.params)
        return self.onnx_model

    def onnx_proto(self) -> Any:
        if self._proto is None:
            import onnx

            m = self.onnx()
            if isinstance(m, onnx.ModelProto):
                self._proto = m
            else:
                self._proto = load_onnx_checked(m)
            if not self._proto.graph.input:
                raise DataError("the ONNX model has no graph input", file=self.label,
                                field="model", received=self.label,
                                hint="an empty or damaged file reads as a model with no graph")
        return self._proto

    def control_flow(self) -> Any:
        """The model's control flow, checked once before anything runs it (bounds.py)."""
        if self._flow is None:
            from .bounds import check_control_flow

            self._flow = check_control_flow(self.onnx_proto(), self.label)
        return self._flow

    def input_type(self) -> TensorType:
        """The type runners take inputs in: the IR's (channels-last) when the IR is there,
        else the ONNX file's own input."""
        if self.graph is not None:
            return self.graph.input_type
        return onnx_value_type(self.onnx_proto().graph.input[0])

    def onnx_layouts(self) -> tuple[str, str]:
        """(input, output) layout of the ONNX model, from seqc's metadata: "channels_last"
        unless it was exported with input_layout="channels_first"."""
        props = self.metadata()
        return (props.get("seqc.input_layout", "channels_last"),
                props.get("seqc.output_layout", "channels_last"))

    def metadata(self) -> dict[str, str]:
        """The ONNX model's metadata_props as a dict, read once."""
        if self._meta is None:
            self._meta = {p.key: p.value for p in self.onnx_proto().metadata_props}
        return self._meta

    def token_ids(self) -> dict[str, Any] | None:
        """{"count": n, "layer": label} when the model's input holds ids that must lie in
        [0, n) (an Embedding reads it), from the IR or the ONNX model's metadata."""
        if self.graph is not None:
            from ..export.onnx_export import token_ids_of

            return token_ids_of(self.graph)
        props = self.metadata()
        return json.loads(props["seqc.token_ids"]) if "seqc.token_ids" in props else None

    def to_onnx_layout(self, predict: Predict) -> Predict:
        """Wrap an ONNX predict so it takes and returns the IR's layout when the IR is there
        and the ONNX model is channels-first (exported with input_layout="channels_first")."""
        if not self.has_ir:
            return predict
        in_layout, out_layout = self.onnx_layouts()
        if in_layout != "channels_first":
            return predict

        def wrapped(x: np.ndarray) -> np.ndarray:
            y = predict(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
            return np.moveaxis(y, 1, -1) if out_layout == "channels_first" else y

        return wrapped


def onnx_value_type(vi: Any) -> TensorType:
    """An ONNX graph input's type as a TensorType (symbolic dimensions become None)."""
    from onnx import helper

    t = vi.type.tensor_type
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)).name
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return TensorType(shape, dtype if dtype in ("float32", "float64", "int32", "int64", "bool")
                      else "float32")


def load_build_dir(path: str | os.PathLike) -> tuple[Graph | None, dict | None, str | None]:
    """A build folder -> (graph, params, onnx path). Graph and params are None when the folder
    holds only `model.onnx`; the onnx path is None when it has no `model.onnx`."""
    from ..frontend.build_folder import read_ir, read_weights

    path = os.fspath(path)
    ir_path, w_path, onnx_path = (os.path.join(path, f)
                                  for f in (IR_FILE, WEIGHTS_FILE, ONNX_FILE))
    onnx_path = onnx_path if os.path.isfile(onnx_path) else None
    if not os.path.isfile(ir_path):
        if onnx_path is None:
            raise UsageError(f"not a build folder: it holds neither {IR_FILE} nor {ONNX_FILE}",
                             field="model", received=path,
                             hint="pass the folder `seqc build` wrote, or an .onnx file")
        return None, None, onnx_path
    if not os.path.isfile(w_path):
        raise UsageError(f"the build folder has {IR_FILE} but no {WEIGHTS_FILE}", field="model",
                         received=path, hint="rebuild it with `seqc build`")
    graph = read_ir(ir_path)
    return graph, read_weights(w_path, graph), onnx_path


def resolve(model: Any) -> ModelSource:
    """Model | build folder | .onnx path | ModelProto | ModelSource -> ModelSource."""
    if isinstance(model, ModelSource):
        return model
    if hasattr(model, "graph") and hasattr(model, "params"):
        return ModelSource(model.graph, model.params, label=getattr(model, "name", "model"))
    if isinstance(model, (str, os.PathLike)):
        from ..publish import readable_folder

        path = readable_folder(model)
        if os.path.isdir(path):
            graph, params, onnx_path = load_build_dir(path)
            return ModelSource(graph, params, onnx_path, label=path)
        if not os.path.exists(path):
            raise UsageError("model file or folder not found", field="model", received=path)
        regular_file(path, "model file", field="model")
        if path.endswith(".onnx"):
            return ModelSource(onnx_model=path, label=path)
        raise UsageError("a model must be an .onnx file or a build folder", field="model",
                         received=path, hint="pass model.onnx or the folder `seqc build` wrote")
    if type(model).__name__ == "ModelProto":
        return ModelSource(onnx_model=model, label=model.graph.name or "ModelProto")
    raise UsageError("a model must be a seqc Model, a build folder, an .onnx path or a "
                     "ModelProto", field="model", received=type(model).__name__)


# ---- inputs ----

def _shape_text(t: TensorType) -> str:
    dims = ["N" if i == 0 and d is None else ("?" if d is None else str(d))
            for i, d in enumerate(t.shape)]
    return f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"


def check_input(x: Any, expected: TensorType, ids: dict[str, Any] | None = None) -> np.ndarray:
    """The input as an array of the model's dtype; a DataError naming the expected shape when
    its width, rank or dtype does not fit, or (with `ids`, `ModelSource.token_ids()`) naming
    the layer when a token id is outside [0, count): onnxruntime would fail on a large one
    and silently wrap a negative one."""
    want = f"input of shape {_shape_text(expected)} {expected.dtype}"
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise DataError(f"the model expects {want}", field="input",
                        received=f"{type(x).__name__} that is not an array ({e})") from None
    got = f"array of shape {tuple(arr.shape)} {arr.dtype}"
    if arr.dtype.kind not in "biuf":
        raise DataError(f"the model expects {want}; the input is not numeric", field="input",
                        received=got)
    if not expected.matches(arr) or arr.ndim == 0:
        hint = None
        if arr.ndim == expected.rank - 1 and expected.matches(arr[None]):
            hint = "a single sample needs a batch axis: pass x[None]"
        elif arr.ndim == expected.rank and arr.ndim >= 2:
            hint = f"the last dimension is the feature width, {expected.shape[-1]}"
        raise DataError(f"the model expects {want}", field="input", received=got, hint=hint)
    if arr.shape[0] == 0:
        raise DataError(f"the model expects {want} with at least one row", field="input",
                        received=got)
    if expected.dtype.startswith("int") and arr.dtype.kind == "f" and not (
            np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
        raise DataError(f"the model expects {want} (token ids); the input has fractions",
                            field="input", received=got)
    if ids is not None and arr.size:
        lo, hi = (int(v) if float(v).is_integer() else v
                  for v in (arr.min().item(), arr.max().item()))
        if lo < 0 or hi >= ids["count"]:
            raise DataError(
                f"token ids must be in [0, input_dim) = [0, {ids['count']}); these range "
                f"from {lo} to {hi}", field="input", layer=ids["layer"], received=got,
                hint="map unknown tokens to a reserved id, or rebuild with a larger input_dim")
    return np.ascontiguousarray(arr.astype(expected.dtype, copy=False))


# ---- runners ----

class Runner:
    """One runtime. `load(source, **options)` returns predict(x) -> y, so timings can leave
    out session creation."""

    name: str = ""
    needs: str = "onnx"  # "ir" or "onnx"
    description: str = ""
    # Run by `validate` when no runtimes are named. The cross-checks (keras, torch) rebuild
    # the model in another framework, which takes seconds: only when asked for.
    default: bool = True

    def unavailable(self) -> str | None:
        """None when usable here, else why not."""
        return None

    def cannot_run(self, src: ModelSource) -> str | None:
        """None when this runtime computes `src`'s model correctly, else why not."""
        return None

    def load(self, src: ModelSource, **options: Any) -> Predict:
        raise NotImplementedError


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
