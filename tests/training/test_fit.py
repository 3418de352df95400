"""The fit loop end to end: convergence, determinism, validation split, fused gradients,
weights, input checks, evaluate/predict, and agreement with Keras when it is importable."""

from __future__ import annotations

import os

import numpy as np
import pytest

import seqc
from seqc.errors import DataError, DefinitionError, UsageError
from seqc.ops import REGISTRY
from seqc.training import checks, executor, loss_heads, losses
from seqc.training.callbacks import Callback

L = seqc.layers


def blobs(n=400, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] - 0.5 * x[:, 1] > 0).astype(np.float32)
    return x, y


def binary_model(d=4, seed=0, hidden=8, **extra):
    layers = [L.Input((d,)), L.Dense(hidden, activation="relu"), *extra.get("mid", []),
              L.Dense(1, activation="sigmoid")]
    return seqc.Sequential(layers, seed=seed)


def softmax_model(d=4, k=3, seed=0):
    return seqc.Sequential([L.Input((d,)), L.Dense(8, activation="tanh"),
                            L.Dense(k, activation="softmax")], seed=seed)


def test_binary_problem_trains_to_high_accuracy_with_adam():
    x, y = blobs()
    m = binary_model()
    m.compile(optimizer=seqc.optimizers.Adam(learning_rate=0.02), loss="binary_crossentropy",
              metrics=["accuracy"])
    h = m.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert h is m.history
    assert h.epoch == list(range(15))
    assert list(h.history) == ["loss", "accuracy"]
    assert h.history["loss"][-1] < h.history["loss"][0] * 0.5
    assert h.history["accuracy"][-1] > 0.95
    loss, acc = m.evaluate(x, y, verbose=0)
    assert acc > 0.95 and loss < 0.2
    for v in m.params.values():
        assert v.dtype == np.float32


def test_same_seed_same_weights_and_a_different_seed_differs():
    x, y = blobs()
    have_dropout = "Dropout" in REGISTRY
    mid = [L.Dropout(0.3)] if have_dropout else []

    def run(seed):
        m = binary_model(mid=mid)
        m.compile("adam", "binary_crossentropy")
        m.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=seed)
        return m.get_weights()

    a, b, c = run(1), run(1), run(2)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a, c))


def test_resuming_with_initial_epoch_replays_the_same_epochs():
    x, y = blobs()
    m1 = binary_model()
    m1.compile("adam", "binary_crossentropy")
    m1.fit(x, y, epochs=3, verbose=0)
    m2 = binary_model()
    m2.compile("adam", "binary_crossentropy")
    m2.fit(x, y, epochs=1, verbose=0)
    h = m2.fit(x, y, epochs=3, initial_epoch=1, verbose=0)
    assert h.epoch == [1, 2]
    for w1, w2 in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(w1, w2)


def test_validation_split_takes_the_last_fraction_before_shuffling():
    x, y = blobs(100)
    m = binary_model()
    m.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=2, batch_size=10, validation_split=0.25, verbose=0)
    # Same as training on the first 75 rows with the last 25 as validation_data.
    ref = binary_model()
    ref.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    h2 = ref.fit(x[:75], y[:75], epochs=2, batch_size=10, validation_data=(x[75:], y[75:]),
                 verbose=0)
    for w1, w2 in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(w1, w2)
    assert h.history == h2.history
    assert list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    val_loss, val_acc = m.evaluate(x[75:], y[75:], verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert h.history["val_accuracy"][-1] == pytest.approx(val_acc)


@pytest.mark.parametrize("kind", ["softmax", "sparse_softmax", "sigmoid"])
def test_fused_gradient_equals_unfused_in_float64(kind):
    rng = np.random.default_rng(3)
    if kind == "sigmoid":
        m = seqc.Sequential([L.Input((4,)), L.Dense(3, activation="sigmoid")])
        loss = losses.get("binary_crossentropy")
        y = rng.integers(0, 2, (6, 3)).astype(np.float64)
    else:
        m = softmax_model()
        loss = losses.get("categorical_crossentropy" if kind == "softmax"
                          else "sparse_categorical_crossentropy")
        ids = rng.integers(0, 3, 6)
        y = np.eye(3)[ids] if kind == "softmax" else ids
    graph = m.graph
    fused = loss_heads.fused_activation(graph)
    assert fused == ("sigmoid" if kind == "sigmoid" else "softmax", len(graph.nodes) - 2)
    params = {k: v.astype(np.float64) for k, v in m.params.items()}
    x = rng.normal(size=(6, 4)) * 0.5
    sw = rng.uniform(0.5, 2.0, 6)
    from seqc.ops.base import RunContext
    y_pred, tape = executor.forward(graph, params, x, RunContext(training=True))
    assert y_pred.dtype == np.float64
    v1, g1, start = loss_heads.loss_and_grad(loss, fused, y, y_pred, sw)
    assert start == fused[1]
    v2, g2, start2 = loss_heads.loss_and_grad(loss, None, y, y_pred, sw)
    assert start2 is None and v1 == pytest.approx(v2, rel=1e-12)
    fused_grads = executor.backward(graph, params, tape, g1, start=start)
    plain_grads = executor.backward(graph, params, tape, g2)
    assert set(fused_grads) == set(plain_grads) == set(params)
    for k in params:
        np.testing.assert_allclose(fused_grads[k], plain_grads[k], rtol=1e-9, atol=1e-12)


def test_no_fusion_for_other_endings():
    m = seqc.Sequential([L.Input((4,)), L.Dense(3, activation="relu")])
    assert loss_heads.fused_activation(m.graph) is None
    m = seqc.Sequential([L.Input((4,)), L.Dense(3)])
    assert loss_heads.fused_activation(m.graph) is None
    if "Softmax" in REGISTRY:
        m = seqc.Sequential([L.Input((4,)), L.Dense(3), L.Softmax()])
        assert loss_heads.fused_activation(m.graph) == ("softmax", 0)
        m = seqc.Sequential([L.Input((2, 4)), L.Dense(3), L.Softmax(axis=1)])
        assert loss_heads.fused_activation(m.graph) is None


def test_class_weight_equals_the_same_sample_weight_and_both_is_an_error():
    x, y = blobs(64)
    cw = {0: 1.0, 1: 5.0}

    def run(**kw):
        m = binary_model()
        m.compile("sgd", "binary_crossentropy")
        m.fit(x, y, epochs=2, batch_size=16, verbose=0, **kw)
        return m.get_weights()

    with_cw = run(class_weight=cw)
    with_sw = run(sample_weight=np.where(y == 1, 5.0, 1.0))
    plain = run()
    for a, b in zip(with_cw, with_sw):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert any(not np.allclose(a, b) for a, b in zip(with_cw, plain))
    m = binary_model()
    m.compile("sgd", "binary_crossentropy")
    with pytest.raises(UsageError, match="You cannot `class_weight` and `sample_weight`"):
        m.fit(x, y, class_weight=cw, sample_weight=np.ones(64), verbose=0)


def test_class_weight_rule_matches_keras_for_one_hot_and_ids():
    sw = checks.class_weight_to_sample_weights(np.eye(3, dtype=np.float32)[[0, 2, 1]], {2: 3.0})
    np.testing.assert_array_equal(sw, [1, 3, 1])
    sw = checks.class_weight_to_sample_weights(np.array([0, 1, 1]), {0: 0.5, 1: 2})
    np.testing.assert_array_equal(sw, [0.5, 2, 2])


def test_sample_weight_zero_rows_do_not_train():
    x, y = blobs(32)
    m = binary_model()
    m.compile("sgd", "binary_crossentropy")
    before = m.get_weights()
    m.fit(x, y, sample_weight=np.zeros(32), epochs=1, verbose=0)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- input checks

def compiled(loss="binary_crossentropy", model=None):
    m = model or binary_model()
    m.compile("sgd", loss)
    return m


def test_nan_and_inf_name_the_array_and_row():
    x, y = blobs(20)
    x[7, 2] = np.nan
    with pytest.raises(DataError, match=r"x holds a non-finite value \(NaN\) in row 7, column 2"):
        compiled().fit(x, y, verbose=0)
    x, y = blobs(20)
    y[3] = np.inf
    with pytest.raises(DataError, match=r"y holds a non-finite value \(\+Inf\) in row 3"):
        compiled().fit(x, y, verbose=0)
    with pytest.raises(DataError, match="validation_data x.*row 1"):
        compiled().fit(*blobs(20), validation_data=(np.array([[0, 0, 0, 0], [np.inf, 0, 0, 0]]),
                                                    np.zeros(2)), verbose=0)


def test_feature_count_mismatch_says_expected_and_received():
    x, y = blobs(20, d=5)
    with pytest.raises(DataError, match="5 features per sample but the model expects 4") as e:
        compiled().fit(x, y, verbose=0)
    assert "(20, 5)" in str(e.value)
    m = seqc.Sequential([L.Input((1,)), L.Dense(1)])
    m.compile("sgd", "mse")
    with pytest.raises(DataError, match=r"reshape\(-1, 1\)"):
        m.fit(np.zeros(10), np.zeros(10), verbose=0)


def test_length_mismatch_and_empty_data():
    x, y = blobs(20)
    with pytest.raises(DataError, match="x and y have different numbers of samples") as e:
        compiled().fit(x, y[:19], verbose=0)
    assert "20" in str(e.value) and "19" in str(e.value)
    with pytest.raises(DataError, match="empty"):
        compiled().fit(np.zeros((0, 4)), np.zeros(0), verbose=0)
    with pytest.raises(DataError, match="numeric"):
        compiled().fit(np.array([["a"] * 4]), np.zeros(1), verbose=0)


def test_categorical_crossentropy_with_integer_labels_hints_sparse():
    x = np.zeros((6, 4), np.float32)
    for y in (np.array([0, 1, 2, 0, 1, 2]), np.array([[0], [1], [2], [0], [1], [2]])):
        with pytest.raises(DataError, match="one-hot") as e:
            compiled("categorical_crossentropy", softmax_model()).fit(x, y, verbose=0)
        assert "sparse_categorical_crossentropy" in str(e.value)


def test_sparse_crossentropy_with_one_hot_hints_categorical():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(DataError, match="one integer class id") as e:
        compiled("sparse_categorical_crossentropy", softmax_model()).fit(x, np.eye(3), verbose=0)
    assert "categorical_crossentropy" in e.value.hint
    with pytest.raises(DataError, match="row 1"):
        compiled("sparse_categorical_crossentropy", softmax_model()).fit(
            x, np.array([0, 1.5, 2]), verbose=0)


def test_out_of_range_class_ids_name_the_row():
    x = np.zeros((4, 4), np.float32)
    with pytest.raises(DataError, match=r"class id 3 in row 2 .*outside \[0, 3\)") as e:
        compiled("sparse_categorical_crossentropy", softmax_model()).fit(
            x, np.array([0, 2, 3, 1]), verbose=0)
    assert "at least 4" in e.value.hint
    with pytest.raises(DataError, match="class id -1 in row 0"):
        compiled("sparse_categorical_crossentropy", softmax_model()).fit(
            x, np.array([-1, 2, 0, 1]), verbose=0)


def test_binary_labels_outside_0_1_and_output_width():
    x = np.zeros((4, 4), np.float32)
    with pytest.raises(DataError, match=r"must be in \[0, 1\]; row 2"):
        compiled().fit(x, np.array([0, 1, 2, 1]), verbose=0)
    with pytest.raises(DataError, match="outputs 1 value") as e:
        compiled().fit(x, np.eye(4)[:, :2], verbose=0)
    assert "softmax" in e.value.hint
    with pytest.raises(DataError, match="outputs 3 value"):
        compiled("mse", softmax_model()).fit(x, np.zeros((4, 2)), verbose=0)


def test_argument_errors():
    x, y = blobs(20)
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(DataError, match=r"validation_split must be in \[0, 1\)"):
            compiled().fit(x, y, validation_split=bad, verbose=0)
    with pytest.raises(DataError, match="not sufficient to split"):
        compiled().fit(x[:1], y[:1], validation_split=0.3, verbose=0)
    with pytest.raises(UsageError, match="compiled before fit"):
        binary_model().fit(x, y)
    with pytest.raises(UsageError, match="did you mean 'epochs'"):
        compiled().fit(x, y, epoch=3)
    with pytest.raises(UsageError, match="batch_size"):
        compiled().fit(x, y, batch_size=0)
    with pytest.raises(DefinitionError, match="did you mean"):
        binary_model().compile("adam", "binary_crossentropy", metrics=["acuracy"])


def test_sparse_labels_stay_integer_and_float_ids_are_accepted():
    m = compiled("sparse_categorical_crossentropy", softmax_model())
    y = checks.prepare_y(m, m.compiled.loss, np.array([[0.0], [2.0]]), 2)
    assert y.dtype == np.int64 and y.shape == (2,)
    m = compiled()
    y = checks.prepare_y(m, m.compiled.loss, np.array([0, 1]), 2)
    assert y.dtype == np.float32 and y.shape == (2, 1)


# ---------------------------------------------------------------- evaluate / predict

def test_evaluate_and_predict_shapes():
    x, y = blobs(50)
    m = binary_model()
    m.compile("adam", "binary_crossentropy")
    assert isinstance(m.evaluate(x, y, verbose=0), float)
    m.compile("adam", "binary_crossentropy", metrics=["accuracy", "auc"])
    out = m.evaluate(x, y, verbose=0, batch_size=7)
    assert isinstance(out, list) and len(out) == 3
    d = m.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == ["loss", "accuracy", "auc"]
    assert d["loss"] == pytest.approx(out[0], rel=1e-6)
    p = m.predict(x, batch_size=7)
    assert p.shape == (50, 1) and p.dtype == np.float32
    np.testing.assert_allclose(p, m.predict(x), rtol=1e-6)
    # The loss is averaged over samples, whatever the batch size.
    full = losses.get("binary_crossentropy")(y, p)
    assert d["loss"] == pytest.approx(full, rel=1e-5)


def test_callback_protocol_and_stop_training():
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"epoch_begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            calls.append(f"batch {batch} {sorted(logs)}")
            if batch == 1:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"epoch_end {epoch}")

        def on_train_end(self, logs=None):
            calls.append("train_end")

    x, y = blobs(64)
    m = compiled()
    h = m.fit(x, y, epochs=5, batch_size=16, callbacks=[Recorder()], verbose=0)
    assert calls == ["train_begin", "epoch_begin 0", "batch 0 ['loss']", "batch 1 ['loss']",
                     "epoch_end 0", "train_end"]
    assert h.epoch == [0]


def test_progress_output(capsys):
    x, y = blobs(40)
    m = compiled()
    m.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=2, batch_size=16, validation_split=0.5, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "2/2" in out and "- loss: " in out and "- val_accuracy: " in out
    m.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.skipif("Normalization" not in REGISTRY, reason="no Normalization kind")
def test_normalization_is_adapted_once_before_training():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(200, 3)) * [1.0, 10.0, 0.1] + [5.0, -3.0, 1.0]).astype(np.float32)
    y = (x[:, 0] > 5).astype(np.float32)
    m = seqc.Sequential([L.Input((3,)), L.Normalization(), L.Dense(1, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy")
    m.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_allclose(m.params["normalization/mean"].ravel(), x.mean(0), rtol=1e-4)
    np.testing.assert_allclose(m.params["normalization/variance"].ravel(), x.var(0), rtol=1e-4)
    m.fit(x + 100, y, epochs=1, verbose=0)  # a second fit keeps the statistics
    np.testing.assert_allclose(m.params["normalization/mean"].ravel(), x.mean(0), rtol=1e-4)


# ---------------------------------------------------------------- against Keras

@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy",
                                  "binary_crossentropy"])
def test_two_epochs_sgd_match_keras(keras, loss):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 6)).astype("float32")  # 50 = 3 batches of 16 + one of 2
    k, act = (1, "sigmoid") if loss.startswith("binary") else (3, "softmax")
    ids = rng.integers(0, max(k, 2), 50)
    y = np.eye(3, dtype="float32")[ids] if loss.startswith("categorical") else ids
    m = seqc.Sequential([L.Input((6,)), L.Dense(8, activation="relu"),
                         L.Dense(k, activation=act)])
    m.compile(seqc.optimizers.SGD(learning_rate=0.1), loss, metrics=["accuracy"])
    km = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                           keras.layers.Dense(k, activation=act)])
    km.set_weights(m.get_weights())
    km.compile(keras.optimizers.SGD(learning_rate=0.1), loss, metrics=["accuracy"])
    kh = km.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    h = m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for ours, theirs in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(h.history[key], kh.history[key], rtol=1e-5, atol=1e-6)
    ev = m.evaluate(x, y, verbose=0, return_dict=True)
    kev = km.evaluate(x, y, verbose=0, return_dict=True)
    assert ev["loss"] == pytest.approx(kev["loss"], rel=1e-5)
    assert ev["accuracy"] == pytest.approx(kev["accuracy"])


def test_metric_that_cannot_read_the_labels_is_a_data_error():
    import seqc
    from seqc.errors import DataError

    m = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(3, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["mae"])
    x = np.zeros((8, 4), np.float32)
    with pytest.raises(DataError, match="metric 'mae'"):
        m.fit(x, np.arange(8) % 3, epochs=1, verbose=0, batch_size=5)


def test_bad_variance_scaling_mode_is_a_definition_error():
    from seqc.errors import DefinitionError
    from seqc.training.initializers import get

    with pytest.raises(DefinitionError, match="did you mean 'fan_avg'"):
        get({"type": "VarianceScaling", "mode": "fan_bad"})
