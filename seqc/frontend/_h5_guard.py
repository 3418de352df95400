"""Guards for reading an untrusted HDF5 file (Keras weights): libhdf5's errors on a damaged
file become one DefinitionError naming the file, and a file libhdf5 cannot finish reading
(it can loop forever inside C, where no Python timeout reaches) is refused in bounded time."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from ..errors import DefinitionError, SeqcError


@contextlib.contextmanager
def reading_h5(file: str) -> Any:
    """libhdf5's errors on a damaged file become one DefinitionError naming the file. h5py
    raises OSError or RuntimeError for damaged data or metadata, and KeyError ("Unable to
    ... open object (bad object header ...)") for a damaged link; seqc's own errors, and a
    KeyError that is not h5py's, pass through unchanged."""
    try:
        yield
    except SeqcError:
        raise
    except (OSError, RuntimeError, KeyError) as e:
        text = str(e.args[0]) if e.args else type(e).__name__
        if isinstance(e, KeyError) and not text.startswith("Unable to"):
            raise
        raise DefinitionError(
            "the HDF5 file is damaged: libhdf5 cannot read it", file=file, field="path",
            received=f"{type(e).__name__}: {text[:200]}",
            hint="save the model again; a file cut short or altered in transfer cannot be "
                 "read") from None


# A damaged HDF5 file can make libhdf5 loop forever (a corrupt global heap: reading a string
# attribute never returns, holding the GIL, so no Python timeout interrupts it). A forked child
# reads the whole file first, under this time limit (plus 1 s per 50 MB).
PROBE_SECONDS = 10.0
PROBE_BYTES_PER_SECOND = 50e6


def probe_h5(file: str, shown: str) -> None:
    """Refuse an HDF5 file that libhdf5 cannot finish reading (or crashes on): a forked child
    reads every attribute and dataset; the parent kills it at the time limit. Other errors in
    the child are left to the real read, which reports them (where there is no fork, no
    probe)."""
    if not hasattr(os, "fork"):
        return
    import signal
    import time

    limit = PROBE_SECONDS + os.path.getsize(file) / PROBE_BYTES_PER_SECOND
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, measured by the parent
        try:
            _read_everything(file)
        finally:
            os._exit(0)
    deadline = time.monotonic() + limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise DefinitionError(
                f"the HDF5 file is damaged: libhdf5 did not finish reading it in "
                f"{limit:.0f} s", file=shown, field="path",
                received=f"{os.path.getsize(file):,} bytes",
                hint="save the model again; a file cut short or altered in transfer cannot be "
                     "read")
        time.sleep(0.005)
    if os.WIFSIGNALED(status):
        raise DefinitionError(
            "the HDF5 file is damaged: libhdf5 crashed reading it", file=shown, field="path",
            received=f"signal {os.WTERMSIG(status)}",
            hint="save the model again; a file cut short or altered in transfer cannot be read")


def _read_everything(file: str) -> None:  # pragma: no cover - runs in the probe's child
    import h5py

    size = os.path.getsize(file)
    with contextlib.suppress(BaseException), h5py.File(file, "r") as f:
        def visit(_name: str, obj: Any) -> None:
            for k in obj.attrs:
                with contextlib.suppress(Exception):
                    obj.attrs[k]
            # A declared size past the file's own (compressed 100x) is left to the real read,
            # which checks every shape against the model before reading.
            if isinstance(obj, h5py.Dataset) and obj.nbytes <= 100 * size + (1 << 20):
                with contextlib.suppress(Exception):
                    obj[()]

        visit("/", f)
        f.visititems(visit)
