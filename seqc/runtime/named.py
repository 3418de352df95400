"""Models with several inputs or outputs on files: inputs from an `.npz` holding one array per
input, named after the model's inputs (the ONNX input names: the graph's input names), and
predictions written as an `.npz` holding one array per output, named after the outputs (the
layers computing them). See docs/cli.md, "Several inputs and outputs"."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, did_you_mean
from ..fileio import check_npz_file, regular_file
from ..ir.graph import zero_states
from .runners import ModelSource, check_input, onnx_value_type


def input_types(src: ModelSource) -> dict[str, Any]:
    """{input name: TensorType}: the IR's inputs when the IR is there, else the ONNX model's
    (the names are the same: several inputs export under the graph's input names)."""
    if src.graph is not None:
        return {n: src.graph.types[n] for n in src.graph.inputs}
    return {i.name: onnx_value_type(i) for i in src.onnx_proto().graph.input}


def output_names(src: ModelSource) -> list[str]:
    """The model's output names as ONNX and the prediction files name them."""
    if src.graph is not None:
        from ..export.onnx_export import onnx_output_names

        return onnx_output_names(src.graph)
    return [o.name for o in src.onnx_proto().graph.output]


def several_io(src: ModelSource) -> bool:
    """True when the model has more than one input or output."""
    return len(input_types(src)) > 1 or len(output_names(src)) > 1


def read_named_arrays(path: str, names: list[str], what: str = "input") -> dict[str, np.ndarray]:
    """The arrays of an `.npz` named `names`; a DataError naming the file and the missing
    array (with a did-you-mean) otherwise. Other arrays in the file (labels) are ignored."""
    path = regular_file(path, f"{what} file", field="INPUT")
    if os.path.splitext(path)[1].lower() != ".npz":
        raise UsageError(f"a model with several inputs reads an .npz holding one array per "
                         f"input, named {names}", file=path, field="INPUT",
                         received=os.path.basename(path),
                         hint="np.savez(path, " + ", ".join(f"{n}=..." for n in names) + ")")
    check_npz_file(path, None)  # honest headers before np.load allocates from them
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.files)
            missing = [n for n in names if n not in keys]
            if missing:
                raise DataError(f"the .npz has no array '{missing[0]}' (the model's {what}s "
                                f"are {names})", file=path, field=missing[0],
                                received=f"arrays {keys}",
                                hint=did_you_mean(missing[0], keys)
                                or "name each array after the input it feeds")
            out = {n: z[n] for n in names}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read the .npz file: {e}", file=path) from None
    return out


def check_named(x: Any, types: dict[str, Any]) -> dict[str, np.ndarray]:
    """x (a dict by input name or a list in input order) checked input by input against
    `types`; every input must hold the same number of rows."""
    names = list(types)
    if isinstance(x, (list, tuple)) and len(x) == len(names):
        x = dict(zip(names, x))
    if not isinstance(x, dict) or set(x) != set(names):
        got = sorted(x) if isinstance(x, dict) else type(x).__name__
        raise UsageError(f"the model takes {len(names)} inputs {names}: pass a dict by name "
                         "or a list in that order", field="inputs", received=f"{got}")
    out = {}
    for n in names:
        try:
            out[n] = check_input(x[n], types[n])
        except DataError as e:
            raise DataError(f"input '{n}': {e.message}", file=e.file, field=n,
                            received=e.received, hint=e.hint) from None
    rows = {n: len(v) for n, v in out.items()}
    if len(set(rows.values())) > 1:
        raise DataError("the inputs hold different numbers of rows", field="inputs",
                        received=", ".join(f"{n}: {r}" for n, r in rows.items()))
    return out


def onnx_predict_all(src: ModelSource, session_run: Callable, batch_size: int | None = None,
                     *, ir_layout: bool = True) -> Callable[[Any], list[np.ndarray]]:
    """predict(x) -> every output, for `session_run(feed) -> list of outputs`: x is one array
    (a one-input model, fed under its ONNX input name) or a dict by input name. With
    `ir_layout` and the IR at hand, x and the outputs are in the IR's layout (channels-last)
    even for a channels-first export; without, in the ONNX model's own."""
    in_names = list(input_types(src))
    in_layout, out_layout = src.onnx_layouts() if src.has_ir and ir_layout else ("", "")
    onnx_in = [i.name for i in src.onnx_proto().graph.input]
    # PyTorch's recurrent state (Graph.states) has its batch on axis 1 in the ONNX model
    st_in, st_out = state_names(src.metadata())
    folds = fold_names(src.metadata())
    onnx_out = [o.name for o in src.onnx_proto().graph.output]

    def feed(x: Any, lo: int, hi: int | None) -> dict[str, np.ndarray]:
        if isinstance(x, dict):
            return {o: (x[n][lo:hi] if o not in st_in else np.ascontiguousarray(
                np.swapaxes(x[n][lo:hi], 0, 1)) if ir_layout else x[n][:, lo:hi])
                for o, n in zip(onnx_in, in_names)}
        xb = x[lo:hi]
        if in_layout == "channels_first":
            xb = np.ascontiguousarray(np.moveaxis(xb, -1, 1))
        return {onnx_in[0]: xb}

    def predict(x: Any) -> list[np.ndarray]:
        x = zero_states(src.graph, x) if ir_layout else x  # state inputs not given: zeros
        n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
        step = batch_size or n
        parts = [list(session_run(feed(x, i, i + step))) for i in range(0, n, step)]
        if st_out and ir_layout:
            parts = [[np.ascontiguousarray(np.swapaxes(y, 0, 1)) if o in st_out else y
                      for o, y in zip(onnx_out, p)] for p in parts]
        ys = [np.concatenate(p, axis=1 if o in st_out and not ir_layout else 0) if len(p) > 1
              else np.asarray(p[0]) for o, p in zip(onnx_out, zip(*parts))]
        if out_layout == "channels_first":
            ys = [np.moveaxis(y, 1, -1) if y.ndim >= 3 else y for y in ys]
        if folds and ir_layout:  # PyTorch's (N * T, ...) rows back to the IR's (N, T, ...)
            ys = list(unfold(dict(zip(onnx_out, ys)), folds).values())
        return ys

    return predict


def predict_named(src: ModelSource, input_path: str, out_path: str, sess: Any,
                  batch_size: int) -> int:
    """`seqc predict` for a model with several inputs or outputs: inputs from an .npz of
    named arrays (or one .npy for a one-input model), predictions to an .npz with one array
    per output name (or a .npy when there is one output). Returns the number of rows."""
    from .inputs import read_inputs

    types = input_types(src)
    outs = output_names(src)
    ext = os.path.splitext(out_path)[1].lower()
    if len(outs) > 1 and ext != ".npz":
        raise UsageError(f"this model has {len(outs)} outputs {outs}: write them to an .npz "
                         "(one array per output)", field="--out", received=out_path,
                         hint="e.g. -o predictions.npz")
    if ext not in (".npz", ".npy"):
        raise UsageError("predictions of a model with several inputs are written to .npz or "
                         ".npy", field="--out", received=out_path)
    st_in, st_out = state_names(src.metadata())
    if st_in and src.graph is not None:  # a recurrent state: zeros unless the .npz holds it
        x = check_named(_with_states(src, input_path, types, st_in), types)
        ys = onnx_predict_all(src, lambda feed: sess.run(None, feed), batch_size)(x)
        x, ys = None, [np.swapaxes(y, 0, 1) if o in st_out else y for o, y in zip(outs, ys)]
        n = len(ys[0])  # rows in, before a folded output's (N * T, ...) rows
        ys = list(fold(dict(zip(outs, ys)), fold_names(src.metadata())).values())
    elif len(types) > 1:
        x: Any = read_named_arrays(input_path, list(types))
        try:
            x = check_named(x, types)
        except DataError as e:
            raise e.located(file=input_path) from None
        n = len(next(iter(x.values())))
    else:
        (name, t), = types.items()
        try:
            x = check_input(read_inputs(input_path), t, src.token_ids())
        except DataError as e:
            raise e.located(file=input_path) from None
        n = len(x)
    if x is not None:
        ys = onnx_predict_all(src, lambda feed: sess.run(None, feed), batch_size,
                              ir_layout=False)(x)
    tmp = out_path + ".part"
    with open(tmp, "wb") as f:
        if ext == ".npz":
            np.savez(f, **dict(zip(outs, ys)))
        else:
            np.save(f, ys[0])
    os.replace(tmp, out_path)
    return n


def _with_states(src: ModelSource, path: str, types: dict, st_in: set[str]) -> dict:
    """`seqc predict`'s inputs for a model with recurrent state inputs, in the IR's layout:
    the data input(s) from the file (a .npy for one), each state the .npz holds (PyTorch's
    (layers, N, hidden), swapped), zeros for the others."""
    from .inputs import read_inputs

    data = [n for n in types if n not in st_in]
    if not path.lower().endswith(".npz") and len(data) == 1:
        return zero_states(src.graph, {data[0]: read_inputs(path)})
    x = read_named_arrays(path, data)
    with np.load(path, allow_pickle=False) as z:
        given = [n for n in st_in if n in z.files]
    x.update(swap_states(read_named_arrays(path, given), st_in) if given else {})
    return zero_states(src.graph, x)


def state_names(props: dict[str, str]) -> tuple[set[str], set[str]]:
    """(input names, output names) of an ONNX model's recurrent states in PyTorch's
    (layers, N, hidden) layout: the batch on axis 1 (seqc metadata "seqc.states")."""
    import json

    if "seqc.states" not in props:
        return set(), set()
    d = json.loads(props["seqc.states"])
    return set(d.get("inputs", ())), set(d.get("outputs", ()))


def swap_states(arrays: dict[str, np.ndarray], names: set[str]) -> dict[str, np.ndarray]:
    """The arrays named in `names` with their first two axes swapped (IR <-> ONNX layout of a
    recurrent state), the others as they are."""
    return {k: np.ascontiguousarray(np.swapaxes(v, 0, 1)) if k in names else v
            for k, v in arrays.items()}


def fold_names(props: dict[str, str]) -> dict[str, int]:
    """ONNX output name -> T for the outputs an ONNX model folds from the IR's (N, T, ...)
    into PyTorch's (N * T, ...) rows (seqc metadata "seqc.folds", Graph.folds)."""
    return {n: int(t) for n, t in json.loads(props.get("seqc.folds", "[]"))}


def fold(arrays: dict[str, np.ndarray], folds: dict[str, int]) -> dict[str, np.ndarray]:
    """IR -> ONNX layout of the outputs named in `folds`: (N, T, ...) -> (N * T, ...)."""
    return {k: v.reshape(-1, *v.shape[2:]) if k in folds else v for k, v in arrays.items()}


def unfold(arrays: dict[str, np.ndarray], folds: dict[str, int]) -> dict[str, np.ndarray]:
    """ONNX -> IR layout of the outputs named in `folds`: (N * T, ...) -> (N, T, ...)."""
    return {k: v.reshape(-1, folds[k], *v.shape[1:]) if k in folds else v
            for k, v in arrays.items()}
