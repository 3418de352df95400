"""Keras model files with weights -> a Definition (the writer is seqc/export/keras_file.py).

Reads `.keras` archives (config.json + model.weights.h5), legacy full-model `.h5` (attribute
`model_config` + group `model_weights`), a Keras JSON beside its `.weights.h5` / `.h5`, and bare
weight files into an existing model. Nothing is unpickled or executed; zip members are checked
(names, links, sizes) and read into memory or a private temporary folder, never extracted
anywhere else. Weight layouts: `_keras_h5.py`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DefinitionError
from ..fileio import regular_file, sha256_file
from ..model import DEFAULT_MAX_MEMORY, Model
from . import _keras_h5 as kh5
from . import _keras_h5_keras2 as kh5v2
from ._h5_guard import reading_h5
from ._h5_probe import probe_h5
from ._json import parse_json, read_bytes
from ._keras_h5 import CONFIG_MEMBER, KERAS_MEMBERS, WEIGHTS_MEMBER
from .keras_json import keras_definition
from .spec import Definition

__all__ = ["read_keras_weights", "load_keras_file", "load_keras_weights_file"]

# JSON members are read into memory; no real model config comes near this.
MAX_JSON_BYTES = 64 * 1024**2
# With max_memory=None the archive is still bounded: a decompression bomb is refused when a
# member expands more than this ratio beyond this floor (Keras' own guard uses the same idea).
BOMB_FLOOR = 256 * 1024**2
BOMB_RATIO = 1000


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
    elif kh5v2.is_keras2(h5):
        table = kh5v2.read_keras2(h5py, h5, plan, file=file)
    else:
        raise DefinitionError(
            "this HDF5 file holds no Keras weights: it has neither a 'layers' group (Keras 3) "
            "nor a 'layer_names' attribute (Keras 2)", file=file, field="layers",
            received=f"top-level entries {kh5.listing(h5)}",
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
            what = ("Keras 2 weights (save_weights)" if kh5v2.is_keras2(h5) else
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
                                  received=f"top-level entries {kh5.listing(h5)}")
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
