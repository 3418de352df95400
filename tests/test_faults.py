"""Faults (issue 16 part 5): a build killed at any moment, two builds into one folder, a swap
stopped half-way, a NaN loss, an unwritable checkpoint, an overflowing model. A build folder
is always one complete build, the previous one byte for byte or the new one, never a mix."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqc import publish
from seqc.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SET = ("model.onnx", "weights.npz", "model.ir.json", "report.json")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _cmd(d: Path, out: Path, seed: int) -> list[str]:
    return [sys.executable, "-m", "seqc", "build", str(d / "k.json"), "--x", str(d / "x.npy"),
            "--y", str(d / "y.npy"), "-o", str(out), "--seed", str(seed), "-q"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> Path:
    """A small model with enough epochs that a build spends time in every stage."""
    d = tmp_path_factory.mktemp("job")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", (x[:, :4].sum(1) > 0).astype(np.float32))
    (d / "k.json").write_text(json.dumps({
        "name": "k", "input_shape": [8],
        "layers": [{"type": "Dense", "units": 16, "activation": "relu"},
                   {"type": "Dense", "units": 1, "activation": "sigmoid"}],
        "compile": {"optimizer": "adam", "loss": "binary_crossentropy"},
        "fit": {"epochs": 30, "batch_size": 16}}))
    return d


def _files(folder: Path) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in SET}


def _same_build(got: dict[str, bytes], ref: dict[str, bytes]) -> bool:
    """Every artifact of `ref`: the model, weights and IR byte for byte, the report's training
    history and metrics (its timings vary run to run)."""
    def kept(b):
        r = json.loads(b)
        return r["history"], r["final_metrics"], r["validation"]["summary"]
    return all(got[n] == ref[n] for n in SET[:3]) and kept(got["report.json"]) == \
        kept(ref["report.json"])


def _build_to(d: Path, out: Path, seed: int) -> float:
    t = time.perf_counter()
    subprocess.run(_cmd(d, out, seed), env=_env(), check=True, capture_output=True)
    return time.perf_counter() - t


@pytest.fixture(scope="module")
def refs(job) -> tuple[dict, dict, float]:
    """The builds of seeds 0 and 1 (as a build that is not disturbed writes them), and how
    long one took."""
    took = _build_to(job, job / "ref0", seed=0)
    _build_to(job, job / "ref1", seed=1)
    return _files(job / "ref0"), _files(job / "ref1"), took


def test_a_build_killed_at_random_moments_leaves_one_complete_build(job, refs, tmp_path):
    import shutil

    good, new, took = refs
    assert good["model.onnx"] != new["model.onnx"]
    out = tmp_path / "out"
    shutil.copytree(job / "ref0", out)  # the previous good build
    rng = random.Random(16)
    outcomes = []
    for i in range(10):
        # Half the kills anywhere in the run, half around its end (export, validation, swap,
        # or just after the build finished).
        when = rng.uniform(0.1, 1.0) * took if i % 2 else rng.uniform(0.7, 1.4) * took
        p = subprocess.Popen(_cmd(job, out, seed=1), env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(when)
        p.send_signal(signal.SIGKILL)
        p.wait()
        # Never missing (the exchange leaves no moment without the folder), never a mix: the
        # previous build byte for byte, or the new one whole.
        got = _files(out)
        assert _same_build(got, good) or _same_build(got, new), f"kill {i} at {when:.2f}s"
        stale = [q for q in tmp_path.iterdir() if ".seqc-staging" in q.name]
        assert len(stale) <= 1  # each build removes what the one killed before it left
        outcomes.append(("killed" if p.returncode == -signal.SIGKILL else "finished",
                         "new" if got["model.onnx"] == new["model.onnx"] else "old", len(stale)))
        if outcomes[-1][1] == "new":  # the previous good build again, for the next kill
            shutil.rmtree(out)
            shutil.copytree(job / "ref0", out)
        assert "seqc.source_hash" in got["model.onnx"].decode("latin-1")
    # The next build (holding the lock) tidies what the kills left beside the folder.
    left = publish.recover(out.resolve(), SET)
    assert [p.name for p in tmp_path.iterdir() if ".seqc-" in p.name] == [".out.seqc-lock"]
    assert sorted(p.name for p in out.iterdir()) == sorted(SET)
    print(f"kills (how it ended, the folder's build, staging folders beside it): {outcomes}; "
          f"recover: {left}")


def test_two_builds_at_once_into_one_folder_leave_one_complete_build(job, refs, tmp_path):
    out = tmp_path / "out"
    procs = [subprocess.Popen(_cmd(job, out, seed=s), env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for s in (0, 1)]
    results = [(p.wait(), p.stdout.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes in ([0, 2], [0, 0]), results  # [0, 0]: the second started after the first
    for rc, text in results:
        if rc == 2:
            assert "another seqc build (pid " in text and str(out) in text, text
    got = _files(out)
    assert _same_build(got, refs[0]) or _same_build(got, refs[1])


def test_the_lock_holder_is_named_and_the_loser_writes_nothing(job, tmp_path):
    out = tmp_path / "out"
    with publish.folder_lock(out.resolve()):  # flock: another open file, as another process
        r = run("build", job / "k.json", "--no-train", "-q", "-o", out)
    assert r.exit_code == 2, r.output
    assert f"another seqc build (pid {os.getpid()}) is writing this folder" in r.output
    assert str(out) in r.output and "Traceback" not in r.output
    assert not out.exists()
    assert run("build", job / "k.json", "--no-train", "-q", "-o", out).exit_code == 0


@pytest.fixture()
def previous(job, tmp_path) -> tuple[Path, dict]:
    out = tmp_path / "out"
    assert run("build", job / "k.json", "--no-train", "-q", "-o", out).exit_code == 0
    (out / "notes.txt").write_text("mine")  # the user's own file, kept across builds
    return out, _files(out)


def _crash_at(monkeypatch, fn_name: str, after: int) -> None:
    """The `after`-th os.<fn_name> call made by seqc.publish stops the build as Ctrl-C would
    (a kill is the subprocess test above; here the moment is exact)."""
    real = getattr(os, fn_name)
    calls = []

    def stopping(*args, **kwargs):
        if sys._getframe(1).f_globals["__name__"] == "seqc.publish":
            calls.append(args)
            if len(calls) == after:
                raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(os, fn_name, stopping)


def _exchange_then_stop(a, b):
    assert REAL_EXCHANGE(a, b)
    raise KeyboardInterrupt


REAL_EXCHANGE = publish._exchange


@pytest.mark.parametrize("where", ["renameat2-before", "renameat2-after", "rename-1",
                                   "rename-2", "carry-over"])
def test_a_swap_stopped_half_way_is_read_whole_and_finished_by_the_next_build(
        job, previous, monkeypatch, where):
    out, old = previous
    if where.startswith("rename-"):
        monkeypatch.setattr(publish, "_exchange", lambda a, b: False)  # no renameat2
        _crash_at(monkeypatch, "rename", int(where[-1]))
    elif where == "renameat2-before":
        _crash_at(monkeypatch, "chmod", 2)  # the new folder takes the old one's mode first
    elif where == "renameat2-after":
        monkeypatch.setattr(publish, "_exchange", _exchange_then_stop)
    else:
        _crash_at(monkeypatch, "replace", 1)  # moving the user's file into the new folder
    r = run("build", job / "k.json", "--no-train", "-q", "-o", out, "--seed", "3")
    assert r.exit_code == 130, r.output
    monkeypatch.undo()
    # A reader sees one whole build: the old one, or the new one where the swap got that far.
    now = _files(out)
    assert now == old or json.loads(now["report.json"])["name"] == "k"
    assert now["model.onnx"] != old["model.onnx"] or now == old
    seen = run("validate", out)
    assert seen.exit_code == 0, seen.output
    # The next build tidies up: no staging or old folder, the user's file back in place.
    r = run("build", job / "k.json", "--no-train", "-q", "-o", out, "--seed", "3")
    assert r.exit_code == 0, r.output
    assert (out / "notes.txt").read_text() == "mine"
    assert [p.name for p in out.parent.iterdir() if ".seqc-" in p.name] == [".out.seqc-lock"]
    assert not (out / publish.MARKER).exists()


def test_a_kill_between_the_two_renames_is_read_and_rolled_forward(job, previous, tmp_path):
    # The fallback's window, made by hand: the folder renamed away, the new build staged.
    out, old = previous
    other = tmp_path / "other"
    assert run("build", job / "k.json", "--no-train", "-q", "-o", other, "--seed", "3") \
        .exit_code == 0
    target = out.resolve()
    staging = publish.new_staging(target)
    for n in SET:
        (staging / n).write_bytes((other / n).read_bytes())
    os.rename(target, target.parent / f".out.seqc-old-{staging.name.rsplit('-', 1)[1]}")
    assert not out.exists()
    assert publish.readable_folder(out) == str(staging)
    for args in (["validate", out], ["summary", out]):
        r = run(*args)
        assert r.exit_code == 0, r.output
    assert run("build", job / "k.json", "--no-train", "-o", out).output.startswith(
        "finished publishing the interrupted build")
    assert (out / "notes.txt").read_text() == "mine"


def test_clean_starts_the_folder_afresh(job, previous):
    out, _ = previous
    (out / "rejected").mkdir()
    stale = out.parent / ".out.seqc-staging-abandoned"
    stale.mkdir()
    (stale / publish.MARKER).touch()
    (stale / "model.onnx").write_bytes(b"half")
    r = run("build", job / "k.json", "--no-train", "-o", out)
    assert r.exit_code == 0 and "removed the stale .out.seqc-staging-abandoned/" in r.output
    assert {p.name for p in out.iterdir()} == {*SET, "notes.txt", "rejected"}
    assert not stale.exists()
    assert run("build", job / "k.json", "--no-train", "-q", "-o", out, "--clean").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(SET)


def test_the_output_folder_cannot_hold_the_working_folder(job, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for where in (".", str(tmp_path.parent)):
        r = run("build", job / "k.json", "--no-train", "-q", "-o", where)
        assert r.exit_code == 2 and "cannot be the current folder" in r.output, r.output


def test_a_read_only_output_folder_is_exit_2_and_kept(job, previous, monkeypatch):
    out, old = previous
    real = os.access
    # Simulated: the tests may run as root, whom a read-only folder does not stop.
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode & os.W_OK and
                        Path(p) == out.resolve() else real(p, mode))
    r = run("build", job / "k.json", "--no-train", "-q", "-o", out, "--seed", "3")
    assert r.exit_code == 2 and "no permission" in r.output and str(out) in r.output, r.output
    assert _files(out) == old


def test_a_failed_swap_on_a_read_only_disk_is_exit_2_and_keeps_the_build(job, previous,
                                                                          monkeypatch):
    import errno

    out, old = previous

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(out))

    monkeypatch.setattr(publish, "_exchange", refuse)
    r = run("build", job / "k.json", "--no-train", "-q", "-o", out, "--seed", "3")
    assert r.exit_code == 2 and "read-only" in r.output and str(out) in r.output, r.output
    assert _files(out) == old
    assert [p.name for p in out.parent.iterdir() if ".seqc-" in p.name] == [".out.seqc-lock"]


# ---- training faults

def _spec(d: Path, **fit) -> Path:
    spec = d / "s.json"
    spec.write_text(json.dumps({
        "input_shape": [8], "layers": [{"type": "Dense", "units": 4, "activation": "relu"},
                                       {"type": "Dense", "units": 1}],
        "compile": {"optimizer": {"type": "sgd", "learning_rate": 1e6}, "loss": "mse"},
        "fit": {"epochs": 3, "batch_size": 64, **fit}}))
    return spec


@pytest.mark.parametrize("callbacks", [[], [{"type": "TerminateOnNaN"}],
                                       [{"type": "TerminateOnNaN", "raise_error": True}]],
                         ids=["no-callback", "TerminateOnNaN", "raise_error"])
def test_a_nan_loss_stops_the_build_naming_epoch_and_batch(job, tmp_path, callbacks):
    spec = _spec(tmp_path, callbacks=callbacks)
    r = run("build", spec, "--x", job / "x.npy", "--y", job / "y.npy", "-o", tmp_path / "o")
    assert r.exit_code == 1, r.output
    assert "training failed:" in r.output and "training diverged at epoch 1/3, batch " in \
        r.output and "/4: the loss is " in r.output, r.output
    assert "RuntimeWarning" not in r.output and "Traceback" not in r.output
    assert "note: NumPy reported" in r.output
    assert not (tmp_path / "o").exists()


def test_fit_warns_once_on_a_nan_loss_as_keras_trains_on(job):
    import seqc
    from seqc.errors import TrainingDiverged

    def make():
        m = seqc.Sequential([seqc.layers.Input((8,)), seqc.layers.Dense(1)])
        m.compile(seqc.optimizers.SGD(learning_rate=1e30), "mse")
        return m

    x, y = np.load(job / "x.npy"), np.load(job / "y.npy") * 1e20
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="epoch 1/2, batch 2/4"):
        h = make().fit(x, y, epochs=2, batch_size=64, verbose=0)
    assert len(h.epoch) == 2  # Keras trains on
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match="epoch 1/2, batch 2/4"):
        make().fit(x, y, epochs=2, batch_size=64, verbose=0, nonfinite="raise")


def test_an_unwritable_checkpoint_path_is_exit_2(job, tmp_path):
    (tmp_path / "afile").write_text("x")
    for path in (tmp_path / "afile" / "ck", "/proc/no/such/ck"):
        spec = tmp_path / "c.json"
        spec.write_text(json.dumps({
            "input_shape": [8], "layers": [{"type": "Dense", "units": 1}],
            "compile": {"optimizer": "adam", "loss": "mse"},
            "fit": {"epochs": 1, "callbacks": [{"type": "ModelCheckpoint",
                                                "filepath": str(path)}]}}))
        r = run("build", spec, "--x", job / "x.npy", "--y", job / "y.npy", "-o", tmp_path / "o")
        assert r.exit_code == 2, r.output
        assert f"ModelCheckpoint cannot write '{path}'" in r.output and str(spec) in r.output


def test_an_overflowing_model_is_a_disagreement_exit_1_with_no_warning_lines(job, tmp_path):
    d = tmp_path / "b"
    spec = tmp_path / "d.json"
    spec.write_text(json.dumps({"input_shape": [3], "layers": [{"type": "Dense", "units": 2}]}))
    assert run("build", spec, "--no-train", "-q", "-o", d).exit_code == 0
    w = dict(np.load(d / "weights.npz"))
    # Weights read from a file: each column sums past float32's range in one order of the
    # additions and not in another, so NumPy and onnxruntime differ by infinity.
    w["dense/kernel"] = np.array([[3e38, 3e38], [-3e38, 3e38], [3e38, 3e38]], np.float32)
    np.savez(d / "weights.npz", **w)
    for args in (["build", d, "--no-train", "-q", "-o", tmp_path / "o"], ["validate", d]):
        r = run(*args)
        assert r.exit_code == 1, r.output
        assert "RuntimeWarning" not in r.output and "Traceback" not in r.output, r.output
        assert "note: NumPy reported" in r.output and "overflow" in r.output


# ---- determinism

EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_builds_to_a_byte_identical_model(example, tmp_path, monkeypatch):
    # The same definition, data and seed: the same model.onnx, byte for byte, training
    # included. One epoch on the first 96 rows keeps it fast; nothing else changes.
    import seqc.pipeline as pipeline
    from seqc.training.checks import take

    read = pipeline.load_build_data

    def first_rows(defn, opts):
        data = read(defn, opts)
        if data is not None:
            data.x, data.y = take(data.x, slice(0, 96)), take(data.y, slice(0, 96))
        return data

    monkeypatch.setattr(pipeline, "load_build_data", first_rows)
    onnx = []
    for i in range(2):
        out = tmp_path / f"b{i}"
        pipeline.build(str(example), pipeline.BuildOptions(out_dir=str(out), epochs=1,
                                                           verbose=0, log=None))
        assert json.loads((out / "report.json").read_text())["trained"]
        onnx.append((out / "model.onnx").read_bytes())
    assert onnx[0] == onnx[1]


def test_convert_to_keras_is_byte_identical(job, tmp_path, monkeypatch):
    for i in range(2):
        r = run("convert", job / "k.json", "-o", tmp_path / f"m{i}.keras", "-q")
        assert r.exit_code == 0, r.output
        if i == 0:
            time.sleep(1.1)  # a zip member's time is kept to 2 s: cross a tick
    assert (tmp_path / "m0.keras").read_bytes() == (tmp_path / "m1.keras").read_bytes()
    import zipfile

    with zipfile.ZipFile(tmp_path / "m0.keras") as zf:
        assert [i.filename for i in zf.infolist()] == ["metadata.json", "config.json",
                                                        "model.weights.h5"]
        assert "date_saved" not in json.loads(zf.read("metadata.json"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert run("convert", job / "k.json", "-o", tmp_path / "m2.keras", "-q").exit_code == 0
    with zipfile.ZipFile(tmp_path / "m2.keras") as zf:
        assert json.loads(zf.read("metadata.json"))["date_saved"] == "2023-11-14@22:13:20"
