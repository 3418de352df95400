"""An .onnx file -> Definition. A file seqc wrote carries its IR ("seqc.ir", see
seqc.ir.embedded): the graph comes back as it was, its weights read from the initializers.
Any other file goes through the reverse lowering (`_onnx_reverse.py`): a chain of operators
mapped back to layers, or a refusal naming the first node that has no layer.
"""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

import numpy as np

from ..errors import DefinitionError, SeqcError
from ..ir import embedded
from ..model import Model
from .spec import Definition


def read_proto(path: str) -> Any:
    """The model of an .onnx file through the checks every reader of one makes
    (onnx_checks.load_checked: onnx.load, onnx.checker, control flow); a missing, damaged or
    unbounded file an exit-2 error naming it."""
    from .onnx_checks import load_checked

    if not os.path.isfile(path):
        raise DefinitionError("ONNX model file not found", file=path, field="path",
                              received=repr(path))
    return load_checked(path)


def props_of(proto: Any) -> dict[str, str]:
    return {p.key: p.value for p in proto.metadata_props}


def embedded_ir(proto: Any, file: str | None = None) -> tuple[Any, dict, dict] | None:
    """(graph, params, the "seqc.ir" document) of a model seqc wrote; None when the file
    carries no IR. A DefinitionError when the entry is malformed or does not fit the graph's
    initializers (the file was edited after export)."""
    from onnx import numpy_helper

    from ..ir.serialize import graph_from_json
    from ..ir.verify import verify

    text = props_of(proto).get(embedded.KEY)
    if text is None:
        return None
    doc = embedded.parse(text, file)
    try:
        graph = verify(graph_from_json(doc["graph"], file=file))
    except SeqcError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError,
            RecursionError) as e:
        raise DefinitionError("the embedded seqc IR is malformed", file=file,
                              field=embedded.KEY, received=f"{type(e).__name__}: {e}",
                              hint="re-export the model with seqc") from None
    inits = {t.name: t for t in proto.graph.initializer}
    params: dict[str, np.ndarray] = {}
    for key, spec in graph.param_specs.items():
        entry = doc["weights"].get(key)
        try:
            if not isinstance(entry, dict):
                raise KeyError(key)
            params[key] = embedded.read_param(entry, tuple(spec.shape), spec.dtype,
                                              lambda n: numpy_helper.to_array(inits[n]))
        except (KeyError, ValueError, TypeError, zlib.error) as e:
            raise DefinitionError(
                f"parameter {key} cannot be read back from the model's initializers "
                f"({type(e).__name__}: {e})", file=file, field=embedded.KEY, received=key,
                hint="the file was changed after seqc exported it (renamed or reshaped "
                     "initializers); re-export it with seqc") from None
    return graph, params, doc


def load_onnx(path: str, **_: Any) -> Definition:
    """FORMATS' reader for .onnx: the seqc model of a file seqc wrote, else the reverse
    lowering of a chain of operators. `model.export()` of the result writes the same bytes
    as the file, as long as the weights are unchanged."""
    import hashlib

    file = os.fspath(path)
    proto = read_proto(file)
    props = props_of(proto)
    digest = hashlib.sha256(proto.SerializeToString()).hexdigest()
    found = embedded_ir(proto, file)
    if found is None:
        from ._onnx_reverse import reverse

        try:
            return reverse(proto, file, digest)
        except DefinitionError as e:
            variant = _json(props.get("seqc.variant"))
            if isinstance(variant, dict):
                e.hint = (f"this is a seqc export variant ({variant.get('kind')}), which does "
                          "not carry the IR: load the float32 model it was made from, "
                          f"{variant.get('source')}")
            elif "seqc.version" in props:
                e.hint = (f"written by seqc {props['seqc.version']} without its IR "
                          "(seqc.ir): rebuild it with this seqc, or load its build folder")
            raise e.located() from None
    graph, params, doc = found
    model = Model(graph, params, name=graph.name, source=file)
    export = doc.get("export")
    model.export_options = {k: v for k, v in (export or {}).items()
                            if k in ("opset", "input_layout", "fold_batchnorm",
                                     "fold_preprocessing")}
    carried = {k: v for k, v in props.items() if k not in embedded.GENERATED}
    if _sidecar(carried.get("seqc.test_vectors")):
        # Vectors kept in a file beside the model would name a file the new export lacks.
        carried.pop("seqc.test_vectors")
    model.metadata = carried
    model.metadata_weights = embedded.weights_digest(model.params)
    names = _json(props.get("seqc.class_names"))
    if isinstance(names, list):
        model.class_names = [str(c) for c in names]
    compile_cfg = _json(props.get("seqc.compile"))
    return Definition(model=model, compile=compile_cfg if isinstance(compile_cfg, dict) else None,
                      fit=None, data=None, path=file, source_hash=digest, name=graph.name,
                      format="onnx-seqc", has_weights=True)


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _sidecar(text: str | None) -> bool:
    doc = _json(text)
    return isinstance(doc, dict) and "sidecar" in doc
