"""A Keras model JSON's structure: its layers in order (Sequential, or a Functional model whose
layers form one chain input -> ... -> output; other Functional models: _keras_json_graph),
its name, and its input shape and dtype (an InputLayer, the first layer's
batch_input_shape/input_shape, or a build_config)."""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import DefinitionError, layer_label
from ..ops import REGISTRY
from ..ops.base import KIND_ALIASES, STRING_HINT, OpDef
from ._keras_json_version import Reader, dtype_name, short

INPUT_DTYPES = {"float32": "float32", "float64": "float64", "float16": "float32",
                "bfloat16": "float32", "int32": "int32", "int64": "int64", "int8": "int32",
                "int16": "int32", "uint8": "int32", "uint16": "int32", "uint32": "int64",
                "uint64": "int64"}


def check_structure(doc: dict, file: str) -> None:
    """The types of a Keras model JSON's structural fields, checked before any reader walks
    it (iteratively, nested models included): every layer entry an object whose
    `class_name` is a string, `config` an object (a list for a Keras 2.0 Sequential),
    `inbound_nodes` a list and `name`, `module`, `registered_name` strings or null. A wrong
    type is one DefinitionError naming the layer and the field, not a crash inside."""
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        entry, where = stack.pop()
        cfg = entry.get("config")
        layers = cfg if isinstance(cfg, list) else (
            cfg.get("layers") if isinstance(cfg, dict) else None)
        if not isinstance(layers, list):
            continue
        for i, e in enumerate(layers):
            at = f"{where}layers[{i}]"
            if not isinstance(e, dict):
                raise DefinitionError("a layer entry must be an object", file=file,
                                      layer=at, field=at, received=short(e))
            name = e.get("name") if isinstance(e.get("name"), str) else None
            label = f"{at} '{name}'" if name else at
            for key, ok, what in (("class_name", (str,), "a string"),
                                  ("config", (dict, list) if e.get("class_name") ==
                                   "Sequential" else (dict,), "an object"),
                                  ("inbound_nodes", (list,), "a list"),
                                  ("name", (str,), "a string"),
                                  ("module", (str,), "a string"),
                                  ("registered_name", (str,), "a string")):
                v = e.get(key)
                if (v is not None or key == "class_name") and not isinstance(v, ok):
                    raise DefinitionError(f"'{key}' must be {what}", file=file, layer=label,
                                          field=key, received=f"{key}={short(v)}")
            stack.append((e, f"{at}."))


def model_layers(r: Reader, doc: dict) -> tuple[list, dict]:
    """The layer entries in order (InputLayer included when the file has one) and the
    model's own config."""
    cls, cfg = doc["class_name"], doc["config"]
    if isinstance(cfg, list):  # Keras 2.0/2.1 Sequential
        if cls != "Sequential":
            raise r.err(f"a bare list of layers belongs to a Sequential model, not "
                        f"'{cls}'", None, "class_name", f"class_name={cls!r}")
        return cfg, {}
    layers = cfg.get("layers")
    if not isinstance(layers, list):
        raise r.err("the model config has no \"layers\" list", None, "config.layers",
                    f"config keys {sorted(cfg)}")
    if cls == "Sequential":
        return inline_weightless(layers), cfg
    if cls in ("Functional", "Model"):
        return inline_weightless(_chain(r, cfg, layers)), cfg
    raise r.err(
        f"seqc reads Sequential models (and Functional ones whose layers form a single "
        f"chain), not '{cls}'", None, "class_name", f"class_name={cls!r}",
        hint="a subclassed keras.Model has no JSON architecture; rebuild it as "
             "keras.Sequential([...])")


def inline_weightless(layers: list) -> list:
    """A nested Sequential whose layers hold no weights (the TensorFlow tutorials'
    `data_augmentation = keras.Sequential([RandomFlip(...), ...])` used as the first layer)
    replaced by its layers: the same function, and no weight of the outer model moves. Its
    InputLayer is kept only where it gives the model's input (the first entry). A nested
    model with weights stays, and is refused by name later."""
    out: list = []
    for entry in layers:
        inner = weightless_sequential(entry)
        if inner is None:
            out.append(entry)
            continue
        for e in inline_weightless(inner):
            if out and e.get("class_name") == "InputLayer":
                continue  # the outer model has its input already
            out.append(e)
    return out


def weightless_sequential(entry: Any) -> list | None:
    """The layer entries of a nested Sequential made only of weightless seqc kinds."""
    if not isinstance(entry, dict) or entry.get("class_name") != "Sequential":
        return None
    inner = (entry.get("config") or {}).get("layers") if isinstance(entry.get("config"),
                                                                    dict) else None
    if not isinstance(inner, list) or not inner:
        return None
    for e in inner:
        if not isinstance(e, dict):
            return None
        cls = e.get("class_name")
        if cls == "InputLayer":
            continue
        op = REGISTRY.get(KIND_ALIASES.get(cls, cls)) if isinstance(cls, str) else None
        # A kind that does not override `params` has no parameters for any arguments.
        if op is None or type(op).params is not OpDef.params:
            return None
    return inner


def _chain(r: Reader, cfg: dict, layers: list) -> list:
    """A Functional model's layers as one chain input -> ... -> output, or an error."""
    by_name: dict[str, dict] = {}
    inbound: dict[str, list[list[str]]] = {}
    for i, entry in enumerate(layers):
        name = entry.get("name") if isinstance(entry, dict) else None
        if name is None and isinstance(entry, dict):
            name = (entry.get("config") or {}).get("name")
        if not isinstance(name, str):
            raise r.err("a Functional model's layer has no name", layer_label(i, None, None),
                        "name", short(entry))
        by_name[name] = entry
        inbound[name] = [_node_inputs(r, n, name) for n in entry.get("inbound_nodes") or []]
    inputs = [_ref_name(x) for x in _refs(cfg.get("input_layers"))]
    outputs = [_ref_name(x) for x in _refs(cfg.get("output_layers"))]
    hint = ("a seqc spec document holds a chain; load the model with seqc.load or "
            "keras_json.keras_definition, which read a Functional model as a graph")
    if len(inputs) != 1 or len(outputs) != 1:
        raise r.err("the Functional model has several inputs or outputs", None,
                    "input_layers", f"inputs {inputs}, outputs {outputs}", hint)
    consumers: dict[str, list[str]] = {n: [] for n in by_name}
    for name, nodes in inbound.items():
        if len(nodes) > 1:
            raise r.err("a layer is called more than once (shared weights)", f"'{name}'",
                        "inbound_nodes", f"{len(nodes)} calls of '{name}'", hint)
        for node in nodes:
            if len(node) != 1:
                raise r.err(f"layer '{name}' merges {len(node)} tensors: the model "
                            "has branches", name, "inbound_nodes", f"inputs {node}", hint)
            if node[0] not in consumers:
                raise r.err(f"layer '{name}' reads an unknown layer '{node[0]}'", name,
                            "inbound_nodes", f"inputs {node}")
            consumers[node[0]].append(name)
    order, cur, seen = [], inputs[0], set()
    while True:
        if cur not in by_name or cur in seen:
            raise r.err("the Functional model's layers do not form a chain", cur,
                        "inbound_nodes", f"at layer {cur!r}", hint)
        seen.add(cur)
        order.append(by_name[cur])
        nxt = consumers[cur]
        if len(nxt) > 1:
            raise r.err(f"the output of '{cur}' feeds {len(nxt)} layers: the model has "
                        "branches", cur, "inbound_nodes", f"consumers {nxt}", hint)
        if not nxt:
            break
        cur = nxt[0]
    if cur != outputs[0] or len(order) != len(by_name):
        unused = sorted(set(by_name) - seen)
        raise r.err("the Functional model's layers do not form a single chain from its "
                    "input to its output", None, "layers",
                    f"chain ends at {cur!r}, output {outputs[0]!r}, layers off the chain "
                    f"{unused}", hint)
    return order


def _node_inputs(r: Reader, node: Any, name: str) -> list[str]:
    """Names of the layers a call reads: tf.keras [[name, i, j, kwargs], ...] or Keras 3
    {"args": [keras tensors], "kwargs": {...}}."""
    if isinstance(node, dict):
        found: list[str] = []
        _find_history(node.get("args"), found)
        extra: list[str] = []
        _find_history(node.get("kwargs"), extra)
        if extra:
            raise r.err(f"layer '{name}' is called with extra tensors (a mask or initial "
                        "state from another layer)", name, "inbound_nodes",
                        f"kwargs reading {extra}")
        return found
    if isinstance(node, list):
        out = []
        for ref in node:
            if isinstance(ref, list) and ref and isinstance(ref[0], str):
                out.append(ref[0])
                if len(ref) > 3 and isinstance(ref[3], dict) and any(
                        _tensor_like(v) for v in ref[3].values()):
                    raise r.err(f"layer '{name}' is called with extra tensors", name,
                                "inbound_nodes", short(ref[3]))
        return out
    raise r.err("unreadable inbound node", name, "inbound_nodes", short(node))


def _refs(v: Any) -> list:
    """input_layers/output_layers: [name, i, j] or a list of them."""
    if isinstance(v, list) and v and isinstance(v[0], str):
        return [v]
    return v if isinstance(v, list) else []


def _ref_name(ref: Any) -> Any:
    return ref[0] if isinstance(ref, list) and ref else ref


def _find_history(obj: Any, out: list[str], depth: int = 0) -> None:
    """Layer names of the Keras 3 keras tensors (`keras_history`) inside a call's args."""
    if depth > 8:
        return
    if isinstance(obj, dict):
        hist = (obj.get("config") or {}).get("keras_history") if isinstance(
            obj.get("config"), dict) else None
        if obj.get("class_name") == "__keras_tensor__" and isinstance(hist, list) and hist:
            # A name that is not a string names no layer: the chain reader says so.
            out.append(hist[0] if isinstance(hist[0], str) else repr(hist[0]))
            return
        for v in obj.values():
            _find_history(v, out, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            _find_history(v, out, depth + 1)


def _tensor_like(v: Any) -> bool:
    return isinstance(v, list) and len(v) >= 3 and isinstance(v[0], str) and isinstance(v[1],
                                                                                         int)


def model_name(cfg: dict, file: str) -> str:
    name = cfg.get("name") if isinstance(cfg, dict) else None
    if not isinstance(name, str) or not name:
        name = os.path.splitext(os.path.basename(file))[0] or "sequential"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return name if re.match(r"[A-Za-z0-9_]", name) else "_" + name


# ---------------------------------------------------------------- inputs

def input_layer(r: Reader, cfg: dict, label: str) -> tuple[list, str]:
    shape = None
    for key in ("batch_shape", "batch_input_shape"):
        if isinstance(cfg.get(key), list):
            shape = cfg[key][1:]
    for key in ("shape", "input_shape"):
        if shape is None and isinstance(cfg.get(key), list):
            shape = cfg[key]
    if shape is None:
        raise r.err("the InputLayer has no shape", label, "batch_shape",
                    f"config keys {sorted(cfg)}")
    if cfg.get("sparse") or cfg.get("ragged"):
        key = "sparse" if cfg.get("sparse") else "ragged"
        raise r.err(f"{key} inputs are not supported; seqc takes dense tensors", label,
                    key, f"{key}=true")
    return _shape(r, shape, label, "batch_shape"), _input_dtype(r, cfg.get("dtype"), label)


def first_layer_input(r: Reader, cls: str, cfg: dict, label: str) -> tuple[list | None, str]:
    shape = None
    for key in ("batch_input_shape", "batch_shape"):
        if isinstance(cfg.get(key), list):
            shape = _shape(r, cfg[key][1:], label, key)
            break
    if shape is None and isinstance(cfg.get("input_shape"), list):
        shape = _shape(r, cfg["input_shape"], label, "input_shape")
    if shape is None and cls == "Embedding" and cfg.get("input_length") is not None:
        shape = _shape(r, [cfg["input_length"]], label, "input_length")
    dtype = cfg.get("dtype") if isinstance(cfg.get("dtype"), str) else None
    return shape, _input_dtype(r, dtype, label) if dtype else "float32"


def fallback_input_shape(r: Reader, doc: dict, model_cfg: dict, first: Any) -> list | None:
    """build_config.input_shape (Keras 3, tf.keras 2.13+) or build_input_shape (tf.keras)."""
    for holder, key in ((doc.get("build_config"), "input_shape"),
                        (model_cfg, "build_input_shape"),
                        (first.get("build_config") if isinstance(first, dict) else None,
                         "input_shape")):
        if isinstance(holder, dict) and isinstance(holder.get(key), list):
            shape = holder[key]
            if isinstance(shape, list) and len(shape) > 1:
                return _shape(r, shape[1:], None, key)
    return None


def _shape(r: Reader, shape: Any, label: str | None, key: str) -> list:
    if not isinstance(shape, list) or not shape or any(
            d is not None and (not isinstance(d, int) or isinstance(d, bool) or d <= 0)
            for d in shape):
        raise r.err("the input shape must be a list of positive sizes (null for any "
                    "length), at least one besides the batch", label, key,
                    f"{key}={shape!r} (per sample)")
    return list(shape)


def _input_dtype(r: Reader, dtype: Any, label: str) -> str:
    if dtype is None:
        return "float32"
    name = dtype_name(dtype)
    if name.startswith("mixed_"):
        return "float32"
    if name == "string":
        raise r.err("the model takes strings (for StringLookup or TextVectorization), and "
                    "seqc models (and the ONNX models they export) take numbers", label,
                    "dtype", f"dtype={dtype!r}", hint=STRING_HINT)
    if name not in INPUT_DTYPES:
        raise r.err(f"input dtype '{name}' is not supported", label, "dtype",
                    f"dtype={dtype!r}", hint="use float32 inputs, or int32 token ids")
    return INPUT_DTYPES[name]
