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
from ._json import parse_json, read_bytes
from .bindings import Bindings, parse_defines
from .spec import Definition, load_spec, one_hot, spec_definition

__all__ = ["Bindings", "Definition", "load", "load_definition", "load_spec", "one_hot",
           "parse_defines", "FORMATS"]


def _json(path: str, *, max_memory: int | None = DEFAULT_MAX_MEMORY,
          bindings: Bindings | None = None) -> Definition:
    """A .json definition: a Keras model JSON (`model.to_json()`, told apart by its keys) goes
    to the Keras reader, with the weights of a sibling `<stem>.weights.h5` or `<stem>.h5` when
    there is one; anything else is a seqc spec."""
    file = os.fspath(path)
    raw = read_bytes(file)
    doc = parse_json(raw, file)
    from .keras_json import is_keras_json

    if is_keras_json(doc):
        from ._keras_paths import sibling_weights

        if sibling_weights(file) is not None:
            from .keras_files import load_keras_file

            return load_keras_file(file, max_memory=max_memory)
        from .keras_json import load_keras_json

        return load_keras_json(file, max_memory=max_memory)
    return spec_definition(doc, file, raw, max_memory=max_memory, bindings=bindings)


def _keras_file(path: str, **kw: Any) -> Definition:
    from .keras_files import load_keras_file

    return load_keras_file(path, **kw)


def _keras_file_bound(path: str, *, bindings: Bindings | None = None,
                      **kw: Any) -> Definition:
    return _keras_file(path, **kw)  # a Keras file carries its own input shape


def _onnx(path: str, **kw: Any) -> Definition:
    from .onnx_reader import load_onnx

    return load_onnx(path, **kw)


def _script(path: str, **kw: Any) -> Definition:
    from .pyscript import load_script

    return load_script(path, **kw)


# Extension -> reader. `seqc build`, `seqc convert`, `seqc summary` and `seqc.load` all
# dispatch through here. A .json is a seqc spec or a Keras model JSON (told apart by its keys);
# .h5 is a legacy Keras model file (model_config + weights); .onnx a model seqc wrote (its
# embedded IR) or a chain of operators the reverse lowering maps to layers.
FORMATS: dict[str, Callable[..., Definition]] = {
    ".json": _json,
    ".keras": _keras_file_bound,
    ".h5": _keras_file_bound,
    ".py": _script,
    ".onnx": _onnx,
}


def load_definition(path: str | os.PathLike, *,
                    max_memory: int | None = DEFAULT_MAX_MEMORY,
                    bindings: Bindings | None = None) -> Definition:
    """Read any supported definition (or a build folder) into a Definition. `max_memory`
    (bytes, None = no limit) refuses models whose training state would exceed it before any
    weight is allocated.

    >>> import seqc.frontend as f
    >>> f.load_definition("examples/breast_cancer_mlp.json").model.output_shape  # doctest: +SKIP
    (None, 1)
    """
    from ..publish import readable_folder

    file = readable_folder(path)
    if os.path.isdir(file):
        from .build_folder import load_build_folder

        return load_build_folder(file)
    ext = Path(file).suffix.lower()
    reader = FORMATS.get(ext)
    if bindings is not None and bindings.model is not None and ext != ".py":
        raise DefinitionError("--model picks one of the models a Python script builds; "
                              f"a {ext} file holds one model", file=file, field="--model",
                              received=repr(bindings.model), hint="drop --model")
    from ._first_contact import check_file, unknown_extension

    if reader is None:
        known = unknown_extension(file, ext) if os.path.isfile(file) else None
        raise DefinitionError(
            f"unknown definition format '{ext or '(no extension)'}'"
            + (f": {known[0]}" if known else "")
            + f"; supported: {', '.join(FORMATS)}, or a seqc build folder", file=file,
            field="path", received=repr(file),
            hint=known[1] if known else
            None if os.path.exists(file) else "the path does not exist either")
    check_file(file, ext)
    return reader(file, max_memory=max_memory, bindings=bindings)


def load(path: str | os.PathLike, *, compile: bool = True,  # noqa: A002 (Keras' name)
         max_memory: int | None = DEFAULT_MAX_MEMORY, x: Any = None, y: Any = None,
         defines: dict[str, Any] | None = None, model: str | None = None,
         validation_data: Any = None) -> Model:
    """`seqc.load`: the model of a definition or build folder, compiled when the definition
    has a compile section (and `compile=True`). `model.spec` keeps the Definition.

    `x`/`y` are the data a script fits on (bound to its names; they give a model with no
    input shape its input, as Keras' first fit does), `defines` values the script cannot
    compute (`{"num_classes": 10}`), `model` which of a script's models to build,
    `validation_data` the `(x_val, y_val)` of a script's own fit(validation_data=...), bound
    to its names (then `model.fit(x, y, **model.spec.fit, validation_data=...)` trains as
    the script does).

    >>> import seqc
    >>> model = seqc.load("examples/breast_cancer_mlp.json")  # doctest: +SKIP
    >>> model.spec.fit["epochs"]  # doctest: +SKIP
    >>> seqc.load("mnist.py", x=x_train, defines={"num_classes": 10})  # doctest: +SKIP
    """
    import numpy as np

    bindings = None
    if validation_data is not None and (not isinstance(validation_data, (tuple, list)) or len(
            validation_data) not in (2, 3)):
        from ..errors import UsageError

        raise UsageError("validation_data must be a tuple (x_val, y_val)",
                         field="validation_data", received=type(validation_data).__name__)
    val = (None, None) if validation_data is None else tuple(validation_data)[:2]
    if x is not None or y is not None or defines or model is not None or (
            validation_data is not None):
        bindings = Bindings(x=None if x is None else np.asarray(x),
                            y=None if y is None else np.asarray(y),
                            defines=dict(defines or {}), model=model,
                            val_x=None if val[0] is None else np.asarray(val[0]),
                            val_y=None if val[1] is None else np.asarray(val[1]))
    defn = load_definition(path, max_memory=max_memory, bindings=bindings)
    m = defn.model
    m.spec = defn
    if compile and defn.compile:
        m.compile(**defn.compile)
    return m
