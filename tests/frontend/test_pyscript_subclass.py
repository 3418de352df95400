"""Subclassed models in scripts: `class Net(nn.Module)` / `class M(keras.Model)` with a
straight-line forward()/call(), script modules that are one reshape, and Keras Lambdas.

The frontend reads each script with `ast`; the test (never the frontend) runs the script with
real torch/keras for the reference, copies the weights and compares predictions, parameter
counts and output shapes. What cannot be modelled is refused at file:line:col.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_pyscript import _torch_weights, write

from seqc.errors import DefinitionError
from seqc.frontend.pyscript import load_script, script_to_spec

MNIST_NET = '''
import argparse
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

# seqc: input_shape = [1, 28, 28]


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()


def main():
    parser = argparse.ArgumentParser(description="PyTorch MNIST Example")
    parser.add_argument("--epochs", type=int, default=14)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)


if __name__ == "__main__":
    main()
'''

BLITZ_NET = '''
import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (3, 32, 32)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


net = Net()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
'''

BLITZ_NET_1CH = '''
import torch
from torch import nn
import torch.nn.functional as F

# seqc: input_shape = [1, 32, 32]


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


net = Net()
'''

SIMPLE_MODEL = '''
import torch
import torch.nn as nn


class SimpleModel(nn.Module):
    def __init__(self, input_size=20, hidden=32, num_classes=3):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(input_size, hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.model(x)


model = SimpleModel(num_classes=5)
'''

MNIST_CNN = '''
import torch
import torch.nn.functional as F
from torch import nn


class Mnist_CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1)

    def forward(self, xb):
        xb = xb.view(-1, 1, 28, 28)
        xb = F.relu(self.conv1(xb))
        xb = F.relu(self.conv2(xb))
        xb = F.relu(self.conv3(xb))
        xb = F.avg_pool2d(xb, 4)
        return xb.view(-1, xb.size(1))


lr = 0.1
model = Mnist_CNN()
opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
'''

NN_TUTORIAL_LAMBDA = '''
import torch
from torch import nn


class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        return self.func(x)


def preprocess(x):
    return x.view(-1, 1, 28, 28)


model = nn.Sequential(
    Lambda(preprocess),
    nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
    nn.ReLU(),
    nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
    nn.ReLU(),
    nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
    nn.ReLU(),
    nn.AvgPool2d(4),
    Lambda(lambda x: x.view(x.size(0), -1)),
)
'''

MODULE_LIST = '''
import torch
from torch import nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.norm = nn.BatchNorm1d(width)

    def forward(self, x):
        return torch.relu(self.norm(self.fc(x)))


class Net(nn.Module):
    def __init__(self, in_features=6, width=8, depth=3, num_classes=4, p=0.3):
        super().__init__()
        self.inp = nn.Linear(in_features, width)
        self.blocks = nn.ModuleList([Block(width) for _ in range(depth)])
        self.extra = nn.ModuleList()
        for i in range(2):
            self.extra.append(nn.Linear(width, width))
        self.head = nn.Linear(width, num_classes)
        self.p = p

    def forward(self, x):
        x = F.relu(self.inp(x))
        for block in self.blocks:
            x = block(x)
        for i in range(len(self.extra)):
            x = torch.tanh(self.extra[i](x))
        x = F.dropout(x, self.p, training=self.training)
        return F.softmax(self.head(x), dim=1)


model = Net(num_classes=3)
'''

LSTM_CLASSIFIER = '''
import torch
from torch import nn

VOCAB = 50
INPUT_SHAPE = (7,)


class TextClassifier(nn.Module):
    def __init__(self, vocab=VOCAB, embed=8, hidden=6, classes=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        x = self.embedding(x)
        out, (h, c) = self.lstm(x)
        return self.fc(out[:, -1, :])


model = TextClassifier()
'''

UPSAMPLE_NET = '''
import torch
import torch.nn as nn
import torch.nn.functional as F

# seqc: input_shape = [3, 5, 6]


class UpsampleConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super(UpsampleConvLayer, self).__init__()
        self.upsample = upsample
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        x_in = x
        if self.upsample:
            x_in = torch.nn.functional.interpolate(x_in, mode='nearest', scale_factor=self.upsample)
        out = self.conv2d(x_in)
        return out


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)
        self.deconv = UpsampleConvLayer(4, 4, 3, 1, upsample=2)
        self.seq = nn.Sequential(nn.UpsamplingNearest2d(scale_factor=2), nn.Conv2d(4, 8, 1),
                                 nn.Upsample(scale_factor=(1, 3), mode='bilinear'))
        self.shuffle = nn.PixelShuffle(2)
        self.conv3 = nn.Conv2d(2, 3, 1)

    def forward(self, x):
        x = self.up(torch.tanh(self.conv(x)))
        x = F.interpolate(x, scale_factor=(3, 2), mode='bilinear', align_corners=False)
        x = F.interpolate(x, None, 2.0)
        x = self.shuffle(F.pixel_shuffle(self.seq(self.deconv(x)), 1))
        return self.conv3(x)


model = Net()
'''

TORCH_CASES = {"mnist_net": (MNIST_NET, "Net", 1_199_882, (None, 10)),
               "blitz_net": (BLITZ_NET, "net", 62_006, (None, 10)),
               "blitz_net_1ch": (BLITZ_NET_1CH, "net", 61_706, (None, 10)),
               "simple_model": (SIMPLE_MODEL, "model", 20 * 32 + 32 + 32 * 5 + 5, (None, 5)),
               "mnist_cnn": (MNIST_CNN, "model", 16 * 9 + 16 + 16 * 16 * 9 + 16 + 10 * 16 * 9
                             + 10, (None, 10)),
               "nn_tutorial_lambda": (NN_TUTORIAL_LAMBDA, "model", 3_930, (None, 10)),
               "module_list": (MODULE_LIST, "model", None, (None, 3)),
               "lstm_classifier": (LSTM_CLASSIFIER, "model", None, (None, 3)),
               "upsample": (UPSAMPLE_NET, "model", 112 + 148 + 40 + 9,
                            (None, 3, 472, 1128))}


def _torch_reference(src: str, var: str):
    """The test runs its own script with torch (the frontend never does)."""
    torch = pytest.importorskip("torch")
    ns: dict = {"__name__": "fixture"}
    exec(compile(textwrap.dedent(src), "fixture.py", "exec"), ns)  # noqa: S102
    obj = ns[var]
    tmod = obj() if isinstance(obj, type) else obj
    torch.manual_seed(0)
    for m in tmod.modules():  # non-trivial statistics, so eval-mode BatchNorm matters
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return tmod.eval()


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_subclassed_torch_model_predicts_like_torch(tmp_path, case):
    torch = pytest.importorskip("torch")
    src, var, n_params, out_shape = TORCH_CASES[case]
    model = load_script(write(tmp_path, src)).model
    tmod = _torch_reference(src, var)
    want_params = sum(p.numel() for p in tmod.parameters())
    # BatchNorm's running mean/variance are torch buffers, Keras' non-trainable weights
    want_params += sum(2 * m.num_features for m in tmod.modules()
                       if isinstance(m, torch.nn.BatchNorm1d))
    # PyTorch's LSTM keeps its two biases (b_ih, b_hh): LSTM(recurrent_bias=True)
    assert model.count_params() == want_params
    if n_params is not None:
        assert want_params == n_params
    assert model.output_shape == out_shape
    model.set_weights(_torch_weights(model, tmod))
    shape = [d if d is not None else 5 for d in model.graph.types["input"].shape[1:]]
    rng = np.random.default_rng(0)
    if model.graph.types["input"].dtype.startswith("int"):
        x = rng.integers(0, 50, size=(4, *shape)).astype(np.int64)
    else:
        x = rng.standard_normal((4, *shape)).astype(np.float32)
    with torch.no_grad():
        want = tmod(torch.from_numpy(x)).numpy()
    got = model.predict(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_functional_calls_become_the_module_layers():
    doc = script_to_spec(MNIST_NET, "mnist.py")
    assert doc["name"] == "Net"
    assert [(d["type"], d["name"]) for d in doc["layers"]] == [
        ("Conv2D", "conv1"), ("ReLU", "relu"), ("Conv2D", "conv2"), ("ReLU", "relu_1"),
        ("MaxPooling2D", "max_pool2d"), ("Dropout", "dropout1"), ("Flatten", "flatten"),
        ("Dense", "fc1"), ("ReLU", "relu_2"), ("Dropout", "dropout2"), ("Dense", "fc2"),
        ("Activation", "log_softmax")]
    assert doc["layers"][-1]["activation"] == {"type": "log_softmax", "axis": 1}
    # the blitz's self.pool is applied twice: it has no weights, so that is no sharing
    names = [d["name"] for d in script_to_spec(BLITZ_NET, "b.py")["layers"]]
    assert names.count("pool") == 1 and "pool_1" in names
    # the blitz's loss and optimizer become the compile settings, as for nn.Sequential
    assert script_to_spec(BLITZ_NET, "b.py")["compile"]["optimizer"]["type"] == "SGD"
    # F.dropout(x, p, training=self.training) is nn.Dropout(p)
    drop = [d for d in script_to_spec(MODULE_LIST, "m.py")["layers"] if d["type"] == "Dropout"]
    assert drop == [{"type": "Dropout", "name": "dropout", "rate": 0.3}]


def test_constructor_arguments_and_defaults(tmp_path):
    m = load_script(write(tmp_path, SIMPLE_MODEL)).model
    assert m.output_shape == (None, 5)  # num_classes=5 given, the rest defaults
    src = SIMPLE_MODEL.replace("SimpleModel(num_classes=5)", "SimpleModel(7, 16)")
    m = load_script(write(tmp_path, src, "b.py")).model
    assert m.graph.types["input"].shape == (None, 7) and m.output_shape == (None, 3)


def test_model_class_defined_but_not_instantiated(tmp_path):
    src = SIMPLE_MODEL.replace("model = SimpleModel(num_classes=5)\n", "")
    assert load_script(write(tmp_path, src)).model.output_shape == (None, 3)


def test_uninstantiated_model_with_a_helper_class(tmp_path):
    src = MODULE_LIST.replace("model = Net(num_classes=3)\n", "")
    assert load_script(write(tmp_path, src)).model.output_shape == (None, 4)


def test_mnist_needs_the_input_shape_comment(tmp_path):
    src = MNIST_NET.replace("# seqc: input_shape = [1, 28, 28]", "")
    with pytest.raises(DefinitionError, match="# seqc: input_shape"):
        load_script(write(tmp_path, src))


# ---- Keras ----

KERAS_MYMODEL = '''
import keras
from keras import layers


class MyModel(keras.Model):
    def __init__(self, hidden=16, num_classes=3):
        super().__init__()
        self.dense1 = layers.Dense(hidden, activation="relu")
        self.dropout = layers.Dropout(0.5)
        self.dense2 = layers.Dense(num_classes, activation="softmax")

    def call(self, inputs, training=False):
        x = self.dense1(inputs)
        x = self.dropout(x, training=training)
        return self.dense2(x)


model = MyModel(num_classes=4)
model.build((None, 6))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=3, batch_size=32)
'''

KERAS_AUTOENCODER = '''
import tensorflow as tf
from tensorflow.keras import layers, losses
from tensorflow.keras.models import Model

# seqc: input_shape = [28, 28]
latent_dim = 64


class Autoencoder(Model):
    def __init__(self, latent_dim):
        super(Autoencoder, self).__init__()
        self.latent_dim = latent_dim
        self.encoder = tf.keras.Sequential([
            layers.Flatten(),
            layers.Dense(latent_dim, activation="relu"),
        ])
        self.decoder = tf.keras.Sequential([
            layers.Dense(784, activation="sigmoid"),
            layers.Reshape((28, 28)),
        ])

    def call(self, x):
        encoded = self.encoder(x)
        decoded = self.decoder(encoded)
        return decoded


autoencoder = Autoencoder(latent_dim)
autoencoder.compile(optimizer="adam", loss=losses.MeanSquaredError())
autoencoder.fit(x_train, x_train, epochs=10, shuffle=True, validation_data=(x_test, x_test))
'''


def _keras_run(src: str, var: str):
    keras = pytest.importorskip("keras")
    ns: dict = {"__name__": "fixture", "x_train": None, "y_train": None, "x_test": None}
    body = "\n".join(ln for ln in textwrap.dedent(src).splitlines()
                     if ".fit(" not in ln and "import tensorflow" not in ln)
    body = body.replace("tf.keras.", "keras.").replace("from tensorflow.keras", "from keras")
    exec(compile("import keras\n" + body, "fixture.py", "exec"), ns)  # noqa: S102
    return keras, ns[var]


def test_subclassed_keras_model_predicts_like_keras(tmp_path):
    defn = load_script(write(tmp_path, KERAS_MYMODEL))
    assert defn.compile["loss"] == "sparse_categorical_crossentropy"
    assert defn.fit == {"epochs": 3, "batch_size": 32}
    model = defn.model
    keras, kmodel = _keras_run(KERAS_MYMODEL, "model")
    kmodel(np.zeros((1, 6), np.float32))
    assert model.count_params() == kmodel.count_params() == 6 * 16 + 16 + 16 * 4 + 4
    rng = np.random.default_rng(2)
    ws = [rng.standard_normal(w.shape).astype(np.float32) for w in kmodel.get_weights()]
    kmodel.set_weights(ws)
    model.set_weights(ws)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    want = np.asarray(kmodel(x, training=False).detach().cpu())
    np.testing.assert_allclose(model.predict(x), want, atol=1e-5, rtol=1e-5)


def test_keras_model_of_sequential_parts(tmp_path):
    defn = load_script(write(tmp_path, KERAS_AUTOENCODER))
    keras, kmodel = _keras_run(KERAS_AUTOENCODER, "autoencoder")
    kmodel(np.zeros((1, 28, 28), np.float32))
    m = defn.model
    assert m.count_params() == kmodel.count_params()
    assert m.output_shape == (None, 28, 28)
    assert defn.compile["loss"] == {"type": "MeanSquaredError"}
    rng = np.random.default_rng(3)
    ws = [rng.standard_normal(w.shape).astype(np.float32) * 0.1 for w in kmodel.get_weights()]
    kmodel.set_weights(ws)
    m.set_weights(ws)
    x = rng.standard_normal((2, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(m.predict(x), np.asarray(kmodel(x).detach().cpu()), atol=1e-5)


def test_keras_lambda_last_step_predicts_like_keras(tmp_path):
    src = '''
import keras
from keras import layers


def last(x):
    return x[:, -1]


model = keras.Sequential([keras.Input((5, 3)), layers.LSTM(4, return_sequences=True),
                          layers.Lambda(lambda x: x[:, -1, :]),
                          layers.Dense(6), layers.Lambda(keras.ops.relu),
                          layers.Reshape((3, 2)), layers.Lambda(last)])
'''
    m = load_script(write(tmp_path, src)).model
    assert [n.op for n in m.graph.nodes] == ["LSTM", "Cropping1D", "Reshape", "Dense",
                                             "Activation", "Reshape", "Cropping1D", "Reshape"]
    keras, kmodel = _keras_run(src, "model")
    rng = np.random.default_rng(4)
    ws = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in kmodel.get_weights()]
    kmodel.set_weights(ws)
    m.set_weights(ws)
    x = rng.standard_normal((3, 5, 3)).astype(np.float32)
    assert m.output_shape == (None, 2)
    np.testing.assert_allclose(m.predict(x), np.asarray(kmodel(x).detach().cpu()), atol=1e-5)


@pytest.mark.parametrize("body,layer", [
    ("tf.nn.relu(x)", {"type": "Activation", "activation": "relu"}),
    ("tf.reshape(x, (-1, 3, 4))", {"type": "Reshape", "target_shape": [3, 4]}),
    ("keras.ops.reshape(x, (tf.shape(x)[0], 3, 4))", {"type": "Reshape",
                                                       "target_shape": [3, 4]}),
    ("tf.nn.softmax(x, axis=1)", {"type": "Softmax", "axis": 1}),
    ("tf.transpose(x, [0, 2, 1])", {"type": "Permute", "dims": [2, 1]}),
])
def test_keras_lambda_bodies(body, layer):
    src = f"""
import tensorflow as tf
import keras
model = keras.Sequential([keras.Input((4, 3)), keras.layers.Lambda(lambda x: {body})])
"""
    assert script_to_spec(src, "l.py")["layers"][1] == layer


# ---- refused, with the name and the line ----

REFUSED = [
    ("tensor-and-number", """
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(4, 4)
    def forward(self, x):
        return self.block(x) + 1.0
model = Net()
""", "model.py:8:16", ["Net.forward(): computes with tensors", "self.block(x) + 1.0"]),
    ("branch", """
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
    def forward(self, x):
        y = self.a(x)
        z = self.b(x)
        return z
model = Net()
""", "model.py:9:13", ["computes a value nothing reads", "self.a(x)"]),
    ("shared-weights", """
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
    def forward(self, x):
        x = self.fc(x)
        return self.fc(x)
model = Net()
""", "model.py:9:16", ["applies the layer fc a second time (first at line 8): shared"]),
    ("flatten-batch", """
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.flat = nn.Flatten(0, 1)
        self.fc = nn.Linear(4, 4)
    def forward(self, x):
        return self.fc(self.flat(x))
model = Net()
""", "model.py:6:21", ["only Flatten(start_dim=1, end_dim=-1)"]),
    ("torch-flatten-batch", """
import torch
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
    def forward(self, x):
        return torch.flatten(self.fc(x))
model = Net()
""", "model.py:9:16", ["torch.flatten() flattens from dim 0", "torch.flatten(x, 1)"]),
    ("dropout-always-on", """
import torch.nn.functional as F
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
    def forward(self, x):
        return F.dropout(self.fc(x), 0.25)
model = Net()
""", "model.py:9:16", ["active in eval mode too", "training=self.training"]),
    ("view-folds-batch", """
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 4)
    def forward(self, x):
        x = self.fc(x)
        return x.view(-1, 2)
model = Net()
""", "model.py:9:16", ["not a reshape of each sample", "fold samples into the batch"]),
    ("torch-lambda-arith", """
from torch import nn
class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func
    def forward(self, x):
        return self.func(x)
model = nn.Sequential(nn.Linear(4, 4), Lambda(lambda x: x * 2))
""", "model.py:9:57", ["Lambda.forward(): computes with tensors", "x * 2"]),
    ("keras-lambda-arith", """
import keras
model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2 + 1)])
""", "model.py:3:76", ["the Lambda at line 3: computes with tensors"]),
    ("keras-lambda-unknown", """
import keras
import tensorflow as tf
model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: tf.cumsum(x))])
""", "model.py:4:76", ["calls tensorflow.cumsum, which seqc has no layer for"]),
    ("keras-training-true", """
import keras
class M(keras.Model):
    def __init__(self):
        super().__init__()
        self.d = keras.layers.Dropout(0.5)
        self.o = keras.layers.Dense(2)
    def call(self, x):
        return self.o(self.d(x, training=True))
model = M()
""", "model.py:9:23", ["fixes training=True"]),
    ("branch-on-training", """
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
    def forward(self, x):
        if self.training:
            x = self.fc(x)
        return x
model = Net()
""", "model.py:8:9", ["branches on a value known only at run time (self.training)"]),
    ("two-inputs", """
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
    def forward(self, x, y):
        return self.fc(x)
model = Net()
""", "model.py:7:26", ["takes a second input 'y'"]),
    ("helper-method", """
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
    def forward(self, x):
        return self.fc(self.prep(x))
    @staticmethod
    def prep(x):
        return x
model = Net()
""", "model.py:10:5", ["Net.prep() is decorated; seqc reads plain methods only"]),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_with_name_and_line(tmp_path, case):
    _, text, where, needles = case
    with pytest.raises(DefinitionError) as e:
        load_script(write(tmp_path, text))
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / where)), msg
    for n in needles:
        assert n in msg, (n, msg)


def test_helper_module_is_part_of_the_model_not_a_second_model(tmp_path):
    src = """
from torch import nn
class Head(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, 2)
    def forward(self, x):
        return self.fc(x)
class Net(nn.Module):
    def __init__(self, head):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.head = head
    def forward(self, x):
        return self.head(self.body(x))
model = Net(Head(8))
"""
    doc = script_to_spec(src, "h.py")
    assert [d["name"] for d in doc["layers"]] == ["body.0", "body.1", "head.fc"]


def test_hostile_code_in_a_subclass_never_runs(tmp_path):
    canary = tmp_path / "canary.txt"
    src = f"""
import os
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        os.system("touch {canary}")
        open({str(canary)!r}, "w").write("ran")
        self.fc = nn.Linear(4, 2)
    def forward(self, x):
        return self.fc(x)
model = Net()
"""
    assert load_script(write(tmp_path, src)).model.output_shape == (None, 2)
    assert not canary.exists()
    bad = src.replace("return self.fc(x)", f"os.system('touch {canary}')\n        "
                                           "return self.fc(x)")
    with pytest.raises(DefinitionError, match="an expression statement"):
        load_script(write(tmp_path, bad, "bad.py"))
    assert not canary.exists()


def test_huge_forward_is_an_error_not_a_hang(tmp_path):
    src = """
from torch import nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = nn.ReLU()
    def forward(self, x):
        for i in range(10000):
            for j in range(10000):
                x = self.act(x)
        return x
model = Net()
"""
    with pytest.raises(DefinitionError, match="model.py:3:1: class Net is too complex"):
        load_script(write(tmp_path, src))


def test_script_frontend_modules_are_checked_for_exec():
    here = Path(__file__).resolve().parents[2] / "seqc" / "frontend"
    files = {p.name for p in here.glob("*pyscript*.py")}
    assert {"_pyscript_subclass.py", "_pyscript_forward.py", "_pyscript_torch_forward.py",
            "_pyscript_keras_lambda.py"} <= files  # so the no-exec test covers them


@pytest.mark.parametrize("forward,types", [
    ("x = self.lstm(x)[0]\n        return self.fc(x)",
     ["Embedding", "LSTM", "Dense"]),  # every step: return_sequences
    ("out, _ = self.lstm(x)\n        return self.fc(out[:, -1])", ["Embedding", "LSTM", "Dense"]),
    ("if self.use_head:\n            x = self.lstm(x)[0][:, -1, :]\n"
     "        return self.fc(x)", ["Embedding", "LSTM", "Dense"]),
])
def test_recurrent_outputs_and_constant_conditions(forward, types):
    src = f"""
from torch import nn
class Net(nn.Module):
    def __init__(self, use_head=True):
        super().__init__()
        self.use_head = use_head
        self.emb = nn.Embedding(10, 4)
        self.lstm = nn.LSTM(4, 3, batch_first=True)
        self.fc = nn.Linear(3, 2)
    def forward(self, x):
        x = self.emb(x)
        {forward}
model = Net()
"""
    layers = script_to_spec(src, "r.py")["layers"]
    assert [d["type"] for d in layers] == types
    assert layers[1]["return_sequences"] is forward.startswith("x = self.lstm(x)[0]\n")


def test_keras_call_with_functional_ops():
    src = """
import tensorflow as tf
from tensorflow import keras
# seqc: input_shape = [12]
class M(keras.Model):
    def __init__(self):
        super().__init__()
        self.d = keras.layers.Dense(6)
    def call(self, inputs, training=None):
        x = tf.reshape(inputs, (-1, 3, 4))
        x = tf.transpose(x, [0, 2, 1])
        x = keras.layers.Flatten()(x)
        return tf.nn.softmax(self.d(x))
model = M()
"""
    doc = script_to_spec(src, "k.py")
    assert [d["type"] for d in doc["layers"]] == ["Reshape", "Permute", "Flatten", "Dense",
                                                   "Softmax"]


# Keras orders a subclassed model's weights by the order __init__ assigns its layers (its
# tracker), not by the order call() uses them; a layer never called has no weights, a layer
# called twice has its weights once. Equal shapes: a wrong order would pass silently.
KERAS_INIT_ORDER_CHAIN = """
import keras
from keras import layers

class M(keras.Model):
    def __init__(self):
        super().__init__()
        self.c = layers.Dense(4)
        self.unused = layers.Dense(7)
        self.blocks = [layers.Dense(4, activation="tanh"), layers.Dense(4)]
        self.a = layers.Dense(4, activation="relu")

    def call(self, x):
        x = self.a(x)
        for block in self.blocks[::-1]:
            x = block(x)
        return self.c(x)

model = M()  # seqc: input_shape = (4,)
model.compile(optimizer="adam", loss="mse")
"""

KERAS_INIT_ORDER_GRAPH = """
import keras
from keras import layers

class Block(keras.Model):
    def __init__(self):
        super().__init__()
        self.second = layers.Dense(5)
        self.first = layers.Dense(5, activation="relu")

    def call(self, x):
        return self.second(self.first(x)) + x

class M(keras.Model):
    def __init__(self):
        super().__init__()
        self.out = layers.Dense(5)
        self.shared = layers.Dense(5, activation="tanh")
        self.block = Block()
        self.inp = layers.Dense(5)

    def call(self, x):
        h = self.inp(x)
        y = self.shared(h)
        z = self.shared(self.block(y))
        return self.out(h + z)

model = M()  # seqc: input_shape = (5,)
model.compile(optimizer="adam", loss="mse")
"""


KERAS_INIT_ORDER_FUNCTIONAL_PART = """
import keras
from keras import layers

j = keras.Input((6,))
res = keras.Model(j, layers.add([j, layers.Dense(6, activation="relu")(j)]))

class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.out = layers.Dense(6)
        self.res = res

    def call(self, x):
        return self.out(self.res(x))

model = Net()
model.build((None, 6))
"""


KERAS_INIT_ORDER_IN_SEQUENTIAL = """
import keras
from keras import layers

class M(keras.Model):
    def __init__(self):
        super().__init__()
        self.b = layers.Dense(4)
        self.a = layers.Dense(4, activation="relu")

    def call(self, x):
        return self.b(self.a(x))

model = keras.Sequential([keras.Input((4,)), layers.Dense(4), M()])
model.compile(optimizer="adam", loss="mse")
"""


@pytest.mark.parametrize("src", [KERAS_INIT_ORDER_CHAIN, KERAS_INIT_ORDER_GRAPH,
                                 KERAS_INIT_ORDER_FUNCTIONAL_PART,
                                 KERAS_INIT_ORDER_IN_SEQUENTIAL],
                         ids=["chain", "graph", "functional_part", "in_sequential"])
def test_subclassed_keras_weights_in_init_order(tmp_path, src):
    m = load_script(write(tmp_path, src)).model
    keras, kmodel = _keras_run(src, "model")
    n = m.graph.types[m.graph.inputs[0]].shape[1]
    kmodel(np.zeros((1, n), np.float32))
    assert [tuple(w.shape) for w in kmodel.weights] == [w.shape for w in m.get_weights()]
    rng = np.random.default_rng(5)
    ws = [rng.standard_normal(w.shape).astype(np.float32) for w in kmodel.get_weights()]
    kmodel.set_weights(ws)
    m.set_weights(kmodel.get_weights())
    x = rng.standard_normal((6, n)).astype(np.float32)
    want = np.asarray(kmodel(x, training=False).detach().cpu())
    np.testing.assert_allclose(m.predict(x), want, atol=1e-5, rtol=1e-5)
    # the table keeps its keys; summaries count the same parameters
    assert m.count_params() == kmodel.count_params()


@pytest.mark.parametrize("call, match", [
    ("F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True)", "align_corners"),
    ("F.interpolate(x, scale_factor=2, mode='bicubic')", "mode='bicubic'"),
    ("F.interpolate(x, scale_factor=2, mode='nearest-exact')", "mode='nearest-exact'"),
    ("F.interpolate(x, size=(10, 12))", "size="),
    ("F.interpolate(x, scale_factor=1.5)", "scale_factor"),
    ("F.interpolate(x, scale_factor=2, mode='bilinear', antialias=True)", "antialias"),
    ("F.interpolate(x, scale_factor=2, align_corners=False)", "align_corners"),
    ("F.interpolate(x, scale_factor=2, recompute_scale_factor=True)",
     "recompute_scale_factor"),
    ("nn.UpsamplingBilinear2d(scale_factor=2)(x)", "align_corners"),
    ("nn.Upsample(scale_factor=2, mode='trilinear')(x)", "mode='trilinear'"),
    ("F.interpolate(x.view(x.size(0), 3, -1), scale_factor=2)", "2-D upsampling"),
])
def test_upsampling_that_differs_is_refused_at_its_line(tmp_path, call, match):
    """PyTorch's resampling modes seqc has no exact layer for are refused by name, at
    file:line: never approximated."""
    mod = call.removesuffix("(x)") if call.startswith("nn.") else None
    src = UPSAMPLE_NET.replace("x = F.interpolate(x, None, 2.0)",
                               "x = self.bad(x)" if mod else f"x = {call}")
    if mod:
        src = src.replace("        self.deconv =",
                          f"        self.bad = {mod}\n        self.deconv =")
    with pytest.raises(DefinitionError, match=re.escape(match)) as e:
        load_script(write(tmp_path, src, "up.py"))
    assert re.search(r"up\.py:\d+", str(e.value)) and "invalid" not in str(e.value), e.value
