"""The first look at a definition file: content that is not what its name says (an empty file,
an HDF5 file named .keras, a .keras archive named .h5, data or an ONNX model given as a
definition, a JSON dataset) is named, with what seqc expected and a one-line example, before a
reader meets it and fails with a message about its own format.

Only the first bytes are read (and a zip's member names), so this costs nothing on real files.
"""

from __future__ import annotations

import os
import stat
import zipfile
from typing import Any

from ..errors import DefinitionError

SPEC_EXAMPLE = '{"input_shape": [4], "layers": [{"type": "Dense", "units": 1}]}'
# One line each: what a file of that extension is, and how one is made.
EXPECTED = {
    ".json": f"a seqc spec such as {SPEC_EXAMPLE}, or Keras' model.to_json()",
    ".keras": "a Keras 3 archive, as model.save('model.keras') writes",
    ".h5": "a legacy Keras model, as model.save('model.h5') writes",
    ".py": "a script that builds a model, e.g. model = keras.Sequential([keras.Input((4,)), "
           "keras.layers.Dense(1)])",
}
HDF5 = b"\x89HDF\r\n\x1a\n"
ZIP = (b"PK\x03\x04", b"PK\x05\x06")
NPY = b"\x93NUMPY"
DATA_EXTS = {".npy": "a NumPy array", ".npz": "a NumPy .npz archive", ".csv": "a CSV table",
             ".tsv": "a TSV table", ".parquet": "a Parquet table"}


def expected(ext: str) -> str:
    return EXPECTED.get(ext, "a .json spec, a .keras/.h5 Keras model or a .py script")


def check_file(file: str, ext: str) -> None:
    """Refuse, naming what it is, a definition path that is not a regular file, is empty, or
    whose first bytes say it is another format than `ext` promises."""
    try:
        st = os.stat(file)
    except OSError:
        return  # the reader says the file is missing, with its own message
    if not stat.S_ISREG(st.st_mode):
        raise DefinitionError(
            "not a regular file (a pipe, device or socket): seqc reads a definition from a "
            "file", file=file, field="path", received=_file_type(st.st_mode),
            hint=f"pass {expected(ext)}")
    if st.st_size == 0:
        raise DefinitionError("the file is empty", file=file, field="path",
                              received="0 bytes", hint=f"seqc expected {expected(ext)}")
    try:
        with open(file, "rb") as f:
            head = f.read(8)
    except OSError:
        return  # unreadable: the reader reports it
    actual = _content(file, head)
    if actual is None and ext in (".keras", ".h5") and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] \
            in (b"{", b"["):
        actual = ".json", "JSON text (a seqc spec or Keras' model.to_json()?)"
    if actual is None or actual[0] == ext:
        return
    real_ext, what = actual
    stem = os.path.splitext(os.path.basename(file))[0]
    hint = (f"rename it to {stem}{real_ext}" if real_ext in EXPECTED else
            "give data with --data (a .csv or .npz) or --x/--y (.npy)"
            if real_ext in DATA_EXTS else f"pass {expected(ext)}")
    raise DefinitionError(f"this {ext} file is {what}; seqc expected {expected(ext)}",
                          file=file, field="path", received=f"first bytes {head!r}", hint=hint)


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character "
                       "device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _content(file: str, head: bytes) -> tuple[str, str] | None:
    """(the extension the content has, what it is) from the first bytes, or None."""
    if head.startswith(HDF5):
        return ".h5", "an HDF5 file (a legacy Keras .h5 model or weights)"
    if head.startswith(NPY):
        return ".npy", "a NumPy .npy array (data, not a model)"
    if head.startswith(ZIP):
        try:
            with zipfile.ZipFile(file) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return None  # damaged: the reader says how
        if "config.json" in names:
            return ".keras", "a Keras 3 .keras archive"
        if names and all(n.endswith(".npy") for n in names):
            return ".npz", "a NumPy .npz archive (data, not a model)"
        return ".zip", "a zip archive, not a model"
    return None


def unknown_extension(file: str, ext: str) -> tuple[str, str] | None:
    """(what the file is, the hint) for a file whose extension no reader takes, when its
    extension or first bytes tell; None otherwise."""
    example = f"DEF is the model, e.g. model.json holding {SPEC_EXAMPLE}"
    if ext in DATA_EXTS:
        return (f"{DATA_EXTS[ext]} is data, not a model definition",
                f"give data with --data (a .csv or .npz) or --x/--y (.npy); {example}")
    try:
        with open(file, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    actual = _content(file, head)
    if actual is None or actual[0] not in EXPECTED:
        return None
    stem = os.path.splitext(os.path.basename(file))[0]
    return f"the file is {actual[1]}", f"rename it to {stem}{actual[0]}"


def json_dataset(doc: Any) -> str | None:
    """What a JSON document that holds data rather than a model looks like (records, rows,
    columns; pandas' to_json orients), or None."""
    if isinstance(doc, list) and doc:
        if all(isinstance(r, dict) for r in doc):
            keys = list(doc[0])[:4]
            return f"a list of {len(doc)} records with keys {keys}"
        if all(_number(r) or (isinstance(r, list) and all(_number(v) for v in r))
               for r in doc):
            return f"a list of {len(doc)} rows of numbers"
        return None
    if not isinstance(doc, dict) or not doc:
        return None
    if set(doc) >= {"columns", "data"} and set(doc) <= {"columns", "index", "data"}:
        return "a table split into columns, index and data (pandas' orient='split')"
    from ._json import spec_validator

    if set(doc) & (set(spec_validator().schema["properties"]) | {"class_name", "config"}):
        return None
    keys = list(doc)[:4]
    values = list(doc.values())
    if all(isinstance(v, list) for v in values):
        return f"an object of {len(doc)} arrays with keys {keys}"
    if all(isinstance(v, dict) and v and all(not isinstance(x, (dict, list))
                                             for x in v.values()) for v in values):
        return f"an object of {len(doc)} columns keyed by row, as pandas' to_json writes, " \
            f"with keys {keys}"
    return None


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def refuse_json_dataset(doc: Any, file: str) -> None:
    """A JSON document that is a dataset, or a bare list of layers, refused by name."""
    from ..ops import REGISTRY

    if isinstance(doc, list) and doc and all(
            isinstance(r, dict) and (r.get("type") in REGISTRY or r.get("type") == "Input"
                                     or isinstance(r.get("class_name"), str)) for r in doc):
        raise DefinitionError(
            "this JSON is a list of layers, not a model: a model file is an object whose "
            "\"layers\" holds them, with the input shape beside it", file=file, field="layers",
            received=f"a list of {len(doc)} layer objects",
            hint='wrap it: {"input_shape": [4], "layers": [...the list...]}')
    what = json_dataset(doc)
    if what is not None:
        raise DefinitionError(
            f"this JSON holds {what}: it looks like data, not a model (a model file is a JSON "
            'object with "layers")', file=file, field="json",
            received=repr(doc)[:80],
            hint="give data with --data (a .csv or .npz) or --x/--y (.npy); a model file "
                 f"looks like {SPEC_EXAMPLE}")
