"""What `validate` returns: a `RuntimeResult` per runtime (its errors against the reference,
per output when the model has several, its time, the first diverging layer when bisected)
and the `ValidationResult` holding them, printed as the comparison table `seqc validate`
shows (or as JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RuntimeResult:
    runtime: str
    seconds: float | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    argmax_agreement: float | None = None  # fraction of rows; None when not a class score
    ok: bool = False
    is_reference: bool = False
    error: str | None = None  # the runtime failed to load or run
    atol: float | None = None  # the tolerance this runtime was held to (per dtype)
    rtol: float | None = None
    # Where a failing ONNX runtime first diverges (seqc.runtime.bisect): layer, node, kind,
    # value, max_abs_error, last_agreeing, ...; None when it agrees or was not bisected.
    first_divergence: dict[str, Any] | None = None
    bisect_note: str | None = None  # why the bisection named no layer
    # One row per output when the model has several (name, max_abs_error, max_rel_error,
    # argmax_agreement, ok, atol, rtol); the fields above then hold the worst over outputs.
    outputs: list[dict[str, Any]] | None = None


@dataclass
class ValidationResult:
    """What `seqc.validate` returns; `.ok` is True when every runtime agrees."""

    model: str
    reference: str
    atol: float
    rtol: float
    input_shape: tuple
    output_shape: tuple | None
    results: list[RuntimeResult] = field(default_factory=list)
    output_names: list[str] = field(default_factory=lambda: ["output"])
    output_shapes: list[tuple] = field(default_factory=list)
    # Lines printed under the table: runtimes skipped here and why.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def __getitem__(self, runtime: str) -> RuntimeResult:
        for r in self.results:
            if r.runtime == runtime:
                return r
        raise KeyError(runtime)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "model": self.model, "reference": self.reference,
                "atol": self.atol, "rtol": self.rtol, "input_shape": list(self.input_shape),
                "output_shape": None if self.output_shape is None else list(self.output_shape),
                "output_names": list(self.output_names),
                "output_shapes": [list(s) for s in self.output_shapes],
                "runtimes": [asdict(r) for r in self.results], "summary": self.summary(),
                "notes": list(self.notes)}

    def summary(self) -> str:
        """One line naming each failing runtime and how it fails ("" when all agree)."""
        parts = []
        for r in self.results:
            if r.ok or r.is_reference and r.error is None:
                continue
            if r.error is not None:
                parts.append(f"{r.runtime} failed: {r.error}")
            else:
                parts.append(f"{r.runtime} max abs err {r.max_abs_error:g}"
                             + (f" (first diverges at layer {r.first_divergence['layer']!r})"
                                if r.first_divergence and r.first_divergence.get("layer")
                                else ""))
        return "; ".join(parts)

    def format_table(self) -> str:
        from .bisect import describe

        several = len(self.output_names) > 1
        if several:
            shapes = ", ".join(f"{n} {s}" for n, s in zip(self.output_names, self.output_shapes))
            out = [f"validate {self.model}: input {self.input_shape}, outputs {shapes}, "
                   f"reference {self.reference}, atol {self.atol:g}, rtol {self.rtol:g}"]
            for k, name in enumerate(self.output_names):
                out.append(f"output {k} '{name}'")
                out += _table([_row(r, r.outputs[k] if r.outputs else None)
                               for r in self.results])
        else:
            out = [f"validate {self.model}: input {self.input_shape}, output "
                   f"{self.output_shape}, reference {self.reference}, atol {self.atol:g}, "
                   f"rtol {self.rtol:g}"]
            out += _table([_row(r, None) for r in self.results])
        out += [f"{r.runtime}: {r.error}" for r in self.results if r.error]
        for r in self.results:
            if r.is_reference or r.error or r.atol is None:
                continue
            if (r.atol, r.rtol) != (self.atol, self.rtol):
                out.append(f"{r.runtime}: compared with atol {r.atol:g}, rtol {r.rtol:g} "
                           "(the tolerance of the dtype it computes in)")
        for r in self.results:
            if r.first_divergence is not None:
                out.append(f"{r.runtime}: {describe(r.first_divergence)}")
            elif r.bisect_note:
                out.append(f"{r.runtime}: {r.bisect_note}")
        out += self.notes
        out.append("OK: all runtimes agree" if self.ok else "FAILED: runtimes disagree")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.format_table()


_HEAD = ["runtime", "max abs err", "max rel err", "argmax agree", "time (ms)", "result"]


def _row(r: RuntimeResult, per: dict[str, Any] | None) -> list[str]:
    """A table row for a runtime: its own figures, or one output's (`per`)."""
    if r.error is not None or (per is not None and not per):
        return [r.runtime, "-", "-", "-", "-", "ERROR"]
    c = r if per is None else _Figures(**{k: per.get(k) for k in _Figures.__annotations__})
    agree = "-" if c.argmax_agreement is None else f"{100 * c.argmax_agreement:.1f}%"
    return [r.runtime,
            "(reference)" if r.is_reference else f"{c.max_abs_error:.3g}",
            "" if r.is_reference else f"{c.max_rel_error:.3g}",
            "" if r.is_reference else agree,
            f"{1000 * r.seconds:.2f}",
            "-" if r.is_reference else ("ok" if c.ok else "FAIL")]


@dataclass
class _Figures:
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    argmax_agreement: float | None = None
    ok: bool = False


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [_HEAD, *rows]) for i in range(len(_HEAD))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(_HEAD), line(["-" * w for w in widths]), *map(line, rows)]
