"""Training data from files: CSV (header row, a named target column), `.npz` (x and y, or for
a model with several inputs or outputs one array per input and output, named after them), or
a pair of `.npy` files. Used by the CLI and the JSON-spec frontend.

CSV features must be numeric; a non-numeric target column becomes class ids in sorted label
order, the labels kept in `Dataset.class_names`. Every failure is a DataError naming the file
(and the row and column where there is one). No pandas: the stdlib csv module and NumPy.
A CSV's time-series windows are counted and placed by `timeseries.py`.
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, did_you_mean
from ..fileio import check_npy_file, check_npz_file, regular_file
from ..model import DEFAULT_MAX_MEMORY
from .timeseries import check_timeseries, min_window_rows, window_starts

LABEL_DTYPES = (None, "float32", "int64", "category")


@dataclass
class Dataset:
    """x and y are arrays, or for a model with several inputs / outputs dicts of arrays by
    input name / output name."""

    x: Any
    y: Any
    class_names: list[str] | None = None
    feature_names: list[str] | None = None
    source: str | None = None

    def __len__(self) -> int:
        return len(next(iter(self.x.values()))) if isinstance(self.x, dict) else len(self.x)


def _check_file(path: str, what: str = "data file") -> str:
    return regular_file(path, what)


def load_csv(path: str, target: str | None, *, label_dtype: str | None = None,
             delimiter: str = ",") -> Dataset:
    """A CSV with a header row. `target` names the label column (None: no labels).

    label_dtype: None guesses (numeric labels stay numbers, int64 when all whole; anything
    else becomes class ids), "float32", "int64", or "category" (always map labels to ids).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("a,b,kind\\n1,2,cat\\n3,4,dog\\n")
    >>> ds = load_csv(p, "kind")
    >>> ds.x.tolist(), ds.y.tolist(), ds.class_names
    ([[1.0, 2.0], [3.0, 4.0]], [0, 1], ['cat', 'dog'])
    """
    if label_dtype not in LABEL_DTYPES:
        raise DataError("label_dtype must be one of " + ", ".join(map(repr, LABEL_DTYPES)),
                        field="label_dtype", received=repr(label_dtype))
    path = _check_file(path)
    header, body = _read_csv(path, delimiter)
    if target is not None and target not in header:
        raise DataError(f"target column '{target}' is not in the CSV header", file=path,
                        field="target", received=f"columns {header}",
                        hint=did_you_mean(target, header))
    t_idx = header.index(target) if target is not None else None
    f_idx = [i for i in range(len(header)) if i != t_idx]
    if not f_idx:
        raise DataError("the CSV file has no feature columns besides the target", file=path,
                        received=f"columns {header}")
    x = _numeric_columns(header, body, f_idx, path, delimiter,
                         hint="encode categorical features as numbers (one-hot) or drop the "
                              "column" + ("" if target else ", or make '{col}' the target"))
    labels = [] if t_idx is None else [row[t_idx].strip() for _, row in body]
    y, class_names = (None, None) if t_idx is None else _labels(labels, body, path, target,
                                                                label_dtype)
    return Dataset(x, y, class_names, [header[i] for i in f_idx], path)


def _read_csv(path: str, delimiter: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) of a CSV with a header row and at least one data row;
    blank lines are skipped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f, delimiter=delimiter))
    except UnicodeDecodeError as e:
        raise DataError("the CSV file is not UTF-8 text", file=path,
                        received=f"byte {e.start}") from None
    except csv.Error as e:
        raise DataError(f"malformed CSV: {e}", file=path) from None
    # Blank lines (often a trailing one) are not rows.
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        raise DataError("the CSV file is empty (it needs a header row)", file=path)
    header = [h.strip() for h in numbered[0][1]]
    body = numbered[1:]
    if not body:
        raise DataError("the CSV file has a header but no data rows", file=path)
    for line, row in body:
        if len(row) != len(header):
            raise DataError(f"line {line} has {len(row)} cells but the header has "
                            f"{len(header)} columns", file=path, field=f"line {line}",
                            received=delimiter.join(row)[:80])
    return header, body


def _numeric_columns(header: list[str], body: list, idx: list[int], path: str,
                     delimiter: str, hint: str) -> np.ndarray:
    """float32 (rows, len(idx)) from the columns `idx`; a non-number names line and column
    (`hint` may say `{col}`)."""
    x = np.empty((len(body), len(idx)), dtype=np.float32)
    for r, (line, row) in enumerate(body):
        for j, c in enumerate(idx):
            cell = row[c].strip()
            try:
                with np.errstate(over="ignore"):  # 1e39 becomes inf, refused below
                    x[r, j] = float(cell)
            except ValueError:
                what = "an empty cell" if not cell else f"a non-numeric value {cell!r}"
                raise DataError(
                    f"line {line} (data row {r + 1}), column '{header[c]}' holds {what}; "
                    f"features must be numbers", file=path, field=header[c],
                    received=repr(cell), hint=hint.format(col=header[c])) from None
    bad = ~np.isfinite(x)  # "nan", "inf" and 1e39 parse, but nothing trains on them
    if bad.any():
        r, j = (int(i) for i in np.argwhere(bad)[0])
        line, row = body[r]
        cell = row[idx[j]].strip()
        raise DataError(f"line {line} (data row {r + 1}), column '{header[idx[j]]}' holds "
                        f"{cell!r}, not a finite float32; features must be finite numbers",
                        file=path, field=header[idx[j]], received=repr(cell),
                        hint="drop or impute missing values before training")
    return x


def _labels(labels: list[str], body: list, path: str, target: str,
            label_dtype: str | None) -> tuple[np.ndarray, list[str] | None]:
    for (line, _), v in zip(body, labels):
        if v == "":
            raise DataError(f"line {line}: the target column '{target}' is empty", file=path,
                            field=target, received="''")
    numbers = None
    if label_dtype != "category":
        try:
            numbers = np.array([float(v) for v in labels])
        except ValueError:
            if label_dtype is not None:
                bad = next((line, v) for (line, _), v in zip(body, labels) if not _isnum(v))
                raise DataError(f"line {bad[0]}: target '{target}' holds {bad[1]!r}, not a "
                                f"number (label_dtype={label_dtype})", file=path, field=target,
                                received=repr(bad[1])) from None
    if numbers is not None:
        if not np.all(np.isfinite(numbers)):
            line = body[int(np.argmin(np.isfinite(numbers)))][0]
            raise DataError(f"line {line}: target '{target}' is not finite", file=path,
                            field=target, received=labels[int(np.argmin(np.isfinite(numbers)))])
        whole = np.all(numbers == np.round(numbers))
        if label_dtype == "int64" and not whole:
            i = int(np.argmax(numbers != np.round(numbers)))
            raise DataError(f"line {body[i][0]}: target '{target}' holds {labels[i]!r}, not a "
                            "whole number (label_dtype='int64')", file=path, field=target,
                            received=labels[i])
        if label_dtype == "float32" or (label_dtype is None and not whole):
            return numbers.astype(np.float32), None
        return numbers.astype(np.int64), None
    names = sorted(set(labels))
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[v] for v in labels], dtype=np.int64), names


def _isnum(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _load_array(path: str, what: str, max_memory: int | None) -> np.ndarray:
    if not zipfile.is_zipfile(path):  # an .npz given as .npy is named below
        check_npy_file(path, max_memory)
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise DataError(f"cannot read {what}: {e}", file=path,
                        hint="object arrays need pickle, which seqc refuses; save numeric "
                             "arrays") from None
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {what}: not a NumPy file ({e})", file=path) from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        arr.close()
        raise DataError(f"{what} is an .npz archive, expected a single .npy array", file=path)
    return arr


def load_npz(path: str, named: tuple[list[str], list[str]] | None = None, *,
             max_memory: int | None = DEFAULT_MAX_MEMORY) -> Dataset:
    """An `.npz` holding arrays `x` and `y` (y optional for inference). `named` (the model's
    input names and output names, given for a model with several inputs or outputs) reads
    instead one array per input and per output, named after them (`load_named_npz`). Its
    headers and decompressed size (at most `max_memory` bytes) are checked first."""
    path = _check_file(path)
    check_npz_file(path, max_memory)
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise DataError("not an .npz archive", file=path)
            keys = list(z.files)
            if named is not None:
                return _named_npz(z, keys, path, *named)
            if "x" not in keys:
                raise DataError("the .npz file has no array 'x'", file=path, field="x",
                                received=f"arrays {keys}",
                                hint=did_you_mean("x", keys)
                                or "save it with np.savez(path, x=features, y=labels)")
            x = z["x"]
            y = z["y"] if "y" in keys else None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read the .npz file: {e}", file=path) from None
    return Dataset(x, y, source=path)


def _named_npz(z: Any, keys: list[str], path: str, inputs: list[str],
               outputs: list[str]) -> Dataset:
    """x: {input name: array} (the array itself for one input, which may also be named `x`);
    y: {output name: array} when the file holds every output (one output may be named `y`),
    None when it holds none (inference, or exporting untrained)."""
    def pick(names: list[str], alias: str, what: str, required: bool) -> Any:
        if len(names) == 1 and names[0] not in keys and alias in keys:
            return z[alias]
        missing = [n for n in names if n not in keys]
        if missing and (required or len(missing) < len(names)):
            raise DataError(f"the .npz has no array '{missing[0]}': a model with several "
                            f"inputs or outputs reads one array per {what}, named after it "
                            f"({names})", file=path, field=missing[0], received=f"arrays {keys}",
                            hint=did_you_mean(missing[0], keys)
                            or "np.savez(path, " + ", ".join(f"{n}=..." for n in names) + ")")
        if missing:
            return None
        return z[names[0]] if len(names) == 1 else {n: z[n] for n in names}

    return Dataset(pick(inputs, "x", "input", True), pick(outputs, "y", "output", False),
                   source=path)


def load_npy_pair(x_path: str, y_path: str | None, *,
                  max_memory: int | None = DEFAULT_MAX_MEMORY) -> Dataset:
    """Features from one `.npy` file, labels from another (or None); each header is checked
    against its file and `max_memory` before the array is read."""
    x = _load_array(_check_file(x_path, "x file"), "x", max_memory)
    y = None if y_path is None else _load_array(_check_file(y_path, "y file"), "y",
                                                 max_memory)
    if y is not None and len(x) != len(y):
        raise DataError("x and y have different numbers of samples", file=f"{x_path}, {y_path}",
                        received=f"x {len(x)} rows, y {len(y)} rows")
    return Dataset(x, y, source=os.fspath(x_path))


def load_timeseries_csv(path: str, target: str | None, timeseries: dict, *,
                        label_dtype: str | None = "float32", delimiter: str = ",") -> Dataset:
    """Windows over the rows of a CSV, one row per time step, in file order, as Keras'
    `timeseries_dataset_from_array(data[:, columns], targets=data[delay:, target],
    sequence_length, sequence_stride, sampling_rate)` with `delay = (sequence_length - 1) *
    sampling_rate + horizon` builds them (without shuffling): window i holds rows
    `s, s + sampling_rate, ..., s + (sequence_length - 1) * sampling_rate` of `columns`
    (s = i * sequence_stride), its label is `target` at row `s + delay`, `horizon` rows after
    the window's last row. x is (windows, sequence_length, len(columns)) float32; y (windows,)
    (float32 by default). Without a target, every full window (Keras' targets=None).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> _ = open(p, "w").write("t,v\\n0,10\\n1,11\\n2,12\\n3,13\\n")
    >>> ds = load_timeseries_csv(p, "v", {"sequence_length": 2})
    >>> ds.x[:, :, 0].tolist(), ds.y.tolist()
    ([[10.0, 11.0], [11.0, 12.0]], [12.0, 13.0])
    """
    if label_dtype not in LABEL_DTYPES:
        raise DataError("label_dtype must be one of " + ", ".join(map(repr, LABEL_DTYPES)),
                        field="label_dtype", received=repr(label_dtype))
    ts = check_timeseries(timeseries, target)
    path = _check_file(path)
    header, body = _read_csv(path, delimiter)
    for field, names in (("target", [target] if target is not None else []),
                         ("timeseries.columns", ts["columns"])):
        for name in names:
            if name not in header:
                raise DataError(f"column '{name}' ({field}) is not in the CSV header",
                                file=path, field=f"data.{field}", received=f"columns {header}",
                                hint=did_you_mean(name, header))
    length, rate = ts["sequence_length"], ts["sampling_rate"]
    first_to_last = (length - 1) * rate
    delay = first_to_last + (ts["horizon"] if target is not None else 0)
    starts = window_starts(len(body), ts, targets=target is not None)
    if len(starts) == 0:
        need = min_window_rows(ts, targets=target is not None)
        raise DataError(
            f"the series has {len(body)} rows, too few for one window: sequence_length="
            f"{length} with sampling_rate={rate} spans {first_to_last + 1} rows"
            + (f", and the target lies horizon={ts['horizon']} rows after it" if target
               is not None else "") + f"; at least {need} rows are needed", file=path,
            field="data.timeseries.sequence_length", received=f"{len(body)} data rows",
            hint="use a shorter sequence_length (or sampling_rate), or a longer series")
    series = _numeric_columns(header, body, [header.index(c) for c in ts["columns"]], path,
                              delimiter, hint="every timeseries column must be numeric; "
                                              "drop '{col}' from timeseries.columns")
    # Fancy indexing copies: x is windows * sequence_length * columns float32s.
    x = series[starts[:, None] + np.arange(length) * rate]
    y, class_names = None, None
    if target is not None:
        t_idx = header.index(target)
        rows = [body[i] for i in starts + delay]
        y, class_names = _labels([row[t_idx].strip() for _, row in rows], rows, path, target,
                                 label_dtype)
    return Dataset(x, y, class_names, list(ts["columns"]), path)


def load_data(path: str | dict | None = None, *, target: str | None = None,
              x: str | None = None, y: str | None = None, base_dir: str | None = None,
              label_dtype: str | None = None, timeseries: dict | None = None,
              named: tuple[list[str], list[str]] | None = None,
              max_memory: int | None = DEFAULT_MAX_MEMORY) -> Dataset:
    """The CLI's and the spec's entry: a `.csv` (with `target`), an `.npz`, or `x`/`y` `.npy`
    paths (an array's declared size, decompressed for an .npz, at most `max_memory` bytes). A
    dict spec `{"path": ..., "target": ...}` or `{"x": ..., "y": ...}` works too; relative
    paths resolve against `base_dir`. `timeseries` (a CSV only) windows the rows, see
    `load_timeseries_csv`. `named` (input names, output names) is given for a model with
    several inputs or outputs, whose data is an .npz of named arrays (`load_npz`)."""
    if isinstance(path, dict):
        spec = dict(path)
        known = {"path", "target", "x", "y", "label_dtype", "timeseries"}
        for k in spec:
            if k not in known:
                raise DataError(f"unknown data argument '{k}'", field=f"data.{k}",
                                received=repr(spec), hint=did_you_mean(k, known))
        return load_data(spec.get("path"), target=spec.get("target", target),
                         x=spec.get("x"), y=spec.get("y"), base_dir=base_dir,
                         label_dtype=spec.get("label_dtype", label_dtype),
                         timeseries=spec.get("timeseries"), named=named,
                         max_memory=max_memory)

    def resolve(p: str | None) -> str | None:
        if p is None:
            return None
        p = os.path.expanduser(os.fspath(p))
        return os.path.join(base_dir, p) if base_dir and not os.path.isabs(p) else p

    if path is not None and (x is not None or y is not None):
        raise DataError("give either a data file or an x/y pair, not both", field="data",
                        received=f"path={path}, x={x}, y={y}")
    if timeseries is not None and (path is not None or x is not None):
        p = resolve(path if path is not None else x)
        if y is not None or os.path.splitext(p)[1].lower() != ".csv":
            raise DataError("timeseries windows are cut from the rows of a CSV file",
                            file=p, field="data.timeseries",
                            received=f"path={path!r}" if y is None else f"x={x!r}, y={y!r}",
                            hint='use {"path": "series.csv", "target": "COLUMN", '
                                 '"timeseries": {"sequence_length": 24}}')
        return load_timeseries_csv(p, target, timeseries,
                                   label_dtype=label_dtype or "float32")
    if path is None:
        if x is None:
            raise DataError("no data given", field="data",
                            hint="pass a .csv/.npz file, or x and y .npy files")
        if named is not None:
            raise DataError("a model with several inputs or outputs reads its data from one "
                            f".npz holding one array per input {named[0]} and per output "
                            f"{named[1]}", field="--x", received=f"x={x}, y={y}",
                            hint="pass --data d.npz, saved with np.savez(path, " + ", ".join(
                                f"{n}=..." for n in [*named[0], *named[1]]) + ")")
        if os.fspath(x).endswith(".csv"):
            return load_csv(resolve(x), target, label_dtype=label_dtype)
        return load_npy_pair(resolve(x), resolve(y), max_memory=max_memory)
    p = resolve(path)
    ext = os.path.splitext(p)[1].lower()
    if named is not None and ext != ".npz":
        raise DataError("a model with several inputs or outputs reads its data from an .npz "
                        f"holding one array per input {named[0]} and per output {named[1]}",
                        file=p, field="data", received=os.path.basename(p),
                        hint="np.savez(path, " + ", ".join(f"{n}=..." for n in
                                                           [*named[0], *named[1]]) + ")")
    if ext == ".csv":
        if target is None:
            raise DataError("a CSV data file needs the name of its label column", file=p,
                            field="target", hint="pass --target COLUMN (or \"target\" in the "
                                                 "spec's data section)")
        return load_csv(p, target, label_dtype=label_dtype)
    if ext == ".npz":
        return load_npz(p, named, max_memory=max_memory)
    if ext == ".npy":
        return load_npy_pair(p, None, max_memory=max_memory)
    raise DataError(f"unsupported data file type '{ext or '(none)'}'", file=p,
                    received=os.path.basename(p), hint="use .csv, .npz, or an x/y pair of .npy")


def shape_rows_for(dataset: Dataset, in_type: Any) -> str | None:
    """A CSV holds one flat row per sample; a model whose input has more axes (an 8x8x1 image,
    a 64-step signal with 1 channel) gets each row reshaped in C order, as numpy's
    `x.reshape(-1, *shape)` does. Changes `dataset.x` in place and returns a line saying so,
    or None when nothing was reshaped. Only rank-2 data is reshaped, and only when the sizes
    agree exactly; anything else is left for the shape check to report."""
    want = tuple(in_type.shape[1:])
    x = dataset.x
    if x.ndim != 2 or len(want) < 2 or any(d is None for d in want):
        return None
    if int(np.prod(want)) != x.shape[1]:
        raise DataError(
            f"each row has {x.shape[1]} values, but the model input {list(want)} needs "
            f"{int(np.prod(want))} per sample", file=dataset.source, field="input_shape",
            received=f"{x.shape[1]} feature columns",
            hint="fix input_shape so its sizes multiply to the number of feature columns")
    dataset.x = x.reshape(len(x), *want)
    return f"Reshaped each {x.shape[1]}-value row to {want} (C order) for the model input"
