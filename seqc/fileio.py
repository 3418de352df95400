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
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def as_created(fd: int) -> None:
    """Give a mkstemp file (created 0600) the mode `open()` would have given it (0666 less the
    umask), so every artifact of a build has the same permissions."""
    os.fchmod(fd, 0o666 & ~_umask())


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
