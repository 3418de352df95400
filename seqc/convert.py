"""`seqc convert`: a definition (a Keras file with its weights) to model.onnx, checked against
the NumPy forward on seeded random inputs before it replaces the output, or to a Keras 3
`.keras`. It reads the definition the way `seqc build` does (pipeline.py).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from .build_data import definition_bindings
from .build_export import source_metadata
from .errors import SeqcError, UsageError, ValidationFailure
from .pipeline import N_SYNTHETIC


@dataclass
class ConvertOptions:
    opset: int = 17
    input_layout: str = "channels_last"
    fold_batchnorm: bool = True
    fold_preprocessing: bool = True
    max_memory: int | None = -1  # -1: the model's default limit
    atol: float = 1e-5
    rtol: float = 1e-4
    log: Any = print  # the validation table (None: silent)
    # As for build: data for the shapes (a script's fit names, a model with no input shape),
    # --define values, the --model choice.
    data: str | None = None
    x: str | None = None
    y: str | None = None
    target: str | None = None
    defines: dict = field(default_factory=dict)
    model: str | None = None


def convert(src_path: str, out_path: str, opts: ConvertOptions | None = None) -> dict[str, Any]:
    """`seqc convert`: a definition (a Keras file with its weights) to model.onnx, checked
    against the NumPy forward on seeded random inputs before it replaces `out_path`, or to a
    Keras 3 `.keras`. Returns {"parameters", "weights" (loaded from the source), ...}."""
    from .frontend import load_definition

    opts = opts or ConvertOptions()
    ext = os.path.splitext(out_path)[1].lower()
    if ext not in (".onnx", ".keras"):
        raise UsageError("convert writes .onnx or .keras", field="-o",
                         received=repr(out_path), hint="name the output model.onnx or x.keras")
    limit = {} if opts.max_memory == -1 else {"max_memory": opts.max_memory}
    bindings, _ = definition_bindings(src_path, opts, opts.defines, opts.model)
    defn = load_definition(src_path, bindings=bindings, **limit)
    if opts.log is not None:
        for line in defn.notes:
            opts.log(line)
    model = defn.model
    info: dict[str, Any] = {"parameters": model.count_params(), "weights": defn.has_weights,
                            "format": defn.format}
    if ext == ".keras":
        if defn.compile:  # the .keras carries the source's compile settings along
            try:
                model.compile(**defn.compile)
            except SeqcError as e:
                raise e.located(file=str(src_path)) from None
        model.save(out_path)
        return info
    from .export import export_model
    from .fileio import as_created
    from .runtime import ModelSource, validate
    from .runtime.validate import random_inputs

    folder = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".onnx", dir=folder)
    as_created(fd)
    os.close(fd)
    try:
        export_model(model, tmp, opset=opts.opset, metadata=source_metadata(defn),
                     input_layout=opts.input_layout, fold_batchnorm=opts.fold_batchnorm,
                     fold_preprocessing=opts.fold_preprocessing)
        g = model.graph
        x = (random_inputs(g.input_type, 0, N_SYNTHETIC, ids=True, graph=g)
             if len(g.inputs) == 1 else  # one seeded array per input, by name
             {n: random_inputs(g.types[n], i, N_SYNTHETIC, ids=True, graph=g)
              for i, n in enumerate(g.inputs)})
        result = validate(ModelSource(model.graph, model.params, tmp, label=model.name), x,
                          runtimes=["numpy", "onnxruntime"], atol=opts.atol, rtol=opts.rtol,
                          print_table=False)
        if opts.log is not None:
            opts.log(result.format_table())
        if not result.ok:
            raise ValidationFailure(
                "the converted ONNX model disagrees with seqc's NumPy forward", file=src_path,
                hint=f"{out_path} was not written; rerun with --debug and report the model")
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    info["validation"] = result.to_json()
    return info
