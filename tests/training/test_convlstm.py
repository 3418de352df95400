"""The Keras next-frame example (keras-io examples/vision/conv_lstm.py) as written, with tiny
frames and filters: the script is read, trains an epoch on moving squares with `seqc build`,
and its ONNX agrees with NumPy at two sequence lengths; `seqc validate` shows it agrees."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import seqc
from seqc.cli import cli

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"

# The example's model (three ConvLSTM2D with relu, BatchNormalization, a sigmoid Conv3D;
# Adam and binary crossentropy), with FILTERS in place of its 64.
SCRIPT = """\
from tensorflow import keras
from tensorflow.keras import layers

FILTERS = 3
inp = layers.Input(shape=(None, 8, 8, 1))
x = layers.ConvLSTM2D(filters=FILTERS, kernel_size=(5, 5), padding="same",
                      return_sequences=True, activation="relu")(inp)
x = layers.BatchNormalization()(x)
x = layers.ConvLSTM2D(filters=FILTERS, kernel_size=(3, 3), padding="same",
                      return_sequences=True, activation="relu")(x)
x = layers.BatchNormalization()(x)
x = layers.ConvLSTM2D(filters=FILTERS, kernel_size=(1, 1), padding="same",
                      return_sequences=True, activation="relu")(x)
x = layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid", padding="same")(x)
model = keras.models.Model(inp, x)
model.compile(loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam())
"""


def moving_squares(*args, **kw):
    spec = importlib.util.spec_from_file_location("make_moving_squares",
                                                  DATA / "make_moving_squares.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.moving_squares(*args, **kw)


def test_next_frame_model_trains_and_exports(tmp_path):
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    x, y = moving_squares(8, 4, 8, seed=0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "next_frame.py").write_text(SCRIPT)
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["build", str(tmp_path / "next_frame.py"), "--x",
                                 str(tmp_path / "x.npy"), "--y", str(tmp_path / "y.npy"),
                                 "--epochs", "1", "--batch-size", "4", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["validation"]["ok"]
    loss = report["history"]["loss"]
    assert len(loss) == 1 and np.isfinite(loss[0])

    model = seqc.load(str(out))
    ops = [n.op for n in model.graph.nodes]
    assert ops.count("ConvLSTM2D") == 3 and "Conv3D" in ops
    onnx_path = str(out / "model.onnx")
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    ref = ReferenceEvaluator(onnx_path)
    for t in (3, 6):  # two sequence lengths through the same graph
        xt, _ = moving_squares(2, t, 8, seed=t)
        want = model.predict(xt)
        assert want.shape == (2, t, 8, 8, 1)
        np.testing.assert_allclose(sess.run(None, {"input": xt})[0], want, atol=1e-5)
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(ref.run(None, {"input": xt})[0], want, atol=1e-5)

    np.save(tmp_path / "x5.npy", moving_squares(3, 5, 8, seed=1)[0])
    r = CliRunner().invoke(cli, ["validate", str(out), "--inputs", str(tmp_path / "x5.npy"),
                                 "--runtimes", "numpy,onnxruntime,onnx-reference"])
    assert r.exit_code == 0, r.output
    assert "onnx-reference" in r.output and "onnxruntime" in r.output
