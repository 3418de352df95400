"""File helpers shared by the stages.

Atomic writes: the bytes go to a temporary file in the target's folder, are flushed to disk,
and replace the target in one `os.replace`. A reader (or a crash) never sees a half-written
file, and a failed write leaves the previous file as it was and no temp file.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def as_created(fd: int) -> None:
    """Give a mkstemp file (created 0600) the mode `open()` would have given it (0666 less the
    umask), so every artifact of a build has the same permissions."""
    os.fchmod(fd, 0o666 & ~umask())


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """`with atomic_file(p) as f: f.write(...)`: `p` is replaced when the block succeeds."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    as_created(fd)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike, data: bytes) -> str:
    """Write `data` to `path` atomically; returns the path."""
    with atomic_file(path) as f:
        f.write(data)
    return os.fspath(path)


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def regular_file(path: str | os.PathLike, what: str = "file", *, error: type | None = None,
                 field: str | None = None) -> str:
    """`path` as a str when it names a regular file; else `error` (default DataError) naming
    it: missing, a folder, or a FIFO/device/socket, which would block or never end when read
    (stat, unlike open, never blocks on a FIFO). A path holding a NUL byte is refused too."""
    from .errors import DataError

    error = error or DataError
    path = os.fspath(path)
    kw = {"file": path, "field": field, "received": path}
    try:
        mode = os.stat(path).st_mode
    except ValueError:  # "embedded null byte"
        raise error(f"the {what} path holds a NUL byte", **{**kw, "file": repr(path)},
                    hint="check how the path was written") from None
    except FileNotFoundError:
        raise error(f"{what} not found", **kw,
                    hint="check the path (relative paths in a spec resolve against the "
                         "spec's folder)") from None
    except OSError as e:
        raise error(f"{what} cannot be read: {e.strerror}", **kw) from None
    if stat.S_ISDIR(mode):
        raise error(f"{what} is a folder, not a file", **kw)
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise error(f"{what} is {kind}, not a regular file; seqc reads data and models "
                    "from regular files only (a pipe or device could block forever)", **kw,
                    hint="save the data to a file first")
    return path


# ---- .npy / .npz headers, read before anything is allocated ----

def read_npy_header(f: BinaryIO) -> tuple[tuple, bool, Any]:
    """(shape, fortran_order, dtype) from an open .npy stream, left at the data; ValueError
    for a damaged header or an object dtype (which needs pickle)."""
    import numpy as np

    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    if dtype.hasobject:
        raise ValueError("it holds Python objects, which need pickle; save a numeric array")
    return tuple(shape), bool(fortran), dtype


def npy_nbytes(shape: tuple, dtype: Any) -> int:
    """Bytes an array of this shape and dtype holds (Python ints: no overflow)."""
    n = dtype.itemsize
    for d in shape:
        n *= int(d)
    return n


def human_size(n: float) -> str:
    """Bytes in the largest unit that keeps the number >= 1 (readable at any scale)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _declared(path: str, what: str, shape: tuple, dtype: Any, have: int) -> None:
    from .errors import DataError

    need = npy_nbytes(shape, dtype)
    if need > have:
        raise DataError(
            f"{what}'s header declares shape {shape} {dtype} ({need:,} bytes), but it holds "
            f"only {have:,} bytes of data", file=path, field=what,
            received=f"shape {shape}, {have:,} bytes",
            hint="the file is truncated or damaged; save it again with np.save / np.savez")


def check_npy_file(path: str, limit: int | None) -> None:
    """Before np.load: the header is readable, not an object array, and its declared size fits
    the file and `limit` (bytes; None: no limit). DataError/ResourceError naming the file."""
    from .errors import DataError, ResourceError

    try:
        with open(path, "rb") as f:
            shape, _, dtype = read_npy_header(f)
            offset = f.tell()
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"cannot read the .npy file: {e}", file=path, received=path) from None
    _declared(path, "the array", shape, dtype, os.path.getsize(path) - offset)
    need = npy_nbytes(shape, dtype)
    if limit is not None and need > limit:
        raise ResourceError(
            f"the array needs {human_size(need)} in memory, over the limit of "
            f"{human_size(limit)}",
            file=path, field="--max-memory", received=f"shape {shape} {dtype}",
            hint="raise the limit with --max-memory, or use fewer rows")


def check_npz_file(path: str, limit: int | None) -> None:
    """Before np.load: every .npy member's header is readable and not an object array, its
    declared size fits the member, and all members' decompressed sizes (from the zip
    directory; zipfile never reads past them) add up to at most `limit`: a small archive of
    zeros that inflates to gigabytes is refused before it is inflated."""
    import tokenize
    import zipfile
    import zlib

    from .errors import DataError, ResourceError

    try:
        with zipfile.ZipFile(path) as zf:
            total = 0
            for info in zf.infolist():
                total += info.file_size  # np.load reads a member without .npy as raw bytes
                if limit is not None and total > limit:
                    raise ResourceError(
                        f"the .npz decompresses to more than {human_size(limit)} (the limit); "
                        f"member '{info.filename}' alone is {human_size(info.file_size)}",
                        file=path, field="--max-memory",
                        received=f"{os.path.getsize(path):,} bytes compressed, "
                                 f"{sum(i.file_size for i in zf.infolist()):,} decompressed",
                        hint="raise the limit with --max-memory if the data is real")
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    shape, _, dtype = read_npy_header(f)
                    offset = f.tell()
                _declared(path, f"member '{info.filename}'", shape, dtype,
                          info.file_size - offset)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError,
            RuntimeError, SyntaxError, zlib.error, tokenize.TokenError) as e:
        # zlib: a damaged compressed member; RuntimeError: an encrypted one; SyntaxError and
        # TokenError: a damaged .npy header's dict literal
        raise DataError(f"cannot read the .npz file: {e}", file=path, received=path) from None
