"""Issue 5's corpus: for every layer kind, a real Keras 3 model (random weights, non-zero
biases, non-trivial BatchNormalization/Normalization statistics) saved by Keras as `.keras` and
as `to_json()` + `.weights.h5`; `seqc convert` of each gives ONNX whose onnxruntime output
matches Keras within 1e-5, and `seqc.load(...).predict` does too."""

from __future__ import annotations

import os

import numpy as np
import pytest

from seqc.ops import REGISTRY

os.environ.setdefault("KERAS_BACKEND", "torch")
TOL = {"atol": 1e-5, "rtol": 1e-5}


def _first_examples():
    """One example per kind: the first whose Keras twin seqc can read (no mask, no
    Activation with bound arguments, which Keras serializes as code)."""
    out = []
    for kind, op in sorted(REGISTRY.items()):
        if kind == "InputLayer":
            continue
        for i, ex in enumerate(op.examples):
            if ex.mask_lengths or not ex.input_shape or not ex.keras or ex.input_shapes or (
                    kind == "Activation" and isinstance(ex.config["activation"], dict)):
                continue
            out.append(pytest.param(kind, ex, id=f"{kind}-{i}"))
            break
    return out


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("h5py")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("kind,ex", _first_examples())
def test_keras_files_convert_and_load_like_keras(keras, kind, ex, tmp_path):
    import onnxruntime as ort
    from test_keras_json import _keras_model, _random_weights, example_input

    import seqc
    from seqc.convert import ConvertOptions, convert

    km = _keras_model(keras, kind, ex)
    rng = np.random.default_rng(11)
    km.set_weights(_random_weights(km, rng))
    km.save(tmp_path / "m.keras")
    (tmp_path / "m.json").write_text(km.to_json())
    km.save_weights(tmp_path / "m.weights.h5")

    x = example_input(ex, rng, 5)
    want = np.asarray(km.predict(x, verbose=0))

    for src in ("m.keras", "m.json"):
        out = tmp_path / f"{src}.onnx"
        info = convert(str(tmp_path / src), str(out), ConvertOptions(log=None))
        assert info["weights"], src
        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, want, **TOL, err_msg=f"{src}: onnxruntime vs Keras")
        np.testing.assert_allclose(seqc.load(tmp_path / src).predict(x), want, **TOL,
                                   err_msg=f"{src}: seqc.load(...).predict vs Keras")
