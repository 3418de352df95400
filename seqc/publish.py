"""A build folder is replaced as a whole, never file by file.

`seqc build -o DIR` writes the new build into a staging folder beside DIR
(`.DIR.seqc-staging-XXXX`, same file system), then swaps the two folders:

- on Linux, one `renameat2(RENAME_EXCHANGE)`: DIR is the old build until that call and the new
  one after it, so a reader never sees a mix nor a missing folder;
- elsewhere (or where the file system refuses the exchange), two renames: DIR -> `.DIR.seqc-old-
  XXXX`, staging -> DIR. Between the two, DIR is missing; `readable_folder` then reads the new
  (complete) build from the staging folder, and the next build finishes the swap.

Files in DIR that are not a build's artifacts (the `rejected/` folder, the user's own files)
are moved from the old folder into the new one after the swap. A staging folder carries a
marker file from its first moment, so `recover` tells an abandoned new build (deleted) from
an old folder left by an interrupted swap (its other files moved back, then deleted).

Two builds into one DIR: `folder_lock` takes an exclusive `flock` on `.DIR.seqc-lock` beside
DIR for the whole build; the second one stops at once with exit 2 naming the holder's pid. The
lock file stays (removing a lock file that another process may have just opened is a race).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import UsageError

MARKER = ".seqc-staging"  # inside a staging folder until it is published
_STAGING, _OLD, _LOCK = "seqc-staging-", "seqc-old-", "seqc-lock"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _beside(target: Path, what: str) -> Path:
    return target.parent / f".{target.name}.{what}"


def _siblings(target: Path, kind: str) -> list[Path]:
    import glob

    return sorted(target.parent.glob(f".{glob.escape(target.name)}.{kind}*"))


def check_target(target: Path) -> Path:
    """The folder to swap: `target` with a symlink resolved, refused when it holds the working
    folder (a swapped-out working folder would leave the shell in a deleted directory)."""
    real = Path(os.path.realpath(target))
    cwd = Path(os.getcwd())
    if real == cwd or real in cwd.parents or real.parent == real:
        raise UsageError("the output folder is replaced as a whole when the build is done, so it "
                         "cannot be the current folder, one above it, or the root",
                         field="-o", received=str(target),
                         hint="name a folder of its own, e.g. -o build/my_model")
    if real.is_dir() and not os.access(real, os.W_OK | os.X_OK):
        # Replacing it would only need its parent: a folder made read-only stays as it is.
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(target))
    return real


@contextmanager
def folder_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on `target` for a build; a second holder gets exit 2."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): builds into one folder are not serialised
        yield
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    path = _beside(target, _LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise UsageError(f"another seqc build (pid {holder}) is writing this folder",
                             file=str(target), field="-o",
                             hint="wait for it to finish, or build into another folder") \
                from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def new_staging(target: Path) -> Path:
    """An empty staging folder beside `target`, marked as an unpublished build."""
    from .fileio import umask

    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.{_STAGING}", dir=target.parent))
    (staging / MARKER).touch()
    os.chmod(staging, 0o777 & ~umask())  # as mkdir would (mkdtemp gives 0700)
    return staging


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one system call; False where the system cannot."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _carry_over(old: Path, target: Path, owned: Iterable[str], keep_others: bool) -> None:
    """Move the files of `old` that are not a build's artifacts into `target`."""
    if not keep_others:
        return
    skip = {*owned, MARKER}
    for entry in sorted(os.listdir(old)):
        if entry not in skip and not os.path.lexists(target / entry):
            os.replace(old / entry, target / entry)


def publish(staging: Path, target: Path, owned: Iterable[str], keep_others: bool = True) -> None:
    """Make the complete build in `staging` the folder `target`, as one step for readers.
    `owned`: the artifact names a build writes; the old folder's other files are moved into
    the new one (keep_others) or deleted with it."""
    if not target.exists():
        os.rename(staging, target)
        (target / MARKER).unlink()
        return
    os.chmod(staging, stat.S_IMODE(os.stat(target).st_mode))  # the folder keeps its mode
    try:
        if _exchange(staging, target):
            old = staging
        else:
            old = _beside(target, _OLD + staging.name.rsplit(_STAGING, 1)[1])
            os.rename(target, old)
            try:
                os.rename(staging, target)
            except BaseException:  # interrupted (not killed): the previous build goes back
                os.rename(old, target)
                raise
    except OSError as e:
        if e.errno in (errno.EXDEV, errno.EBUSY):
            raise UsageError("the output folder cannot be replaced as a whole: it is a mount "
                             "point", field="-o", received=str(target),
                             hint="name a folder inside it") from None
        raise
    (target / MARKER).unlink()
    _carry_over(old, target, owned, keep_others)
    shutil.rmtree(old)


def recover(target: Path, owned: Iterable[str], keep_others: bool = True) -> list[str]:
    """With the lock held: finish a swap a crash interrupted and delete abandoned staging
    folders beside `target`. Returns one line per thing done."""
    done = []
    olds = _siblings(target, _OLD)
    if not target.exists() and olds:  # stopped between the fallback's two renames
        old = olds[0]
        new = _beside(target, _STAGING + old.name.rsplit(_OLD, 1)[1])
        if new.is_dir():
            os.rename(new, target)
            done.append(f"finished publishing the interrupted build into {target}/")
        else:
            os.rename(old, target)
            done.append(f"restored the previous build in {target}/")
    if target.is_dir():
        (target / MARKER).unlink(missing_ok=True)
    for p in [*_siblings(target, _STAGING), *_siblings(target, _OLD)]:
        if not p.is_dir() or p.is_symlink():
            p.unlink(missing_ok=True)
            continue
        if not (p / MARKER).exists() and target.is_dir():  # an old folder: keep the user's files
            _carry_over(p, target, owned, keep_others)
        shutil.rmtree(p, ignore_errors=True)
        done.append(f"removed the stale {p.name}/")
    return done


def readable_folder(path: str | os.PathLike) -> str:
    """`path`, or, while a fallback swap is between its two renames (or was stopped there),
    the complete build that stands in for it; unchanged when nothing does."""
    path = os.fspath(path)
    if os.path.exists(path) or not path:
        return path
    target = Path(os.path.abspath(path))
    for old in _siblings(target, _OLD):
        new = _beside(target, _STAGING + old.name.rsplit(_OLD, 1)[1])
        return str(new if new.is_dir() else old)
    return path
