"""`seqc build`'s output folder: the artifacts it holds, locking it and tidying what an
interrupted build left (seqc.publish), and the staging folder beside it; a disk fault there
names the output folder."""

from __future__ import annotations

import errno
import os
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .build_options import BuildOptions, say

__all__ = ["ARTIFACTS", "OPTIONAL_ARTIFACTS", "staging_folder", "take_folder"]

ARTIFACTS = ("model.onnx", "weights.npz", "model.ir.json", "report.json")
# Written when asked for or needed: model.onnx's external weights (models of 2 GiB or more),
# its test vectors when too large for the metadata, and the export variants. Each is moved
# before model.onnx (which may name it); one a new build does not write is removed, so a
# folder never mixes two builds.
OPTIONAL_ARTIFACTS = ("model.onnx.data", "model.onnx.vectors.npz", "model.fp16.onnx",
                      "model.int8.onnx", "model.opt.onnx", "report.html")


# A disk fault on the folder beside the output (the lock, the staging folder) names the output.
_DISK_FAULTS = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)


@contextmanager
def _naming(out_dir: Path):
    try:
        yield
    except OSError as e:
        if e.errno in _DISK_FAULTS:
            raise OSError(e.errno, e.strerror, str(out_dir)) from None
        raise


def take_folder(out_dir: Path, opts: BuildOptions, held: ExitStack) -> Path:
    """Lock the output folder for this build and tidy up what an interrupted build left beside
    it (seqc.publish); returns the folder's real path."""
    from .publish import check_target, folder_lock, recover

    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(out_dir))
    target = check_target(out_dir)
    with _naming(out_dir):
        target.parent.mkdir(parents=True, exist_ok=True)
        held.enter_context(folder_lock(target))
        for line in recover(target, ARTIFACTS + OPTIONAL_ARTIFACTS, keep_others=not opts.clean):
            say(opts, line)
    return target


def staging_folder(target: Path, out_dir: Path) -> Path:
    from .publish import new_staging

    with _naming(out_dir):
        return new_staging(target)
