"""Keras model JSON of any version -> a seqc spec doc (then the spec's own checks and build).

Versions, told apart by their keys (`keras_version` decides when present):
- "keras3": Keras 3 `model.to_json()` / a `.keras`'s config.json: `module`/`registered_name`
  keys, DTypePolicy objects, InputLayer `batch_shape`, `build_config`, `compile_config`.
- "tf.keras2": tf.keras 2.x (keras_version "2.2.4-tf" ... "2.15.x"): `batch_input_shape`, dtype
  strings, `keras_version`/`backend` at the top; 2.13+ adds `module` keys.
- "keras2.0": multi-backend Keras 2.0-2.3: in 2.0/2.1 `config` is a bare list of layers;
  VarianceScaling initializers; `implementation` keys.
Per-version semantics: Keras 2's hard_sigmoid is clip(0.2x + 0.5, 0, 1) (written
{"type": "hard_sigmoid", "slope": 0.2, "offset": 0.5}), Keras 3's relu6(x + 3) / 6; missing
LSTM/GRU keys default to the version's defaults (multi-backend: recurrent_activation
hard_sigmoid, GRU reset_after False); LeakyReLU `alpha` is `negative_slope`; `swish` is `silu`;
Keras 2's VarianceScaling "normal" is a truncated normal (before Keras 2.2.5 without the
0.8796 stddev correction); ThresholdedReLU(theta) is ReLU(threshold=theta).

Key policy: bookkeeping keys (name, dtype, build_config, ...) and performance switches
(implementation, unroll, fused, use_cudnn, ...) are dropped whatever their value; any other
key seqc has no argument for is dropped only at an inert value (null, false, groups=1, ...),
else it is an error naming the layer and the key (a regularizer, a constraint, stateful=True),
so nothing that changes the model's maths is silently lost. dtype policies: float32; mixed_*
and (b)float16 policies are computed in float32 (their variables are float32, or widen
exactly); float64 and integer policies are refused. Only Sequential models, or Functional
ones: a model whose layers do not form a
single chain (branches, merges, shared layers, nested models, Keras 3 operator nodes, several
inputs or outputs) is read by _keras_json_graph into a graph (build_dag). Nothing in the file
is executed: Lambda layers are refused, their bytecode never read.
The reading is split by concern: _keras_json_version (versions and their per-version
arguments), _keras_json_model (layer order, input shape), _keras_json_layers (one layer's
config), _keras_json_values (activations, initializers), _keras_json_training (compile settings
and training-only settings).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import DefinitionError, layer_label
from ..ir.build import build_dag
from ..model import DEFAULT_MAX_MEMORY, Model
from ._json import parse_json, read_bytes
from ._keras_json_graph import check_masks, read_graph
from ._keras_json_layers import KerasLayerRef, entry, layer
from ._keras_json_model import (
    check_structure,
    fallback_input_shape,
    first_layer_input,
    input_layer,
    model_layers,
    model_name,
)
from ._keras_json_nodes import is_chain_model
from ._keras_json_training import compile_kwargs, training_blockers
from ._keras_json_values import TRUNC_STD, canonical_initializer
from ._keras_json_version import VERSIONS, Reader, detect_version, short
from .spec import Definition, definition_from_doc


@dataclass
class KerasModelInfo:
    """What a Keras file said besides the layers' maths: its version family, its layers (to
    find their weights) and its compile settings as seqc `model.compile` kwargs (or None)."""

    version: str
    layers: list[KerasLayerRef]
    compile: dict | None
    # Training-only settings seqc does not implement (regularizers, constraints), as
    # "layer: key=value": they do not change predictions, so loading, predicting and converting
    # go ahead, but training refuses (Model.training_blockers).
    training_only: list[str] = field(default_factory=list)
    # A graph model: `layers` hold seqc_name and nested models' members (KerasLayerRef).
    graph: bool = False


def is_keras_json(doc: Any) -> bool:
    """A Keras model JSON (any version), not a seqc spec: `{"class_name", "config"}` at the top."""
    return (isinstance(doc, dict) and isinstance(doc.get("class_name"), str)
            and isinstance(doc.get("config"), (dict, list)) and "layers" not in doc)


def load_keras_json(path: str | os.PathLike, *,
                    max_memory: int | None = DEFAULT_MAX_MEMORY) -> Definition:
    """A Keras model JSON alone (no weights: initialised from its initializers).

    >>> import seqc.frontend.keras_json as kj
    >>> kj.load_keras_json("model.json").extra["keras"].version  # doctest: +SKIP
    'keras3'
    """
    file = os.fspath(path)
    raw = read_bytes(file)
    doc = parse_json(raw, file)
    if not is_keras_json(doc):
        raise DefinitionError(
            "this is not a Keras model JSON: expected an object with \"class_name\" and "
            "\"config\" (what model.to_json() writes)", file=file, field="class_name",
            received=short(doc), hint="a seqc spec ({\"layers\": [...]}) loads with seqc.load")
    return keras_definition(doc, file, raw, max_memory=max_memory, format_="keras-json")[0]


def keras_definition(doc: dict, file: str, raw: bytes, *, max_memory: int | None,
                     format_: str) -> tuple[Definition, KerasModelInfo]:
    """Keras model JSON -> Definition (weights still the initializers'; compile from the
    file's compile/training config) and its KerasModelInfo, kept on `defn.extra["keras"]`.
    A functional model whose layers do not form one chain is built as a graph."""
    if is_keras_json(doc):
        check_structure(doc, file)
    if is_keras_json(doc) and not is_chain_model(doc):
        defn, info = _graph_definition(doc, file, raw, max_memory=max_memory)
    else:
        spec, info = keras_doc_to_spec(doc, file)
        defn = definition_from_doc(spec, file, raw, max_memory=max_memory)
    defn.format = format_
    defn.extra = {**defn.extra, "keras": info}
    defn.model.training_blockers = training_blockers(info)
    return defn, info


def _graph_definition(doc: dict, file: str, raw: bytes, *,
                      max_memory: int | None) -> tuple[Definition, KerasModelInfo]:
    """A functional model with branches, merges, shared layers, nested models, operator
    nodes or several inputs/outputs -> a Definition holding a graph (build_dag, pruned as
    Keras prunes: layers off every path to an output are dropped)."""
    version, kv = detect_version(doc)
    r = Reader(file, version, kv)
    kg = read_graph(r, doc)
    name = model_name(doc["config"], file)
    graph = build_dag(name, kg.inputs, kg.entries, kg.outputs, file=file, prune=True)
    check_masks(r, kg, graph)
    model = Model(graph, name=name, seed=0, source=file, max_memory=max_memory)
    compile_ = compile_kwargs(r, doc, graph.output_names)
    info = KerasModelInfo(version=version, layers=kg.refs, compile=compile_,
                          training_only=r.training_only, graph=True)
    defn = Definition(model=model, compile=compile_, fit=None, data=None, path=file,
                      source_hash=hashlib.sha256(raw).hexdigest(), name=name)
    return defn, info


def keras_doc_to_spec(doc: dict, file: str) -> tuple[dict, KerasModelInfo]:
    """A Keras model JSON (`model.to_json()` of any version, a `.keras`'s config.json, a
    legacy .h5's model_config, optionally with the h5's `keras_version`, `backend` and
    `training_config` merged in at the top) -> (seqc spec doc, KerasModelInfo)."""
    if not is_keras_json(doc):
        raise DefinitionError("expected a Keras model JSON object with \"class_name\" and "
                              "\"config\"", file=file, field="class_name", received=short(doc))
    version, kv = detect_version(doc)
    r = Reader(file, version, kv)
    entries, model_cfg = model_layers(r, doc)
    spec_layers: list[dict] = []
    refs: list[KerasLayerRef] = []
    input_shape = input_dtype = None
    for i, item in enumerate(entries):
        cls, cfg = entry(r, item, i)
        label = layer_label(i, cfg.get("name"), cls)
        if cls == "InputLayer":
            if i != 0:
                raise DefinitionError("an InputLayer must be the first layer", file=file,
                                      layer=label, field="class_name", received=f"layers[{i}]")
            shape, dtype = input_layer(r, cfg, label)
            spec_layer = {"type": "InputLayer", "shape": shape, "dtype": dtype}
            if isinstance(cfg.get("name"), str):
                spec_layer["name"] = cfg["name"]
            spec_layers.append(spec_layer)
            continue
        if i == 0:
            input_shape, input_dtype = first_layer_input(r, cls, cfg, label)
        spec_layer, ref = layer(r, cls, cfg, label)
        spec_layers.append(spec_layer)
        refs.append(ref)
    if not refs:
        raise DefinitionError("the Keras model has no layers", file=file, field="layers",
                              received=f"{len(entries)} layer(s), InputLayer only"
                              if entries else "layers=[]")
    spec: dict = {"name": model_name(model_cfg, file)}
    if spec_layers[0]["type"] != "InputLayer":
        if input_shape is None:
            input_shape = fallback_input_shape(r, doc, model_cfg, entries[0])
        if input_shape is None:
            first = spec_layers[0]
            raise DefinitionError(
                "the Keras model has no input shape", file=file,
                layer=layer_label(0, first.get("name"), refs[0].class_name),
                field="batch_input_shape",
                received="no InputLayer, no batch_input_shape/batch_shape/input_shape on the "
                         "first layer and no build_config",
                hint="build the model with an input before saving (keras.Input(shape=...) "
                     "first, or model.build((None, ...))), or add \"batch_input_shape\": "
                     "[null, ...] to the first layer's config")
        spec["input_shape"] = input_shape
        if input_dtype not in (None, "float32"):
            spec["input_dtype"] = input_dtype
    spec["layers"] = spec_layers
    compile_ = compile_kwargs(r, doc)
    if compile_ is not None:
        spec["compile"] = compile_
    return spec, KerasModelInfo(version=version, layers=refs, compile=compile_,
                                training_only=r.training_only)


__all__ = ["TRUNC_STD", "KerasLayerRef", "KerasModelInfo", "VERSIONS", "canonical_initializer",
           "detect_version", "is_keras_json", "keras_doc_to_spec", "load_keras_json"]
