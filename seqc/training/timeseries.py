"""Time-series windows (the data section's `timeseries`): its arguments checked and completed,
and how many windows Keras' `timeseries_dataset_from_array` cuts from a series and where each
starts. Training (`data.load_timeseries_csv`) and `seqc predict` (runtime/windows.py) both
count windows here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError, did_you_mean

TIMESERIES_KEYS = ("columns", "sequence_length", "sequence_stride", "sampling_rate", "horizon")
_TS_EXAMPLE = '{"sequence_length": 24, "columns": ["sunspots"]}'


def check_timeseries(ts: Any, target: str | None) -> dict:
    """The data section's `timeseries` arguments, checked and completed with their defaults
    (Keras' sequence_stride=1, sampling_rate=1; horizon=1: the next row; columns: the target
    column, a univariate forecast). Raises DataError."""
    if not isinstance(ts, dict):
        raise DataError("data.timeseries must be an object", field="data.timeseries",
                        received=repr(ts), hint=f"e.g. {_TS_EXAMPLE}")
    for k in ts:
        if k not in TIMESERIES_KEYS:
            raise DataError(f"unknown timeseries argument '{k}'. Valid arguments: "
                            + ", ".join(TIMESERIES_KEYS), field=f"data.timeseries.{k}",
                            received=f"{k}={ts[k]!r}", hint=did_you_mean(k, TIMESERIES_KEYS))
    if "sequence_length" not in ts:
        raise DataError("data.timeseries needs sequence_length (time steps per window)",
                        field="data.timeseries.sequence_length", received=f"keys {sorted(ts)}",
                        hint=f"e.g. {_TS_EXAMPLE}")
    out: dict[str, Any] = {}
    for k in ("sequence_length", "sequence_stride", "sampling_rate", "horizon"):
        v = ts.get(k, 1)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise DataError(f"data.timeseries.{k} must be an integer >= 1",
                            field=f"data.timeseries.{k}", received=f"{k}={v!r}")
        out[k] = int(v)
    cols = ts.get("columns", target)
    if cols is None:
        raise DataError("data.timeseries needs the columns that form each window, or a target "
                        "column to forecast from its own past", field="data.timeseries.columns",
                        received=f"timeseries={ts!r}, no target",
                        hint=f'add "target": "COLUMN" to the data section, or "columns" to '
                             f"the timeseries, e.g. {_TS_EXAMPLE}")
    cols = [cols] if isinstance(cols, str) else cols
    if (not isinstance(cols, (list, tuple)) or not cols
            or not all(isinstance(c, str) and c for c in cols)):
        raise DataError("data.timeseries.columns must be a column name or a non-empty list of "
                        "column names", field="data.timeseries.columns",
                        received=f"columns={ts.get('columns')!r}")
    if len(set(cols)) != len(cols):
        dup = next(c for c in cols if cols.count(c) > 1)
        raise DataError(f"data.timeseries.columns names '{dup}' twice",
                        field="data.timeseries.columns", received=f"columns={list(cols)!r}")
    out["columns"] = list(cols)
    return out


def window_count(n_rows: int, ts: dict, *, targets: bool = False) -> int:
    """How many windows Keras' `timeseries_dataset_from_array` cuts from `n_rows` rows:
    `len(np.arange(0, num_seqs, sequence_stride))` with `num_seqs = n_rows - (sequence_length
    - 1) * sampling_rate`, capped by the targets' length when each window has a target
    (`targets=True`: the target lies `horizon` rows after the window's last row, so
    `len(targets) = n_rows - delay`); 0 when the series is too short for one window (Keras
    then yields an empty dataset). The one place seqc counts windows: training and
    `seqc predict` both use it."""
    num_seqs = n_rows - (ts["sequence_length"] - 1) * ts["sampling_rate"]
    if targets:
        num_seqs -= ts["horizon"]
    stride = ts.get("sequence_stride", 1)
    return max(0, -(-num_seqs // stride))


def window_starts(n_rows: int, ts: dict, *, targets: bool = False) -> np.ndarray:
    """The first row of every window (Keras' `start_positions`, unshuffled): window i takes
    rows `s, s + sampling_rate, ..., s + (sequence_length - 1) * sampling_rate`,
    s = i * sequence_stride."""
    return np.arange(window_count(n_rows, ts, targets=targets)) * ts.get("sequence_stride", 1)


def min_window_rows(ts: dict, *, targets: bool = False) -> int:
    """The fewest rows that hold one window (and its target, with `targets=True`)."""
    return (ts["sequence_length"] - 1) * ts["sampling_rate"] + 1 + (
        ts["horizon"] if targets else 0)
