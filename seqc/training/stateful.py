"""Keras' stateful recurrent layers (`stateful=True`) in fit, evaluate and predict.

A stateful SimpleRNN / LSTM / GRU starts each batch from the final state of the batch before
(Keras keeps it in a non-trainable variable, so no gradient flows back across batches); the
states start at zero and go back to zero only where the user resets them
(`model.reset_states()`; `fit(reset_states="epoch")` resets at the start of every epoch, the
Keras examples' `for e in range(epochs): fit(epochs=1); reset_states()` loop). The state has
one row per sample of a batch, so every batch has the model's fixed batch size: Keras refuses
any other ("If an RNN is stateful, the batch size of the input sequences must be the same as
the batch size of the initial state"), and so does seqc, before training starts.

The states live on the model (`model.rnn_states`, keyed by layer); the layers read and write
them through `RunContext.states` (ops/_recurrent.py). Exported ONNX models, and seqc's
validation of them, run the stateless step: every call starts from zero states.
"""

from __future__ import annotations

from typing import Any

from ..errors import DataError, UsageError

RESETS = ("epoch", "batch")


def stateful_layers(graph: Any) -> list[str]:
    """Names of the graph's stateful recurrent nodes (their state key, the node's scope)."""
    return [n.shares or n.name for n in graph.nodes
            if getattr(n.attrs, "stateful", False) is True]


def states(model: Any) -> dict | None:
    """The model's carried states (created empty, i.e. zero, on first use), or None for a model
    with no stateful layer: then every call starts from zero."""
    if not stateful_layers(model.graph):
        return None
    carried = getattr(model, "rnn_states", None)
    if carried is None:
        carried = model.rnn_states = {}
    return carried


def reset(model: Any) -> None:
    """Keras' `reset_states()`: every stateful layer starts again from zeros."""
    carried = getattr(model, "rnn_states", None)
    if carried:
        carried.clear()


def check_fit(model: Any, rows: int, batch_size: int, reset_states: Any,
              streamed: bool) -> None:
    """Refuse, before anything trains, what Keras refuses for a stateful model (a batch of
    another size than the state's) and a `reset_states` setting seqc does not know."""
    if reset_states is not None and reset_states not in RESETS:
        raise UsageError("reset_states must be None, 'epoch' or 'batch'",
                         field="reset_states", received=f"reset_states={reset_states!r}")
    names = stateful_layers(model.graph)
    if getattr(model, "carried", None):  # forward(x, hidden): carried.py
        names = [f"the state input '{n}'" for n in model.carried]
        if reset_states == "batch":
            return  # zeros every batch: any batch size
    elif reset_states == "batch":
        raise UsageError("reset_states='batch' applies to a model with recurrent state inputs "
                         "(a PyTorch forward(x, hidden)); a stateful layer's state carries on",
                         field="reset_states", received="reset_states='batch'",
                         hint="use reset_states='epoch', or a layer without stateful=True")
    if not names:
        if reset_states is not None:
            raise UsageError("reset_states applies to a model with stateful recurrent layers",
                             field="reset_states", received=f"reset_states={reset_states!r}",
                             hint="give the recurrent layers stateful=True, or drop it")
        return
    if streamed:
        raise UsageError("a stateful model trains on arrays in memory, not on shards",
                         field="x", received="a Shards source")
    fixed = model.graph.types[model.graph.inputs[0]].shape[0]
    if fixed is not None and batch_size != fixed:
        raise DataError(
            f"the stateful layer '{names[0]}' holds a state for batches of {fixed} rows; "
            f"fit's batch_size is {batch_size}", field="batch_size",
            received=f"batch_size={batch_size}",
            hint=f"pass batch_size={fixed}, the model's fixed batch size")
    if rows % batch_size:
        raise DataError(
            f"a stateful model trains on whole batches only: {rows} training rows leave a last "
            f"batch of {rows % batch_size} (Keras refuses it when it meets it)",
            field="batch_size", received=f"{rows} rows, batch_size={batch_size}",
            hint=f"give a number of rows that {batch_size} divides (drop the last "
                 f"{rows % batch_size})")


def begin_epoch(model: Any, reset_states: Any) -> None:
    if reset_states == "epoch":
        reset(model)


def default_batch_size(model: Any, default: int | None) -> int | None:
    """fit/evaluate/predict's batch size when none is given: a stateful model's fixed one
    (Keras would take 32 and refuse it), else `default`."""
    if not stateful_layers(model.graph):
        return default
    return model.graph.types[model.graph.inputs[0]].shape[0] or default
