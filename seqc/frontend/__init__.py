"""Definitions -> models. One module per input format; none executes user code.

`load_definition(path)` picks the reader by extension (a folder is a `seqc build` output);
`load(path)` is the Python API `seqc.load`: the model, compiled with the definition's compile
section, its Definition kept on `model.spec` for the fit settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DefinitionError
from ..model import DEFAULT_MAX_MEMORY, Model
from .spec import Definition, load_spec, one_hot

__all__ = ["Definition", "load", "load_definition", "load_spec", "one_hot", "FORMATS"]


def _not_yet(what: str) -> Callable[..., Definition]:
    def reader(path: str, **_: Any) -> Definition:
        raise DefinitionError(
            f"{what} definitions are not supported yet; they come in a later version of seqc",
            file=path, field="path", received=f"a {Path(path).suffix} file",
            hint="write the model as a seqc JSON spec (see examples/*.json) for now")

    return reader


# Extension -> reader. `seqc build`, `seqc summary` and `seqc.load` all dispatch through here.
FORMATS: dict[str, Callable[[str], Definition]] = {
    ".json": load_spec,
    ".keras": _not_yet("Keras .keras"),
    ".h5": _not_yet("Keras HDF5 (.h5)"),
    ".py": _not_yet("Python (.py)"),
}


def load_definition(path: str | os.PathLike, *,
                    max_memory: int | None = DEFAULT_MAX_MEMORY) -> Definition:
    """Read any supported definition (or a build folder) into a Definition. `max_memory`
    (bytes, None = no limit) refuses models whose training state would exceed it before any
    weight is allocated.

    >>> import seqc.frontend as f
    >>> f.load_definition("examples/breast_cancer_mlp.json").model.output_shape  # doctest: +SKIP
    (None, 1)
    """
    file = os.fspath(path)
    if os.path.isdir(file):
        from .build_folder import load_build_folder

        return load_build_folder(file)
    ext = Path(file).suffix.lower()
    reader = FORMATS.get(ext)
    if reader is None:
        raise DefinitionError(
            f"unknown definition format '{ext or '(no extension)'}'; supported: "
            f"{', '.join(FORMATS)}, or a seqc build folder", file=file, field="path",
            received=repr(file),
            hint=None if os.path.exists(file) else "the path does not exist either")
    return reader(file, max_memory=max_memory)


def load(path: str | os.PathLike, *, compile: bool = True,  # noqa: A002 (Keras' name)
         max_memory: int | None = DEFAULT_MAX_MEMORY) -> Model:
    """`seqc.load`: the model of a definition or build folder, compiled when the definition
    has a compile section (and `compile=True`). `model.spec` keeps the Definition.

    >>> import seqc
    >>> model = seqc.load("examples/breast_cancer_mlp.json")  # doctest: +SKIP
    >>> model.spec.fit["epochs"]  # doctest: +SKIP
    """
    defn = load_definition(path, max_memory=max_memory)
    model = defn.model
    model.spec = defn
    if compile and defn.compile:
        model.compile(**defn.compile)
    return model
