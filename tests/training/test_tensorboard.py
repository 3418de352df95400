"""TensorBoard logs: written by fit's callback and `seqc build --tensorboard`, read back with
TensorBoard's own EventAccumulator, tags and values equal to the History."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import seqc
from seqc.cli import cli
from seqc.errors import DefinitionError, UsageError
from seqc.training.callbacks import TensorBoard, get

pytest.importorskip("tensorboard")  # the tensorboard extra (.ci/run installs it)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32")[:, None]


def _model():
    m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(4, activation="relu",
                                                                     name="d1"),
                         seqc.layers.Dense(1, activation="sigmoid", name="out")])
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return m


def _read(run_dir: Path) -> EventAccumulator:
    ea = EventAccumulator(str(run_dir))
    ea.Reload()
    return ea


def _values(ea: EventAccumulator, tag: str) -> tuple[list[int], list[float]]:
    evs = ea.Tensors(tag)
    return [e.step for e in evs], [float(tensor_util.make_ndarray(e.tensor_proto)) for e in evs]


def _check_epoch_scalars(log_dir: Path, history: dict, lr: float) -> None:
    train = _read(log_dir / "train")
    val = _read(log_dir / "validation") if "val_loss" in history else None
    assert (log_dir / "validation").exists() == (val is not None)
    epochs = len(history["loss"])
    for key, values in history.items():
        ea, tag = (val, f"epoch_{key[4:]}") if key.startswith("val_") else (train, f"epoch_{key}")
        steps, got = _values(ea, tag)
        assert steps == list(range(epochs))
        np.testing.assert_array_equal(np.float32(got), np.float32(values), err_msg=tag)
    assert _values(train, "epoch_learning_rate")[1] == pytest.approx([lr] * epochs)


def test_fit_writes_keras_tags_read_back_by_tensorboard(tmp_path):
    x, y = _data()
    m = _model()
    cb = TensorBoard(log_dir=tmp_path / "logs", histogram_freq=2, update_freq="batch",
                     write_steps_per_second=True)
    h = m.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[cb])
    _check_epoch_scalars(tmp_path / "logs", h.history, 0.001)
    train = _read(tmp_path / "logs" / "train")
    tags = set(train.Tags()["tensors"])
    assert {"epoch_steps_per_second", "batch_loss", "batch_accuracy",
            "batch_steps_per_second"} <= tags
    assert _values(train, "batch_loss")[0] == list(range(1, 3 * 3 + 1))  # 3 steps x 3 epochs
    # Histograms every 2 epochs, one tag per weight (Keras' weight.path + "/histogram").
    for w in ("d1/kernel", "d1/bias", "out/kernel", "out/bias"):
        evs = train.Tensors(f"{w}/histogram")
        assert [e.step for e in evs] == [0, 2]
        buckets = tensor_util.make_ndarray(evs[-1].tensor_proto)  # (left, right, count)
        assert buckets[:, 2].sum() == m.params[w].size
    val = _read(tmp_path / "logs" / "validation")
    steps, got = _values(val, "evaluation_loss_vs_iterations")
    assert steps == [3, 6, 9]
    np.testing.assert_array_equal(np.float32(got), np.float32(h.history["val_loss"]))
    graph = train.Graph()
    assert [(n.name, n.op) for n in graph.node][:2] == [("input", "Placeholder"), ("d1", "Dense")]
    dense = graph.node[1]
    assert list(dense.input) == ["input"]
    assert [d.size for d in dense.attr["_output_shapes"].list.shape[0].dim] == [-1, 4]


def test_epoch_only_logging_asks_for_no_batch_logs(tmp_path):
    from seqc.training.callback_base import wants_batch_logs

    assert not wants_batch_logs(TensorBoard(tmp_path))
    assert wants_batch_logs(TensorBoard(tmp_path, update_freq=2))


@pytest.mark.parametrize("field,value", [("profile_batch", 2), ("profile_batch", (1, 3)),
                                         ("embeddings_freq", 1),
                                         ("embeddings_metadata", {"emb": "m.tsv"}),
                                         ("write_images", True), ("update_freq", "step"),
                                         ("histogram_freq", -1)])
def test_what_seqc_cannot_write_is_refused_by_name(tmp_path, field, value):
    with pytest.raises(DefinitionError) as e:
        TensorBoard(tmp_path, **{field: value})
    assert field in str(e.value)


def test_spec_form_and_missing_extra(tmp_path, monkeypatch):
    cb = get({"type": "TensorBoard", "log_dir": str(tmp_path), "histogram_freq": 1})
    assert isinstance(cb, TensorBoard) and cb.histogram_freq == 1
    monkeypatch.setitem(sys.modules, "tensorboard.summary.writer.event_file_writer", None)
    with pytest.raises(UsageError, match=r"seqc\[tensorboard\]"):
        TensorBoard(tmp_path)


def test_build_tensorboard_flag_and_script_callback(tmp_path):
    x, y = _data(80)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    spec = tmp_path / "m.json"
    spec.write_text(json.dumps({
        "name": "t", "input_shape": [3],
        "layers": [{"type": "Dense", "units": 4, "activation": "relu"},
                   {"type": "Dense", "units": 1, "activation": "sigmoid"}],
        "compile": {"optimizer": {"type": "sgd", "learning_rate": 0.05},
                    "loss": "binary_crossentropy", "metrics": ["accuracy"]},
        "fit": {"epochs": 2, "batch_size": 16, "validation_split": 0.25, "seed": 0},
        "data": {"x": "x.npy", "y": "y.npy"}}))
    logs = tmp_path / "tb"
    r = CliRunner().invoke(cli, ["build", str(spec), "-o", str(tmp_path / "out"), "--quiet",
                                 "--tensorboard", str(logs)])
    assert r.exit_code == 0, r.output
    history = json.loads((tmp_path / "out" / "report.json").read_text())["history"]
    _check_epoch_scalars(logs, history, 0.05)
    assert "dense/kernel/histogram" in _read(logs / "train").Tags()["tensors"]

    # A script's TensorBoard(...) callback is honoured (log_dir relative to the working
    # directory, as in Keras).
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""\
        import numpy as np
        import keras
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, y, epochs=2, callbacks=[keras.callbacks.TensorBoard({str(tmp_path / 'sl')!r})])
        """))
    r = CliRunner().invoke(cli, ["build", str(script), "-o", str(tmp_path / "out2"), "--quiet",
                                 "--x", str(tmp_path / "x.npy"), "--y", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    history = json.loads((tmp_path / "out2" / "report.json").read_text())["history"]
    _check_epoch_scalars(tmp_path / "sl", history, 0.001)


def test_build_flag_without_the_extra_or_training(tmp_path, monkeypatch):
    x, _ = _data(16)
    np.save(tmp_path / "x.npy", x)
    spec = tmp_path / "m.json"
    spec.write_text(json.dumps({"name": "t", "input_shape": [3],
                                "layers": [{"type": "Dense", "units": 1}],
                                "compile": {"optimizer": "sgd", "loss": "mse"}}))
    args = ["build", str(spec), "-o", str(tmp_path / "out"), "--tensorboard", str(tmp_path / "tb")]
    r = CliRunner().invoke(cli, [*args, "--no-train"])
    assert r.exit_code == 0, r.output
    assert "--tensorboard: nothing was trained" in r.output and not (tmp_path / "tb").exists()
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto", None)
    r = CliRunner().invoke(cli, [*args, "--x", str(tmp_path / "x.npy")])
    assert r.exit_code == 2 and "pip install 'seqc[tensorboard]'" in r.output, r.output
    assert "Traceback" not in r.output
