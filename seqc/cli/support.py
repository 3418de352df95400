"""What every `seqc` command shares: SeqcError to exit code and message (handle_errors), the
--debug state, sizes and time limits from the command line, and the option groups (data,
validation data, script reading)."""

from __future__ import annotations

import errno
import functools
import os
import re
import sys
import traceback
import warnings

import click

__all__ = ["EXIT_BUG", "State", "data_options", "handle_errors", "parse_size",
           "reading_options", "time_limited", "validation_options"]

EXIT_BUG = 70  # EX_SOFTWARE: an internal error, never bad input


class State:
    debug = False


def _fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


_DISK_HINTS = {
    errno.EEXIST: "a file is in the way: -o names a file where a folder is needed, or a "
                  "folder on the path is a file; choose another -o",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another -o",
    errno.EISDIR: "the path is a folder where a file is needed; name a file",
    errno.EACCES: "no permission to write there; choose another -o",
    errno.EPERM: "no permission to write there; choose another -o",
    errno.EROFS: "the file system is read-only; choose another -o",
    errno.ENOSPC: "the disk is full; free some space or choose another -o",
    errno.EDQUOT: "the disk quota is used up; free some space or choose another -o",
}


def _disk_fault_hint(e: BaseException) -> str | None:
    """A hint when `e` is a file-system fault on a named path (read-only or full disk, a file
    in the way), which is the user's to fix; None for anything else."""
    if isinstance(e, OSError) and e.errno in _DISK_HINTS and (
            e.filename or e.errno in (errno.ENOSPC, errno.EDQUOT)):
        return _DISK_HINTS[e.errno]
    return None


def handle_errors(fn):
    """Turn SeqcError into its exit code and message; anything else is reported as a bug.
    NumPy's RuntimeWarnings become one line (_numeric_note)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        from ..errors import SeqcError

        try:
            return fn(*args, **kwargs)
        except SeqcError as e:
            if State.debug:
                traceback.print_exc()
            label = "validation failed" if e.exit_code == 1 else "error"
            if e.kind == "training":
                label = "training failed"
            _fail(f"{label}: {e}", e.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # `seqc ... | head`: the reader left. Say nothing more (stdout is gone; Python's
            # own advice is to point it at devnull so the exit flush cannot fail again) and
            # exit as a shell reports a process ended by SIGPIPE.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(128 + 13)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - the last line of defence: report, don't crash
            if State.debug:
                traceback.print_exc()
            hint = _disk_fault_hint(e)
            if hint is not None:  # the disk or the path, not seqc: bad input, exit 2
                _fail(f"error: {e.filename or 'writing the output'}: {e.strerror}\n"
                      f"hint: {hint}", 2)
            _fail(f"internal error (a bug in seqc, please report it): {type(e).__name__}: {e}\n"
                  "hint: rerun with --debug for the traceback", EXIT_BUG)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if State.debug:
            return run(*args, **kwargs)
        caught: list = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                return run(*args, **kwargs)
        finally:
            # Outside the recording: showwarning inside it would append to `caught` while
            # it is iterated, without end.
            _numeric_note(caught)

    return wrapper


def _numeric_note(caught: list) -> None:
    """NumPy's floating-point RuntimeWarnings ("overflow encountered in matmul"), caught while
    a command ran, become one seqc line: inf and NaN are seqc's to report (a NaN loss stops a
    build, a disagreement exits 1), not Python warnings from inside seqc. Every other warning
    is shown as Python would have shown it."""
    numeric = [w for w in caught if issubclass(w.category, RuntimeWarning)
               and " encountered in " in str(w.message)]
    for w in caught:
        if w not in numeric:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if numeric:
        kinds = sorted({str(w.message).split(" encountered in ")[0] for w in numeric})
        click.echo(f"note: NumPy reported {' and '.join(kinds)} (inf or NaN in the arithmetic); "
                   "the results above include them (--debug shows where)", err=True)


def parse_size(text: str | None) -> int | None:
    """'4GB', '512MiB', '1e9', 'none' -> bytes (None = no limit)."""
    if text is None:
        return None
    t = text.strip().lower()
    if t in ("none", "off", "0", "unlimited"):
        return None
    m = re.fullmatch(r"([0-9.e+]+)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?", t)
    if not m:
        from ..errors import UsageError

        raise UsageError("--max-memory must be a size such as 8GB or 'none'", field="--max-memory",
                         received=f"--max-memory {text}")
    unit = (m.group(2) or "b").replace("i", "")
    mult = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}[unit]
    return int(float(m.group(1)) * mult)


def time_limited(fn):
    """--time-limit SECONDS: every onnxruntime run the command makes stops after this long
    (runtime/bounds.py), so a model whose loop never ends cannot hang the command."""

    @functools.wraps(fn)
    def wrapper(*args, time_limit=None, **kwargs):
        from ..runtime.bounds import DEFAULT_TIME_LIMIT
        from ..runtime.bounds import time_limit as limit

        seconds = DEFAULT_TIME_LIMIT if time_limit is None else _parse_seconds(time_limit)
        with limit(seconds):
            return fn(*args, **kwargs)

    return click.option(
        "--time-limit", default=None, metavar="SECONDS",
        help="Stop any one onnxruntime run (one batch) after this many seconds (default "
             "600; 'none' for no limit).")(wrapper)


def _parse_seconds(text: str) -> float | None:
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        from ..errors import UsageError

        raise UsageError("--time-limit must be a number of seconds > 0, or 'none'",
                         field="--time-limit", received=f"--time-limit {text}")
    return seconds


def data_options(fn):
    """--data/--x/--y/--target: the data a definition is fitted on (a script's fit names and
    a model with no input shape take their shapes from it)."""
    for opt in reversed([
        click.option("--data", type=click.Path(), default=None,
                     help="Data: a .csv with a header row, an .npz with x and y, or (build) "
                          "a folder or glob of shards streamed from disk (see docs/scale.md)."),
        click.option("--x", "x_path", type=click.Path(), default=None,
                     help="Inputs as .npy (alone: shapes only, no training)."),
        click.option("--y", "y_path", type=click.Path(), default=None, help="Labels as .npy."),
        click.option("--target", default=None,
                     help="CSV (or Parquet shards') label column name."),
    ]):
        fn = opt(fn)
    return fn


def validation_options(fn):
    """--val-data/--val-x/--val-y: fit's validation_data (a script's own validation_data)."""
    for opt in reversed([
        click.option("--val-data", type=click.Path(), default=None,
                     help="Validation data (fit's validation_data): a .csv (read with "
                          "--target) or an .npz with x and y."),
        click.option("--val-x", "val_x", type=click.Path(), default=None,
                     help="Validation inputs as .npy (with --val-y)."),
        click.option("--val-y", "val_y", type=click.Path(), default=None,
                     help="Validation labels as .npy."),
    ]):
        fn = opt(fn)
    return fn


def reading_options(fn):
    """--define and --model: what a Python script cannot say itself."""
    fn = click.option("--model", "model_name", default=None,
                      help="Which model to build when a script builds several (its variable "
                           "or function name, or its name=...).")(fn)
    return click.option("--define", "defines", multiple=True, metavar="NAME=VALUE",
                        help="A value the script cannot compute (repeatable; a Python "
                             "literal): --define num_classes=10.")(fn)
