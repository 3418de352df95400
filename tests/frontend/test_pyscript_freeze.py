"""Statements that change a model after it is built: freezing is honoured (Keras' and
PyTorch's patterns), anything else that would change the model or its training is a located
error, and the statements seqc does not run are listed. A tutorial freeze loop trains step
for step as Keras trains it."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from seqc.cli import cli
from seqc.errors import DefinitionError
from seqc.frontend import Bindings
from seqc.frontend.pyscript import load_script
from seqc.ir.summary import parameter_counts


def write(tmp_path, text, name="model.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def counts(tmp_path, text):
    return parameter_counts(load_script(write(tmp_path, text)).model.graph)


# The Keras guide's freeze loop (guides/transfer_learning.py), with its placeholders.
GUIDE = """\
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(32, activation="relu"),
        layers.Dense(32, activation="relu"),
        layers.Dense(10),
    ])

    # Presumably you would want to first load pre-trained weights.
    model.load_weights(...)

    # Freeze all layers except the last one.
    for layer in model.layers[:-1]:
        layer.trainable = False

    # Recompile and train (this will only update the weights of the last layer).
    model.compile(optimizer="adam", loss="mse")
    model.summary()
    """


def test_the_keras_guide_freeze_loop_is_honoured(tmp_path):
    defn = load_script(write(tmp_path, GUIDE))
    c = parameter_counts(defn.model.graph)
    assert c == {"total": 27562, "trainable": 330, "non_trainable": 27232}
    assert [n.trainable for n in defn.model.graph.nodes if n.params] == [False] * 3 + [True]
    # load_weights(...) is the guide's placeholder: a note, not a silent skip
    assert any("placeholder" in n for n in defn.notes)
    assert any("not run" in n and "line" in n for n in defn.notes)  # model.summary()


@pytest.mark.parametrize("freeze, trainable", [
    ("model.layers[0].trainable = False", 330 + 1056),
    ("model.layers[-1].trainable = False", 25120 + 1056),
    ("model.get_layer('hidden').trainable = False", 25120 + 330),
    ("for l in model.layers[1:]:\n    l.trainable = False", 25120),
    ("model.trainable = False", 0),
    # a frozen parent wins over a child set back to trainable (Keras 3)
    ("model.trainable = False\nmodel.layers[-1].trainable = True", 0),
    ("model.trainable = False\nmodel.trainable = True", 26506),
    ("layer = model.layers[1]\nlayer.trainable = False", 25120 + 330),
])
def test_freezing_statements(tmp_path, freeze, trainable):
    text = textwrap.dedent("""\
        import keras
        from keras import layers
        model = keras.Sequential()
        model.add(layers.Dense(32, activation="relu", input_shape=(784,)))
        model.add(layers.Dense(32, activation="relu", name="hidden"))
        model.add(layers.Dense(10))
        """) + freeze + "\n"
    c = counts(tmp_path, text)
    assert c["total"] == 26506
    assert c["trainable"] == trainable


def test_trainable_argument_and_a_frozen_base_model(tmp_path):
    c = counts(tmp_path, """\
        from tensorflow import keras
        base = keras.Sequential([keras.layers.Dense(16, input_shape=(8,)),
                                 keras.layers.BatchNormalization()], name="base")
        base.trainable = False
        model = keras.Sequential([base, keras.layers.Dense(4, trainable=False),
                                  keras.layers.Dense(1)])
        model.compile("adam", "mse")
        """)
    assert c == {"total": 144 + 64 + 68 + 5, "trainable": 5, "non_trainable": 144 + 64 + 68}
    c = counts(tmp_path, """\
        import keras
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)], trainable=False)
        """)
    assert c["trainable"] == 0


def test_torch_freezing(tmp_path):
    head = """\
        import torch
        from torch import nn
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        """
    for freeze, trainable in [
        ("for p in model.parameters():\n    p.requires_grad = False", 0),
        ("for param in model[0].parameters():\n    param.requires_grad = False", 68),
        ("model[0].requires_grad_(False)", 68),
        ("model.requires_grad_(False)\nmodel[2].requires_grad_(True)", 68),
    ]:
        c = counts(tmp_path, textwrap.dedent(head) + freeze + "\n")
        assert c["total"] == 144 + 68 and c["trainable"] == trainable, freeze
    bn = textwrap.dedent(head).replace("nn.ReLU()", "nn.BatchNorm1d(16)")
    with pytest.raises(DefinitionError, match="running statistics") as e:
        load_script(write(tmp_path, bn + "model[1].requires_grad_(False)\n"))
    assert "model.py:3:" in str(e.value)


@pytest.mark.parametrize("stmt, match", [
    ("model.load_weights('weights.h5')", "load_weights"),
    ("model.set_weights(w)", "set_weights"),
    ("model.layers.pop()", "model.layers"),
    ("model.layers[0].kernel_initializer = 'zeros'", "kernel_initializer"),
    ("model.layers[0] = keras.layers.Dense(3)", "replaces part of a model"),
    ("model.optimizer.learning_rate = 0.1", "optimizer"),
    ("model.optimizer.learning_rate *= 0.1", "optimizer"),
    ("model.layers[0].units += 1", "units"),
    ("model.train_on_batch(x, y)", "train_on_batch"),
    ("model.layers[-1].bias.assign([0.0, 0.0])", "bias.assign"),  # tfdocs imbalanced_data
    ("model.get_layer('dense').kernel.assign_add(0.1)", "kernel.assign_add"),
    ("model.weights[0].assign(w)", "model.weights.0..assign"),
    ("w = model.layers[0].kernel\nw.assign_sub(w)", "w.assign_sub"),
    ("model.optimizer.learning_rate.assign(0.1)", "optimizer.learning_rate.assign"),
    ("model.fit(x, y)\nmodel.layers[0].trainable = False", "after model.fit"),
    ("if args.freeze:\n    model.layers[0].trainable = False", "condition"),
    ("for l in layers_from_config:\n    l.trainable = False", "loop"),
    ("model.layers[0].trainable = freeze_flag", "trainable"),
    ("for n, p in model.named_parameters():\n    if 'kernel' in n:\n        "
     "p.requires_grad = False", "loop"),
])
def test_statements_that_change_the_model_are_refused_with_their_line(tmp_path, stmt, match):
    text = textwrap.dedent("""\
        import keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        """) + stmt + "\n"
    with pytest.raises(DefinitionError, match=match) as e:
        load_script(write(tmp_path, text))
    assert "model.py:3:" in str(e.value) or "model.py:4:" in str(e.value)


def test_code_beside_the_model_is_skipped_and_listed(tmp_path):
    p = write(tmp_path, """\
        import keras
        import matplotlib.pyplot as plt
        import numpy as np
        data = np.load("data.npz")
        print("hello")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.summary()
        keras.utils.plot_model(model)
        plt.plot([1, 2])
        plt.show()
        """)
    defn = load_script(p)
    line = [n for n in defn.notes if "not run" in n]
    assert line == [f"{p}: not run (they do not build or change the model): lines 4-5, 7-10"]
    r = CliRunner().invoke(cli, ["summary", str(p)])
    assert r.exit_code == 0 and "not run" in r.output and "Total params: 10" in r.output


def test_build_reports_parameter_counts_everywhere(tmp_path):
    p = write(tmp_path, GUIDE)
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["build", str(p), "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "report.json").read_text())
    assert rep["parameters"] == {"total": 27562, "trainable": 330, "non_trainable": 27232}
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert json.loads(meta["seqc.parameters"]) == rep["parameters"]


# ---------------------------------------------------------------- against Keras


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


FREEZE_BN = """\
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input(shape=(6,)),
        layers.Dense(8, activation="relu"),
        layers.BatchNormalization(),
        layers.Dense(8, activation="relu"),
        layers.Dense(3, activation="softmax"),
    ])
    for layer in model.layers[:-2]:
        layer.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05),
                  loss="sparse_categorical_crossentropy")
    """


def test_freeze_loop_trains_as_keras_step_for_step(tmp_path, keras):
    defn = load_script(write(tmp_path, FREEZE_BN))
    m = defn.model
    m.compile(**defn.compile)
    km = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                           keras.layers.BatchNormalization(),
                           keras.layers.Dense(8, activation="relu"),
                           keras.layers.Dense(3, activation="softmax")])
    for layer in km.layers[:-2]:
        layer.trainable = False
    km.set_weights(m.get_weights())
    km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05),
               loss="sparse_categorical_crossentropy")
    assert sum(int(np.prod(w.shape)) for w in km.trainable_weights) == parameter_counts(
        m.graph)["trainable"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype("float32") * 3 + 1
    y = rng.integers(0, 3, 40)
    start = m.get_weights()
    for step in range(4):  # one batch per fit call: weights compared after every step
        m.fit(x, y, epochs=1, batch_size=40, shuffle=False, verbose=0)
        km.fit(x, y, epochs=1, batch_size=40, shuffle=False, verbose=0)
        for ours, theirs in zip(m.get_weights(), km.get_weights()):
            np.testing.assert_allclose(ours, theirs, atol=1e-6, err_msg=f"step {step}")
    after = m.get_weights()
    for i in range(6):  # Dense 1 and the frozen BatchNormalization (moving stats too)
        np.testing.assert_array_equal(after[i], start[i])
    assert not np.array_equal(after[-1], start[-1])


def test_freezing_subclassed_models(tmp_path):
    torch_net = (tmp_path / "g.py")
    torch_net.write_text(textwrap.dedent("""\
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self, num_classes=10):
                super().__init__()
                self.features = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2))
                self.fc1 = nn.Linear(8 * 13 * 13, 32)
                self.fc2 = nn.Linear(32, num_classes)

            def forward(self, x):
                x = self.features(x)
                x = torch.flatten(x, 1)
                x = F.relu(self.fc1(x))
                return self.fc2(x)

        # seqc: input_shape = [1, 28, 28]
        model = Net(num_classes=5).to("cpu")
        for p in model.features.parameters():
            p.requires_grad = False
        model.fc1.requires_grad_(False)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        """))
    c = parameter_counts(load_script(torch_net).model.graph)
    assert c == {"total": 80 + 43296 + 165, "trainable": 165, "non_trainable": 80 + 43296}
    bad = torch_net.read_text() + "model.load_state_dict(torch.load('w.pt'))\n"
    torch_net.write_text(bad)
    with pytest.raises(DefinitionError, match="load_state_dict"):
        load_script(torch_net)
    c = counts(tmp_path, """\
        import keras
        class M(keras.Model):
            def __init__(self):
                super().__init__()
                self.d1 = keras.layers.Dense(16, activation="relu")
                self.d1.trainable = False
                self.d2 = keras.layers.Dense(2)
            def call(self, x):
                return self.d2(self.d1(x))
        model = M()
        model.build((None, 8))
        """)
    assert c == {"total": 144 + 34, "trainable": 34, "non_trainable": 144}


def test_a_training_loop_beside_the_model_is_skipped(tmp_path):
    c = counts(tmp_path, """\
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for epoch in range(epochs):
            for data, target in loader:
                data.requires_grad = True
                loss = F.cross_entropy(model(data), target)
                model.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    model[0].weight.data.add_(-0.1 * model[0].weight.grad)
        """)
    assert c["trainable"] == 58


def test_reloading_the_scripts_own_checkpoint(tmp_path):
    head = textwrap.dedent("""\
        import torch
        import torch.nn as nn
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        PATH = "model.pth"
        """)
    defn = load_script(write(tmp_path, head + textwrap.dedent("""\
        torch.save(model.state_dict(), PATH)
        model.load_state_dict(torch.load(PATH, weights_only=True))
        """)))
    assert any("reloads the weights the script saved at line 5" in n for n in defn.notes)
    with pytest.raises(DefinitionError, match="load_state_dict"):
        load_script(write(tmp_path, head + "model.load_state_dict(torch.load('other.pth'))\n"))
    keras_head = textwrap.dedent("""\
        import keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile("adam", "mse")
        model.fit(x, y, epochs=2)
        model.save_weights("w.weights.h5")
        model.load_weights("w.weights.h5")
        """)
    load_script(write(tmp_path, keras_head))
    with pytest.raises(DefinitionError, match="trains again"):
        load_script(write(tmp_path, keras_head + "model.fit(x, y, epochs=3)\n"))
    # the initial weights of another model with other layers, saved and loaded into a fresh
    # one (tfdocs' imbalanced_data, with the same layers, is read: test_pyscript_validation)
    with pytest.raises(DefinitionError, match="model.py:7:1: .* saved at line 6 from a model "
                                              "whose layers seqc cannot match"):
        load_script(write(tmp_path, """\
            import keras
            def make_model(units=2):
                return keras.Sequential([keras.Input((4,)), keras.layers.Dense(units)])
            model = make_model(units=3)
            model = make_model()
            make_model(units=3).save_weights("initial.weights.h5")
            model.load_weights("initial.weights.h5")
            """))


def test_reading_a_models_variables_is_not_a_change(tmp_path):
    defn = load_script(write(tmp_path, """\
        import keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        print(model.optimizer.learning_rate.numpy(), model.layers[0].kernel.shape)
        k = model.weights[0].numpy()
        """))
    assert defn.model.count_params() == 10


def test_a_loop_that_changes_another_model_does_not_concern_the_model_built(tmp_path):
    text = """\
        import torch.nn as nn
        policy_net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        target_net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        for episode in range(num_episodes):
            target_net.load_state_dict(policy_net.state_dict())
        """
    assert counts(tmp_path, text.replace("policy_net =", "model =").replace(
        "policy_net.state", "model.state"))["total"] == 58
    p = write(tmp_path, text)
    with pytest.raises(DefinitionError, match="load_state_dict") as e:
        load_script(p, bindings=Bindings(model="target_net"))
    assert "model.py:5:" in str(e.value) or "model.py:4:" in str(e.value)


def test_callbacks_that_only_show_progress_and_fit_arguments_seqc_does_not_read(tmp_path):
    head = textwrap.dedent("""\
        import keras
        import tensorflow_docs as tfdocs
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile("adam", "mse")
        def on_epoch_end(epoch, _):
            print(model.predict(x[:1]))
        """)
    defn = load_script(write(tmp_path, head + textwrap.dedent("""\
        cb = keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)
        model.fit(x, y, epochs=3, callbacks=[cb, tfdocs.modeling.EpochDots(),
                                            keras.callbacks.EarlyStopping(monitor="loss")],
                  validation_data=(xv, yv))
        """)))
    assert [c["type"] for c in defn.fit["callbacks"]] == ["EarlyStopping"]
    assert sum("not run" in n and "LambdaCallback" in n for n in defn.notes) == 1
    assert any("validation_data" in n for n in defn.notes)
    with pytest.raises(DefinitionError, match="may change the model"):
        load_script(write(tmp_path, head + textwrap.dedent("""\
            def lower(epoch, _):
                model.optimizer.learning_rate = 0.1
            model.fit(x, y, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lower)])
            """)))
    with pytest.raises(DefinitionError, match="EarlyStopping watches val_loss"):
        load_script(write(tmp_path, head + "model.fit(x, y, validation_data=(xv, yv), "
                                           "callbacks=[keras.callbacks.EarlyStopping()])\n"))
    load_script(write(tmp_path, head + "model.fit(x, y, validation_split=0.2, callbacks="
                                       "[keras.callbacks.EarlyStopping()])\n"))
    for arg in ("sample_weight=w", "validation_steps=3"):
        with pytest.raises(DefinitionError, match=arg.split("=")[0]):
            load_script(write(tmp_path, head + f"model.fit(x, y, {arg})\n"))
    # steps_per_epoch on arrays is read (seqc.training.steps; test_pyscript_validation)
    defn = load_script(write(tmp_path, head + "model.fit(x, y, steps_per_epoch=10)\n"))
    assert defn.fit["steps_per_epoch"] == 10
    # ModelCheckpoint saving every epoch, then loading it back: the trained weights
    defn = load_script(write(tmp_path, head + textwrap.dedent("""\
        cp = keras.callbacks.ModelCheckpoint(filepath="cp.weights.h5", save_weights_only=True)
        model.fit(x, y, epochs=3, callbacks=[cp])
        model.load_weights("cp.weights.h5")
        """)))
    assert any("reloads the weights" in n for n in defn.notes)
    assert defn.fit["callbacks"] == []  # its files are the script's own run's, not seqc's
    assert any("writes files during training" in n for n in defn.notes)
    with pytest.raises(DefinitionError, match="load_weights"):
        load_script(write(tmp_path, head + textwrap.dedent("""\
            cp = keras.callbacks.ModelCheckpoint("best.weights.h5", save_best_only=True)
            model.fit(x, y, epochs=3, callbacks=[cp])
            model.load_weights("best.weights.h5")
            """)))


def test_layers_another_model_trained_first_are_refused(tmp_path):
    text = textwrap.dedent("""\
        import keras
        norm = keras.layers.Normalization(mean=[0.0] * 4, variance=[1.0] * 4)
        d1 = keras.layers.Dense(8)
        model_a = keras.Sequential([keras.Input((4,)), norm, d1, keras.layers.Dense(2)])
        model_a.compile("adam", "mse")
        model_a.fit(x, y)
        model_b = keras.Sequential([keras.Input((4,)), norm, d1, keras.layers.Dense(3)])
        model_b.compile("adam", "mse")
        model_b.fit(x2, y2)
        """)
    with pytest.raises(DefinitionError, match="model_a is trained") as e:
        load_script(write(tmp_path, text), bindings=Bindings(model="model_b"))
    assert "model.py:4:" in str(e.value)
    # a shared layer fit does not change (a fixed Normalization) is no obstacle
    ok = text.replace("norm, d1, keras.layers.Dense(3)", "norm, keras.layers.Dense(3)")
    assert load_script(write(tmp_path, ok), bindings=Bindings(model="model_b")).model


def test_a_second_fit_continues_training(tmp_path):
    head = textwrap.dedent("""\
        import keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile("adam", "mse")
        """)
    # the same fit run by a loop: one fit with the epochs summed (Keras' addition example)
    defn = load_script(write(tmp_path, head + textwrap.dedent("""\
        for iteration in range(1, 200):
            model.fit(x, y, batch_size=128, epochs=1, validation_data=(xv, yv))
        """)))
    assert defn.fit == {"batch_size": 128, "epochs": 199}
    assert any("fit runs 199 times" in n for n in defn.notes)
    # two different fits, or a repeated fit with callbacks, are refused
    for tail in ("model.fit(x, y, epochs=5)\nmodel.fit(x, y, epochs=5, batch_size=8)\n",
                 "for i in range(3):\n    model.fit(x, y, callbacks=["
                 "keras.callbacks.EarlyStopping(monitor='loss')])\n"):
        with pytest.raises(DefinitionError, match="trains the model again"):
            load_script(write(tmp_path, head + tail))


def test_a_compile_after_fit_does_not_change_training(tmp_path):
    defn = load_script(write(tmp_path, """\
        import keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=2)
        model.compile(optimizer="sgd", loss="mae", metrics=["mse"])
        model.evaluate(x, y)
        """))
    assert defn.compile == {"optimizer": "adam", "loss": "mse"}
    assert any("comes after the fit at line 4" in n for n in defn.notes)
