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
ones whose layers form a single chain. Nothing in the file is executed: Lambda layers are
refused, their bytecode never read.
"""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import DefinitionError, SeqcError, did_you_mean, layer_label
from ..model import DEFAULT_MAX_MEMORY
from ..ops import REGISTRY
from ..ops._activations import ACTIVATIONS, HARD_SIGMOID_KERAS2, canonical
from ..ops.base import KIND_ALIASES
from ._json import parse_json, read_bytes
from .spec import Definition, definition_from_doc

VERSIONS = ("keras3", "tf.keras2", "keras2.0")

# Keys every Keras layer config may carry that are not layer arguments.
BOOKKEEPING = {"name", "trainable", "dtype", "autocast", "build_config", "module",
               "registered_name", "seed_generator", "batch_input_shape", "batch_shape",
               "input_shape", "batch_size", "input_dim", "input_length", "input_dtype"}
# Performance switches: every value computes the same function.
PERFORMANCE = {"implementation", "unroll", "fused", "use_cudnn", "lora_alpha"}
# Keras-only arguments and the values at which they do nothing (besides None and False).
# Keras arguments that only shape training (penalties added to the loss, projections after each
# update): inference ignores them.
TRAINING_ONLY_SUFFIXES = ("_regularizer", "_constraint")
INERT = {"groups": (1,), "num_constants": (0,), "time_major": (False,), "sparse": (False,),
         "lora_rank": (None,), "renorm_clipping": (None, {}), "renorm": (False,)}
WRAPPER_KEYS = ("layer", "backward_layer")
INPUT_DTYPES = {"float32": "float32", "float64": "float64", "float16": "float32",
                "bfloat16": "float32", "int32": "int32", "int64": "int64", "int8": "int32",
                "int16": "int32", "uint8": "int32", "uint16": "int32", "uint32": "int64",
                "uint64": "int64"}
FLOAT32_POLICIES = {"float32", "mixed_float16", "mixed_bfloat16", "float16", "bfloat16"}
# Keras layer classes that are seqc kinds under another name or with other arguments.
RENAMED = {"ThresholdedReLU": "ReLU"}
LAMBDA_CLASSES = {"Lambda", "TFOpLambda", "SlicingOpLambda"}
# Keras 0.87962566: stddev of a unit normal truncated to [-2, 2].
TRUNC_STD = 0.87962566103423978


@dataclass
class KerasLayerRef:
    """One Keras layer of the source model, in order (InputLayer excluded), with its wrapped
    layer(s): Bidirectional [forward, backward], TimeDistributed [layer]."""

    name: str
    class_name: str
    inner: list[KerasLayerRef] = field(default_factory=list)


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
            received=_short(doc), hint="a seqc spec ({\"layers\": [...]}) loads with seqc.load")
    return keras_definition(doc, file, raw, max_memory=max_memory, format_="keras-json")[0]


def keras_definition(doc: dict, file: str, raw: bytes, *, max_memory: int | None,
                     format_: str) -> tuple[Definition, KerasModelInfo]:
    """Keras model JSON -> Definition (weights still the initializers'; compile from the
    file's compile/training config) and its KerasModelInfo, kept on `defn.extra["keras"]`."""
    spec, info = keras_doc_to_spec(doc, file)
    defn = definition_from_doc(spec, file, raw, max_memory=max_memory)
    defn.format = format_
    defn.extra = {**defn.extra, "keras": info}
    defn.model.training_blockers = training_blockers(info)
    return defn, info


def training_blockers(info: KerasModelInfo) -> list[str]:
    """Why `fit` must refuse a model loaded from this file (empty: it may train)."""
    if not info.training_only:
        return []
    return [f"the Keras file trains with regularizers or constraints seqc does not implement "
            f"({'; '.join(info.training_only)})"]


def keras_doc_to_spec(doc: dict, file: str) -> tuple[dict, KerasModelInfo]:
    """A Keras model JSON (`model.to_json()` of any version, a `.keras`'s config.json, a
    legacy .h5's model_config, optionally with the h5's `keras_version`, `backend` and
    `training_config` merged in at the top) -> (seqc spec doc, KerasModelInfo)."""
    if not is_keras_json(doc):
        raise DefinitionError("expected a Keras model JSON object with \"class_name\" and "
                              "\"config\"", file=file, field="class_name", received=_short(doc))
    version, kv = detect_version(doc)
    reader = _Reader(file, version, kv)
    entries, model_cfg = reader.model_layers(doc)
    spec_layers: list[dict] = []
    refs: list[KerasLayerRef] = []
    input_shape = input_dtype = None
    for i, entry in enumerate(entries):
        cls, cfg = reader.entry(entry, i)
        label = layer_label(i, cfg.get("name"), cls)
        if cls == "InputLayer":
            if i != 0:
                raise DefinitionError("an InputLayer must be the first layer", file=file,
                                      layer=label, field="class_name", received=f"layers[{i}]")
            shape, dtype = reader.input_layer(cfg, label)
            layer = {"type": "InputLayer", "shape": shape, "dtype": dtype}
            if isinstance(cfg.get("name"), str):
                layer["name"] = cfg["name"]
            spec_layers.append(layer)
            continue
        if i == 0:
            input_shape, input_dtype = reader.first_layer_input(cls, cfg, label)
        layer, ref = reader.layer(cls, cfg, label)
        spec_layers.append(layer)
        refs.append(ref)
    if not refs:
        raise DefinitionError("the Keras model has no layers", file=file, field="layers",
                              received=f"{len(entries)} layer(s), InputLayer only"
                              if entries else "layers=[]")
    spec: dict = {"name": _model_name(model_cfg, file)}
    if spec_layers[0]["type"] != "InputLayer":
        if input_shape is None:
            input_shape = reader.fallback_input_shape(doc, model_cfg, entries[0])
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
    compile_kwargs = reader.compile(doc)
    if compile_kwargs is not None:
        spec["compile"] = compile_kwargs
    return spec, KerasModelInfo(version=version, layers=refs, compile=compile_kwargs,
                                training_only=reader.training_only)


# ---------------------------------------------------------------- version detection

def detect_version(doc: dict) -> tuple[str, tuple[int, ...] | None]:
    """("keras3" | "tf.keras2" | "keras2.0", the parsed keras_version or None)."""
    kv_text = doc.get("keras_version")
    kv = _version_tuple(kv_text) if isinstance(kv_text, str) else None
    if isinstance(doc.get("config"), list):
        return "keras2.0", kv
    if kv is not None:
        if kv[0] >= 3:
            return "keras3", kv
        # Multi-backend Keras ended at 2.3.1; tf.keras says "2.x.y-tf" before 2.4 and owns 2.4+.
        if "-tf" in kv_text or kv >= (2, 4) or doc.get("backend") not in (None, "tensorflow",
                                                                           "theano", "cntk"):
            return "tf.keras2", kv
        return "keras2.0", kv
    if "backend" in doc:
        return "tf.keras2", None
    text_keys = _keys_and_values(doc)
    if "batch_input_shape" in text_keys or "Policy" in text_keys:
        return "tf.keras2", None
    return "keras3", None


def _version_tuple(text: str) -> tuple[int, ...] | None:
    m = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def _keys_and_values(obj: Any, depth: int = 0) -> set[str]:
    """Dict keys and class names found in the doc (the version signals), bounded depth."""
    out: set[str] = set()
    if depth > 12:
        return out
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(k)
            if k == "class_name" and isinstance(v, str):
                out.add(v)
            out |= _keys_and_values(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            out |= _keys_and_values(v, depth + 1)
    return out


# ---------------------------------------------------------------- the reader

class _Reader:
    def __init__(self, file: str, version: str, kv: tuple[int, ...] | None) -> None:
        self.file = file
        self.version = version
        self.kv = kv
        self.keras2 = version != "keras3"
        self.training_only: list[str] = []

    def err(self, message: str, label: str | None, field_: str | None, received: Any,
            hint: str | None = None) -> DefinitionError:
        return DefinitionError(message, file=self.file, layer=label, field=field_,
                               received=received, hint=hint)

    # ---- model structure ----

    def model_layers(self, doc: dict) -> tuple[list, dict]:
        """The layer entries in order (InputLayer included when the file has one) and the
        model's own config."""
        cls, cfg = doc["class_name"], doc["config"]
        if isinstance(cfg, list):  # Keras 2.0/2.1 Sequential
            if cls != "Sequential":
                raise self.err(f"a bare list of layers belongs to a Sequential model, not "
                               f"'{cls}'", None, "class_name", f"class_name={cls!r}")
            return cfg, {}
        layers = cfg.get("layers")
        if not isinstance(layers, list):
            raise self.err("the model config has no \"layers\" list", None, "config.layers",
                           f"config keys {sorted(cfg)}")
        if cls == "Sequential":
            return layers, cfg
        if cls in ("Functional", "Model"):
            return self.chain(cfg, layers), cfg
        raise self.err(
            f"seqc reads Sequential models (and Functional ones whose layers form a single "
            f"chain), not '{cls}'", None, "class_name", f"class_name={cls!r}",
            hint="a subclassed keras.Model has no JSON architecture; rebuild it as "
                 "keras.Sequential([...])")

    def chain(self, cfg: dict, layers: list) -> list:
        """A Functional model's layers as one chain input -> ... -> output, or an error."""
        by_name: dict[str, dict] = {}
        inbound: dict[str, list[list[str]]] = {}
        for i, entry in enumerate(layers):
            name = entry.get("name") if isinstance(entry, dict) else None
            if name is None and isinstance(entry, dict):
                name = (entry.get("config") or {}).get("name")
            if not isinstance(name, str):
                raise self.err("a Functional model's layer has no name", layer_label(i, None,
                               None), "name", _short(entry))
            by_name[name] = entry
            inbound[name] = [self._node_inputs(n, name) for n in entry.get("inbound_nodes") or []]
        inputs = [_ref_name(r) for r in _refs(cfg.get("input_layers"))]
        outputs = [_ref_name(r) for r in _refs(cfg.get("output_layers"))]
        hint = ("seqc compiles sequential models; write the model as keras.Sequential([...]) or "
                "as a single chain of layer calls")
        if len(inputs) != 1 or len(outputs) != 1:
            raise self.err("the Functional model has several inputs or outputs", None,
                           "input_layers", f"inputs {inputs}, outputs {outputs}", hint)
        consumers: dict[str, list[str]] = {n: [] for n in by_name}
        for name, nodes in inbound.items():
            if len(nodes) > 1:
                raise self.err("a layer is called more than once (shared weights)", f"'{name}'",
                               "inbound_nodes", f"{len(nodes)} calls of '{name}'", hint)
            for node in nodes:
                if len(node) != 1:
                    raise self.err(f"layer '{name}' merges {len(node)} tensors: the model "
                                   "has branches", name, "inbound_nodes",
                                   f"inputs {node}", hint)
                if node[0] not in consumers:
                    raise self.err(f"layer '{name}' reads an unknown layer '{node[0]}'", name,
                                   "inbound_nodes", f"inputs {node}")
                consumers[node[0]].append(name)
        order, cur, seen = [], inputs[0], set()
        while True:
            if cur not in by_name or cur in seen:
                raise self.err("the Functional model's layers do not form a chain", cur,
                               "inbound_nodes", f"at layer {cur!r}", hint)
            seen.add(cur)
            order.append(by_name[cur])
            nxt = consumers[cur]
            if len(nxt) > 1:
                raise self.err(f"the output of '{cur}' feeds {len(nxt)} layers: the model has "
                               "branches", cur, "inbound_nodes", f"consumers {nxt}", hint)
            if not nxt:
                break
            cur = nxt[0]
        if cur != outputs[0] or len(order) != len(by_name):
            unused = sorted(set(by_name) - seen)
            raise self.err("the Functional model's layers do not form a single chain from its "
                           "input to its output", None, "layers",
                           f"chain ends at {cur!r}, output {outputs[0]!r}, layers off the chain "
                           f"{unused}", hint)
        return order

    def _node_inputs(self, node: Any, name: str) -> list[str]:
        """Names of the layers a call reads: tf.keras [[name, i, j, kwargs], ...] or Keras 3
        {"args": [keras tensors], "kwargs": {...}}."""
        if isinstance(node, dict):
            found: list[str] = []
            _find_history(node.get("args"), found)
            extra: list[str] = []
            _find_history(node.get("kwargs"), extra)
            if extra:
                raise self.err(f"layer '{name}' is called with extra tensors (a mask or initial "
                               "state from another layer)", name, "inbound_nodes",
                               f"kwargs reading {extra}")
            return found
        if isinstance(node, list):
            out = []
            for r in node:
                if isinstance(r, list) and r and isinstance(r[0], str):
                    out.append(r[0])
                    if len(r) > 3 and isinstance(r[3], dict) and any(
                            _tensor_like(v) for v in r[3].values()):
                        raise self.err(f"layer '{name}' is called with extra tensors", name,
                                       "inbound_nodes", _short(r[3]))
            return out
        raise self.err("unreadable inbound node", name, "inbound_nodes", _short(node))

    def entry(self, entry: Any, where: int | str) -> tuple[str, dict]:
        """(class name, config copy) of a layer entry; `where` is its index in the model's
        layers or, for a wrapped layer, the wrapper's label."""
        label = where if isinstance(where, str) else layer_label(where, None, None)
        if isinstance(entry, dict) and isinstance(entry.get("class_name"), str) and \
                isinstance(where, int) and isinstance(entry.get("config"), dict):
            name = entry["config"].get("name")
            label = layer_label(where, name if isinstance(name, str) else None,
                                entry["class_name"])
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
            raise self.err("a layer must be {\"class_name\": ..., \"config\": {...}}", label,
                           "class_name", _short(entry))
        cfg = entry.get("config")
        if cfg is None:
            cfg = {}
        if not isinstance(cfg, dict):
            raise self.err("a layer's config must be an object", label, "config", _short(cfg))
        reg = entry.get("registered_name")
        cls = entry["class_name"]
        if isinstance(reg, str) and reg not in (cls, "function") and (
                ">" in reg or not str(entry.get("module", "keras")).startswith("keras")):
            raise self.err(f"'{reg}' is a custom (user-registered) layer; seqc has no code for it "
                           "and never runs code from a model file", label, "registered_name",
                           f"registered_name={reg!r}",
                           hint="replace it with built-in layers (`seqc ops` lists them)")
        return cls, dict(cfg)

    # ---- inputs ----

    def input_layer(self, cfg: dict, label: str) -> tuple[list, str]:
        shape = None
        for key in ("batch_shape", "batch_input_shape"):
            if isinstance(cfg.get(key), list):
                shape = cfg[key][1:]
        for key in ("shape", "input_shape"):
            if shape is None and isinstance(cfg.get(key), list):
                shape = cfg[key]
        if shape is None:
            raise self.err("the InputLayer has no shape", label, "batch_shape",
                           f"config keys {sorted(cfg)}")
        if cfg.get("sparse") or cfg.get("ragged"):
            key = "sparse" if cfg.get("sparse") else "ragged"
            raise self.err(f"{key} inputs are not supported; seqc takes dense tensors", label,
                           key, f"{key}=true")
        return self._shape(shape, label, "batch_shape"), self._input_dtype(
            cfg.get("dtype"), label)

    def first_layer_input(self, cls: str, cfg: dict, label: str) -> tuple[list | None, str]:
        shape = None
        for key in ("batch_input_shape", "batch_shape"):
            if isinstance(cfg.get(key), list):
                shape = self._shape(cfg[key][1:], label, key)
                break
        if shape is None and isinstance(cfg.get("input_shape"), list):
            shape = self._shape(cfg["input_shape"], label, "input_shape")
        if shape is None and cls == "Embedding" and cfg.get("input_length") is not None:
            shape = self._shape([cfg["input_length"]], label, "input_length")
        dtype = cfg.get("dtype") if isinstance(cfg.get("dtype"), str) else None
        return shape, self._input_dtype(dtype, label) if dtype else "float32"

    def fallback_input_shape(self, doc: dict, model_cfg: dict, first: Any) -> list | None:
        """build_config.input_shape (Keras 3, tf.keras 2.13+) or build_input_shape (tf.keras)."""
        for holder, key in ((doc.get("build_config"), "input_shape"),
                            (model_cfg, "build_input_shape"),
                            (first.get("build_config") if isinstance(first, dict) else None,
                             "input_shape")):
            if isinstance(holder, dict) and isinstance(holder.get(key), list):
                shape = holder[key]
                if isinstance(shape, list) and len(shape) > 1:
                    return self._shape(shape[1:], None, key)
        return None

    def _shape(self, shape: Any, label: str | None, key: str) -> list:
        if not isinstance(shape, list) or not shape or any(
                d is not None and (not isinstance(d, int) or isinstance(d, bool) or d <= 0)
                for d in shape):
            raise self.err("the input shape must be a list of positive sizes (null for any "
                           "length), at least one besides the batch", label, key,
                           f"{key}={shape!r} (per sample)")
        return list(shape)

    def _input_dtype(self, dtype: Any, label: str) -> str:
        if dtype is None:
            return "float32"
        name = _dtype_name(dtype)
        if name.startswith("mixed_"):
            return "float32"
        if name not in INPUT_DTYPES:
            raise self.err(f"input dtype '{name}' is not supported", label, "dtype",
                           f"dtype={dtype!r}", hint="use float32 inputs, or int32 token ids")
        return INPUT_DTYPES[name]

    # ---- layers ----

    def layer(self, cls: str, cfg: dict, label: str) -> tuple[dict, KerasLayerRef]:
        """One Keras layer entry -> (seqc spec layer, KerasLayerRef)."""
        name = cfg.get("name")
        args, kind, inner = self.arguments(cls, cfg, label, "")
        layer = {"type": kind}
        if isinstance(name, str) and name:
            layer["name"] = name
        trainable = cfg.get("trainable", True)
        if trainable is False:
            layer["trainable"] = False
        layer.update(args)
        return layer, KerasLayerRef(name if isinstance(name, str) else "", cls, inner)

    def arguments(self, cls: str, cfg: dict, label: str,
                  prefix: str) -> tuple[dict, str, list[KerasLayerRef]]:
        """(seqc arguments, seqc kind, wrapped layers' refs) of one layer config. `prefix`
        names the enclosing wrapper key in messages ("layer.")."""
        kind = self.kind(cls, label, prefix)
        op = REGISTRY[kind]
        self._dtype_policy(cfg.get("dtype"), label, prefix + "dtype")
        fields = _fields(op) | set(op.aliases)
        if op.splits_activation or kind == "Activation":
            fields.add("activation")
        cfg = {k: v for k, v in cfg.items() if k not in BOOKKEEPING or k in fields}
        cfg = self._version_args(cls, kind, cfg, label, prefix)
        args: dict = {}
        inner: list[KerasLayerRef] = []
        for key, value in cfg.items():
            fld = prefix + key
            if key in WRAPPER_KEYS and key in fields and isinstance(value, dict):
                icls, icfg = self.entry(value, label)
                iargs, ikind, irefs = self.arguments(icls, icfg, label, fld + ".")
                args[key] = {"type": ikind, **iargs}
                iname = icfg.get("name")
                inner.append(KerasLayerRef(iname if isinstance(iname, str) else "", icls,
                                           irefs))
                continue
            if key not in fields:
                if key in PERFORMANCE or _inert(key, value):
                    continue
                if key.endswith(TRAINING_ONLY_SUFFIXES):
                    self.training_only.append(f"{label}: {fld}={_short(value)}")
                    continue
                raise self._unmodelled(kind, key, value, label, fld)
            if key.endswith("_initializer"):
                value = self.initializer(value, label, fld)
            elif key in ("activation", "recurrent_activation"):
                value = self.activation(value, label, fld)
            args[key] = value
        if kind == "Bidirectional" and inner:
            inner = self._directions(inner)
        return args, kind, inner

    def _directions(self, inner: list[KerasLayerRef]) -> list[KerasLayerRef]:
        """Bidirectional's [forward, backward] sublayers under the names Keras gives them:
        Keras 3 writes both configs with their names ("forward_lstm", "backward_lstm"); Keras
        2 writes the wrapped layer as given (plus backward_layer only when one was passed) and
        prefixes "forward_" / "backward_" when it builds them."""
        if not self.keras2:
            if len(inner) == 1:  # no backward_layer config: Keras 3 would derive one
                base = inner[0].name.removeprefix("forward_")
                inner = [*inner, KerasLayerRef("backward_" + base, inner[0].class_name,
                                               list(inner[0].inner))]
            return inner
        fwd = inner[0]
        bwd = inner[1] if len(inner) > 1 else KerasLayerRef(fwd.name, fwd.class_name,
                                                             list(fwd.inner))
        return [KerasLayerRef("forward_" + fwd.name, fwd.class_name, fwd.inner),
                KerasLayerRef("backward_" + bwd.name, bwd.class_name, bwd.inner)]

    def kind(self, cls: str, label: str, prefix: str) -> str:
        if cls in LAMBDA_CLASSES:
            raise self.err(f"a {cls} layer holds Python code; seqc never runs code from a "
                           "model file", label, prefix + "class_name", f"class_name={cls!r}",
                           hint="seqc never runs code from a model file; replace the Lambda "
                                "with a built-in layer (`seqc ops` lists them)")
        if cls in ("Sequential", "Functional", "Model"):
            raise self.err("nested models are not supported", label, prefix + "class_name",
                           f"class_name={cls!r}",
                           hint="flatten the inner model's layers into the outer Sequential")
        if cls in ("CuDNNLSTM", "CuDNNGRU"):
            raise self.err(f"{cls} (Keras 2's GPU-only layer) has its own weight layout", label,
                           prefix + "class_name", f"class_name={cls!r}",
                           hint=f"convert it to {cls[5:]} in Keras first (Keras 2.x loads "
                                f"CuDNN weights into {cls[5:]}(recurrent_activation='sigmoid'"
                                f"{', reset_after=True' if cls == 'CuDNNGRU' else ''}))")
        kind = KIND_ALIASES.get(RENAMED.get(cls, cls), RENAMED.get(cls, cls))
        if kind not in REGISTRY or kind == "InputLayer":
            raise self.err(f"unknown layer class '{cls}'", label, prefix + "class_name",
                           f"class_name={cls!r}",
                           hint=did_you_mean(cls, [k for k in REGISTRY if k != "InputLayer"])
                           or "run `seqc ops` for the supported layers")
        return kind

    def _version_args(self, cls: str, kind: str, cfg: dict, label: str, prefix: str) -> dict:
        """Keras 2 spellings and defaults -> Keras 3 arguments with the same meaning."""
        if cls == "ThresholdedReLU":
            theta = cfg.pop("theta", 1.0)  # Keras 2's default
            cfg["threshold"] = theta
        if kind == "BatchNormalization" and isinstance(cfg.get("axis"), list):
            # tf.keras stores a built layer's axis as a list of positive axes.
            if len(cfg["axis"]) != 1:
                raise self.err("BatchNormalization over several axes is not supported", label,
                               prefix + "axis", f"axis={cfg['axis']}")
            cfg["axis"] = cfg["axis"][0]
        if cfg.get("time_major"):
            raise self.err("time_major=True (time-first inputs) is not supported", label,
                           prefix + "time_major", "time_major=True",
                           hint="feed (batch, time, features) inputs and drop time_major")
        if kind in ("LSTM", "GRU") and self.version == "keras2.0":
            # Multi-backend Keras' defaults, for configs written before a key existed.
            cfg.setdefault("recurrent_activation", "hard_sigmoid")
            if kind == "GRU":
                cfg.setdefault("reset_after", False)
        return cfg

    def _unmodelled(self, kind: str, key: str, value: Any, label: str,
                    fld: str) -> DefinitionError:
        if key.endswith("_regularizer"):
            hint = ("seqc does not train with regularization penalties; remove the "
                    "regularizer (its weights load and predict the same without it)")
        elif key.endswith("_constraint"):
            hint = "seqc does not apply weight constraints; remove the constraint"
        elif key == "stateful":
            hint = "seqc runs stateless recurrent layers; save the model with stateful=False"
        else:
            hint = None
        return self.err(f"{kind} argument '{key}' is not supported by seqc at this value "
                        f"(seqc accepts it only at its inert default)", label, fld,
                        f"{key}={_short(value)}", hint)

    def _dtype_policy(self, dtype: Any, label: str, fld: str) -> None:
        if dtype is None:
            return
        name = _dtype_name(dtype)
        if name not in FLOAT32_POLICIES:
            raise self.err(f"dtype policy '{name}' is not supported: seqc computes in float32",
                           label, fld, f"dtype={_short(dtype)}",
                           hint="build and save the model with the float32 policy "
                                "(keras.config.set_dtype_policy('float32'))")

    # ---- values ----

    def activation(self, value: Any, label: str, fld: str) -> Any:
        if value is None:
            return "linear"
        if isinstance(value, dict):
            cls = value.get("class_name")
            inner = value.get("config")
            if cls == "function" and isinstance(inner, str):
                value = inner  # Keras 3's serialized built-in function
            elif cls in ("function", "__lambda__") or (
                    cls is None and ("value" in value or "function" in value)):
                # Keras 3 writes a lambda as {"value": [marshalled bytecode, ...]}.
                raise self.err("the activation is a Python function (a lambda or custom "
                               "code); seqc never runs code from a model file", label, fld,
                               f"{fld.split('.')[-1]}=<serialized Python function>",
                               hint="use a built-in activation name")
            elif isinstance(cls, str) and canonical(_snake(cls)) in ACTIVATIONS:
                value = {"type": canonical(_snake(cls)),
                         **(inner if isinstance(inner, dict) else {})}
            elif "type" not in value:
                raise self.err("unknown serialized activation", label, fld,
                               f"{fld.split('.')[-1]}={_short(value)}",
                               hint="use a built-in activation name")
        if isinstance(value, str):
            name = canonical(value)
            if name not in ACTIVATIONS:
                raise self.err(f"unknown activation '{value}'", label, fld,
                               f"{fld.split('.')[-1]}={value!r}",
                               hint=did_you_mean(value, ACTIVATIONS)
                               or f"valid activations: {', '.join(sorted(ACTIVATIONS))}")
            if name == "hard_sigmoid" and self.keras2:
                return dict(HARD_SIGMOID_KERAS2)  # clip(0.2x + 0.5, 0, 1)
            return name
        return value

    def initializer(self, value: Any, label: str, fld: str) -> Any:
        """Any serialized initializer -> a seqc name (when at that initializer's defaults) or
        {"type": name, **arguments}; checked against seqc's initializer table."""
        from ..training import initializers as inits

        out = canonical_initializer(value, legacy_normal=self._legacy_normal())
        try:
            inits.get(out)
        except SeqcError as e:
            raise self.err(e.message, label, fld, f"{fld.split('.')[-1]}={_short(value)}",
                           e.hint) from None
        return out

    def _legacy_normal(self) -> bool:
        # Multi-backend Keras before 2.2.5 drew VarianceScaling "normal" with stddev
        # sqrt(scale / n), truncated but not corrected for the truncation.
        return self.version == "keras2.0" and (self.kv is None or self.kv < (2, 2, 5))

    # ---- compile ----

    def compile(self, doc: dict) -> dict | None:
        if isinstance(doc.get("compile_config"), dict):
            cc = doc["compile_config"]
            optimizer = cc.get("optimizer")
        elif isinstance(doc.get("training_config"), dict):
            cc = doc["training_config"]
            optimizer = cc.get("optimizer_config")
        else:
            return None
        out: dict = {}
        if optimizer is not None:
            out["optimizer"] = self.optimizer(optimizer)
        loss = cc.get("loss")
        if isinstance(loss, dict) and "class_name" not in loss and len(loss) == 1:
            loss = next(iter(loss.values()))  # {output name: loss} of a single output
        if isinstance(loss, list) and len(loss) == 1:
            loss = loss[0]
        if loss is not None:
            out["loss"] = self.loss(loss)
        for key in ("metrics", "weighted_metrics"):
            metrics = self.metrics(cc.get(key), key, out.get("loss"))
            if metrics:
                out[key] = metrics
        if cc.get("loss_weights") is not None:
            out["loss_weights"] = cc["loss_weights"]
        return out

    def optimizer(self, spec: Any) -> Any:
        from ..training import optimizers

        fld = "compile.optimizer"
        if isinstance(spec, dict):
            name = spec.get("class_name") or spec.get("type")
            if isinstance(name, str) and name.startswith("Custom>"):
                name = name[len("Custom>"):]  # tf.keras 2.11+ legacy optimizers
            cfg = dict(spec.get("config") or {})
            if "lr" in cfg:
                if "learning_rate" in cfg:
                    raise self.err("the optimizer gives both lr and learning_rate", None, fld,
                                   f"lr={cfg['lr']}, learning_rate={cfg['learning_rate']}")
                cfg["learning_rate"] = cfg.pop("lr")  # Keras 2's name
            decay = cfg.pop("decay", 0.0)
            if decay not in (0, 0.0, None):
                lr = cfg.get("learning_rate", "LR")
                raise self.err(
                    "Keras 2's optimizer decay (lr / (1 + decay * iterations)) is not a Keras 3 "
                    "optimizer argument", None, f"{fld}.decay", f"decay={decay}",
                    hint=f"use the same schedule explicitly: learning_rate={{\"class_name\": "
                         f"\"InverseTimeDecay\", \"config\": {{\"initial_learning_rate\": {lr},"
                         f" \"decay_steps\": 1, \"decay_rate\": {decay}}}}}")
            for k in ("name", "jit_compile", "is_legacy_optimizer"):
                cfg.pop(k, None)
            spec = {"type": name, **cfg}
        try:
            optimizers.get(spec)
        except SeqcError as e:
            raise self.err(e.message, None, fld, e.received, e.hint) from None
        return spec

    def loss(self, spec: Any) -> Any:
        from ..training import losses

        spec = self._named(spec, "compile.loss")
        if isinstance(spec, dict):
            if spec.get("reduction") == "auto":  # tf.keras: auto = sum_over_batch_size
                spec.pop("reduction")
            if isinstance(spec.get("fn"), str):  # LossFunctionWrapper
                spec = spec["fn"]
        try:
            losses.get(spec)
        except SeqcError as e:
            raise self.err(e.message, None, "compile.loss", e.received, e.hint) from None
        return spec

    def metrics(self, metrics: Any, key: str, loss: Any) -> list:
        from ..training import metrics as metrics_mod

        if metrics is None:
            return []
        if isinstance(metrics, dict) and len(metrics) == 1 and "class_name" not in metrics:
            metrics = next(iter(metrics.values()))  # {output name: metrics}
        if not isinstance(metrics, list):
            metrics = [metrics]
        if len(metrics) == 1 and isinstance(metrics[0], list):
            metrics = metrics[0]  # tf.keras: one list per output
        out = []
        for m in metrics:
            spec = self._named(m, f"compile.{key}")
            if isinstance(spec, dict):
                if isinstance(spec.get("fn"), str):  # MeanMetricWrapper
                    spec = spec["fn"]
                elif _dtype_name(spec.get("dtype", "float32")) == "float32":
                    spec.pop("dtype", None)
            try:
                metrics_mod.get(spec, loss if isinstance(loss, str) else None)
            except SeqcError as e:
                raise self.err(e.message, None, f"compile.{key}", e.received, e.hint) from None
            out.append(spec)
        return out

    def _named(self, spec: Any, fld: str) -> Any:
        """A Keras serialized object -> "name" or {"type": class, **config}."""
        if isinstance(spec, str):
            return spec
        if isinstance(spec, dict) and isinstance(spec.get("class_name"), str):
            if spec["class_name"] == "function" and isinstance(spec.get("config"), str):
                return spec["config"]
            cfg = spec.get("config") or {}
            if not isinstance(cfg, dict):
                raise self.err("unreadable serialized object", None, fld, _short(spec))
            return {"type": spec["class_name"], **cfg}
        if isinstance(spec, dict) and "type" in spec:
            return dict(spec)
        raise self.err("expected a name or a serialized Keras object", None, fld, _short(spec))


# ---------------------------------------------------------------- initializers

def canonical_initializer(value: Any, *, legacy_normal: bool = False) -> Any:
    """Any spelling of an initializer (name, Keras 2 or 3 serialized dict, seqc's
    {"type": ...}) -> seqc's canonical form: the snake_case name when every argument is at
    that initializer's default, else {"type": name, **non-default arguments}. Seeds are
    dropped (seqc seeds each parameter itself); VarianceScaling with the arguments of a named
    initializer becomes that name (Keras 2.0 wrote glorot_uniform as VarianceScaling)."""
    from ..training.initializers import INITIALIZERS

    if isinstance(value, str):
        snake = _INIT_ALIASES.get(_snake(value), _snake(value))
        return snake if snake in INITIALIZERS else value
    if isinstance(value, dict):
        if "class_name" in value:
            name = value["class_name"]
            cfg = dict(value.get("config") or {})
        else:
            name = value.get("type")
            cfg = {k: v for k, v in value.items() if k != "type"}
    else:
        return value
    if not isinstance(name, str):
        return value
    snake = _snake(name)
    snake = _INIT_ALIASES.get(snake, snake)
    cfg.pop("seed", None)
    for k in ("input_axes", "output_axes"):
        if cfg.get(k, 0) is None:
            cfg.pop(k)
    if cfg.get("dtype") in ("float32", None):
        cfg.pop("dtype", None)
    if snake == "variance_scaling":
        if cfg.get("distribution") == "normal":
            cfg["distribution"] = "truncated_normal"
            if legacy_normal:
                cfg["scale"] = float(cfg.get("scale", 1.0)) * TRUNC_STD ** 2
        named = _NAMED_VARIANCE_SCALING.get((_num(cfg.get("scale", 1.0)),
                                             cfg.get("mode", "fan_in"),
                                             cfg.get("distribution", "truncated_normal")))
        if named and set(cfg) <= {"scale", "mode", "distribution"}:
            return named
    if snake not in INITIALIZERS:
        return value if isinstance(value, str) else {"type": name, **cfg}
    defaults = {k: p.default for k, p in inspect.signature(INITIALIZERS[snake]).parameters.items()
                if p.default is not inspect.Parameter.empty and k != "seed"}
    # Keras-only arguments at None are Keras' defaults (Keras 3.15's input_axes/output_axes:
    # the usual fans); any other value stays and is refused by the initializer table.
    cfg = {k: v for k, v in cfg.items() if v is not None or k in defaults}
    extra = {k: v for k, v in cfg.items() if k not in defaults or defaults[k] != v}
    return snake if not extra else {"type": snake, **extra}


# Keras' short names for the same initializers.
_INIT_ALIASES = {"uniform": "random_uniform", "normal": "random_normal", "zero": "zeros",
                 "one": "ones"}

_NAMED_VARIANCE_SCALING = {
    (1.0, "fan_avg", "uniform"): "glorot_uniform",
    (1.0, "fan_avg", "truncated_normal"): "glorot_normal",
    (2.0, "fan_in", "uniform"): "he_uniform",
    (2.0, "fan_in", "truncated_normal"): "he_normal",
    (1.0, "fan_in", "uniform"): "lecun_uniform",
    (1.0, "fan_in", "truncated_normal"): "lecun_normal",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _num(v: Any) -> Any:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


# ---------------------------------------------------------------- small helpers

def _fields(op: Any) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(op.Attrs)}


def _inert(key: str, value: Any) -> bool:
    if value is None or value is False:
        return True
    return key in INERT and any(value == v and type(value) is type(v) for v in INERT[key]
                                if v is not None)


def _dtype_name(dtype: Any) -> str:
    """"float32", a DTypePolicy / Policy object, or {"config": {"name": ...}} -> its name."""
    if isinstance(dtype, str):
        return dtype
    if isinstance(dtype, dict):
        cfg = dtype.get("config")
        if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
            return cfg["name"]
        if isinstance(dtype.get("name"), str):
            return dtype["name"]
    return repr(dtype)


def _model_name(cfg: dict, file: str) -> str:
    name = cfg.get("name") if isinstance(cfg, dict) else None
    if not isinstance(name, str) or not name:
        name = os.path.splitext(os.path.basename(file))[0] or "sequential"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return name if re.match(r"[A-Za-z0-9_]", name) else "_" + name


def _refs(v: Any) -> list:
    """input_layers/output_layers: [name, i, j] or a list of them."""
    if isinstance(v, list) and v and isinstance(v[0], str):
        return [v]
    return v if isinstance(v, list) else []


def _ref_name(r: Any) -> Any:
    return r[0] if isinstance(r, list) and r else r


def _find_history(obj: Any, out: list[str], depth: int = 0) -> None:
    """Layer names of the Keras 3 keras tensors (`keras_history`) inside a call's args."""
    if depth > 8:
        return
    if isinstance(obj, dict):
        hist = (obj.get("config") or {}).get("keras_history") if isinstance(
            obj.get("config"), dict) else None
        if obj.get("class_name") == "__keras_tensor__" and isinstance(hist, list) and hist:
            out.append(hist[0])
            return
        for v in obj.values():
            _find_history(v, out, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            _find_history(v, out, depth + 1)


def _tensor_like(v: Any) -> bool:
    return isinstance(v, list) and len(v) >= 3 and isinstance(v[0], str) and isinstance(v[1],
                                                                                         int)


def _short(v: Any, n: int = 160) -> str:
    text = repr(v)
    return text if len(text) <= n else text[: n - 3] + "..."


__all__ = ["KerasLayerRef", "KerasModelInfo", "VERSIONS", "canonical_initializer",
           "detect_version", "is_keras_json", "keras_doc_to_spec", "load_keras_json"]
