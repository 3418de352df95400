"""Parquet inputs and outputs for `seqc predict`, through pyarrow (imported here only).

Input: the features are one list column (a fixed-size list, nested fixed-size lists for
images, or a list whose rows all have the same length) or one numeric column per feature;
`columns` names them (`--column`, repeatable), else the file's only column besides the target,
or all its columns but the target. Read row group by row group (`iter_batches`), so memory is
bounded by a row group, not the file. Output: `output_0..k` columns (plus `first_row,last_row`
for timeseries windows and `label` when the model carries class names, as in a CSV output),
written in row groups of `ROW_GROUP` rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, did_you_mean
from .streams import InputStream, class_labels

ROW_GROUP = 65536
PYARROW_HINT = "pip install pyarrow (it comes with seqc[ray] and seqc[dask])"


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("reading or writing Parquet needs pyarrow, which is not installed",
                         field="--format", received="a .parquet file",
                         hint=PYARROW_HINT) from None
    return pa, pq


def _list_dims(pa: Any, t: Any) -> tuple[Any, list[int | None]] | None:
    """(value type, row dims) of a list column type (None for a variable-length list), or
    None when `t` is not a list type."""
    dims: list[int | None] = []
    while pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        dims.append(t.list_size if pa.types.is_fixed_size_list(t) else None)
        t = t.value_type
    return (t, dims) if dims else None


class ParquetStream(InputStream):
    """Rows of a Parquet file's feature column(s), batch by batch."""

    def __init__(self, path: str, target: str | None, columns: list[str] | None) -> None:
        pa, pq = _pyarrow()
        self.path, self.pa = path, pa
        try:
            self.pf = pq.ParquetFile(path)
            schema = self.pf.schema_arrow
        except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
            raise DataError(f"not a readable Parquet file ({e})", file=path, field="INPUT",
                            received=path) from None
        names = list(schema.names)
        for c in columns or ():
            if c not in names:
                raise DataError(f"the Parquet file has no column '{c}'", file=path,
                                field="--column", received=f"columns {names}",
                                hint=did_you_mean(c, names))
        pick = list(columns) if columns else [n for n in names if n != target]
        if not pick:
            raise DataError("the Parquet file has no feature column", file=path,
                            field="--column", received=f"columns {names}")
        types = [schema.field(n).type for n in pick]
        lists = [_list_dims(pa, t) for t in types]
        if len(pick) == 1 and lists[0] is not None:
            value_type, self.dims = lists[0]
            if None in self.dims and self.dims != [None]:
                raise DataError("nested lists must have fixed sizes", file=path,
                                field=pick[0], received=str(types[0]),
                                hint="store images as fixed_size_list columns")
        elif any(d is not None for d in lists) or not all(
                pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                for t in types):
            bad = [f"{n}: {t}" for n, t in zip(pick, types)]
            raise DataError("the features must be one list column or numeric columns, one "
                            "per feature", file=path, field="--column",
                            received=", ".join(bad)[:300],
                            hint="name the feature column(s) with --column (repeatable)")
        else:
            value_type, self.dims = None, None
        self.columns = pick
        if self.dims is not None:
            self.dtype = np.dtype(value_type.to_pandas_dtype())
            self.shape = (self.pf.metadata.num_rows, *self.dims)
        else:
            self.dtype = np.result_type(*(np.dtype(t.to_pandas_dtype()) for t in types))
            self.shape = (self.pf.metadata.num_rows, len(pick))

    def describe(self) -> str:
        what = (f"list column '{self.columns[0]}'" if self.dims is not None
                else f"{len(self.columns)} feature columns")
        return f"Parquet {what}, {super().describe()}"

    def batches(self, size: int) -> Iterator[np.ndarray]:
        row0 = 0
        try:
            for rb in self.pf.iter_batches(batch_size=size, columns=self.columns,
                                           use_threads=False):
                yield self._array(rb, row0)
                row0 += rb.num_rows
        except DataError:
            raise
        except Exception as e:  # noqa: BLE001 - a damaged page or row group
            raise DataError(f"cannot read the Parquet file ({e})", file=self.path,
                            field=f"rows after {row0}", received=self.path) from None

    def _array(self, rb: Any, row0: int) -> np.ndarray:
        for name, col in zip(self.columns, rb.columns):
            if col.null_count:
                raise DataError(f"column '{name}' has {col.null_count} null values", file=self.path,
                                field=name, received=f"rows {row0 + 1}..{row0 + rb.num_rows}")
        n = rb.num_rows
        if self.dims is None:
            return np.column_stack([c.to_numpy(zero_copy_only=False).astype(self.dtype, copy=False)
                                    for c in rb.columns])
        col = rb.column(0)
        if self.dims == [None]:  # a variable-length list: every row must have one width
            lengths = np.unique(col.value_lengths().to_numpy())
            width = self.shape[1] if self.shape[1] is not None else lengths[0]
            if len(lengths) != 1 or lengths[0] != width:
                raise DataError(f"the rows of list column '{self.columns[0]}' differ in "
                                "length", file=self.path, field=self.columns[0],
                                received=f"lengths {sorted({*lengths.tolist(), int(width)})[:5]}"
                                         f" in rows up to {row0 + n}")
            self.shape = (self.shape[0], int(width))
        for _ in self.dims:
            col = col.flatten()
        if col.null_count:
            raise DataError(f"list column '{self.columns[0]}' holds null values",
                            file=self.path, field=self.columns[0],
                            received=f"rows {row0 + 1}..{row0 + n}")
        return col.to_numpy(zero_copy_only=False).reshape(n, *self.shape[1:])


class ParquetWriter:
    """Predictions as Parquet, columns as a CSV output has them; rows of more than one axis
    are flattened and their shape kept in the schema metadata (`seqc.output_shape`)."""

    def __init__(self, f: Any, class_names: list[str] | None,
                 row_columns: tuple[str, ...] = ()) -> None:
        self.pa, self.pq = _pyarrow()
        self.f, self.class_names, self.row_columns = f, class_names, tuple(row_columns)
        self.writer, self.pending, self.rows = None, [], 0

    def write(self, y: np.ndarray, rows: np.ndarray | None = None) -> None:
        pa = self.pa
        y2 = y.reshape(len(y), -1)
        cols: dict[str, Any] = {}
        for j, c in enumerate(self.row_columns):
            cols[c] = pa.array(np.asarray(rows)[:, j].astype(np.int64))
        for j in range(y2.shape[1]):
            cols[f"output_{j}"] = pa.array(y2[:, j])
        labels = class_labels(y2, self.class_names)
        if labels is not None:
            cols["label"] = pa.array(labels, pa.string())
        table = pa.table(cols)
        if self.writer is None:
            meta = {"seqc.output_shape": json.dumps(list(y.shape[1:]))}
            self.writer = self.pq.ParquetWriter(self.f, table.schema.with_metadata(meta))
        self.pending.append(table.replace_schema_metadata(self.writer.schema.metadata))
        self.rows += len(y)
        if self.rows >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.writer.write_table(self.pa.concat_tables(self.pending),
                                    row_group_size=ROW_GROUP)
            self.pending, self.rows = [], 0

    def finish(self) -> None:
        if self.writer is not None:
            self._flush()
            self.writer.close()
