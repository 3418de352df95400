"""Issue 16 part 4, reverse lowering: ONNX models made by torch.onnx.export load with
seqc.load as seqc models that predict what onnxruntime computes and train on; a graph with a
node that has no layer is refused naming it (exit 2 in the CLI)."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

import seqc
from seqc.cli import cli

torch = pytest.importorskip("torch")
nn = torch.nn


class _LSTMNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 8, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return torch.softmax(self.fc(h[-1]), -1)


class _GRUNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(5, 6, batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class _ViewNet(nn.Module):
    """x.view(x.size(0), -1): a Reshape whose target is computed from the input's Shape."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.fc(y.view(y.size(0), -1))


def _models():
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(4)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    return {
        "mlp": (nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 8),
                              nn.Tanh(), nn.Linear(8, 3), nn.Softmax(-1)), (6,), True),
        # Flatten of a 3x3x3 map: the Dense rows are reordered from (C, H, W) to (H, W, C).
        "cnn": (nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(
            3, 3, 3, padding=1), nn.LeakyReLU(0.1), nn.Flatten(), nn.Linear(27, 4),
            nn.Sigmoid()), (2, 8, 8), True),
        # Kept unfolded (training mode preserved): a BatchNormalization node.
        "conv1d_bn": (nn.Sequential(nn.Conv1d(3, 4, 3, padding=1), bn, nn.ELU(),
                                    nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 2)),
                      (3, 12), False),
        # Stride 2 with pads: Keras' "same" would pad differently, so ZeroPadding + valid.
        "strided": (nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.Tanh(),
                                  nn.Flatten(), nn.Linear(32, 3)), (1, 7, 7), True),
        "view": (_ViewNet(), (1, 6, 6), True),
        "lstm": (_LSTMNet(), (7, 5), True),
        "gru": (_GRUNet(), (7, 5), True),
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch_onnx")
    out = {}
    for name, (m, shape, fold) in _models().items():
        m.eval()
        path = folder / f"{name}.onnx"
        mode = torch.onnx.TrainingMode.EVAL if fold else torch.onnx.TrainingMode.PRESERVE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, torch.randn(2, *shape), str(path), input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
                              dynamo=False, opset_version=17, do_constant_folding=fold,
                              training=mode)
        out[name] = (path, shape)
    return out


def _ort(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("name", ["mlp", "cnn", "conv1d_bn", "strided", "view", "lstm", "gru"])
def test_torch_exported_models_load_predict_and_train(exported, name, tmp_path):
    path, shape = exported[name]
    model = seqc.load(str(path))
    x = np.random.default_rng(1).standard_normal((5, *shape)).astype(np.float32)
    channels_first = model.export_options.get("input_layout") == "channels_first"
    assert channels_first == (name in ("cnn", "conv1d_bn", "strided", "view"))
    xs = np.moveaxis(x, 1, -1) if channels_first else x  # seqc's layout is channels-last
    want = _ort(path, x)
    got = model.predict(xs)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
    # Its export takes the same channels-first input as the original and computes the same.
    out = model.export(str(tmp_path / "again.onnx"))
    np.testing.assert_allclose(_ort(out, x), want, atol=1e-5, rtol=1e-4)
    model.compile(optimizer="adam", loss="mse")
    before = model.get_weights()
    model.fit(xs, want + 0.1, epochs=1, batch_size=5, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_the_layers_it_maps(exported):
    kinds = {name: [n.op for n in seqc.load(str(p)).graph.nodes]
             for name, (p, _) in exported.items()}
    assert kinds["mlp"] == ["Dense", "Activation", "Dense", "Activation", "Dense", "Softmax"]
    assert kinds["cnn"] == ["Conv2D", "Activation", "MaxPooling2D", "Conv2D", "LeakyReLU",
                            "Flatten", "Dense", "Activation"]
    assert kinds["conv1d_bn"][:2] == ["Conv1D", "BatchNormalization"]
    assert kinds["strided"][:2] == ["ZeroPadding2D", "Conv2D"]
    assert kinds["lstm"] == ["LSTM", "Dense", "Softmax"]
    assert kinds["gru"] == ["GRU", "Dense"]


def _chain(nodes, inits=(), shape=(None, 4)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape[1:]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph(nodes, "g", [x], [y], initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_matmul_add_is_a_dense(tmp_path):
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    b = np.array([1, 2, 3], np.float32)
    m = _chain([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
                helper.make_node("Add", ["h", "b"], ["y"], name="add")],
               [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")])
    path = tmp_path / "mm.onnx"
    onnx.save(m, str(path))
    model = seqc.load(str(path))
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(model.predict(x), x @ w + b, rtol=1e-6)


def test_summary_and_build_of_an_onnx_file(tmp_path):
    """`seqc summary other.onnx` prints the Keras-style table of its reverse lowering;
    `seqc build other.onnx --no-train` exports and validates it (the same outputs)."""
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    b = np.array([1, 2, 3], np.float32)
    m = _chain([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
                helper.make_node("Add", ["h", "b"], ["y"], name="add")],
               [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")])
    path = tmp_path / "mm.onnx"
    onnx.save(m, str(path))
    r = CliRunner().invoke(cli, ["summary", str(path)])
    assert r.exit_code == 0, r.output
    assert "(Dense)" in r.output and "(None, 3)" in r.output, r.output
    assert "Total params: 15" in r.output, r.output
    out = tmp_path / "b"
    r = CliRunner().invoke(cli, ["build", str(path), "--no-train", "-o", str(out)])
    assert r.exit_code == 0, r.output
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(_ort(out / "model.onnx", x), x @ w + b, rtol=1e-6)
    r = CliRunner().invoke(cli, ["summary", str(out / "model.onnx")])  # the embedded IR
    assert r.exit_code == 0 and "Total params: 15" in r.output, r.output


def test_an_unmapped_node_is_named_and_the_cli_exits_2(tmp_path):
    m = _chain([helper.make_node("Relu", ["x"], ["h"], name="act"),
                helper.make_node("Sin", ["h"], ["y"], name="wave")])
    path = tmp_path / "sin.onnx"
    onnx.save(m, str(path))
    with pytest.raises(seqc.SeqcError, match=r"node 1 'wave' \(Sin\) has no seqc layer"):
        seqc.load(str(path))
    r = CliRunner().invoke(cli, ["summary", str(path)])
    assert r.exit_code == 2, r.output
    assert "node 1 'wave' (Sin)" in r.output and "Traceback" not in r.output


def test_a_branch_is_refused_at_the_merge(tmp_path):
    m = _chain([helper.make_node("Relu", ["x"], ["a"], name="r"),
                helper.make_node("Add", ["a", "x"], ["y"], name="residual")])
    path = tmp_path / "res.onnx"
    onnx.save(m, str(path))
    with pytest.raises(seqc.SeqcError, match=r"node 1 'residual' \(Add\)"):
        seqc.load(str(path))
