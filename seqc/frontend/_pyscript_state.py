"""Reading `model.reset_states()` in a Keras script: where the states of stateful recurrent
layers go back to zero during training.

Read: the Keras examples' loop `for i in range(epochs): model.fit(..., epochs=1);
model.reset_states()`, one epoch per fit run and a reset after each run (the last may be
left out): the fit section's `"reset_states": "epoch"` (seqc.training.stateful resets at the
start of every epoch; the first starts from zeros anyway). A reset before the first fit does
nothing (the states start at zero); one after the last fit does not change training.
Any other placement (resets every few epochs, or only some runs) is refused with its line:
seqc never skips a statement that changes training.
"""

from __future__ import annotations

from typing import Any


def _stateful(doc: dict) -> bool:
    def walk(v: Any) -> bool:
        if isinstance(v, dict):
            return v.get("stateful") is True or any(walk(x) for x in v.values())
        if isinstance(v, list):
            return any(walk(x) for x in v)
        return False

    return walk(doc.get("layers")) or walk(doc.get("graph"))


def state_resets(r: Any, model: Any, doc: dict) -> str | None:
    """"epoch" when the script resets the states after each one-epoch fit run, else None;
    a reset seqc cannot place is an error naming its line (through the reader's refusals).
    A PyTorch forward(x, hidden): how its training loop feeds the state
    (_pyscript_torch_state.loop_resets)."""
    if getattr(model, "state", None) is not None:
        from ._pyscript_torch_state import loop_resets

        return loop_resets(r, model)
    events = model.state_events
    resets = [node for kind, node in events if kind == "reset"]
    if not resets:
        return None
    if not _stateful(doc):
        r.note(resets[0], f"{r.seg(resets[0])}: the model has no stateful layer, so there is "
                          "no state to reset")
        return None
    kinds = [kind for kind, _ in events]
    runs = kinds.count("fit")
    # fit, reset, fit, reset, ... (the trailing reset may be missing): a reset between runs
    alternating = all(k == ("fit" if i % 2 == 0 else "reset") for i, k in enumerate(kinds))
    epochs = model.fit.get("epochs", 1) if model.fit else 1
    if alternating and epochs == runs:
        r.note(resets[0], f"{r.seg(resets[0])} after each one-epoch fit: read as "
                          "fit(reset_states=\"epoch\"), the stateful layers' states reset at "
                          "the start of every epoch")
        return "epoch"
    at = resets[0]
    raise r.error(at, f"{r.seg(at)} resets the stateful layers' states at a point seqc does "
                        "not model (it reads a reset after every one-epoch fit run)",
             field="reset_states", received=r.seg(at),
             hint="fit one epoch per loop run and reset after each, as the Keras stateful "
                  "example does, or fit(epochs=N) with no reset (the states carry on)")
