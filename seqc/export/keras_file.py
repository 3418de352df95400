"""A seqc model -> a Keras 3 `.keras` file (`model.save`, `save_keras`), and its Keras model
JSON (`keras_config`). The archive holds metadata.json, config.json and model.weights.h5, in
Keras' order, byte-identical for the same model; `keras.saving.load_model` reads it back with
the same weights and compile settings. Weight layouts are frontend/_keras_h5.py's, which the
`.keras` reader (frontend/keras_files.py) shares: the one module of frontend/ export imports.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SeqcError, UsageError, layer_label
from ..fileio import atomic_file
from ..frontend import _keras_h5 as kh5
from ..frontend._keras_h5 import CONFIG_MEMBER, KERAS_MEMBERS, METADATA_MEMBER, WEIGHTS_MEMBER
from ..ir import weight_args
from ..ops import REGISTRY
from .keras_objects import compile_config, initializer

if TYPE_CHECKING:  # the model calls this module (model.save); only its type is needed here
    from ..model import Model

__all__ = ["keras_config", "save_keras"]

# The Keras release whose .keras layout save_keras writes (metadata.json; Keras reads no field).
KERAS_FORMAT_VERSION = "3.15.1"
POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
          "registered_name": None}


def keras_config(model: Model) -> dict:
    """The Keras 3 model JSON of a seqc model, as a `.keras` file's config.json holds it
    (compile_config included when the model is compiled)."""
    _refuse_folds(model)
    config, _ = _model_config(model)
    return config


def _refuse_folds(model: Model) -> None:
    """A PyTorch forward that folds the time steps into the batch (Graph.folds) returns
    (N*T, V) at the ONNX boundary; a Keras model of its graph would return (N, T, V), another
    output than the source's: refused, never written silently different."""
    folds = getattr(model.graph, "folds", ())
    if folds:
        raise UsageError("the model folds the time steps of an output into the batch (a "
                         "PyTorch view(-1, H)), which a Keras model does not express",
                         field="folds", received=f"folded outputs {list(folds)}",
                         hint="export it as ONNX (seqc build / model.export), whose output "
                              "is the folded (N*T, V)")


def save_keras(model: Model, path: str | os.PathLike) -> str:
    """Write `model` as a Keras 3 `.keras` file (atomically) and return its path;
    `keras.saving.load_model(path)` rebuilds it with the same weights and compile settings.

    >>> import seqc
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> save_keras(m, "m.keras")  # doctest: +SKIP
    'm.keras'
    """
    file = os.fspath(path)
    _refuse_folds(model)
    h5py = kh5.require_h5py()
    config, plan = _model_config(model)
    missing = [k for k in model.graph.param_specs if k not in model.params]
    if missing:
        raise UsageError("the model has no value for a parameter", field=missing[0],
                         received=f"parameters {sorted(model.params)}")
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        kh5.write_keras3(h5, plan, model.params, config["config"]["name"])
    from .._version import __version__

    # Byte-identical for the same model: Keras' date_saved (which Keras never reads back) only
    # from SOURCE_DATE_EPOCH, the reproducible-builds convention, and fixed zip timestamps.
    metadata = {"keras_version": KERAS_FORMAT_VERSION, "saved_by": f"seqc {__version__}"}
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        metadata["date_saved"] = datetime.datetime.fromtimestamp(
            int(epoch), datetime.timezone.utc).strftime("%Y-%m-%d@%H:%M:%S")
    folder = os.path.dirname(os.path.abspath(file))
    if not os.path.isdir(folder):
        raise UsageError("the folder to save into does not exist", field="path",
                         received=repr(file))
    members = {METADATA_MEMBER: json.dumps(metadata), CONFIG_MEMBER: json.dumps(config),
               WEIGHTS_MEMBER: buf.getvalue()}
    with atomic_file(file) as f, zipfile.ZipFile(f, "w") as zf:
        for name in KERAS_MEMBERS:  # Keras' order: metadata, config, weights
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name])
    return file


def _model_config(model: Model) -> tuple[dict, list[kh5.PlannedLayer]]:
    graph = model.graph
    if not graph.is_chain:
        return _functional_config(model)
    names: set[str] = set()
    model_name = _keras_name(model.name or "sequential", set())
    in_type = graph.input_type
    batch_shape = list(in_type.shape)
    input_name = _keras_name("input_layer", names)
    layers: list[dict] = [{
        "module": "keras.layers", "class_name": "InputLayer",
        "config": {"batch_shape": batch_shape, "dtype": in_type.dtype, "sparse": False,
                   "ragged": False, "name": input_name, "optional": False},
        "registered_name": None}]
    plan: list[kh5.PlannedLayer] = []
    used_keys: dict[str, int] = {}
    for lname, nodes in kh5.layer_nodes(graph).items():
        main = kh5.main_node(lname, nodes)
        label = layer_label(None, lname, main.op)
        try:
            entries = _layer_entries(main, [n for n in nodes if n is not main], model.params)
        except SeqcError as e:
            raise e.located(layer=label) from None
        for i, (cls, cfg) in enumerate(entries):
            name = _keras_name(lname if i == 0 else f"{lname}_activation", names)
            base = {"name": name, "dtype": POLICY}
            if i == 0 and not main.trainable:
                # Only when False: some Keras layers (SpatialDropout*) take no `trainable`.
                base["trainable"] = False
            layers.append({"module": "keras.layers", "class_name": cls,
                           "config": {**base, **cfg}, "registered_name": None})
            pl = kh5.plan_layer(lname, cls, nodes if i == 0 else None, graph, used_keys)
            pl.name = name
            plan.append(pl)
    config: dict[str, Any] = {
        "module": "keras", "class_name": "Sequential",
        "config": {"name": model_name, "trainable": True, "dtype": POLICY, "layers": layers,
                   "build_input_shape": batch_shape},
        "registered_name": None, "build_config": {"input_shape": batch_shape}}
    if model.compiled is not None:
        config["compile_config"] = compile_config(model.compiled)
    return config, plan


def _functional_config(model: Model) -> tuple[dict, list[kh5.PlannedLayer]]:
    """A graph model as a Keras 3 Functional config: an InputLayer per graph input, a Keras
    layer per seqc layer (a shared node is another call of its owner's layer), each call an
    inbound node, the layers in the order Keras' Functional sorts them (its weights file
    keys layers in that order)."""
    graph = model.graph
    names: set[str] = set()
    entries: dict[str, dict] = {}  # Keras layer name -> its entry
    parents: dict[tuple[str, int], list[tuple[str, int]]] = {}  # a call -> calls it reads
    origin: dict[str, tuple[str, list | None]] = {}  # Keras layer -> (seqc layer, nodes)
    hist: dict[str, tuple[str, int]] = {}  # seqc value -> the Keras call producing it
    tidx: dict[str, int] = {}  # seqc value -> its index among the call's outputs, when not 0
    for v in graph.inputs:
        t = graph.types[v]
        kname = _keras_name(v, names)
        entries[kname] = {
            "module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": list(t.shape), "dtype": t.dtype, "sparse": False,
                       "ragged": False, "name": kname, "optional": False},
            "registered_name": None, "name": kname, "inbound_nodes": []}
        hist[v] = (kname, 0)
        parents[(kname, 0)] = []
        origin[kname] = (v, None)
    knames_of: dict[str, list[str]] = {}  # seqc layer -> its Keras layer(s)
    for lname, nodes in kh5.layer_nodes(graph).items():
        main = kh5.main_node(lname, nodes)
        label = layer_label(None, lname, main.op)
        if main.shares:  # another call of the owner's Keras layer(s)
            knames = knames_of[main.shares]
        else:
            try:
                made = _layer_entries(main, [n for n in nodes if n is not main],
                                      model.params)
            except SeqcError as e:
                raise e.located(layer=label) from None
            knames = []
            for i, (cls, cfg) in enumerate(made):
                kname = _keras_name(lname if i == 0 else f"{lname}_activation", names)
                base = {"name": kname, "dtype": POLICY}
                if i == 0 and not main.trainable:
                    base["trainable"] = False
                entries[kname] = {"module": "keras.layers", "class_name": cls,
                                  "config": {**base, **cfg}, "registered_name": None,
                                  "name": kname, "inbound_nodes": []}
                origin[kname] = (lname, nodes if i == 0 else None)
                knames.append(kname)
            knames_of[lname] = knames
        multi = REGISTRY[main.op].multi_input
        srcs = [(hist[v], graph.types[v], tidx.get(v, 0)) for v in main.inputs]
        cur = srcs[0][0]
        for i, kname in enumerate(knames):
            k = len(entries[kname]["inbound_nodes"])
            tensors = [_keras_tensor(t, call, j) for call, t, j in srcs]
            node = {"args": [tensors] if multi and i == 0 else tensors, "kwargs": {}}
            if len(tensors) > 1 and not multi:  # a recurrent layer's initial_state
                node = {"args": tensors[:1], "kwargs": {"initial_state": tensors[1:]}}
            entries[kname]["inbound_nodes"].append(node)
            parents[(kname, k)] = [call for call, _, _ in srcs]
            cur = (kname, k)
            srcs = [(cur, graph.types[main.outputs[0]], 0)]
        for n in nodes:
            hist[n.outputs[0]] = cur
        for j, v in enumerate(main.outputs[1:], 1):  # return_state: tensor j of the call
            hist[v], tidx[v] = cur, j
    order = _keras_layer_order(list(graph.inputs), [hist[v] for v in graph.outputs], parents,
                               hist)
    used_keys: dict[str, int] = {}
    plan: list[kh5.PlannedLayer] = []
    for kname in order:
        lname, nodes = origin[kname]
        pl = kh5.plan_layer(lname, entries[kname]["class_name"], nodes, graph, used_keys)
        pl.name = kname
        plan.append(pl)

    def refs(values: tuple[str, ...]) -> list:
        out = [[hist[v][0], hist[v][1], tidx.get(v, 0)] for v in values]
        return out if len(out) > 1 else out[0]

    model_name = _keras_name(model.name or "functional", set())
    config: dict[str, Any] = {
        "module": "keras.src.models.functional", "class_name": "Functional",
        "config": {"name": model_name, "trainable": True,
                   "layers": [entries[k] for k in order],
                   "input_layers": refs(graph.inputs), "output_layers": refs(graph.outputs)},
        "registered_name": "Functional", "build_config": {"input_shape": None}}
    if model.compiled is not None:
        config["compile_config"] = compile_config(model.compiled)
    return config, plan


def _keras_tensor(t: Any, call: tuple[str, int], index: int = 0) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": t.dtype,
                       "keras_history": [call[0], call[1], index]}}


def _keras_layer_order(inputs: list[str], outputs: list[tuple[str, int]],
                       parents: dict[tuple[str, int], list[tuple[str, int]]],
                       hist: dict[str, tuple[str, int]]) -> list[str]:
    """Keras' Functional layer order (keras.src.ops.function._build_map): a depth-first walk
    from the outputs numbers the layers, each call's depth is the longest path to an output,
    a layer's the deepest of its calls; layers by decreasing depth, ties in walk order."""
    index: dict[str, int] = {}
    finished: set[tuple[str, int]] = set()
    walk: list[tuple[str, int]] = []

    def visit(call: tuple[str, int]) -> None:
        stack = [(call, False)]
        while stack:
            c, done = stack.pop()
            if done:
                if c not in finished:
                    finished.add(c)
                    walk.append(c)
                continue
            if c in finished:
                continue
            index.setdefault(c[0], len(index))
            stack.append((c, True))
            stack.extend((p, False) for p in reversed(parents[c]))

    for out in outputs:
        visit(out)
    node_depth: dict[tuple[str, int], int] = {}
    layer_depth: dict[str, int] = {}
    for c in reversed(walk):
        d = max(node_depth.setdefault(c, 0), layer_depth.get(c[0], 0))
        layer_depth[c[0]] = node_depth[c] = d
        for p in parents[c]:
            node_depth[p] = max(d + 1, node_depth.get(p, 0))
    for v in inputs:  # an input nothing reads is kept, first
        kname = hist[v][0]
        if kname not in layer_depth:
            layer_depth[kname], index[kname] = 0, -1
    return sorted(layer_depth, key=lambda k: (-layer_depth[k], index[k]))


def _keras_name(name: str, used: set[str]) -> str:
    """A Keras layer name: no '/' (Keras refuses it), unique in the model."""
    base = name.replace("/", "_") or "layer"
    cand, i = base, 1
    while cand in used:
        cand, i = f"{base}_{i}", i + 1
    used.add(cand)
    return cand


def _layer_entries(main: Any, others: list[Any], params: dict) -> list[tuple[str, dict]]:
    """The Keras layer(s) for one seqc layer: its class and arguments (with the parameters
    Keras keeps in its config), plus a separate activation layer when its split-off
    activation has arguments a Keras `activation=` string cannot carry (relu with max_value ->
    ReLU layer)."""
    op = REGISTRY[main.op]
    raw = _arguments(op, main.attrs)
    for p in op.config_params:
        if p in main.params:
            value = np.asarray(params[main.param_key(p)])
            if np.isnan(value).any():
                raise UsageError(f"{main.op} has not been adapted, so it has no {p}",
                                 field=p, received=f"{p} not adapted",
                                 hint="fit the model (it adapts the layer) before saving")
            raw[p] = value.tolist()
    if main.op == "Activation" and not isinstance(raw.get("activation", "linear"), str):
        return [_activation_layer(raw["activation"])]
    config = _keras_args(raw)
    out = [(main.op, config)]
    activity = _training_args(main, config)
    for n in others:
        if n.op != "Activation" or not op.splits_activation:
            raise UsageError(f"the layer has an extra {n.op} node that Keras cannot express",
                             field="layers", received=f"node {n.name} ({n.op})")
        act = REGISTRY["Activation"].attrs_to_config(n.attrs)["activation"]
        if isinstance(act, str):
            config["activation"] = act
        else:
            out.append(_activation_layer(act))
    if activity is not None:
        out[-1][1]["activity_regularizer"] = activity  # on the layer's output, as written
    return out


def _training_args(main: Any, config: dict) -> dict | None:
    """Write the node's regularizers and constraints into its Keras config (a wrapped
    layer's into that layer's config) in Keras 3's serialized form; returns the activity
    regularizer, which belongs to the last Keras layer written for this seqc layer."""
    from ..training import constraints, regularizers

    activity = None
    for wrapper_key, args in weight_args.keras_args(main).items():
        target = config[wrapper_key]["config"] if wrapper_key else config
        for name, spec in args.items():
            get = constraints.get if name.endswith("_constraint") else regularizers.get
            obj = get(spec, name).keras_config()
            if name == weight_args.ACTIVITY:
                activity = obj
            else:
                target[name] = obj
    return activity


# Activations with arguments -> the Keras layer computing the same function.
_ACTIVATION_LAYERS = {
    "relu": ("ReLU", {"max_value": "max_value", "negative_slope": "negative_slope",
                      "threshold": "threshold"}),
    "leaky_relu": ("LeakyReLU", {"negative_slope": "negative_slope"}),
    "elu": ("ELU", {"alpha": "alpha"}),
    "softmax": ("Softmax", {"axis": "axis"}),
}


def _activation_layer(act: dict) -> tuple[str, dict]:
    kind = act.get("type")
    if kind not in _ACTIVATION_LAYERS:
        raise UsageError(
            f"Keras cannot save the activation '{kind}' with arguments", field="activation",
            received=f"activation={act!r}",
            hint="use the activation's default arguments, or a layer such as ReLU/LeakyReLU")
    cls, names = _ACTIVATION_LAYERS[kind]
    cfg = {names[k]: v for k, v in act.items() if k != "type"}
    if cls == "Softmax":
        cfg["axis"] = int(cfg["axis"])
    return cls, cfg


def _arguments(op: Any, attrs: Any) -> dict:
    """The layer's arguments in JSON form: every seqc attribute is a Keras 3 argument."""
    return op.attrs_to_config(attrs)


# seqc attributes with no Keras argument: (the value that means Keras' behaviour, why).
SEQC_ONLY = {"recurrent_bias": (False, "a PyTorch LSTM's or RNN's second bias row (b_hh) cannot be "
                                       "written to a Keras layer, which has one")}


def _keras_args(config: dict) -> dict:
    """seqc attrs (Keras 3 arguments) -> the values Keras' from_config takes: initializers
    and wrapped layers in Keras' serialized form."""
    out = {}
    for k, v in config.items():
        if k in SEQC_ONLY:
            if v == SEQC_ONLY[k][0]:
                continue  # the Keras meaning: nothing to write
            raise UsageError(f"Keras has no {k}: {SEQC_ONLY[k][1]}", field=k,
                             received=f"{k}={v!r}", hint="export to ONNX instead (seqc build / "
                                                         "seqc convert -o model.onnx)")
        if k.endswith("_initializer"):
            v = initializer(v)
        elif k in ("layer", "backward_layer") and isinstance(v, dict) and "class_name" in v:
            v = _wrapped(v, backward=k == "backward_layer")
        elif k in ("activation", "recurrent_activation") and isinstance(v, dict):
            raise UsageError(f"Keras cannot save the {k} '{v.get('type')}' with arguments "
                             "inside this layer", field=k, received=f"{k}={v!r}",
                             hint="use the activation's default arguments")
        out[k] = v
    return out


def _wrapped(spec: dict, *, backward: bool) -> dict:
    kind = spec["class_name"]
    op = REGISTRY[kind]
    config = dict(spec.get("config") or {})
    # TimeDistributed keeps a wrapped Dense/Conv's activation in its config (no split node).
    activation = config.pop("activation", None) if op.splits_activation else None
    args = _arguments(op, op.parse_attrs(config))
    if activation not in (None, "linear"):
        args["activation"] = activation
    base = _snake(kind)
    return {"module": "keras.layers", "class_name": kind,
            "config": {"name": f"backward_{base}" if backward else base, "dtype": POLICY,
                       **_keras_args(args)},
            "registered_name": None}


def _snake(kind: str) -> str:
    return kh5.keras_snake_case(kind)
