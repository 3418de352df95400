"""Reports, plots and drawings of a model and its build: `report.html` beside report.json,
`seqc plot` and `Model.plot`. Read-only over a model and report.json: training and export
never import this package. matplotlib (the `report` extra) is imported inside functions only.
"""

from __future__ import annotations

EXTRA_HINT = "pip install 'seqc[report]'"


def have_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def need_matplotlib(what: str) -> None:
    """Raise a UsageError (exit 2) naming the extra when matplotlib is absent."""
    if not have_matplotlib():
        from ..errors import UsageError

        raise UsageError(f"{what} needs matplotlib, which is not installed",
                         hint=f"install the report extra: {EXTRA_HINT}")
