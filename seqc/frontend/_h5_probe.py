"""A damaged HDF5 file can make libhdf5 loop forever (one byte inserted into a legacy Keras
`.h5` hangs the read of its `model_config` attribute) or crash the process, inside C code
that holds the GIL, where no Python watchdog can run. So before seqc opens an `.h5`, a forked
child reads every attribute and every dataset of a sane size; the parent waits a bounded time.
A child that hangs is killed and one that crashes or raises is reported: a DefinitionError
naming the file, exit 2. The real read follows only after the probe read the same objects.
Where fork is missing (Windows), the file is opened directly.
"""

from __future__ import annotations

import os
import select
import signal
import time

from ..errors import DefinitionError

# Seconds for the probe: a base plus one per 100 MB of file (a few GB of weights read in well
# under that from the page cache).
BASE_SECONDS = 5.0
SECONDS_PER_BYTE = 1 / 100e6
# Datasets bigger than this are not read by the probe (their shape is checked against the
# model before seqc reads them; reading them twice would double the load time).
MAX_PROBE_READ = 256 * 2**20


def _read_everything(path: str) -> None:
    import h5py

    with h5py.File(path, "r") as f:
        def touch(obj) -> None:
            for k in obj.attrs:
                obj.attrs[k]
            if isinstance(obj, h5py.Dataset) and obj.size * obj.dtype.itemsize <= MAX_PROBE_READ:
                obj[()]

        touch(f)
        f.visititems(lambda name, obj: touch(obj))


def probe_h5(path: str, label: str | None = None, *, seconds: float | None = None) -> None:
    """DefinitionError naming `label` (default `path`) when reading `path` with h5py raises,
    crashes or does not finish within `seconds` (default: scaled to the file size).

    The forked child is quick, but a fork copies the parent's locks as they were: a lock
    another thread held at that moment (torch's or BLAS's pools, an import lock) can leave the
    child hanging on a sound file. So a failure of the forked probe is confirmed in a fresh
    interpreter before the file is called damaged."""
    label = label or path
    if not hasattr(os, "fork"):
        return
    if seconds is None:
        seconds = BASE_SECONDS + os.path.getsize(path) * SECONDS_PER_BYTE
    failure = _forked(path, seconds)
    if failure is None:
        return
    failure = _spawned(path, seconds)
    if failure is None:
        return
    hung, why = failure
    size = f"{os.path.getsize(path):,} bytes"
    if hung:
        raise DefinitionError(
            f"the HDF5 file is damaged: reading it did not finish in {seconds:.0f} s "
            "(libhdf5 loops on it)", file=label, field="path", received=size,
            hint="save the model again; a file changed after Keras wrote it cannot "
                 "be read safely")
    raise DefinitionError(f"the HDF5 file is damaged: {why}", file=label, field="path",
                          received=size,
                          hint="save the model again; a file changed after Keras wrote "
                               "it cannot be read")


def _forked(path: str, seconds: float) -> tuple[bool, str] | None:
    """None when a forked child read the whole file in time; else (hung, why)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: read, report, never return into the caller's code
        code = 0
        try:
            os.close(r)
            try:
                _read_everything(path)
            except BaseException as e:  # noqa: BLE001 - every failure is reported
                os.write(w, f"{type(e).__name__}: {e}"[:500].encode("utf-8", "replace"))
                code = 3
        finally:
            os._exit(code)
    os.close(w)
    deadline = time.monotonic() + seconds
    status, chunks = None, []
    try:
        while True:
            left = deadline - time.monotonic()
            ready = select.select([r], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return True, ""
            data = os.read(r, 4096)
            if not data:
                break
            chunks.append(data)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(r)
    message = b"".join(chunks).decode("utf-8", "replace")
    if os.WIFSIGNALED(status):
        return False, message or f"the reader crashed (signal {os.WTERMSIG(status)})"
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
        return False, message or "the reader failed"
    return None


def _spawned(path: str, seconds: float) -> tuple[bool, str] | None:
    """The same read in a fresh interpreter (no inherited locks): None when it finished."""
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    try:  # the interpreter's start and h5py's import get 2 s beyond the read's limit
        done = subprocess.run([sys.executable, "-m", "seqc.frontend._h5_probe", path],
                              capture_output=True, timeout=seconds + 2.0, env=env)
    except subprocess.TimeoutExpired:
        return True, ""
    if done.returncode == 0:
        return None
    if done.returncode < 0:
        return False, f"the reader crashed (signal {-done.returncode})"
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return False, (lines[-1][:500] if lines else "the reader failed")


if __name__ == "__main__":  # the fresh interpreter of _spawned
    import sys

    _read_everything(sys.argv[1])
