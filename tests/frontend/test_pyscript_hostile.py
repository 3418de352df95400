"""Hostile code in the reading paths this frontend follows: bodies of forward()/call()/__init__,
Lambda bodies, argparse defaults, freeze loops, builder functions, data-binding expressions and
--define values. Whatever the outcome (read, or refused with a line), nothing runs: no canary
file appears, no module is imported, and reading stays fast."""

from __future__ import annotations

import textwrap
import time

import numpy as np
import pytest

from seqc.errors import DefinitionError, UsageError
from seqc.frontend import Bindings, parse_defines
from seqc.frontend.pyscript import load_script

EVIL = "__import__('os').system('touch ' + CANARY)"

SCRIPTS = {
    "torch-forward": f"""
        import torch.nn as nn
        import torch.nn.functional as F
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                {EVIL}
                self.fc = nn.Linear(4, 2)
            def forward(self, x):
                {EVIL}
                open(CANARY, 'w')
                return F.relu(self.fc(x))
        model = Net()
        """,
    "torch-lambda": f"""
        import torch.nn as nn
        class Lambda(nn.Module):
            def __init__(self, func):
                super().__init__()
                self.func = func
            def forward(self, x):
                return self.func(x)
        model = nn.Sequential(Lambda(lambda x: {EVIL}), nn.Linear(4, 2))
        """,
    "keras-call": f"""
        import keras
        class M(keras.Model):
            def __init__(self):
                super().__init__()
                {EVIL}
                self.d = keras.layers.Dense(2)
            def call(self, x):
                open(CANARY, 'w')
                return self.d(x)
        model = M()
        model.build((None, 4))
        """,
    "keras-lambda": f"""
        import keras
        model = keras.Sequential([keras.Input((4,)),
                                  keras.layers.Lambda(lambda x: {EVIL}),
                                  keras.layers.Dense(2)])
        """,
    "argparse-default": f"""
        import argparse
        import keras
        parser = argparse.ArgumentParser()
        parser.add_argument('--units', type=int, default={EVIL})
        args = parser.parse_args()
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(args.units)])
        """,
    "freeze-loop": f"""
        import keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                                  keras.layers.Dense(2)])
        for layer in model.layers[:-1]:
            {EVIL}
            layer.trainable = False
        """,
    "builder-kfold": f"""
        import keras
        def build_model():
            {EVIL}
            m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
            m.compile('adam', 'mse')
            return m
        for k in range(3):
            model = build_model()
            model.fit(x_train[k], y_train[k])
        """,
    "fit-data": f"""
        import keras
        x_train = {EVIL}
        x_train = x_train.astype('float32') / open(CANARY, 'w')
        model = keras.Sequential([keras.layers.Dense(2)])
        model.compile('adam', 'mse')
        model.fit(x_train, {EVIL})
        """,
    "data-expressions": f"""
        import numpy as np
        import keras
        n = len(np.unique(y, {EVIL}))
        m = x.reshape({EVIL}).shape[1]
        model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(2)])
        model.get_layer({EVIL})
        model.compile('adam', 'mse')
        model.fit(x, y)
        """,
    "torch-graph-helpers": f"""
        import torch
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = self.make({EVIL})
                self.block = self.make(4)
            def make(self, n):
                {EVIL}
                return nn.Linear(4, 4)
            def helper(self, x):
                {EVIL}
                return x + self.block(x)
            def forward(self, x):
                y = torch.cat([self.helper(x), x + {EVIL}], dim=1)
                return self.fc(y)
        model = Net()
        """,
    "keras-graph": f"""
        import keras
        from keras import layers
        def block(x):
            {EVIL}
            return layers.add([x, layers.Dense(4)(x)])
        inputs = keras.Input(shape=(4,))
        x = block(inputs) * {EVIL}
        y = layers.concatenate([block(inputs), x], axis={EVIL})
        model = keras.Model(inputs, y)
        """,
    "keras1-lambda-initializer": f"""
        import keras
        from keras.initializations import normal, identity
        model = keras.Sequential([keras.Input((3, 4)), keras.layers.SimpleRNN(
            4, init=lambda shape, name: normal({EVIL}, scale=0.1, name=name),
            inner_init=lambda shape, name: identity(shape, scale={EVIL}, name=name))])
        """,
    "generators": f"""
        import keras
        from keras.preprocessing.image import ImageDataGenerator
        def batches(n):
            {EVIL}
            while True:
                yield open(CANARY, 'w'), {EVIL}
        gen = batches({EVIL})
        datagen = ImageDataGenerator(preprocessing_function=lambda x: {EVIL}, rescale={EVIL})
        datagen.fit({EVIL})
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile('adam', 'mse')
        model.fit(datagen.flow(x, y, batch_size={EVIL}), epochs=1)
        model.fit_generator(gen, steps_per_epoch=2)
        """,
    "generators-read": f"""
        import keras
        from keras.preprocessing.image import ImageDataGenerator
        def batches(n, batch_size={EVIL}, steps=open(CANARY, 'w')):
            {EVIL}
            while True:
                yield open(CANARY, 'w'), {EVIL}
        model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(2)])
        model.compile('adam', 'mse')
        model.fit_generator(batches(3), steps_per_epoch=2, epochs=1,
                            validation_data=batches({EVIL}), validation_steps={EVIL},
                            workers={EVIL})
        flow = ImageDataGenerator(rotation_range=10).flow_from_directory(
            {EVIL}, target_size=(4, 4), save_to_dir={EVIL}, classes=[{EVIL}])
        model.fit(flow, steps_per_epoch=2)
        """,
    "metric-function": f"""
        import keras
        def m1(y_true, y_pred):
            return keras.metrics.mean_squared_error(y_true[:, {EVIL}], y_pred[:, {EVIL}])
        def m2(y_true, y_pred):
            {EVIL}
            return keras.metrics.mean_squared_error(y_true[:, -1], y_pred[:, -1])
        model = keras.Sequential([keras.Input((3, 4)), keras.layers.Dense(2)])
        model.compile('adam', 'mse', metrics=[m1, m2])
        """,
    "stateful-reset": f"""
        import keras
        model = keras.Sequential()
        model.add(keras.layers.LSTM(4, batch_input_shape=(2, 3, 4), stateful=True))
        model.add(keras.layers.Dense(2))
        model.compile('adam', 'mse')
        for i in range(3):
            model.fit(x, y, batch_size=2, epochs=1, shuffle=False)
            model.reset_states({EVIL})
            model.layers[0].reset_states({EVIL})
        """,
    "torch-spatial-transformer": f"""
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.loc = nn.Linear(36, 6)
                self.loc.bias.data.copy_(torch.tensor({EVIL}, dtype=torch.float))
                self.loc.weight.data.copy_(torch.tensor([{EVIL}] * 36))
            def stn(self, x):
                {EVIL}
                theta = self.loc(torch.flatten(x, 1)).view(-1, 2, 3)
                grid = F.affine_grid(theta, x.size(), align_corners={EVIL})
                return F.grid_sample(x, grid, padding_mode={EVIL})
            def forward(self, x):
                return torch.flatten(self.stn(x), 1)
        model = Net()
        shown = model.stn({EVIL})
        """,
    "torch-sampling": f"""
        import torch
        import torch.nn as nn
        class VAE(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
            def reparameterize(self, mu):
                eps = getattr(__import__('os'), 'system')('touch ' + CANARY)(mu)
                return mu + {EVIL}(torch.randn_like(mu))
            def forward(self, x):
                pre = [x]
                pre.append({EVIL})
                return self.reparameterize(self.fc(x))
        model = VAE()
        """,
    "stage-masks": f"""
        import keras
        from keras.datasets import mnist
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
        a = x_train[y_train < {EVIL}]
        b = y_train[{EVIL}] - {EVIL}
        c = x_train[y_train >= 5].reshape({EVIL}).astype({EVIL}) / {EVIL}
        d = keras.utils.to_categorical(y_train[y_train < 5], {EVIL})
        e = x_train[{EVIL} < y_train] + x_train[y_train == {EVIL}]
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile('adam', 'mse')
        model.fit(a, d, validation_data=(x_test[y_test < {EVIL}], y_test))
        model.layers[0].trainable = False
        model.compile('adam', 'mse')
        model.fit(c, b)
        """,
    "adapt": f"""
        import keras
        norm = keras.layers.Normalization()
        norm.adapt({EVIL})
        model = keras.Sequential([keras.Input((4,)), norm, keras.layers.Dense(2)])
        """,
    "validation-and-snapshots": f"""
        import numpy as np
        import keras
        def make(bias=None):
            {EVIL}
            m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
                2, bias_initializer=keras.initializers.Constant(np.log([{EVIL}])))])
            m.compile('adam', 'mse')
            return m
        x_val = {EVIL}
        y_val = np.asarray({EVIL})
        first = make(bias={EVIL})
        first.save_weights({EVIL})
        model = make()
        model.load_weights({EVIL})
        model.fit(x, y, steps_per_epoch={EVIL}, validation_data=(x_val, y_val),
                  callbacks=[keras.callbacks.EarlyStopping(monitor={EVIL})])
        """,
    "dataset-pipeline": f"""
        import keras, tensorflow as tf
        ds = tf.data.Dataset.from_tensor_slices({EVIL}).shuffle({EVIL})
        ds = ds.repeat({EVIL}).batch({EVIL}).map(lambda a, b: ({EVIL}, b))
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile('adam', 'mse')
        model.fit(ds.map(lambda a, b: (a, tf.expand_dims(b, {EVIL}))), steps_per_epoch=5,
                  validation_data=ds.map({EVIL}))
        """,
    "recurrent-states": f"""
        import keras
        from keras import layers
        a = keras.Input((5, 3))
        o, h, c = layers.LSTM(4, return_state=True)(a, initial_state={EVIL})
        g, s = layers.GRU(4, return_state={EVIL})(a, initial_state=[{EVIL}])
        d = layers.Dense(4)(a, initial_state=[h, c])
        model = keras.Model(a, layers.GRU(4)(a, initial_state=[{EVIL}, h]))
        """,
    "dataset-fit": f"""
        import keras, tensorflow as tf
        ds = tf.data.Dataset.from_tensor_slices(({EVIL}, {EVIL})).cache({EVIL})
        ds = ds.shuffle({EVIL}, seed={EVIL}, reshuffle_each_iteration={EVIL})
        ds = ds.batch({EVIL}, drop_remainder={EVIL}).repeat({EVIL}).prefetch({EVIL})
        src = keras.utils.image_dataset_from_directory({EVIL}, batch_size={EVIL},
                                                       shuffle={EVIL}, seed={EVIL})
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile('adam', 'mse')
        model.fit(ds, batch_size={EVIL}, shuffle={EVIL}, epochs=1)
        model.fit(src.shuffle({EVIL}), epochs=1)
        """,
    "dataset-map": f"""
        import keras, tensorflow as tf
        def std(s):
            {EVIL}
            return tf.strings.lower({EVIL})
        vec = keras.layers.TextVectorization(standardize=std, output_sequence_length={EVIL})
        vec.adapt({EVIL})
        def vectorize(text, label):
            {EVIL}
            text = tf.expand_dims(text, {EVIL})
            return vec(text), tf.cast(label, {EVIL})
        def helper(a, b):
            return {EVIL}.random(a), b
        src = keras.utils.text_dataset_from_directory({EVIL}, batch_size=4)
        ds = src.map(vectorize, num_parallel_calls={EVIL}, deterministic={EVIL}).cache()
        rows = tf.data.Dataset.from_tensor_slices((x, y)).batch(2).map(helper).unbatch()
        model = keras.Sequential([keras.layers.Embedding(10, 2), keras.layers.Dense(2)])
        model.compile('adam', 'mse')
        model.fit(ds.map(lambda t, l: (vec({EVIL}), l)), epochs=1)
        model.fit(rows.batch(2).map(vectorize), epochs=1)
        """,
    # past the map function's own statements: the layer's standardize, its constant
    # arguments, a map before the rows that calls script code
    "dataset-map-deep": f"""
        import keras, tensorflow as tf
        def std(s):
            return tf.strings.lower({EVIL})
        vec = keras.layers.TextVectorization(standardize=std, output_sequence_length=5)
        def vectorize(text, label):
            text = tf.expand_dims(text, -1)
            return vec(text), tf.cast(label, {EVIL})
        def helper(a, b):
            return evil_helper(a), b
        def evil_helper(a):
            return {EVIL}
        rows = tf.data.Dataset.from_tensor_slices((x, y)).batch(2).map(helper).unbatch()
        src = keras.utils.text_dataset_from_directory('d', batch_size=4)
        model = keras.Sequential([keras.layers.Embedding(10, 2), keras.layers.Dense(2)])
        model.compile('adam', 'mse')
        model.fit(rows.batch(2), epochs=1)
        model.fit(src.map(vectorize, num_parallel_calls={EVIL}), epochs=1)
        """,
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_hostile_code_in_reading_paths_never_runs(tmp_path, name):
    canary = tmp_path / "canary.txt"
    p = tmp_path / "model.py"
    p.write_text(f"CANARY = {str(canary)!r}\n" + textwrap.dedent(SCRIPTS[name]))
    x = np.zeros((6, 4), np.float32)
    y = np.zeros((6, 2), np.float32)
    for bindings in (None, Bindings(x=x, y=y, defines={"n": 2}),
                     Bindings(x=x, y=y, val_x=x[:2], val_y=y[:2])):  # validation_data's
        start = time.perf_counter()
        try:
            load_script(p, bindings=bindings)
        except DefinitionError as e:
            assert "model.py:" in str(e)
        assert time.perf_counter() - start < 5
        assert not canary.exists(), name


@pytest.mark.parametrize("value", [
    "__import__('os').system('touch CANARY')", "open('CANARY', 'w')", "(lambda: 1)()",
    "[x for x in ()]", "{**{}}",
])
def test_define_values_are_literals_never_code(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError):
        parse_defines([f"units={value}"])
    assert not (tmp_path / "CANARY").exists()
