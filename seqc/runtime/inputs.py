"""An input file by its extension: `open_inputs` (a stream of row batches: streams.py for
.npy, .npz and .csv, parquet.py for .parquet) and `read_inputs` (the whole file as one array),
for `seqc predict`, `seqc validate` and named inputs alike."""

from __future__ import annotations

import os
import struct
import tokenize
import zipfile
import zlib

import numpy as np

from ..errors import DataError, UsageError
from ..fileio import regular_file
from .streams import ArrayStream, CsvStream, InputStream, open_npz

INPUT_HINT = "INPUT is a .npy, .npz, .csv or .parquet file"


def open_inputs(path: str, *, target: str | None = None,
                columns: list[str] | None = None) -> InputStream:
    """An input file as a stream of row batches; DataError/UsageError naming the file when it
    is missing, not a regular file, unreadable or of an unknown kind. `columns`: a CSV's or
    Parquet file's columns to read, in order (default: all but `target`; see parquet.py for
    list columns)."""
    path = regular_file(path, "input file", field="INPUT")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        return CsvStream(path, target, columns)
    if ext == ".parquet":
        from .parquet import ParquetStream

        return ParquetStream(path, target, columns)
    if ext not in (".npy", ".npz"):
        raise UsageError(f"{INPUT_HINT}", file=path, field="INPUT",
                         received=f"extension {ext or '(none)'}")
    try:
        if ext == ".npy":
            return ArrayStream(path, np.load(path, mmap_mode="r", allow_pickle=False))
        return open_npz(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, struct.error, SyntaxError,
            tokenize.TokenError, zlib.error) as e:  # (the last three: a damaged header or
        # compressed member)
        raise DataError(f"cannot read the file ({e})", file=path, field="INPUT",
                        received=path, hint=INPUT_HINT) from None


def read_inputs(path: str, *, target: str | None = None) -> np.ndarray:
    """An input file as one array (a read-only memory map for .npy and stored .npz members)."""
    with open_inputs(path, target=target) as s:
        if isinstance(s, ArrayStream):
            return s.x
        parts = list(s.batches(65536))
        if not parts:
            raise DataError("the input has no rows", file=path, field="INPUT",
                            received=s.describe())
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
