"""The issue's end-to-end proof: the TensorFlow image classification tutorial's model
(RandomFlip -> RandomRotation -> RandomZoom -> Rescaling -> three Conv2D/MaxPooling2D blocks ->
Dropout -> Dense) trains on the shipped shapes images (examples/shapes_augmented_cnn.json),
and its ONNX graph holds no augmentation node and agrees with NumPy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqc.pipeline import BuildOptions, build

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shapes_augmented_cnn.json"
SHAPES = EXAMPLE.parent / "data" / "shapes.npz"


def test_example_data_is_what_make_shapes_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_shapes", SHAPES.parent / "make_shapes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x, y = mod.make()
    with np.load(SHAPES) as z:
        np.testing.assert_array_equal(z["x"], x)
        np.testing.assert_array_equal(z["y"], y)


def test_tutorial_model_trains_with_augmentation_and_exports_without_it(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "out"
    # 6 of the example's 20 epochs keep the test short; the full run reaches 0.97.
    report = build(str(EXAMPLE), BuildOptions(out_dir=str(out), epochs=6, verbose=0, log=None))
    assert report["trained"]
    ops = [layer["type"] for layer in report["layers"]][:4]
    assert ops == ["RandomFlip", "RandomRotation", "RandomZoom", "Rescaling"], ops
    # Held out: the last 20% (120 images), 3 balanced classes, so chance is 1/3 (0.55 is five
    # standard deviations above it); seed 0 reaches 0.68 after these 6 epochs.
    assert report["final_metrics"]["val_accuracy"] >= 0.55, report["history"]["val_accuracy"]

    # No augmentation node: the graph is the tutorial's convolutions with the Rescaling
    # folded into the first one, and one Transpose at the input.
    assert report["onnx"]["nodes"] == {"Conv": 3, "Flatten": 1, "Gemm": 2, "MaxPool": 3,
                                       "Relu": 4, "Transpose": 1}
    model = onnx.load(str(out / "model.onnx"))
    assert not any("random" in n.name.lower() for n in model.graph.node)
    v = report["validation"]
    assert v["ok"] and all(r["max_abs_error"] <= 1e-5 for r in v["runtimes"]), v

    # ONNX against the trained model's NumPy inference on held-out images.
    import seqc

    trained = seqc.load(str(out))
    with np.load(SHAPES) as z:
        x = z["x"][-120:].astype(np.float32)
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, trained.predict(x), atol=1e-5, rtol=1e-4)
