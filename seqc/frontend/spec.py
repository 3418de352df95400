"""The seqc JSON spec (seqc/schema/spec.schema.json) -> a Definition: a built, initialised Model
plus its compile, fit and data sections. Structure is checked by the JSON Schema, layer
arguments and shapes by the IR builder, so every message names the file and the layer."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, DefinitionError, SeqcError, layer_label
from ..ir.build import LayerConfig, build_graph
from ..ir.types import TensorType, batched
from ..model import DEFAULT_MAX_MEMORY, Model
from ..ops import get_op
from ._json import check_schema, parse_json, read_bytes

INPUT_KINDS = ("InputLayer", "Input")
DATA_PATH_KEYS = ("path", "x", "y")


@dataclass
class Definition:
    """A loaded definition: the model (graph + initial or trained weights) and its settings.

    `compile` is the kwargs for `model.compile`, `fit` the kwargs for `model.fit` (seed
    included), `data` the data section with absolute paths (None when absent).
    """

    model: Model
    compile: dict | None
    fit: dict | None
    data: dict | None
    path: str
    source_hash: str
    name: str
    description: str | None = None
    # data.one_hot: labels become one-hot rows before training (categorical_crossentropy).
    one_hot: bool = False
    format: str = "seqc-spec"
    extra: dict = field(default_factory=dict)
    # True when the model's weights came from the file (a Keras model with weights, a build
    # folder): `seqc build --seed` then keeps them, and training continues from them.
    has_weights: bool = False
    # One line each, printed by `seqc summary` and `seqc build`: what the reader mapped or
    # skipped (a Keras 2 spelling, the statements of a script it did not run).
    notes: list[str] = field(default_factory=list)
    # Training in order (`stages`, seqc.frontend.stages): each with its frozen layers, compile
    # and fit; None to train once with `compile` and `fit`.
    stages: list | None = None

    def prepare_labels(self, y: Any) -> Any:
        """Apply the data section's label options (`one_hot`) to loaded labels."""
        if not self.one_hot or y is None:
            return y
        return one_hot(y, self.model.graph.output_type.shape[-1], file=self.path)


def one_hot(y: Any, num_classes: int | None, *, file: str | None = None) -> np.ndarray:
    """Integer class ids (N,) or (N, 1) -> float32 one-hot rows (N, num_classes).

    Rows that are already one-hot (N, num_classes) pass through unchanged.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == num_classes and num_classes != 1:
        return y.astype(np.float32, copy=False)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError("one_hot needs one class id per sample", file=file, field="one_hot",
                        received=f"labels of shape {y.shape}")
    integral = y.dtype.kind in "iub" or (
        y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)))
    if not integral:
        raise DataError("one_hot needs integer class ids", file=file, field="one_hot",
                        received=f"labels of dtype {y.dtype}, e.g. {y[:3].tolist()}")
    ids = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    bad = (ids < 0) | (ids >= num_classes)
    if bad.any():
        v = int(ids[bad][0])
        raise DataError(f"class id {v} is outside [0, {num_classes}) for a model with "
                        f"{num_classes} outputs", file=file, field="one_hot",
                        received=f"label {v} at row {int(np.argmax(bad))}",
                        hint="the last layer needs one unit per class")
    out = np.zeros((len(ids), num_classes), np.float32)
    out[np.arange(len(ids)), ids] = 1.0
    return out


def load_spec(path: str | os.PathLike, *, max_memory: int | None = DEFAULT_MAX_MEMORY,
              bindings: Any = None) -> Definition:
    """Parse, check and build a seqc JSON spec; raises DefinitionError naming file and layer.
    (A `.json` that may be a Keras model JSON goes through seqc.frontend.load_definition,
    which tells the two apart.)"""
    file = os.fspath(path)
    raw = read_bytes(file)
    return spec_definition(parse_json(raw, file), file, raw, max_memory=max_memory,
                           bindings=bindings)


def spec_definition(doc: Any, file: str, raw: bytes, *,
                    max_memory: int | None = DEFAULT_MAX_MEMORY,
                    bindings: Any = None) -> Definition:
    """A parsed seqc JSON spec -> its Definition (`--define` refused: a spec has no names)."""
    if bindings is not None and bindings.defines:
        raise DefinitionError("--define gives values to the names of a Python script; a JSON "
                              "spec has no names", file=file, field="--define",
                              received=", ".join(bindings.defines),
                              hint="write the values into the spec")
    return definition_from_doc(doc, file, raw, max_memory=max_memory,
                               data_x=bindings.x if bindings is not None else None)


def _json_kind(doc: Any) -> str:
    if doc == []:
        return "an empty list"
    return {list: "a list", str: "a string", bool: "true or false", int: "a number",
            float: "a number", type(None): "null"}.get(type(doc), type(doc).__name__)


def definition_from_doc(doc: Any, file: str, raw: bytes, *,
                        max_memory: int | None = DEFAULT_MAX_MEMORY,
                        data_x: Any = None) -> Definition:
    """`data_x`: the inputs the model will be fitted on, for a spec with no input shape (the
    spec's own data section is read for it otherwise)."""
    from ._first_contact import refuse_json_dataset

    refuse_json_dataset(doc, file)
    if not isinstance(doc, dict):
        raise DefinitionError(
            f"a model file is a JSON object, this file holds {_json_kind(doc)}",
            file=file, field="json", received=repr(doc)[:80],
            hint='a model file looks like {"input_shape": [4], "layers": [{"type": "Dense", '
                 '"units": 1}]}, or a Keras model.to_json()')
    check_schema(doc, file)
    layers = doc["layers"]
    if not layers:
        raise DefinitionError(
            "the model has no layers", file=file, field="layers", received="layers=[]",
            hint='add at least one layer, e.g. {"type": "Dense", "units": 1}')
    name = doc.get("name") or _default_name(file)
    from .spec_graph import build_spec_graph, graph_inputs, is_graph_spec

    if "inputs" in doc:
        inputs, first_index = graph_inputs(doc, file), 0
        input_type = next(iter(inputs.values()))
    else:
        input_type, layers, first_index = _input_type(doc, layers, file, data_x)
        inputs = {"input": input_type}
    if is_graph_spec(doc):
        graph = build_spec_graph(name, doc, layers, inputs, file, first_index)
        if doc.get("states"):
            from .spec_graph import with_states

            graph = with_states(graph, doc["states"], file)
        if doc.get("folds"):
            from .spec_graph import with_folds

            graph = with_folds(graph, doc["folds"], file)
    else:
        configs = [_layer_config(d) for d in layers]
        graph = build_graph(name, input_type, configs, file=file, first_index=first_index)

    fit = _fit_section(doc.get("fit"))
    seed = int((fit or {}).get("seed", 0))
    model = Model(graph, name=name, seed=seed, source=file, max_memory=max_memory)
    data, one_hot_labels = _data_section(doc.get("data"), file, input_type)
    compile_cfg = dict(doc["compile"]) if "compile" in doc else None
    from .stages import stage_section

    stages = stage_section(doc, graph, compile_cfg, fit, file, first_index,
                           not is_graph_spec(doc) and "inputs" not in doc,
                           (layers, input_type, _layer_config))
    return Definition(model=model, compile=compile_cfg, fit=fit, data=data, path=file,
                      source_hash=hashlib.sha256(raw).hexdigest(), name=name,
                      description=doc.get("description"), one_hot=one_hot_labels,
                      stages=stages)


def _default_name(file: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(file).stem).lstrip(".-")
    return stem or "sequential"


def _layer_config(d: dict) -> LayerConfig:
    config = dict(d)
    kind = config.pop("type")
    name = config.pop("name", None)
    trainable = config.pop("trainable", True)
    return LayerConfig(kind, config, name, trainable)


def _input_type(doc: dict, layers: list[dict], file: str,
                data_x: Any = None) -> tuple[TensorType, list[dict], int]:
    """The input type from `input_shape`/`input_dtype`, an InputLayer first (consumed: the
    remaining layers keep their `layers[i]` labels through `first_index`), or the first
    layer's `input_shape`. A batch size declared there (InputLayer's `batch_shape`, Keras 2's
    `batch_input_shape`, read as `input_shape` plus `batch_size`) is kept in the type only for
    a model with a stateful recurrent layer, whose state has one row per sample of a batch;
    elsewhere the batch stays symbolic."""
    shape = doc.get("input_shape")
    dtype = doc.get("input_dtype")
    batch = None
    first_index = 0
    first = layers[0]
    label0 = layer_label(0, first.get("name"), first.get("type"))
    if first.get("type") in INPUT_KINDS:
        in_shape, in_dtype, batch = _input_layer(first, file, label0)
        if shape is not None and tuple(shape) != in_shape:
            raise DefinitionError(
                "the input shape is given twice, differently: by input_shape and by the "
                "InputLayer", file=file, layer=label0, field="shape",
                received=f"input_shape={list(shape)}, shape={list(in_shape)}",
                hint="keep one of them")
        if dtype is not None and in_dtype is not None and dtype != in_dtype:
            raise DefinitionError(
                "the input dtype is given twice, differently", file=file, layer=label0,
                field="dtype", received=f"input_dtype={dtype!r}, dtype={in_dtype!r}")
        shape, dtype = in_shape, dtype or in_dtype
        layers, first_index = layers[1:], 1
        if not layers:
            raise DefinitionError(
                "the model has no layers after its InputLayer", file=file, field="layers",
                received="layers=[InputLayer]",
                hint='add at least one layer, e.g. {"type": "Dense", "units": 1}')
    elif "input_shape" in first:
        if shape is not None and list(shape) != list(first["input_shape"]):
            raise DefinitionError(
                "the input shape is given twice, differently: at the top level and on the "
                "first layer", file=file, layer=label0, field="input_shape",
                received=f"input_shape={list(shape)} (top level), "
                         f"input_shape={list(first['input_shape'])} (layers[0])",
                hint="keep one of them")
        shape, batch = first["input_shape"], first.get("batch_size")
        layers = [{k: v for k, v in first.items() if k not in ("input_shape", "batch_size")},
                  *layers[1:]]
    # Whether or not an InputLayer was consumed, the layers still to check start at layers[1].
    for i, d in enumerate(layers[1:] if first_index == 0 else layers, start=1):
        lab = layer_label(i, d.get("name"), d.get("type"))
        if d.get("type") in INPUT_KINDS:
            raise DefinitionError("an InputLayer must be the first layer", file=file,
                                  layer=lab, field="type", received=f"InputLayer at layers[{i}]",
                                  hint="move it to the start, or use the top-level input_shape")
        if "input_shape" in d:
            raise DefinitionError("input_shape is only allowed on the first layer", file=file,
                                  layer=lab, field="input_shape",
                                  received=f"input_shape={d['input_shape']}",
                                  hint="remove it; later layers take their shape from the "
                                       "layer before")
    if shape is None:
        shape, dtype = _shape_from_data(doc, file, data_x, first, dtype)
    if shape is None:
        raise DefinitionError(
            "the model has no input shape", file=file, layer=label0, field="input_shape",
            received=f"no top-level input_shape, and layers[0] ({first.get('type')}) has none",
            hint='add "input_shape": [n_features] at the top level (per sample, batch '
                 'excluded), start the layers with {"type": "InputLayer", "shape": [...]}, '
                 'or give a "data" section (or --data/--x) to take it from the data')
    t = batched(tuple(shape), dtype or "float32")
    if isinstance(batch, int) and batch > 0 and any(d.get("stateful") is True for d in layers):
        t = t.with_shape((batch, *t.shape[1:]))
    return t, layers, first_index


def _shape_from_data(doc: dict, file: str, x: Any, first: dict,
                     dtype: str | None) -> tuple[Any, str | None]:
    """Keras builds a model without an input shape at its first fit, from the data: so does
    seqc, from the data given (--data/--x) or the spec's data section."""
    if x is None and isinstance(doc.get("data"), dict):
        from ..training.data import load_data

        keep = ("path", "target", "x", "y", "label_dtype", "timeseries")
        spec = {k: v for k, v in doc["data"].items() if k in keep}
        x = load_data(spec, base_dir=os.path.dirname(os.path.abspath(file))).x
    if x is None:
        return None, dtype
    x = np.asarray(x) if not hasattr(x, "shape") else x
    if x.ndim < 2:
        raise DefinitionError("the model takes its input shape from the data, which needs a "
                              "batch axis and at least one more", file=file,
                              field="input_shape", received=f"x of shape {list(x.shape)}")
    if dtype is None and first.get("type") == "Embedding" and x.dtype.kind in "iu":
        dtype = "int32" if x.dtype.itemsize <= 4 else "int64"
    return tuple(int(d) for d in x.shape[1:]), dtype


def _input_layer(d: dict, file: str, label: str) -> tuple[tuple, str | None, int | None]:
    """Shape, dtype and batch size of a leading InputLayer, its arguments checked by the
    InputLayer kind (Keras' `shape`, `batch_shape`, `dtype`, ...). dtype is None when not
    given."""
    config = {k: v for k, v in d.items() if k not in ("type", "name")}
    try:
        op = get_op("InputLayer")
        attrs = op.parse_attrs(config)
        op.check(attrs)
    except SeqcError as e:
        raise e.located(file=file, layer=label) from None
    return (tuple(attrs.shape), attrs.dtype if config.get("dtype") is not None else None,
            attrs.batch_size)


def _fit_section(fit: dict | None) -> dict | None:
    if fit is None:
        return None
    fit = dict(fit)
    if "class_weight" in fit:
        # JSON object keys are strings; Keras' class_weight maps class indices. Names of
        # string labels stay strings for the data loader's mapping.
        fit["class_weight"] = {int(k) if re.fullmatch(r"\d+", k) else k: v
                               for k, v in fit["class_weight"].items()}
    return fit


def _data_section(data: dict | None, file: str,
                  input_type: TensorType | None = None) -> tuple[dict | None, bool]:
    if data is None:
        return None, False
    data = dict(data)
    one_hot_labels = bool(data.pop("one_hot", False))
    if "path" in data and "x" in data:
        raise DefinitionError(
            "the data section gives both a file (path) and arrays (x/y)", file=file,
            field="data", received=f"path={data['path']!r}, x={data['x']!r}",
            hint='use either {"path": "data.csv", "target": "label"} or '
                 '{"x": "x.npy", "y": "y.npy"}')
    if "timeseries" in data:
        data["timeseries"] = _timeseries(data, file, input_type)
    base = Path(file).resolve().parent
    _resolve_paths(data, base, file, "data")
    if "validation" in data:  # fit's validation_data: the same forms as the data itself
        val = data["validation"] = dict(data["validation"])
        if "path" in val and "x" in val or "timeseries" in data:
            raise DefinitionError(
                "data.validation gives one file (path) or an x/y pair, and takes no "
                "timeseries windows", file=file, field="data.validation", received=repr(val),
                hint='use {"x": "x_val.npy", "y": "y_val.npy"} or {"path": "val.npz"}')
        _resolve_paths(val, base, file, "data.validation")
    return (data or None), one_hot_labels


def _resolve_paths(data: dict, base: Path, file: str, where: str) -> None:
    for k in DATA_PATH_KEYS:
        if k in data and (not isinstance(data[k], str) or "\0" in data[k]):
            raise DefinitionError(f"{where}.{k} must be a file path (a string without NUL "
                                  "bytes)", file=file, field=f"{where}.{k}",
                                  received=repr(data[k]))
        if k in data:
            data[k] = str((base / os.path.expanduser(data[k])).resolve())


def _timeseries(data: dict, file: str, input_type: TensorType | None) -> dict:
    """The checked `data.timeseries` section; its windows must fit the model input
    (N, sequence_length, len(columns))."""
    from ..training.timeseries import check_timeseries

    path = data.get("path")
    if path is None or not path.lower().endswith(".csv"):
        raise DefinitionError(
            "timeseries windows are cut from the rows of a CSV file", file=file,
            field="data.timeseries",
            received=f"path={path!r}" if path is not None else f"x={data.get('x')!r}",
            hint='use {"path": "series.csv", "target": "COLUMN", "timeseries": '
                 '{"sequence_length": 24}}')
    try:
        ts = check_timeseries(data["timeseries"], data.get("target"))
    except SeqcError as e:
        raise DefinitionError(e.message, file=file, field=e.field, received=e.received,
                              hint=e.hint) from None
    if input_type is None:
        return ts
    want = (ts["sequence_length"], len(ts["columns"]))
    shape = tuple(input_type.shape[1:])
    if len(shape) != 2 or any(d is not None and d != w for d, w in zip(shape, want)):
        raise DefinitionError(
            f"each timeseries window is (sequence_length, columns) = {list(want)}, but the "
            f"model input is {list(shape)}", file=file, field="input_shape",
            received=f"input_shape={list(shape)}, sequence_length={want[0]}, "
                     f"columns={ts['columns']}",
            hint=f'set "input_shape": {list(want)} (or [null, {want[1]}] for any length)')
    return ts
