"""The exporter's layout tracking: a channels-last conv net runs channels-first inside ONNX with
one Transpose at the input (none with input_layout="channels_first"), Flatten -> Dense permutes
the kernel instead of transposing, BatchNormalization folds away, and every variant matches
the NumPy forward."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import seqc
from seqc.errors import UsageError
from seqc.export import to_onnx
from seqc.ops.base import RunContext
from seqc.training.executor import forward

L = seqc.layers
ort = pytest.importorskip("onnxruntime")


def _ops(proto) -> Counter:
    return Counter(n.op_type for n in proto.graph.node)


def _run(proto, x):
    s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"input": x})[0]


def _numpy(model, x):
    return forward(model.graph, model.params, x, RunContext(training=False, need_grad=False))[0]


def _randomize(model, seed=0):
    """Non-trivial weights everywhere, including BatchNormalization's moving statistics."""
    rng = np.random.default_rng(seed)
    for k, spec in model.graph.param_specs.items():
        v = rng.normal(0, 0.5, spec.shape)
        if "variance" in k:
            v = np.abs(v) + 0.5
        model.params[k] = v.astype(np.float32)
    return model


def digits_cnn():
    return seqc.Sequential([
        L.Input((8, 8, 1)),
        L.Rescaling(1 / 16),
        L.Conv2D(32, (3, 3), activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dense(10, activation="softmax"),
    ], seed=0)


def test_digits_cnn_has_one_transpose_and_matches_numpy():
    model = digits_cnn()
    info: dict = {}
    proto = to_onnx(model.graph, model.params, report=info)
    ops = _ops(proto)
    # One layout change, at the input; with a single channel it is a free Reshape.
    assert ops["Transpose"] == 0 and ops["Reshape"] == 1
    assert ops["Gather"] == 0, "Flatten -> Dense must permute the kernel, not gather"
    assert info["nodes"] == dict(sorted(ops.items()))
    x = np.random.default_rng(1).uniform(0, 16, (5, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(_run(proto, x), _numpy(model, x), atol=1e-5)


def test_one_channel_moves_by_reshape_and_many_by_transpose():
    for channels, want in ((1, "Reshape"), (3, "Transpose")):
        model = _randomize(seqc.Sequential([L.Input((None, 5, channels)),
                                            L.Conv2D(channels, 3, padding="same"),
                                            L.MaxPooling2D()]))
        proto = to_onnx(model.graph, model.params)
        ops = _ops(proto)
        assert ops[want] == 2 and ops["Transpose"] + ops["Reshape"] == 2, ops
        x = np.random.default_rng(7).normal(size=(2, 6, 5, channels)).astype(np.float32)
        np.testing.assert_allclose(_run(proto, x), _numpy(model, x), atol=1e-5)


def test_channels_first_input_has_no_transpose():
    model = digits_cnn()
    proto = to_onnx(model.graph, model.params, input_layout="nchw")
    assert _ops(proto)["Transpose"] == 0 and _ops(proto)["Reshape"] == 0
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [1, 8, 8]
    x = np.random.default_rng(2).uniform(0, 16, (3, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(_run(proto, np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
                               _numpy(model, x), atol=1e-5)


def test_flatten_read_by_a_non_dense_gets_one_gather():
    """A consumer that is not a Dense (here Softmax over the flattened features) needs Keras'
    feature order back: one Gather, and the numbers still match."""
    model = _randomize(seqc.Sequential([
        L.Input((5, 4, 3)), L.Conv2D(2, 3, padding="same"), L.Flatten(), L.Softmax()]))
    proto = to_onnx(model.graph, model.params)
    ops = _ops(proto)
    assert ops["Gather"] == 1 and ops["Transpose"] == 1
    x = np.random.default_rng(3).normal(size=(2, 5, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(_run(proto, x), _numpy(model, x), atol=1e-6)


def test_spatial_output_goes_back_to_channels_last():
    model = _randomize(seqc.Sequential([
        L.Input((6, 6, 2)), L.Conv2D(3, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2)]))
    proto = to_onnx(model.graph, model.params)
    assert _ops(proto)["Transpose"] == 2  # in and out
    x = np.random.default_rng(4).normal(size=(2, 6, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(_run(proto, x), _numpy(model, x), atol=1e-5)
    cf = to_onnx(model.graph, model.params, input_layout="channels_first")
    assert _ops(cf)["Transpose"] == 0 and _ops(cf)["Reshape"] == 0
    props = {p.key: p.value for p in cf.metadata_props}
    assert props["seqc.output_layout"] == "channels_first"
    got = _run(cf, np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(got.transpose(0, 2, 3, 1), _numpy(model, x), atol=1e-5)


def test_batchnorm_after_conv_is_folded_and_matches():
    model = _randomize(seqc.Sequential([
        L.Input((7, 7, 2)), L.Conv2D(4, 3, strides=2, padding="same", use_bias=False),
        L.BatchNormalization(), L.ReLU(), L.GlobalAveragePooling2D(), L.Dense(3)]))
    info: dict = {}
    folded = to_onnx(model.graph, model.params, report=info)
    kept = to_onnx(model.graph, model.params, fold_batchnorm=False)
    assert "BatchNormalization" not in _ops(folded)
    assert _ops(kept)["BatchNormalization"] == 1
    assert info["passes"]["fold_batchnorm"] == ["batch_normalization folded into conv2d"]
    assert _ops(folded)["Transpose"] == 1
    x = np.random.default_rng(5).normal(size=(3, 7, 7, 2)).astype(np.float32)
    want = _numpy(model, x)
    np.testing.assert_allclose(_run(folded, x), want, atol=1e-5)
    np.testing.assert_allclose(_run(kept, x), want, atol=1e-5)


def test_input_layout_needs_spatial_axes():
    model = seqc.Sequential([L.Input((4,)), L.Dense(2)])
    with pytest.raises(UsageError, match="spatial axes"):
        to_onnx(model.graph, model.params, input_layout="nchw")
    with pytest.raises(UsageError, match="input_layout"):
        to_onnx(digits_cnn().graph, digits_cnn().params, input_layout="chw")


def test_validate_compares_a_channels_first_model_in_keras_layout(tmp_path):
    """The runtimes read the ONNX metadata and transpose for a channels-first model, so the
    comparison with NumPy is made in Keras' layout."""
    model = digits_cnn()
    path = str(tmp_path / "m.onnx")
    model.export(path, input_layout="nchw")
    from seqc.runtime import ModelSource, validate

    x = np.random.default_rng(6).uniform(0, 16, (4, 8, 8, 1)).astype(np.float32)
    res = validate(ModelSource(model.graph, model.params, path), x,
                   runtimes=["numpy", "onnxruntime", "onnx-reference"], print_table=False)
    assert res.ok


def test_predict_feeds_a_channels_first_model_in_its_own_layout(tmp_path):
    from seqc.errors import DataError
    from seqc.runtime.predict import predict_file

    model = digits_cnn()
    path = str(tmp_path / "m.onnx")
    model.export(path, input_layout="nchw")
    x = np.random.default_rng(8).uniform(0, 16, (4, 8, 8, 1)).astype(np.float32)
    np.save(tmp_path / "nchw.npy", np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    np.save(tmp_path / "nhwc.npy", x)
    assert predict_file(path, str(tmp_path / "nchw.npy"), str(tmp_path / "y.npy")) == 4
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), _numpy(model, x), atol=1e-5)
    with pytest.raises(DataError, match="input-layout nchw") as e:
        predict_file(path, str(tmp_path / "nhwc.npy"), str(tmp_path / "y2.npy"))
    assert "(4, 8, 8, 1)" in str(e.value) and "nhwc.npy" in str(e.value)
