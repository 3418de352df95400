"""File helpers shared by the stages.

Atomic writes: the bytes go to a temporary file in the target's folder, are flushed to disk,
and replace the target in one `os.replace`. A reader (or a crash) never sees a half-written
file, and a failed write leaves the previous file as it was and no temp file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO


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
