"""Where a model comes from and what a runtime is: `ModelSource` (the IR and/or an ONNX model),
`resolve` (a Model, build folder, .onnx path or ModelProto -> ModelSource), `check_input` (an
input checked against the model's input type) and the `Runner` interface. runners.py holds the
runners themselves; the keras and torch runtimes build on this module alone, so runners.py can
list them without an import circle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from ..fileio import regular_file
from ..frontend.onnx_checks import load_checked as load_onnx_checked
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

