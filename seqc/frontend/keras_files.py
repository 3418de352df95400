"""Keras model files with weights -> a Definition, and a seqc model -> a Keras 3 `.keras` file.

Reads `.keras` archives (config.json + model.weights.h5), legacy full-model `.h5` (attribute
`model_config` + group `model_weights`), a Keras JSON beside its `.weights.h5` / `.h5`, and bare
weight files into an existing model; writes `.keras` files Keras 3's `load_model` reads. Nothing
is unpickled or executed; zip members are checked (names, links, sizes) and read into memory or
a private temporary folder, never extracted anywhere else. Weight layouts: `_keras_h5.py`.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import os
import re
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DefinitionError, SeqcError, UsageError, layer_label
from ..fileio import atomic_file, regular_file, sha256_file
from ..ir import weight_args
from ..model import DEFAULT_MAX_MEMORY, Model
from ..ops import REGISTRY
from . import _keras_h5 as kh5
from ._h5_guard import reading_h5
from ._h5_probe import probe_h5
from ._json import parse_json, read_bytes
from .keras_json import keras_definition
from .spec import Definition

__all__ = ["read_keras_weights", "load_keras_file", "load_keras_weights_file", "save_keras",
           "keras_config"]

CONFIG_MEMBER = "config.json"
METADATA_MEMBER = "metadata.json"
WEIGHTS_MEMBER = "model.weights.h5"
KERAS_MEMBERS = (METADATA_MEMBER, CONFIG_MEMBER, WEIGHTS_MEMBER)
# JSON members are read into memory; no real model config comes near this.
MAX_JSON_BYTES = 64 * 1024**2
# With max_memory=None the archive is still bounded: a decompression bomb is refused when a
# member expands more than this ratio beyond this floor (Keras' own guard uses the same idea).
BOMB_FLOOR = 256 * 1024**2
BOMB_RATIO = 1000
# The Keras release whose .keras layout save_keras writes (metadata.json; Keras reads no field).
KERAS_FORMAT_VERSION = "3.15.1"
POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
          "registered_name": None}


# ================================================================ reading


def read_keras_weights(h5: Any, info: Any, model: Model, *, file: str) -> list[np.ndarray]:
    """The weights for `model.set_weights` from an open Keras weights file or group: Keras 3's
    `layers/<class key>/vars/<i>` layout or Keras 2's `layer_names`/`weight_names` layout,
    detected from the file. `info` (a KerasModelInfo, or None to use the model's own layers)
    gives the Keras layers in order. Every dataset is checked against the model's ParamSpecs
    before any data is read; errors name the file, the layer and the weight."""
    h5py = kh5.require_h5py()
    plan = kh5.plan_layers(model, info, file)
    if kh5.is_keras3(h5):
        table = kh5.read_keras3(h5py, h5, plan, file=file)
    elif kh5.is_keras2(h5):
        table = kh5.read_keras2(h5py, h5, plan, file=file)
    else:
        raise DefinitionError(
            "this HDF5 file holds no Keras weights: it has neither a 'layers' group (Keras 3) "
            "nor a 'layer_names' attribute (Keras 2)", file=file, field="layers",
            received=f"top-level entries {kh5._listing(h5)}",
            hint="pass a file written by model.save_weights() or model.save()")
    missing = [k for k in model.graph.param_specs if k not in table]
    if missing:
        raise DefinitionError(
            "the Keras file gives no weights for this layer", file=file,
            layer=f"layer '{missing[0].split('/')[0]}'", field=missing[0],
            received=f"Keras layers {[p.name for p in plan]}",
            hint="the weights come from a model with different layers")
    return [table[k] for k in model.graph.param_specs]


def load_keras_file(path: str | os.PathLike, *,
                    max_memory: int | None = DEFAULT_MAX_MEMORY) -> Definition:
    """A Keras model with its weights: a `.keras` archive, a legacy full-model `.h5`, or a
    Keras model JSON whose `<stem>.weights.h5` (or `<stem>.h5`) sits beside it. The model holds
    the file's weights; `compile` comes from the file's compile/training config.

    >>> defn = load_keras_file("model.keras")  # doctest: +SKIP
    >>> defn.model.predict(x)  # doctest: +SKIP
    """
    file = os.fspath(path)
    if not os.path.exists(file):
        raise DefinitionError("the definition file does not exist", file=file, field="path",
                              received=repr(file))
    lower = file.lower()
    if lower.endswith(".json"):
        return _load_json_with_weights(file, max_memory)
    if lower.endswith(".keras"):
        return _load_keras_archive(file, max_memory)
    if lower.endswith(".h5") or lower.endswith(".hdf5"):
        return _load_legacy_h5(file, max_memory)
    raise DefinitionError(
        "not a Keras model file", file=file, field="path", received=repr(Path(file).suffix),
        hint="pass a .keras file, a legacy .h5 model, or a Keras JSON with its weights beside it")


def load_keras_weights_file(path: str | os.PathLike, model: Model, info: Any = None) -> None:
    """Load a bare `.weights.h5` (Keras 3) or Keras 2 `save_weights` `.h5` into `model`
    (Keras' `model.load_weights`); `info` is the KerasModelInfo of the model's Keras config,
    or None when the model's own layers are the Keras layers (a seqc-built model)."""
    file = os.fspath(path)
    h5py = kh5.require_h5py()
    with _open_h5(h5py, file) as h5:
        group = h5["model_weights"] if _is_legacy_model(h5) else h5
        weights = read_keras_weights(group, info, model, file=file)
    model.set_weights(weights)
    model.adapted = True


@contextlib.contextmanager
def _open_h5(h5py: Any, file: str) -> Any:
    """The HDF5 file, open for reading inside a `with` whose body reads it through
    `reading_h5` (a damaged file fails while it is read, not when it is opened)."""
    with _open_h5_file(h5py, file) as h5, reading_h5(file):
        yield h5


def _open_h5_file(h5py: Any, file: str) -> Any:
    if not os.path.isfile(file):
        raise DefinitionError("the weights file does not exist", file=file, field="path",
                              received=repr(file))
    regular_file(file, "weights file", error=DefinitionError, field="path")
    if not h5py.is_hdf5(file):
        raise DefinitionError("not an HDF5 file", file=file, field="path",
                              received=f"first bytes {_head(file)!r}",
                              hint="Keras weights are .weights.h5 / .h5 files")
    probe_h5(file)  # a damaged file that would hang or crash libhdf5 is refused first
    try:
        return h5py.File(file, "r")
    except OSError as e:
        raise DefinitionError(f"cannot read the HDF5 file: {e}", file=file, field="path",
                              received=repr(file)) from None


def _head(file: str) -> bytes:
    with open(file, "rb") as f:
        return f.read(8)


def _is_legacy_model(h5: Any) -> bool:
    return "model_config" in h5.attrs and "model_weights" in h5


def _finish(defn: Definition, weights: list[np.ndarray], file: str) -> Definition:
    defn.model.set_weights(weights)
    defn.model.adapted = True
    defn.has_weights = True
    defn.source_hash = sha256_file(file)
    return defn


def _load_json_with_weights(file: str, max_memory: int | None) -> Definition:
    from ._keras_paths import sibling_weights

    raw = read_bytes(file)
    doc = parse_json(raw, file)
    weights_file = sibling_weights(file)
    if weights_file is None:
        stem = file[:-len(".json")]
        raise DefinitionError(
            "no weights file beside this Keras JSON", file=file, field="path",
            received=f"neither {stem}.weights.h5 nor {stem}.h5 exists",
            hint="save the weights with model.save_weights() next to the JSON, or load the "
                 "JSON alone to start from the initializers")
    defn, info = keras_definition(doc, file, raw, max_memory=max_memory, format_="keras")
    h5py = kh5.require_h5py()
    with _open_h5(h5py, weights_file) as h5:
        group = h5["model_weights"] if _is_legacy_model(h5) else h5
        weights = read_keras_weights(group, info, defn.model, file=weights_file)
    defn = _finish(defn, weights, weights_file)
    defn.source_hash = hashlib.sha256(raw + defn.source_hash.encode()).hexdigest()
    return defn


def _load_legacy_h5(file: str, max_memory: int | None) -> Definition:
    h5py = kh5.require_h5py()
    with _open_h5(h5py, file) as h5:
        if "model_config" not in h5.attrs:
            what = ("Keras 2 weights (save_weights)" if kh5.is_keras2(h5) else
                    "Keras 3 weights (save_weights)" if kh5.is_keras3(h5) else "no Keras model")
            raise DefinitionError(
                "this .h5 file holds weights only, no model configuration", file=file,
                field="model_config", received=what,
                hint="load the model's JSON (model.to_json()) with this file beside it as "
                     "<stem>.h5 / <stem>.weights.h5, or pass a .keras file")
        raw = _attr_bytes(h5.attrs["model_config"], file, "model_config")
        doc = parse_json(raw, file)
        if isinstance(doc, dict):
            # The JSON reader takes the file's version and training settings at the top.
            for k in ("keras_version", "backend"):
                if k in h5.attrs and isinstance(h5.attrs[k], (bytes, str)):
                    doc.setdefault(k, _attr_bytes(h5.attrs[k], file, k).decode("utf-8",
                                                                                 "replace"))
            if "training_config" in h5.attrs:
                doc.setdefault("training_config", parse_json(
                    _attr_bytes(h5.attrs["training_config"], file, "training_config"), file))
        defn, info = keras_definition(doc, file, raw, max_memory=max_memory, format_="keras")
        if "model_weights" not in h5:
            raise DefinitionError("the legacy .h5 model has no 'model_weights' group",
                                  file=file, field="model_weights",
                                  received=f"top-level entries {kh5._listing(h5)}")
        group = kh5.child(h5py, h5, "model_weights", what="group", file=file, layer=None)
        weights = read_keras_weights(group, info, defn.model, file=file)
    return _finish(defn, weights, file)


def _attr_bytes(value: Any, file: str, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        # h5py decodes a string attribute with surrogateescape: its bytes come back as they
        # are, and the JSON reader refuses what is not UTF-8, naming the offset.
        return value.encode("utf-8", "surrogateescape")
    raise DefinitionError(f"the '{name}' attribute is not a JSON string", file=file,
                          field=name, received=f"a {type(value).__name__}")


# ---------------------------------------------------------------- .keras archives


def _load_keras_archive(file: str, max_memory: int | None) -> Definition:
    h5py = kh5.require_h5py()
    try:
        zf = zipfile.ZipFile(file)
    except zipfile.BadZipFile:
        raise DefinitionError(
            "not a .keras file: it is not a zip archive", file=file, field="path",
            received=f"first bytes {_head(file)!r}",
            hint="a .keras file is what Keras 3's model.save('x.keras') writes") from None
    with zf:
        members = _checked_members(zf, file, max_memory)
        raw = _read_member(zf, members[CONFIG_MEMBER], file)
        doc = parse_json(raw, f"{file}:{CONFIG_MEMBER}")
        defn, info = keras_definition(doc, file, raw, max_memory=max_memory, format_="keras")
        with tempfile.TemporaryDirectory(prefix="seqc-keras-") as tmp:
            # A fixed name inside a private folder: the member's own name never becomes a path.
            weights_path = os.path.join(tmp, "weights.h5")
            _copy_member(zf, members[WEIGHTS_MEMBER], weights_path, file)
            probe_h5(weights_path, f"{file}:{WEIGHTS_MEMBER}")
            try:
                h5 = h5py.File(weights_path, "r")
            except OSError as e:
                raise DefinitionError(f"{WEIGHTS_MEMBER} is not a readable HDF5 file: {e}",
                                      file=file, field=WEIGHTS_MEMBER,
                                      received=f"{members[WEIGHTS_MEMBER].file_size} bytes"
                                      ) from None
            with h5, reading_h5(f"{file}:{WEIGHTS_MEMBER}"):
                weights = read_keras_weights(h5, info, defn.model,
                                             file=f"{file}:{WEIGHTS_MEMBER}")
    return _finish(defn, weights, file)


def _checked_members(zf: zipfile.ZipFile, file: str,
                     max_memory: int | None) -> dict[str, zipfile.ZipInfo]:
    """The archive's members, refused unless they are exactly Keras' plain files with safe
    names and sizes within bounds (checked from the directory, before anything is read)."""
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    size = os.path.getsize(file)
    for info in zf.infolist():
        name = info.filename
        if _unsafe_name(name):
            raise DefinitionError(
                "the .keras archive has a member with an unsafe path", file=file,
                field="members", received=repr(name),
                hint="a .keras file holds only metadata.json, config.json and "
                     "model.weights.h5; this one was not written by Keras")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode) or info.is_dir():
            raise DefinitionError("the .keras archive has a link or folder member", file=file,
                                  field="members", received=repr(name))
        if name not in KERAS_MEMBERS:
            raise DefinitionError(
                "the .keras archive has an unexpected member", file=file, field="members",
                received=repr(name),
                hint="seqc reads archives holding only metadata.json, config.json and "
                     "model.weights.h5 (layers with assets or .npz weights are not supported)"
                     + ("; an adapted IntegerLookup keeps its vocabulary as an asset: build "
                        "it with vocabulary=layer.get_vocabulary() before saving"
                        if name.startswith("assets/") else ""))
        if not 0 <= info.header_offset < size:
            raise DefinitionError(
                "the .keras archive is damaged: a member's offset lies outside the file",
                file=file, field=name,
                received=f"offset {info.header_offset}, file size {size} bytes")
        if name in members:
            raise DefinitionError("the .keras archive holds a member twice", file=file,
                                  field="members", received=repr(name))
        if info.flag_bits & 0x1:
            raise DefinitionError("the .keras archive is encrypted", file=file,
                                  field="members", received=repr(name))
        limit = MAX_JSON_BYTES if name.endswith(".json") else max_memory
        if limit is not None and info.file_size > limit:
            raise _too_big(file, name, info.file_size, limit)
        if info.file_size > BOMB_FLOOR and info.file_size > BOMB_RATIO * max(info.compress_size,
                                                                             1):
            raise DefinitionError(
                "the .keras archive member expands far beyond its stored size (a "
                "decompression bomb?)", file=file, field=name,
                received=f"{info.file_size} bytes from {info.compress_size} stored")
        total += info.file_size
        members[name] = info
    if max_memory is not None and total > max_memory:
        raise _too_big(file, "(all members)", total, max_memory)
    for name in (CONFIG_MEMBER, WEIGHTS_MEMBER):
        if name not in members:
            raise DefinitionError(
                f"the .keras archive has no {name}", file=file, field="members",
                received=f"members {sorted(members)}",
                hint="a .keras file written by model.save() holds config.json and "
                     "model.weights.h5")
    return members


def _unsafe_name(name: str) -> bool:
    if not name or "\x00" in name or "\\" in name or name.startswith("/"):
        return True
    if re.match(r"^[A-Za-z]:", name):
        return True
    return any(part in ("..", ".") for part in name.split("/"))


def _too_big(file: str, name: str, size: int, limit: int) -> DefinitionError:
    return DefinitionError(
        f"the .keras archive member {name} is larger than the limit", file=file, field=name,
        received=f"{size:,} bytes uncompressed, limit {limit:,}",
        hint="raise the limit with --max-memory (or max_memory= in Python) if the file is "
             "trusted")


def _damaged(file: str, name: str, e: Exception) -> DefinitionError:
    return DefinitionError(f"the .keras archive is damaged: {e}", file=file, field=name,
                           received=type(e).__name__)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, file: str) -> bytes:
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
        raise _damaged(file, info.filename, e) from None
    if len(data) != info.file_size:
        raise DefinitionError("the .keras archive member's size differs from its directory "
                              "entry", file=file, field=info.filename,
                              received=f"{len(data)} bytes, declared {info.file_size}")
    return data


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: str, file: str) -> None:
    """Stream a member into `dest`, never past its declared size."""
    n = 0
    try:
        with zf.open(info) as src, open(dest, "wb") as out:
            while True:
                chunk = src.read(min(1 << 20, info.file_size + 1 - n))
                if not chunk:
                    break
                n += len(chunk)
                if n > info.file_size:
                    break
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
        raise _damaged(file, info.filename, e) from None
    if n != info.file_size:
        raise DefinitionError("the .keras archive member's size differs from its directory "
                              "entry", file=file, field=info.filename,
                              received=f"at least {n} bytes, declared {info.file_size}")


# ================================================================ writing


def keras_config(model: Model) -> dict:
    """The Keras 3 model JSON of a seqc model, as a `.keras` file's config.json holds it
    (compile_config included when the model is compiled)."""
    config, _ = _model_config(model)
    return config


def save_keras(model: Model, path: str | os.PathLike) -> str:
    """Write `model` as a Keras 3 `.keras` file (atomically) and return its path;
    `keras.saving.load_model(path)` rebuilds it with the same weights and compile settings.

    >>> import seqc
    >>> m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    >>> save_keras(m, "m.keras")  # doctest: +SKIP
    'm.keras'
    """
    file = os.fspath(path)
    h5py = kh5.require_h5py()
    config, plan = _model_config(model)
    missing = [k for k in model.graph.param_specs if k not in model.params]
    if missing:
        raise UsageError("the model has no value for a parameter", field=missing[0],
                         received=f"parameters {sorted(model.params)}")
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        kh5.write_keras3(h5, plan, model.params, config["config"]["name"])
    from .. import __version__

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
        config["compile_config"] = _compile_config(model.compiled)
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
        srcs = [(hist[v], graph.types[v]) for v in main.inputs]
        cur = srcs[0][0]
        for i, kname in enumerate(knames):
            k = len(entries[kname]["inbound_nodes"])
            tensors = [_keras_tensor(t, call) for call, t in srcs]
            entries[kname]["inbound_nodes"].append(
                {"args": [tensors] if multi and i == 0 else tensors, "kwargs": {}})
            parents[(kname, k)] = [call for call, _ in srcs]
            cur = (kname, k)
            srcs = [(cur, graph.types[main.outputs[0]])]
        for n in nodes:
            hist[n.outputs[0]] = cur
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
        out = [[hist[v][0], hist[v][1], 0] for v in values]
        return out if len(out) > 1 else out[0]

    model_name = _keras_name(model.name or "functional", set())
    config: dict[str, Any] = {
        "module": "keras.src.models.functional", "class_name": "Functional",
        "config": {"name": model_name, "trainable": True,
                   "layers": [entries[k] for k in order],
                   "input_layers": refs(graph.inputs), "output_layers": refs(graph.outputs)},
        "registered_name": "Functional", "build_config": {"input_shape": None}}
    if model.compiled is not None:
        config["compile_config"] = _compile_config(model.compiled)
    return config, plan


def _keras_tensor(t: Any, call: tuple[str, int]) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": t.dtype,
                       "keras_history": [call[0], call[1], 0]}}


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
            v = _initializer(v)
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


# seqc initializer names -> Keras classes (seqc also accepts the class names themselves).
_INITIALIZER_CLASSES = {
    "glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal",
    "he_uniform": "HeUniform", "he_normal": "HeNormal", "lecun_uniform": "LecunUniform",
    "lecun_normal": "LecunNormal", "variance_scaling": "VarianceScaling",
    "random_uniform": "RandomUniform", "uniform": "RandomUniform",
    "random_normal": "RandomNormal", "normal": "RandomNormal",
    "truncated_normal": "TruncatedNormal", "orthogonal": "Orthogonal", "zeros": "Zeros",
    "ones": "Ones", "constant": "Constant",
}


def _initializer(v: Any) -> Any:
    from ..config import split_spec

    name, kwargs = split_spec(v if isinstance(v, (str, dict)) else str(v))
    cls = _INITIALIZER_CLASSES.get(str(name), str(name))
    return {"module": "keras.initializers", "class_name": cls, "config": kwargs,
            "registered_name": None}


def _keras_object(module: str, spec: Any) -> Any:
    """seqc's {"type": name, **kwargs} (or a name) -> Keras' serialized object."""
    if isinstance(spec, str):
        return spec
    from ..config import split_spec

    name, kwargs = split_spec(spec)
    return {"module": module, "class_name": name, "config": kwargs, "registered_name": None}


def _compile_config(cfg: Any) -> dict:
    """model.compiled -> Keras 3's compile_config (what Model.get_compile_config() gives)."""
    opt = dict(cfg.optimizer.get_config())
    cls = opt.pop("type")
    if isinstance(opt.get("learning_rate"), dict):
        from ..training.schedules import KERAS_SCHEDULES

        kind = opt["learning_rate"].get("type")
        if kind not in KERAS_SCHEDULES:
            raise UsageError(f"Keras has no {kind} learning-rate schedule (a PyTorch "
                             "scheduler seqc models)", field="learning_rate",
                             received=f"learning_rate={opt['learning_rate']!r}",
                             hint="save the model without its compile settings, or export "
                                  "it to ONNX")
        opt["learning_rate"] = _keras_object("keras.optimizers.schedules",
                                             opt["learning_rate"])
    optimizer = {"module": "keras.optimizers", "class_name": cls, "config": opt,
                 "registered_name": None}
    loss = None
    if cfg.loss is not None:
        loss = _keras_object("keras.losses", dict(cfg.loss.get_config()))
    return {"optimizer": optimizer, "loss": loss,
            "loss_weights": None if cfg.loss_weight == 1.0 else cfg.loss_weight,
            "metrics": _metrics(cfg.metrics), "weighted_metrics": _metrics(cfg.weighted_metrics),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _metrics(specs: list) -> list | None:
    if not specs:
        return None
    out = []
    for m in specs:
        if isinstance(m, (str, dict)):
            out.append(_keras_object("keras.metrics", m))
        elif callable(getattr(m, "get_config", None)):
            out.append(_keras_object("keras.metrics", m.get_config()))
        else:
            raise UsageError("Keras cannot save this metric", field="metrics",
                             received=repr(m), hint="use a metric name such as 'accuracy'")
    return out
