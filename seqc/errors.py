"""Every user-facing failure is a SeqcError; its kind decides the CLI exit code.

A message reads like STYLE.md's example::

    model.json: layers[2] 'conv2' (Conv2D): kernel_size (5, 5) is larger than the input 4x4.
    Received: kernel_size=(5, 5), input f32[N,4,4,8]
    hint: use padding="same" or a smaller kernel_size

Ops raise with `field`, `received` and `hint`; the IR builder or frontend that knows the file
and the layer fills in the location with `located()`, so op code never formats locations.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class SeqcError(Exception):
    """Base class. `exit_code` is what the CLI exits with."""

    exit_code = 2
    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        layer: str | None = None,
        field: str | None = None,
        received: Any = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.layer = layer
        self.field = field
        self.received = received
        self.hint = hint
        super().__init__(self.format())

    def located(self, *, file: str | None = None, layer: str | None = None) -> SeqcError:
        """Fill in the location where it is still unknown; returns self for `raise e.located()`."""
        if self.file is None and file is not None:
            self.file = file
        if self.layer is None and layer is not None:
            self.layer = layer
        self.args = (self.format(),)
        return self

    def format(self) -> str:
        where = ": ".join(p for p in (self.file, self.layer) if p)
        text = f"{where}: {self.message}" if where else self.message
        if self.received is not None:
            text += f"\nReceived: {self.received}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.format()


class DefinitionError(SeqcError):
    """The model definition is malformed: unknown layer, bad attribute, impossible shape."""

    kind = "definition"


class DataError(SeqcError):
    """Training or inference data is unusable: missing file, NaN, wrong width, bad labels."""

    kind = "data"


class UsageError(SeqcError):
    """Bad arguments to a command or API call."""

    kind = "usage"


class ResourceError(SeqcError):
    """The definition would exceed a stated resource limit (memory)."""

    kind = "resource"


class ExportError(SeqcError):
    """The IR cannot be lowered (unsupported kind or opset)."""

    kind = "export"


class ValidationFailure(SeqcError):
    """Runtimes disagree, or a check failed. Exit code 1, not 2: the input was fine."""

    exit_code = 1
    kind = "validation"


class TrainingDiverged(SeqcError, RuntimeError):
    """The loss or the weights became NaN or infinite in training. Exit code 1: the input was
    well formed, the training it asked for failed. A RuntimeError too, as Keras'
    TerminateOnNaN(raise_error=True) raises."""

    exit_code = 1
    kind = "training"


def diverged(epoch: int, epochs: int, batch: int, steps: int, what: str) -> TrainingDiverged:
    """TrainingDiverged naming the (0-based) epoch and batch where `what` happened."""
    return TrainingDiverged(
        f"training diverged at epoch {epoch + 1}/{epochs}, batch {batch + 1}/{steps}: {what}",
        hint="lower the learning rate, scale the inputs, or clip the gradients (clipnorm); "
             "nothing was written")

class SeqcWarning(UserWarning):
    """A definition that trains, but badly (seqc.training.lint): issued by `Model.fit` before
    the first epoch. `code` is its stable code (`SEQC-W003`, docs/errors.md), which the message
    starts with, so `warnings.filterwarnings("ignore", message="SEQC-W003")` silences one and
    `warnings.simplefilter("error", seqc.SeqcWarning)` makes them errors (`--strict`)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """A `hint:` text naming the closest valid choice, or None when nothing is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return f"did you mean '{lowered[name.lower()]}'? (names are case-sensitive)"
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        close = [lowered[c] for c in close]
    return f"did you mean '{close[0]}'?" if close else None


def layer_label(index: int | None, name: str | None, kind: str | None) -> str:
    """`layers[2] 'conv2' (Conv2D)` — the location form used by every message."""
    parts = []
    if index is not None:
        parts.append(f"layers[{index}]")
    if name:
        parts.append(f"'{name}'")
    if kind:
        parts.append(f"({kind})")
    return " ".join(parts)
