"""The SEQC-W warnings' codes and their reporting: `Finding`, the `warnings:` block, and where
findings go (Python warnings by default, or the handler `seqc build` installs with
`reporting()`; --ignore and --strict through `reporter`). The checks that produce findings are
in `lint.py`.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ..errors import DefinitionError, SeqcWarning, UsageError, did_you_mean

CODES: dict[str, str] = {
    "SEQC-W001": "softmax over several units trained with binary crossentropy",
    "SEQC-W002": "softmax over one unit (always 1.0)",
    "SEQC-W003": "outputs that are not probabilities, read by a crossentropy with "
                 "from_logits=False",
    "SEQC-W004": "sigmoid outputs trained with categorical crossentropy",
    "SEQC-W005": "relu (or another unbounded activation) on a classifier's output",
    "SEQC-W006": "a regression loss (MSE/MAE) on a softmax output",
    "SEQC-W007": "a validation split of data sorted by label",
    "SEQC-W008": "a learning rate above 1 with an adaptive optimizer",
    "SEQC-W009": "categorical crossentropy on an output of one unit (always 0)",
    "SEQC-W010": "from_logits=True on an output that already has its softmax or sigmoid",
}


@dataclass(frozen=True)
class Finding:
    """One warning: its code, where (the layer, the optimizer or the labels), what is set and
    why it trains badly, and the fix."""

    code: str
    where: str
    message: str
    hint: str

    def format(self, indent: str = "") -> str:
        return f"{indent}{self.code} {self.where}: {self.message}\n{indent}  hint: {self.hint}"

    def to_json(self) -> dict[str, str | None]:
        """report.json's entry: `layer` the layer's name when the finding is about one
        (`where` reads "layer 'NAME' (KIND)", see `_where`), else None."""
        m = re.fullmatch(r"layer '(.*)' \(.*\)", self.where)
        return {"code": self.code, "layer": m.group(1) if m else None, "where": self.where,
                "message": self.message, "hint": self.hint}


def format_block(findings: list[Finding]) -> str:
    """The `warnings:` block `seqc build` prints before the first epoch."""
    return "warnings:\n" + "\n".join(f.format("  ") for f in findings)


# ---------------------------------------------------------------- reporting

_HANDLER: ContextVar[Callable[[list[Finding]], None] | None] = ContextVar("seqc_lint_handler",
                                                                        default=None)
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextmanager
def reporting(handler: Callable[[list[Finding]], None]) -> Iterator[None]:
    """Within the block, `report` hands the findings of every fit to `handler` instead of
    issuing Python warnings (the handler may raise to stop before training)."""
    token = _HANDLER.set(handler)
    try:
        yield
    finally:
        _HANDLER.reset(token)


def report(findings: list[Finding]) -> None:
    if not findings:
        return
    handler = _HANDLER.get()
    if handler is not None:
        handler(findings)
    else:
        _warn(findings)


def _warn(findings: list[Finding]) -> None:
    level = _caller_level()
    for f in findings:
        warnings.warn(SeqcWarning(f.format(), f.code), stacklevel=level)


def _caller_level() -> int:
    """The stacklevel of the first frame outside seqc, so a warning points at the user's
    `model.fit(...)` line however deep inside seqc it was issued."""
    level, frame = 2, sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def reporter(emit: Callable[[str], Any] | None, *, ignore: tuple[str, ...] = (),
             strict: bool = False, file: str | None = None) -> Callable[[list[Finding]], None]:
    """The CLI's handler: the findings not ignored, printed once as a `warnings:` block by
    `emit` (None: Python warnings); with `strict` they then stop the build (exit 2) before
    anything trains."""

    def handle(findings: list[Finding]) -> None:
        shown = [f for f in findings if f.code not in ignore]
        if not shown:
            return
        if emit is None:
            _warn(shown)
        else:
            emit(format_block(shown))
        if strict:
            codes = ", ".join(dict.fromkeys(f.code for f in shown))
            raise DefinitionError(
                f"--strict turns the warnings above into an error ({codes}); nothing was "
                "trained", file=file, field="--strict", received=codes,
                hint="fix the settings the warnings name, or accept one with --ignore CODE")

    return handle


def check_codes(codes: Any) -> tuple[str, ...]:
    """--ignore values as codes ("W003" and "seqc-w003" read as SEQC-W003); an unknown code is
    refused, so a typo never leaves a warning on."""
    out = []
    for raw in codes or ():
        code = str(raw).strip().upper()
        if not code.startswith("SEQC-"):
            code = "SEQC-" + code
        if code not in CODES:
            raise UsageError(f"unknown warning code {raw!r}", field="--ignore",
                             received=f"--ignore {raw}",
                             hint="; ".join(filter(None, [
                                 did_you_mean(code, CODES),
                                 f"the codes are {min(CODES)} to {max(CODES)} "
                                 "(docs/errors.md)"])))
        out.append(code)
    return tuple(out)
