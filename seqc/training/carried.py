"""Training a model whose forward takes and returns a recurrent state (Graph.states: a PyTorch
`forward(x, hidden) -> (out, hidden)` read from a script) as the script's loop trains it.

The tutorials' loop::

    for e in range(epochs):
        h = net.init_hidden(batch_size)            # zeros at each epoch's start
        for inputs, labels in train_loader:
            h = tuple([each.data for each in h])   # detached: no gradient into the batch before
            output, h = net(inputs, h)
            loss = criterion(output, labels) ...

is fit(reset_states="epoch"): each batch's state inputs are fed the state outputs of the
batch before (copies: no gradient flows through them, truncated backpropagation), zeros at
the start of every epoch. reset_states="batch" feeds zeros every batch (a loop making the
state afresh per batch); None never resets (carried until `model.reset_states()`). This is
the mechanism of Keras' stateful layers (training/stateful.py): the carried values live in
`model.rnn_states` (cleared by reset), here by state input name.

The loss trains the model's first output only: the state outputs have no loss (the script's
criterion reads `output`), so fit and evaluate run on the graph without them
(`trained_graph`), whose nodes still compute them for the next batch. Validation and evaluate
feed zeros for a state not given (each batch from zeros), as `seqc validate` and predict do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError

_CACHE: dict[int, tuple[Any, Any]] = {}


def trained_graph(graph: Any) -> Any:
    """The graph fit and compile train: without the state outputs (no loss reads them)."""
    if not graph.states:
        return graph
    hit = _CACHE.get(id(graph))
    if hit is not None and hit[0] is graph:
        return hit[1]
    outs = tuple(o for o in graph.outputs if o not in graph.states.values())
    tg = graph.replace(outputs=outs, states={})
    if len(_CACHE) > 16:
        _CACHE.clear()
    _CACHE[id(graph)] = (graph, tg)
    return tg


def run(fn: Any, args: dict) -> Any:
    """fit / evaluate (`fn`, with its arguments `args`) of a model with recurrent states: on
    the trained graph, x and validation inputs completed with zero states, the states carried
    across fit's batches (`carry`); the model's graph is restored after."""
    from ..ir.graph import zero_states

    model = args["model"]
    graph = model.graph
    args = dict(args)
    args.update(args.pop("unknown", None) or {})
    _refuse_validation_callbacks(args.get("callbacks"))
    args["x"] = zero_states(graph, args.get("x"))
    val = args.get("validation_data")
    if isinstance(val, (tuple, list)) and val:
        args["validation_data"] = (zero_states(graph, val[0]), *val[1:])
    model._graph, model.carried = trained_graph(graph), dict(graph.states)
    try:
        return fn(**args)
    finally:
        model._graph, model.carried = graph, None


def _refuse_validation_callbacks(callbacks: Any) -> None:
    """Validation starts each batch from zero states, where a script's own validation loop
    carries them: a callback deciding on a val_* figure (EarlyStopping, ReduceLROnPlateau, a
    best-epoch checkpoint) would decide on other numbers than the script's. Refused, never
    trained differently without a word."""
    from ..errors import UsageError
    from . import callbacks as callbacks_mod
    from .checks import as_list

    for cb in (callbacks_mod.get(c) for c in as_list(callbacks)):
        monitor = getattr(cb, "monitor", None)
        if isinstance(monitor, str) and monitor.startswith("val_"):
            raise UsageError(
                f"{type(cb).__name__} watches {monitor!r}, and this model's forward carries a "
                "recurrent state: seqc's validation starts each batch from zero states, not "
                "the state a validation loop carries", field="callbacks",
                received=f"{type(cb).__name__}(monitor={monitor!r})",
                hint="watch a training figure (loss), or train the model without the callback")


def kept(model: Any) -> tuple[str, ...]:
    """The values the training forward keeps for the next batch: the state outputs."""
    return tuple((getattr(model, "carried", None) or {}).values())


def feed(model: Any, xb: Any) -> Any:
    """A training batch's inputs with each state input fed the state carried from the batch
    before (none yet: zeros, as given)."""
    states = getattr(model, "carried", None)
    if not states or not isinstance(xb, dict):
        return xb
    xb = dict(xb)
    for name in states:
        carried = model.rnn_states.get(name)
        if carried is None:
            continue
        if len(carried) != len(xb[name]):
            raise DataError(
                f"the state '{name}' carried from the batch before has {len(carried)} rows; "
                f"this batch has {len(xb[name])}", field="batch_size",
                received=f"a batch of {len(xb[name])} rows",
                hint="a state carried across batches needs batches of one size (PyTorch "
                     "fails the same way): give a number of rows the batch size divides")
        xb[name] = carried
    return xb


def carry(model: Any, tape: Any, reset_states: Any) -> None:
    """After a training batch: its final states start the next batch (copies, so no gradient
    flows back into this batch), unless the state restarts from zeros every batch."""
    states = getattr(model, "carried", None)
    if not states or reset_states == "batch":
        return
    for name, out in states.items():
        model.rnn_states[name] = np.array(tape.values[out], copy=True)
