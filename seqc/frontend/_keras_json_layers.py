"""One Keras layer config -> a seqc spec layer, under the key policy of keras_json's docstring:
bookkeeping keys and performance switches are dropped, other keys seqc has no argument for only
at an inert value, the rest refused. Regularizers and constraints are kept (seqc trains them),
except a custom class, which is noted: loading goes on and fit refuses.
Wrapped layers (Bidirectional, TimeDistributed) are read recursively."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import DefinitionError, SeqcError, did_you_mean, layer_label
from ..ir import weight_args
from ..ops import REGISTRY
from ..ops.base import KIND_ALIASES, string_layer_error
from ._keras_json_values import activation, initializer
from ._keras_json_version import Reader, dtype_name, short, version_args

# Keys every Keras layer config may carry that are not layer arguments.
BOOKKEEPING = {"name", "trainable", "dtype", "autocast", "build_config", "module",
               "registered_name", "seed_generator", "batch_input_shape", "batch_shape",
               "input_shape", "batch_size", "input_dim", "input_length", "input_dtype"}
# Performance switches: every value computes the same function.
PERFORMANCE = {"implementation", "unroll", "fused", "use_cudnn", "lora_alpha"}
# Keras-only arguments and the values at which they do nothing (besides None and False).
INERT = {"groups": (1,), "num_constants": (0,), "time_major": (False,), "sparse": (False,),
         "lora_rank": (None,), "renorm_clipping": (None, {}), "renorm": (False,)}
WRAPPER_KEYS = ("layer", "backward_layer")
FLOAT32_POLICIES = {"float32", "mixed_float16", "mixed_bfloat16", "float16", "bfloat16"}
# Keras layer classes that are seqc kinds under another name or with other arguments.
RENAMED = {"ThresholdedReLU": "ReLU"}
LAMBDA_CLASSES = {"Lambda", "TFOpLambda", "SlicingOpLambda"}


@dataclass
class KerasLayerRef:
    """One Keras layer of the source model, in order (InputLayer excluded), with its wrapped
    layer(s): Bidirectional [forward, backward], TimeDistributed [layer]."""

    name: str
    class_name: str
    inner: list[KerasLayerRef] = field(default_factory=list)
    # A graph model's layers: the seqc layer this Keras layer became (its name may differ when
    # a nested model's layer name was taken), and a nested model's own layers.
    seqc_name: str | None = None
    members: list[KerasLayerRef] = field(default_factory=list)


def entry(r: Reader, entry: Any, where: int | str) -> tuple[str, dict]:
    """(class name, config copy) of a layer entry; `where` is its index in the model's
    layers or, for a wrapped layer, the wrapper's label."""
    label = where if isinstance(where, str) else layer_label(where, None, None)
    if isinstance(entry, dict) and isinstance(entry.get("class_name"), str) and \
            isinstance(where, int) and isinstance(entry.get("config"), dict):
        name = entry["config"].get("name")
        label = layer_label(where, name if isinstance(name, str) else None, entry["class_name"])
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise r.err("a layer must be {\"class_name\": ..., \"config\": {...}}", label,
                    "class_name", short(entry))
    cfg = entry.get("config")
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise r.err("a layer's config must be an object", label, "config", short(cfg))
    reg = entry.get("registered_name")
    cls = entry["class_name"]
    if isinstance(reg, str) and reg not in (cls, "function") and (
            ">" in reg or not str(entry.get("module", "keras")).startswith("keras")):
        raise r.err(f"'{reg}' is a custom (user-registered) layer; seqc has no code for it "
                    "and never runs code from a model file", label, "registered_name",
                    f"registered_name={reg!r}",
                    hint="replace it with built-in layers (`seqc ops` lists them)")
    return cls, dict(cfg)


def layer(r: Reader, cls: str, cfg: dict, label: str) -> tuple[dict, KerasLayerRef]:
    """One Keras layer entry -> (seqc spec layer, KerasLayerRef)."""
    name = cfg.get("name")
    args, kind, inner = _arguments(r, cls, cfg, label, "")
    out = {"type": kind}
    if isinstance(name, str) and name:
        out["name"] = name
    if cfg.get("trainable", True) is False:
        out["trainable"] = False
    out.update(args)
    return out, _ref(cls, cfg, inner)


def _ref(cls: str, cfg: dict, inner: list[KerasLayerRef]) -> KerasLayerRef:
    name = cfg.get("name")
    return KerasLayerRef(name if isinstance(name, str) else "", cls, inner)


def _arguments(r: Reader, cls: str, cfg: dict, label: str,
               prefix: str) -> tuple[dict, str, list[KerasLayerRef]]:
    """(seqc arguments, seqc kind, wrapped layers' refs) of one layer config. `prefix`
    names the enclosing wrapper key in messages ("layer.")."""
    kind = _kind(r, cls, label, prefix)
    op = REGISTRY[kind]
    training_args = set(weight_args.arg_names(op))
    fields = {f.name for f in dataclasses.fields(op.Attrs)} | set(op.aliases) | training_args
    if "dtype" in fields:  # an argument of the kind (Hashing's integer output dtype)
        if cfg.get("dtype") is not None:
            cfg["dtype"] = dtype_name(cfg["dtype"])
    else:
        _dtype_policy(r, cfg.get("dtype"), label, prefix + "dtype")
    if op.splits_activation or kind == "Activation":
        fields.add("activation")
    cfg = {k: v for k, v in cfg.items() if k not in BOOKKEEPING or k in fields}
    cfg = version_args(r, cls, kind, cfg, label, prefix)
    args: dict = {}
    inner: list[KerasLayerRef] = []
    for key, value in cfg.items():
        fld = prefix + key
        if key in WRAPPER_KEYS and key in fields and isinstance(value, dict):
            icls, icfg = entry(r, value, label)
            iargs, ikind, irefs = _arguments(r, icls, icfg, label, fld + ".")
            args[key] = {"type": ikind, **iargs}
            inner.append(_ref(icls, icfg, irefs))
            continue
        if key not in fields:
            if key in PERFORMANCE or _inert(key, value):
                continue
            raise _unmodelled(r, kind, key, value, label, fld)
        if key in training_args and not _builtin(key, value):
            # A custom regularizer or constraint: loading and predicting go on, fit refuses.
            r.training_only.append(f"{label}: {fld}={short(value)}")
            continue
        if key.endswith("_initializer"):
            value = initializer(r, value, label, fld)
        elif key in ("activation", "recurrent_activation"):
            value = activation(r, value, label, fld)
        args[key] = value
    if kind == "Bidirectional" and inner:
        inner = _directions(r, inner)
    return args, kind, inner


def _directions(r: Reader, inner: list[KerasLayerRef]) -> list[KerasLayerRef]:
    """Bidirectional's [forward, backward] sublayers under the names Keras gives them:
    Keras 3 writes both configs with their names ("forward_lstm", "backward_lstm"); Keras
    2 writes the wrapped layer as given (plus backward_layer only when one was passed) and
    prefixes "forward_" / "backward_" when it builds them."""
    if not r.keras2:
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


def _kind(r: Reader, cls: str, label: str, prefix: str) -> str:
    fld, received = prefix + "class_name", f"class_name={cls!r}"
    if cls in LAMBDA_CLASSES:
        raise r.err(f"a {cls} layer holds Python code; seqc never runs code from a "
                    "model file", label, fld, received,
                    hint="seqc never runs code from a model file; replace the Lambda "
                         "with a built-in layer (`seqc ops` lists them)")
    if cls in ("Sequential", "Functional", "Model"):
        raise r.err("nested models are not supported", label, fld, received,
                    hint="flatten the inner model's layers into the outer Sequential")
    if cls in ("CuDNNLSTM", "CuDNNGRU"):
        raise r.err(f"{cls} (Keras 2's GPU-only layer) has its own weight layout", label,
                    fld, received,
                    hint=f"convert it to {cls[5:]} in Keras first (Keras 2.x loads "
                         f"CuDNN weights into {cls[5:]}(recurrent_activation='sigmoid'"
                         f"{', reset_after=True' if cls == 'CuDNNGRU' else ''}))")
    refusal = string_layer_error(cls)
    if refusal is not None:
        raise r.err(refusal.message, label, fld, received, hint=refusal.hint)
    kind = KIND_ALIASES.get(RENAMED.get(cls, cls), RENAMED.get(cls, cls))
    if kind not in REGISTRY or kind == "InputLayer":
        raise r.err(f"unknown layer class '{cls}'", label, fld, received,
                    hint=did_you_mean(cls, [k for k in REGISTRY if k != "InputLayer"])
                    or "run `seqc ops` for the supported layers")
    return kind


def _builtin(key: str, value: Any) -> bool:
    """Whether a regularizer/constraint argument names one of Keras' built-in classes."""
    from ..training import constraints, regularizers

    get = constraints.get if key.endswith("_constraint") else regularizers.get
    try:
        get(value, key)
    except SeqcError:
        return False
    return True


def _unmodelled(r: Reader, kind: str, key: str, value: Any, label: str,
                fld: str) -> DefinitionError:
    hint = ("seqc trains stateful layers read from a Python script or a seqc JSON spec (with a "
            "fixed batch size); from a Keras file, save the model with stateful=False"
            if key == "stateful" else None)
    return r.err(f"{kind} argument '{key}' is not supported by seqc at this value "
                 f"(seqc accepts it only at its inert default)", label, fld,
                 f"{key}={short(value)}", hint)


def _dtype_policy(r: Reader, dtype: Any, label: str, fld: str) -> None:
    if dtype is None:
        return
    name = dtype_name(dtype)
    if name not in FLOAT32_POLICIES:
        raise r.err(f"dtype policy '{name}' is not supported: seqc computes in float32",
                    label, fld, f"dtype={short(dtype)}",
                    hint="build and save the model with the float32 policy "
                         "(keras.config.set_dtype_policy('float32'))")


def _inert(key: str, value: Any) -> bool:
    if value is None or value is False:
        return True
    return key in INERT and any(value == v and type(value) is type(v) for v in INERT[key]
                                if v is not None)
