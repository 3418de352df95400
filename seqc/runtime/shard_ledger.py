"""Sharded predict's inputs and its ledger (see sharded.py): the input files found from files,
folders and globs, each one's output name, OUTDIR/_manifest.jsonl, and the plan of a run (the
ledger checked against it, the tasks of the shards not done).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import DataError, UsageError
from ..fileio import sha256_file

if TYPE_CHECKING:
    from .shard_worker import WorkerSpec

MANIFEST, SUCCESS, REPORT = "_manifest.jsonl", "_SUCCESS", "_report.json"
INPUT_EXTS = (".npy", ".npz", ".csv", ".parquet")


# ---- inputs and output names ----

def find_inputs(inputs: Iterable[Any], out_dir: str) -> list[str]:
    """Files (absolute paths, in order, each once) from files, folders (their top-level .npy,
    .npz, .csv and .parquet files) and globs, leaving out names starting with '.' or '_'
    (hidden, or a ledger) and files inside `out_dir`, so OUTDIR may sit in the input folder."""
    found: list[str] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            files = [os.path.join(item, n) for n in sorted(os.listdir(item))
                     if n[:1] not in "._" and os.path.splitext(n)[1].lower() in INPUT_EXTS
                     and os.path.isfile(os.path.join(item, n))]
            if not files:
                raise UsageError("the folder holds no input files", field="INPUTS",
                                 received=item, hint=f"inputs are {', '.join(INPUT_EXTS)} files")
        elif os.path.isfile(item):
            if os.path.splitext(item)[1].lower() not in INPUT_EXTS:
                raise UsageError(f"an input must be a {', '.join(INPUT_EXTS)} file",
                                 field="INPUTS", received=item)
            files = [item]
        elif glob.has_magic(item):
            files = [f for f in sorted(glob.glob(item, recursive=True)) if os.path.isfile(f)
                     and os.path.splitext(f)[1].lower() in INPUT_EXTS
                     and os.path.basename(f)[:1] not in "._"]
            if not files:
                raise UsageError("the pattern matches no input file", field="INPUTS",
                                 received=item, hint=f"inputs are {', '.join(INPUT_EXTS)} files")
        else:
            raise DataError("input file not found", file=item, field="INPUTS", received=item)
        found += [os.path.abspath(f) for f in files]
    out_real = os.path.realpath(out_dir) + os.sep
    seen: set[str] = set()
    result = []
    for f in found:
        real = os.path.realpath(f)
        if real not in seen and not real.startswith(out_real):
            seen.add(real)
            result.append(f)
    if not result:
        raise UsageError("no input files: files inside OUTDIR are never inputs",
                         field="INPUTS", received=f"{' '.join(map(str, inputs))} -o {out_dir}",
                         hint="choose another -o (a folder inside the input folder is fine)")
    return result


def output_names(paths: list[str], ext: str) -> list[str]:
    """Each input's output name: its path below the inputs' common folder, with `ext` for
    its extension (`data/a/part-1.parquet` -> `a/part-1.npy`). Two inputs that would share a
    name (x.npy beside x.csv) are refused."""
    base = os.path.commonpath([os.path.dirname(p) for p in paths])
    names = [os.path.splitext(os.path.relpath(p, base))[0] + ext for p in paths]
    first: dict[str, str] = {}
    for p, n in zip(paths, names):
        if n in first:
            raise UsageError("two inputs would write the same output", field="INPUTS",
                             received=f"{first[n]} and {p} -> {n}",
                             hint="rename one, or predict them in separate runs")
        first[n] = p
    return names


def identity(path: str) -> dict[str, Any]:
    """What the ledger knows an input by: its path, size and modification time."""
    st = os.stat(path)
    return {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# ---- the ledger ----

class Ledger:
    """OUTDIR/_manifest.jsonl: one record per finished shard, appended and fsynced; the last
    record of an output name wins. A line cut short by a crash is dropped on reading."""

    def __init__(self, out_dir: str) -> None:
        self.path = os.path.join(out_dir, MANIFEST)

    def read(self) -> dict[str, dict]:
        if not os.path.exists(self.path):
            return {}
        with open(self.path, "rb") as f:
            data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # the driver died mid-append: drop the torn line for good
            with open(self.path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        records: dict[str, dict] = {}
        for i, line in enumerate(data[:end].splitlines(), 1):
            try:
                rec = json.loads(line)
                records[rec["output"]] = rec
            except (ValueError, KeyError, TypeError):
                raise DataError("the manifest is damaged", file=self.path, field=f"line {i}",
                                received=line[:80].decode("utf-8", "replace"),
                                hint="pass --overwrite to start the run again") from None
        return records

    def append(self, record: dict) -> None:
        with open(self.path, "ab") as f:
            f.write(json.dumps(record, sort_keys=True).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())


def _check_same_run(records: dict[str, dict], sha: str, settings: dict, out_dir: str) -> None:
    """A resumed run must use the model and settings the recorded shards were made with."""
    for rec in records.values():
        if rec.get("model_sha256") != sha:
            raise UsageError(
                "OUTDIR holds predictions of another model", file=out_dir, field="model",
                received=f"model sha256 {sha[:12]}…; the manifest's shards were made by "
                         f"{str(rec.get('model_sha256'))[:12]}…",
                hint="pass --overwrite to start again, or choose another -o")
        for key, value in settings.items():
            if rec.get("settings", {}).get(key) != value:
                raise UsageError(
                    f"OUTDIR holds predictions made with another {key}", file=out_dir,
                    field=key, received=f"{key}={value!r}; the manifest's shards have "
                    f"{key}={rec.get('settings', {}).get(key)!r}",
                    hint="pass the same settings to resume, --overwrite to start again, or "
                         "choose another -o")


def _is_done(rec: dict | None, ident: dict, out_path: str) -> bool:
    """The ledger's record stands: same input, and the output there with the recorded bytes."""
    return (rec is not None and rec.get("input") == ident and os.path.isfile(out_path)
            and os.path.getsize(out_path) == rec.get("bytes")
            and sha256_file(out_path) == rec.get("sha256"))


def remove_temps(out_dir: str, names: list[str]) -> None:
    """Temporary files left by attempts that died (atomic_file names them .<name>.*.tmp)."""
    for name in names:
        folder = os.path.dirname(os.path.join(out_dir, name))
        base = os.path.basename(name)
        for t in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(base)}.*.tmp")):
            with contextlib.suppress(FileNotFoundError):  # another run's cleanup was first
                os.unlink(t)


def plan(out_dir: str, paths: list[str], names: list[str], spec: WorkerSpec, settings: dict,
          overwrite: bool, common: dict) -> tuple[Ledger, list[dict]]:
    """OUTDIR made ready (the ledger checked against this run, or forgotten with `overwrite`;
    _SUCCESS and dead attempts' temporary files removed) and the tasks of the shards not done."""
    os.makedirs(out_dir, exist_ok=True)
    ledger = Ledger(out_dir)
    if overwrite:
        try:
            recorded = list(ledger.read())
        except DataError:  # a damaged ledger is forgotten too
            recorded = []
        root = os.path.realpath(out_dir) + os.sep
        for f in {MANIFEST, SUCCESS, REPORT, *names, *recorded}:
            path = os.path.join(out_dir, f)
            if os.path.realpath(path).startswith(root) and os.path.isfile(path):
                os.unlink(path)
    records = ledger.read()
    _check_same_run(records, spec.sha256, settings, out_dir)
    if os.path.exists(os.path.join(out_dir, SUCCESS)):
        os.unlink(os.path.join(out_dir, SUCCESS))
    remove_temps(out_dir, names)
    tasks = []
    for path, name in zip(paths, names):
        out = os.path.abspath(os.path.join(out_dir, name))
        ident = identity(path)
        if not _is_done(records.get(name), ident, out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
            tasks.append({"input": path, "output": out, "name": name, "identity": ident,
                          **common})
    return ledger, tasks
