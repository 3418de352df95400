"""The data a build reads: from the flags (--data, --x/--y, --val-data, --val-x/--val-y,
which win) or the definition's data section, and the bindings a definition is read with
(the flags' data bound to a script's fit names, --define values, the --model choice). Used by
`seqc build` (pipeline.py), `seqc convert` and the CLI's commands that read a definition.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import DataError, SeqcError, UsageError

if TYPE_CHECKING:
    from .build_options import BuildOptions


def load_build_data(defn: Any, opts: BuildOptions) -> Any:
    """Data from the flags (which win) or the definition's data section; None when absent."""
    from .training import data as data_mod

    if opts.data and (opts.x or opts.y):
        raise UsageError("give either --data or --x/--y, not both", field="--data",
                         received=f"--data {opts.data} --x {opts.x} --y {opts.y}")
    if opts.y and not opts.x:
        raise UsageError("--y needs --x (the inputs the labels belong to)", field="--y",
                         received=f"--y {opts.y}")
    spec = dict(defn.data or {}) if defn is not None else {}
    spec.pop("validation", None)  # load_validation_data
    if opts.data:
        # A new file read the way the definition says (target column, timeseries windows).
        kept = {k: v for k, v in spec.items() if k not in ("path", "x", "y")}
        spec = {"path": os.path.abspath(opts.data), **kept}
    elif opts.x:
        # --x alone gives the shapes (summary, --no-train); labels are needed only to train.
        spec = {"x": os.path.abspath(opts.x),
                "y": os.path.abspath(opts.y) if opts.y else None}
    if opts.target:
        spec["target"] = opts.target
    if not spec:
        return None
    graph = defn.model.graph if defn is not None else None
    named = _named(graph)
    limit = {} if opts.max_memory == -1 else {"max_memory": opts.max_memory}
    ds = data_mod.load_data(spec, named=named, **limit)
    if graph is not None and graph.states:
        from .ir.graph import zero_states

        ds.x = zero_states(graph, ds.x)
    return ds


def load_validation_data(defn: Any, opts: Any) -> Any:
    """fit's validation_data from --val-data or --val-x/--val-y (which win), else from the
    spec's data.validation section (read like the data: its target, one_hot); None when
    absent. Validation needs labels."""
    from .training import data as data_mod

    val_data, val_x, val_y = (getattr(opts, k, None) for k in ("val_data", "val_x", "val_y"))
    if val_data and (val_x or val_y):
        raise UsageError("give either --val-data or --val-x/--val-y, not both",
                         field="--val-data", received=f"--val-data {val_data} --val-x {val_x}")
    if bool(val_x) != bool(val_y):
        raise UsageError("validation needs inputs and labels: --val-x with --val-y",
                         field="--val-x" if val_y else "--val-y",
                         received=f"--val-x {val_x} --val-y {val_y}")
    data = dict((defn.data if defn is not None else None) or {})
    spec = {"path": os.path.abspath(val_data)} if val_data else {
        "x": os.path.abspath(val_x), "y": os.path.abspath(val_y)} if val_x else dict(
        data.get("validation") or {})
    if not spec:
        return None
    for k in ("target", "label_dtype"):
        if k in data or getattr(opts, k, None):
            spec.setdefault(k, getattr(opts, k, None) or data[k])
    cap = getattr(opts, "max_memory", -1)
    graph = defn.model.graph if defn is not None else None
    named = _named(graph)  # an .npz of arrays by name
    val = data_mod.load_data(spec, named=named, **({} if cap == -1 else {"max_memory": cap}))
    if graph is not None and graph.states:
        from .ir.graph import zero_states

        val.x = zero_states(graph, val.x)
    if val.y is None:
        raise DataError("the validation data has no labels", file=val.source,
                        field="validation_data", hint="give --val-y (or an .npz with x and y)")
    return val


def definition_bindings(def_path: str, opts: Any, defines: dict | None = None,
                        model: str | None = None) -> tuple[Any, Any]:
    """(Bindings, the flags' Dataset or None) for reading a definition: the data given with
    --data/--x/--y (bound to a script's fit names, and the input of a model that leaves its
    shape to fit), --define values and the --model choice. `opts` has data/x/y/target."""
    from .frontend import Bindings

    dataset = None
    if opts.data and sharded(opts.data):
        if str(def_path).lower().endswith(".py"):
            raise UsageError("a Python script's fit names take arrays, not shards",
                             field="--data", received=str(opts.data),
                             hint="build the script's model as a .keras file or a spec")
    elif opts.data or opts.x or opts.y:
        if str(def_path).lower().endswith(".py"):
            dataset = load_build_data(None, opts)
        else:
            # A spec's own data section may say how to read the file (target column,
            # timeseries windows): read plainly here only to give a shapeless spec its input;
            # the build reads it again the spec's way and reports any problem then.
            try:
                dataset = load_build_data(None, opts)
            except SeqcError:
                dataset = None
    val = load_validation_data(None, opts) if str(def_path).lower().endswith(".py") else None
    bindings = Bindings(x=None if dataset is None else dataset.x,
                        y=None if dataset is None else dataset.y,
                        defines=dict(defines or {}), model=model,
                        source=None if dataset is None else dataset.source,
                        val_x=None if val is None else val.x,
                        val_y=None if val is None else val.y)
    return bindings, dataset


def val_dataset(bindings: Any) -> Any:
    from .training.data import Dataset

    return Dataset(bindings.val_x, bindings.val_y)


def sharded(path: Any) -> bool:
    from .data import is_sharded

    return is_sharded(path)


def _named(graph: Any) -> tuple[list[str], list[str]] | None:
    """(input names, output names) the data holds one array for each (an .npz by name) when
    the model has several, else None. A recurrent state input (Graph.states) is not data: it
    is zeros when not given, and its output has no label."""
    if graph is None:
        return None
    ins = [n for n in graph.inputs if n not in graph.states]
    outs = [name for v, name in zip(graph.outputs, graph.output_names)
            if v not in graph.states.values()]
    return (ins, outs) if len(ins) > 1 or len(outs) > 1 else None
