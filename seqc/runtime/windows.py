"""Timeseries windows at predict time: a model trained on `data.timeseries` windows carries
them in its ONNX metadata (`seqc.timeseries`), and `seqc predict` cuts the raw series the same
way, streaming: window i takes rows s, s + sampling_rate, ..., s + (sequence_length - 1) *
sampling_rate (s = i * sequence_stride), as Keras' `timeseries_dataset_from_array(data, None,
...)` does, giving (windows, sequence_length, columns).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import numpy as np

from ..errors import DataError, SeqcError
from ..training.timeseries import check_timeseries, min_window_rows, window_count

TIMESERIES_KEY = "seqc.timeseries"
# What travels with the model; `horizon` is informational (predict has no targets).
_KEYS = ("sequence_length", "sequence_stride", "sampling_rate", "horizon", "columns")


def timeseries_metadata(timeseries: dict, columns: list[str] | None = None) -> dict[str, str]:
    """ONNX metadata entries for a model trained on windows made by `timeseries` (a
    definition's checked `data.timeseries` section): `{"seqc.timeseries": json}` holding
    sequence_length, sequence_stride, sampling_rate, horizon and the input column names in
    window-feature order. `columns` overrides the section's own `columns`. Raises DataError
    when the settings are not valid timeseries arguments.

    >>> timeseries_metadata({"sequence_length": 24, "columns": ["sunspots"]})
    {'seqc.timeseries': '{"sequence_length": 24, "sequence_stride": 1, "sampling_rate": 1, \
"horizon": 1, "columns": ["sunspots"]}'}
    """
    ts = dict(timeseries)
    if columns is not None:
        ts["columns"] = list(columns)
    ts = check_timeseries(ts, None)
    return {TIMESERIES_KEY: json.dumps({k: ts[k] for k in _KEYS})}


def model_timeseries(props: dict[str, str], label: str = "model") -> dict | None:
    """The windowing a model carries in its metadata props (None when it carries none); a
    DataError naming the model when the entry is malformed."""
    raw = props.get(TIMESERIES_KEY)
    if raw is None:
        return None
    try:
        ts = json.loads(raw)
        if not isinstance(ts, dict):
            raise ValueError("not an object")
        return check_timeseries({k: v for k, v in ts.items() if k in _KEYS}, None)
    except (ValueError, SeqcError) as e:
        msg = e.message if isinstance(e, SeqcError) else str(e)
        raise DataError(f"the model's {TIMESERIES_KEY} metadata is malformed ({msg})",
                        file=label, field=TIMESERIES_KEY, received=raw[:200],
                        hint="rebuild the model with seqc build") from None


def check_model_input(ts: dict, in_shape: tuple, channels_first: bool, label: str) -> None:
    """The windows (sequence_length, columns) must be what the model takes; a DataError
    naming the model when its metadata and its input disagree."""
    want = (ts["sequence_length"], len(ts["columns"]))
    if channels_first:
        want = want[::-1]
    got = tuple(in_shape[1:])
    if len(got) != 2 or any(d is not None and d != w for d, w in zip(got, want)):
        raise DataError(
            f"the model's {TIMESERIES_KEY} metadata makes windows of (sequence_length, "
            f"columns) = ({ts['sequence_length']}, {len(ts['columns'])}), but the model input "
            f"is {list(in_shape)}", file=label, field=TIMESERIES_KEY,
            received=json.dumps(ts), hint="rebuild the model with seqc build; --no-windows "
                                          "predicts pre-made windows without reading it")


def window_batches(chunks: Iterable[np.ndarray], ts: dict, batch_size: int, *, path: str,
                   channels_first: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(first rows, windows) batches of at most `batch_size` windows, in order, cut from
    `chunks` (consecutive row blocks of the series, (rows, columns) or (rows,) for one
    column). Windows are (k, sequence_length, columns), or (k, columns, sequence_length) with
    `channels_first`. Only the rows a later window still needs are carried from one chunk to
    the next (at most (sequence_length - 1) * sampling_rate of them, plus a stride's gap), so
    memory is one chunk, the carry and one batch of windows (k * sequence_length * columns).
    A DataError naming `path` when the series is too short for one window."""
    length, rate, stride = ts["sequence_length"], ts["sampling_rate"], ts["sequence_stride"]
    reach = (length - 1) * rate + 1  # rows from a window's first row to its last
    buf: np.ndarray | None = None
    b0 = seen = done = 0  # buf[0] is row b0; `done` windows yielded so far
    for chunk in chunks:
        chunk = np.asarray(chunk)
        if chunk.ndim == 1:
            chunk = chunk[:, None]
        seen += len(chunk)
        buf = chunk if buf is None or not len(buf) else np.concatenate([buf, chunk])
        total = window_count(seen, ts)  # windows whose last row has been read
        if total > done:
            # A view: (len(buf) - reach + 1, columns, reach); no copy until a batch is taken.
            view = np.lib.stride_tricks.sliding_window_view(buf, reach, axis=0)
            for i in range(done, total, batch_size):
                k = min(batch_size, total - i)
                lo = i * stride - b0
                w = view[lo:lo + (k - 1) * stride + 1:stride, :, ::rate]
                w = np.ascontiguousarray(w if channels_first else w.transpose(0, 2, 1))
                yield np.arange(i, i + k, dtype=np.int64) * stride, w
            done = total
        # Rows before the next window's first row belong to no later window.
        drop = min(done * stride - b0, len(buf))
        buf, b0 = buf[drop:], b0 + drop
    if done == 0:
        need = min_window_rows(ts)
        raise DataError(
            f"the series has {seen} rows, too few for one window: sequence_length={length} "
            f"with sampling_rate={rate} spans {need} rows, so at least {need} rows are needed",
            file=path, field="INPUT", received=f"{seen} rows",
            hint="pass a longer series, or pre-made windows: an array of shape (N, "
                 f"{length}, {len(ts['columns'])}) is predicted as it is")


def describe(ts: dict) -> str:
    return (f"windows of sequence_length={ts['sequence_length']} (sequence_stride="
            f"{ts['sequence_stride']}, sampling_rate={ts['sampling_rate']}) over columns "
            f"{ts['columns']}")


def is_raw_series(shape: tuple, ts: dict) -> bool:
    """A (rows, columns) array, or (rows,) for a single column: the raw series."""
    width = len(ts["columns"])
    return (len(shape) == 2 and shape[1] == width) or (len(shape) == 1 and width == 1)


__all__ = ["TIMESERIES_KEY", "timeseries_metadata", "model_timeseries", "window_batches",
           "check_model_input", "is_raw_series", "describe"]
