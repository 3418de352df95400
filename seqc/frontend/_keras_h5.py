"""Keras weight files (HDF5) <-> a seqc model's parameter table, with h5py and no Keras.

Keras 3 (`.weights.h5`, `model.weights.h5` in a `.keras`): `layers/<key>/vars/<i>`, where
<key> is the snake_case class name made unique in model order (dense, dense_1, ..., so
dense_10 sorts before dense_2), not the layer's name; recurrent layers keep theirs under
`cell/`, Bidirectional under `forward_layer/cell/` and `backward_layer/cell/`, TimeDistributed
under `layer/`. Keras 2 (`save_weights` `.h5`, a legacy `.h5`'s `model_weights`): attribute
`layer_names`, one group per layer name, attribute `weight_names` giving dataset paths in order.
Every dataset's kind, shape and dtype is checked against the model's ParamSpecs before any data
is read, so a hostile file cannot make seqc allocate more than the model itself needs. Keras 2's
layout is read in _keras_h5_keras2.py, with this module's plan and dataset checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DefinitionError, UsageError, layer_label
from ..ir.graph import Node
from ..ir.types import ParamSpec
from ..ops import REGISTRY
from ..ops.base import KIND_ALIASES

# Keras keeps a recurrent layer's weights in its cell (ConvLSTM*D too: an RNN over ConvLSTMCell).
RNN_KINDS = ("SimpleRNN", "LSTM", "GRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
FLOAT_DTYPES = ("float16", "float32", "float64")
INSTALL_HINT = "pip install 'seqc[keras]'"
# A Keras 3 `.keras` archive's members, in the order Keras writes them (reader and writer).
CONFIG_MEMBER = "config.json"
METADATA_MEMBER = "metadata.json"
WEIGHTS_MEMBER = "model.weights.h5"
KERAS_MEMBERS = (METADATA_MEMBER, CONFIG_MEMBER, WEIGHTS_MEMBER)


def require_h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise UsageError("reading and writing Keras weight files needs h5py, which is not "
                         "installed", field="h5py", received="no module named 'h5py'",
                         hint=INSTALL_HINT) from None
    return h5py


def keras_snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: the base of a weights-file group key."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_key(base: str, used: dict[str, int]) -> str:
    """saving_lib._get_unique_name: base, base_1, base_2, ... in model order."""
    if base in used:
        used[base] += 1
        return f"{base}_{used[base]}"
    used[base] = 0
    return base


@dataclass
class PlannedLayer:
    """One Keras layer of the file and the seqc parameters its weights fill, in order.

    `groups` are (path under `layers/<key>` of a `vars` group, seqc table keys): one group for
    a plain layer, one per wrapped layer / recurrent cell for wrappers and RNNs."""

    name: str
    class_name: str
    key: str
    groups: list[tuple[str, list[str]]]
    specs: dict[str, ParamSpec]
    # The top-level Keras layer holding this one: a nested model's name (its weights are one
    # group of a Keras 2 style .h5), None for a layer of the model itself.
    outer: str | None = None

    @property
    def label(self) -> str:
        return layer_label(None, self.name, self.class_name)

    @property
    def param_keys(self) -> list[str]:
        return [k for _, keys in self.groups for k in keys]


def layer_nodes(graph: Any) -> dict[str, list[Node]]:
    """seqc nodes grouped by the user-written layer they came from, in model order."""
    out: dict[str, list[Node]] = {}
    for n in graph.nodes:
        out.setdefault(n.layer or n.name, []).append(n)
    return out


def main_node(name: str, nodes: list[Node]) -> Node:
    """The node carrying the layer's kind and weights (not its split-off activation)."""
    for n in nodes:
        if n.name == name:
            return n
    return nodes[0]


def weight_groups(kind: str, config: dict, keys: list[str], local: list[str]) -> list:
    """Where a layer of `kind` keeps its weights in a Keras 3 file: [(sub-path, keys)].
    `local` are the seqc local names of `keys` (Bidirectional's start forward/, backward/)."""
    kind = KIND_ALIASES.get(kind, kind)
    if kind in RNN_KINDS:
        return [("cell", keys)]
    if kind == "Bidirectional":
        fw = [k for k, n in zip(keys, local) if n.startswith("forward/")]
        bw = [k for k, n in zip(keys, local) if n.startswith("backward/")]
        inner_fw = config["layer"]
        inner_bw = config.get("backward_layer") or inner_fw
        return [*_nested("forward_layer", inner_fw, fw), *_nested("backward_layer", inner_bw, bw)]
    if kind == "TimeDistributed":
        return _nested("layer", config["layer"], keys, local)
    return [("", keys)]


def _nested(attr: str, spec: dict, keys: list[str], local: list[str] | None = None) -> list:
    local = local or [k.rsplit("/", 1)[-1] for k in keys]
    inner = weight_groups(spec["class_name"], dict(spec.get("config") or {}), keys, local)
    return [(f"{attr}/{sub}" if sub else attr, ks) for sub, ks in inner]


def plan_layers(model: Any, info: Any, file: str) -> list[PlannedLayer]:
    """The Keras layers of `info` (or, without info, of the seqc model itself) matched to the
    seqc model's layers by name, or by position when the names differ but the counts agree."""
    graph = model.graph
    by_layer = layer_nodes(graph)
    if info is not None and getattr(info, "graph", False):
        return _graph_plan(info.layers, graph, by_layer, "", {}, None)
    if info is None:
        refs = [(name, main_node(name, nodes).op) for name, nodes in by_layer.items()]
    else:
        refs = [(r.name, r.class_name) for r in info.layers]
    names = [n for n, _ in refs]
    weighted = [n for n, nodes in by_layer.items() if any(x.params for x in nodes)]
    if all(n in names for n in weighted):
        matched = [(name, cls, by_layer.get(name)) for name, cls in refs]
    elif len(refs) == len(by_layer):
        matched = [(name, cls, nodes) for (name, cls), nodes in zip(refs, by_layer.values())]
    else:
        missing = [n for n in weighted if n not in names]
        raise DefinitionError(
            "the Keras file's layers do not match the model's", file=file,
            layer=f"layer '{missing[0]}'", field="layers",
            received=f"Keras layers {names}, model layers {list(by_layer)}",
            hint="load weights saved from the same architecture")
    used: dict[str, int] = {}
    return [plan_layer(name, cls, nodes, graph, used) for name, cls, nodes in matched]


def _graph_plan(refs: list, graph: Any, by_layer: dict[str, list[Node]], prefix: str,
                used: dict[str, int], outer: str | None) -> list[PlannedLayer]:
    """A graph model's Keras layers (KerasLayerRef with seqc_name; a nested model's layers
    under `<key>/layers/`, keyed afresh inside it, as Keras' saving_lib does)."""
    out: list[PlannedLayer] = []
    for ref in refs:
        if ref.members:
            key = unique_key(keras_snake_case(ref.class_name), used)
            out += _graph_plan(ref.members, graph, by_layer, f"{prefix}{key}/layers/", {},
                               outer or ref.name)
            continue
        nodes = by_layer.get(ref.seqc_name or ref.name)
        pl = plan_layer(ref.seqc_name or ref.name, ref.class_name, nodes, graph, used)
        pl.name, pl.key, pl.outer = ref.name, prefix + pl.key, outer
        out.append(pl)
    return out


def plan_layer(name: str, cls: str, nodes: list[Node] | None, graph: Any,
               used: dict[str, int]) -> PlannedLayer:
    """One Keras layer (its class-derived key taken from `used`) and the seqc parameters of
    its nodes (None: a Keras layer with no seqc counterpart, which must hold no weights)."""
    cls = KIND_ALIASES.get(cls, cls)
    key = unique_key(keras_snake_case(cls), used)
    groups: list[tuple[str, list[str]]] = [("", [])]
    if nodes:
        main = main_node(name, nodes)
        op = REGISTRY[main.op]
        config = op.attrs_to_config(main.attrs)
        local = [p for p in main.params if p not in op.config_params]  # not Keras weights
        keys = [main.param_key(p) for p in local]
        groups = weight_groups(main.op, config, keys, local)
        # Any other weighted node of the layer (none today) follows in graph order.
        groups += [("", [n.param_key(p) for p in n.params])
                   for n in nodes if n is not main and n.params]
    return PlannedLayer(name, cls, key, groups,
                        {k: graph.param_specs[k] for _, ks in groups for k in ks})


# ---------------------------------------------------------------- safe h5 access


def child(h5py: Any, group: Any, name: str, *, what: str, file: str, layer: str | None):
    """group[name] through hard links only: a soft or external link could point into another
    file on disk. None when absent."""
    node = group
    for part in name.split("/"):
        link = node.get(part, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise DefinitionError(
                f"{what} '{name}' is a {type(link).__name__}; weight files may hold only plain "
                "groups and datasets", file=file, layer=layer, field=name,
                received=f"{type(link).__name__} at {node.name}/{part}")
        node = node[part]
    return node


def check_dataset(h5py: Any, ds: Any, spec: ParamSpec, *, file: str, layer: str,
                  weight: str, note: str | None = None) -> None:
    """Kind, storage, dtype and shape of a weight dataset, before its data is read."""
    if not isinstance(ds, h5py.Dataset):
        raise DefinitionError(f"weight '{weight}' is not a dataset", file=file, layer=layer,
                              field=weight, received=f"a {type(ds).__name__}")
    if ds.is_virtual or ds.external:
        # Virtual and external datasets read other files: a weight file must be self-contained.
        raise DefinitionError(f"weight '{weight}' is stored outside the file (external or "
                              "virtual dataset)", file=file, layer=layer, field=weight,
                              received="an external/virtual HDF5 dataset")
    dt = ds.dtype
    want_int = np.dtype(spec.dtype).kind in "iu"
    ok = (dt.name in FLOAT_DTYPES) or (want_int and dt.kind in "iu" and dt.itemsize <= 8)
    if not ok:
        raise DefinitionError(
            f"weight '{weight}' has dtype {dt}; expected "
            + ("an integer or " if want_int else "") + "float16/float32/float64",
            file=file, layer=layer, field=weight, received=f"dtype {dt}")
    if tuple(ds.shape) != tuple(spec.shape):
        raise DefinitionError(
            f"weight '{weight}' has shape {tuple(ds.shape)}, expected {tuple(spec.shape)}",
            file=file, layer=layer, field=weight,
            received=f"shape {tuple(ds.shape)}, expected {tuple(spec.shape)}",
            hint=note or "the weights come from a model with a different architecture")


def read_checked(pending: list[tuple[str, Any, ParamSpec]], file: str) -> dict[str, np.ndarray]:
    """Read datasets whose shapes were checked: seqc table key -> array in the spec dtype."""
    out = {}
    for key, ds, spec in pending:
        try:
            out[key] = np.asarray(ds[()]).astype(spec.dtype)
        except OSError as e:  # a damaged file: h5py reports it as OSError
            raise DefinitionError(f"cannot read weight '{ds.name}': {e}", file=file,
                                  layer=f"layer '{key.split('/')[0]}'", field=ds.name,
                                  received="an unreadable HDF5 dataset") from None
    return out


# ---------------------------------------------------------------- Keras 3 layout


def is_keras3(h5: Any) -> bool:
    return "layers" in h5 or "_layer_checkpoint_dependencies" in h5


def read_keras3(h5py: Any, h5: Any, plan: list[PlannedLayer], *, file: str) -> dict:
    # Keras 2.13's Keras-3-style files name the top group _layer_checkpoint_dependencies.
    top = "layers" if "layers" in h5 else "_layer_checkpoint_dependencies"
    root = child(h5py, h5, top, what="group", file=file, layer=None)
    pending = []
    keys_used = set()
    by_owner: dict[str, str] | None = None
    for pl in plan:
        key = pl.key
        if key not in root and pl.param_keys:
            # The class-derived key is what Keras reads; when it is absent (a config whose layer
            # list differs from the saved model's), the layer's recorded name may still find it.
            if by_owner is None:
                by_owner = _owners(h5py, root)
            key = by_owner.get(pl.name, key)
        keys_used.update((key, key.split("/", 1)[0]))
        for sub, keys in pl.groups:
            path = f"{key}/{sub}/vars" if sub else f"{key}/vars"
            vars_ = child(h5py, root, path, what="group", file=file, layer=pl.label)
            if vars_ is None:
                if not keys:
                    continue
                raise DefinitionError(
                    f"the weights file has no group '{top}/{path}' for this layer",
                    file=file, layer=pl.label, field=f"{top}/{path}",
                    received=f"groups under {top}/: {listing(root)}",
                    hint="the weights come from a model with different layers")
            owner = _owner(vars_) if not sub else None
            # The class-derived key is authoritative (names differ between two instances of
            # one architecture); a different recorded name only helps explain a shape error.
            note = (f"the file's group {top}/{key} belongs to a layer named '{owner}'"
                    if owner and owner != pl.name else None)
            names = sorted(vars_.keys())
            want = [str(i) for i in range(len(keys))]
            if sorted(names, key=_int_first) != want:
                raise DefinitionError(
                    f"the weights file holds {len(names)} weights for this layer in "
                    f"'{top}/{path}', expected {len(keys)} "
                    f"({', '.join(k.split('/', 1)[1] for k in keys) or 'none'})",
                    file=file, layer=pl.label, field=f"{top}/{path}",
                    received=f"datasets {names}")
            for i, k in enumerate(keys):
                local = k.split("/", 1)[1]
                ds = child(h5py, vars_, str(i), what="dataset", file=file, layer=pl.label)
                check_dataset(h5py, ds, pl.specs[k], file=file, layer=pl.label,
                              weight=f"{local} ({top}/{path}/{i})", note=note)
                pending.append((k, ds, pl.specs[k]))
    extra = [k for k in root if k not in keys_used and _holds_data(h5py, root, k)]
    if extra:
        raise DefinitionError(
            "the weights file has weights for layers the model does not have", file=file,
            field=f"{top}/{extra[0]}", received=f"groups {extra}",
            hint="the weights come from a model with more layers")
    return read_checked(pending, file)


def _int_first(s: str) -> tuple:
    return (0, int(s)) if s.isdigit() else (1, s)


def listing(group: Any, limit: int = 12) -> str:
    keys = sorted(group.keys(), key=_int_first)
    return ", ".join(keys[:limit]) + (", ..." if len(keys) > limit else "") or "(none)"


def _owners(h5py: Any, root: Any) -> dict[str, str]:
    """Recorded layer name -> group key, for the top-level groups that record one."""
    out: dict[str, str] = {}
    for k in root:
        if isinstance(root.get(k, getlink=True), h5py.HardLink) and isinstance(
                root[k], h5py.Group) and isinstance(root[k].get("vars", getlink=True),
                                                    h5py.HardLink):
            owner = _owner(root[k]["vars"])
            if owner is not None:
                out.setdefault(owner, k)
    return out


def _owner(vars_: Any) -> str | None:
    """The layer name a Keras 3.x `vars` group records (absent in older files)."""
    owner = vars_.attrs.get("name")
    if isinstance(owner, bytes):
        owner = owner.decode("utf-8", "replace")
    return owner if isinstance(owner, str) else None


def _holds_data(h5py: Any, group: Any, key: str) -> bool:
    found = []

    def visit(_name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found.append(obj)

    link = group.get(key, getlink=True)
    if not isinstance(link, h5py.HardLink):
        return True
    obj = group[key]
    if isinstance(obj, h5py.Dataset):
        return True
    obj.visititems(visit)
    return bool(found)


# ---------------------------------------------------------------- writing (Keras 3 layout)


def write_keras3(h5: Any, plan: list[PlannedLayer], params: dict[str, np.ndarray],
                 model_name: str) -> None:
    """The layout Keras 3's saving_lib writes: every layer's `vars` group (with its `name`
    attribute) even when empty, nested groups for cells and wrapped layers."""
    layers = h5.create_group("layers")
    for pl in plan:
        top = layers.create_group(pl.key)
        top.create_group("vars").attrs["name"] = pl.name
        for sub, keys in pl.groups:
            g = top.require_group(sub) if sub else top
            vars_ = g.require_group("vars")
            if sub:
                vars_.attrs["name"] = sub.rsplit("/", 1)[-1]
            for i, k in enumerate(keys):
                vars_.create_dataset(str(i), data=np.asarray(params[k]))
    h5.create_group("vars").attrs["name"] = model_name
