"""fit / evaluate of models with several inputs and outputs: per-output losses, loss_weights and
metrics, trajectories and log keys against a real Keras 3 functional model (torch backend)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import seqc
from seqc.errors import UsageError
from seqc.ir.build import NodeConfig, build_dag
from seqc.ir.types import batched

RNG = np.random.default_rng(5)
N = 12
X = RNG.normal(size=(N, 5)).astype(np.float32)
YA = RNG.normal(size=(N, 2)).astype(np.float32)
YB = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, N)]
XA = RNG.normal(size=(N, 4)).astype(np.float32)
XB = RNG.normal(size=(N, 4)).astype(np.float32)
YS = (RNG.random((N, 1)) > 0.5).astype(np.float32)


def keras_or_skip():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("needs KERAS_BACKEND=torch")
    return keras


def two_head_graph():
    """A shared trunk and two heads: a regression head and a softmax classifier."""
    return build_dag("two_heads", {"x": batched((5,))}, [
        NodeConfig("Dense", {"units": 6, "activation": "tanh"}, "trunk", ["x"]),
        NodeConfig("Dense", {"units": 2}, "out_a", ["trunk"]),
        NodeConfig("Dense", {"units": 3, "activation": "softmax"}, "out_b", ["trunk"]),
    ], ["out_a", "out_b"])


def two_head_keras(keras):
    inp = keras.Input((5,), name="x")
    h = keras.layers.Dense(6, activation="tanh", name="trunk")(inp)
    a = keras.layers.Dense(2, name="out_a")(h)
    b = keras.layers.Dense(3, activation="softmax", name="out_b")(h)
    return keras.Model(inp, [a, b])


def pair_graph():
    """Two inputs through one shared encoder, compared by a sigmoid head."""
    return build_dag("pairs", {"a": batched((4,)), "b": batched((4,))}, [
        NodeConfig("Dense", {"units": 5, "activation": "tanh"}, "enc", ["a"]),
        NodeConfig("Dense", {}, "enc_b", ["b"], shared_with="enc"),
        NodeConfig("Subtract", {}, "diff", ["enc", "enc_b"]),
        NodeConfig("Multiply", {}, "prod", ["enc", "enc_b"]),
        NodeConfig("Concatenate", {}, "cat", ["diff", "prod"]),
        NodeConfig("Dense", {"units": 1, "activation": "sigmoid"}, "same", ["cat"]),
    ], ["same"])


def pair_keras(keras):
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    enc = keras.layers.Dense(5, activation="tanh", name="enc")
    ea, eb = enc(a), enc(b)
    cat = keras.layers.Concatenate()([keras.layers.Subtract()([ea, eb]),
                                      keras.layers.Multiply()([ea, eb])])
    return keras.Model([a, b], keras.layers.Dense(1, activation="sigmoid", name="same")(cat))


COMPILE = {"loss": ["mse", "categorical_crossentropy"], "loss_weights": [1.0, 0.5],
           "metrics": {"out_a": ["mae"], "out_b": ["accuracy", "mse"]}}


def test_two_output_trajectory_history_and_evaluate_match_keras():
    keras = keras_or_skip()
    model = seqc.Model(two_head_graph(), seed=3)
    kmodel = two_head_keras(keras)
    kmodel.set_weights(model.get_weights())
    model.compile(optimizer=seqc.optimizers.Adam(0.01), **COMPILE)
    kmodel.compile(optimizer=keras.optimizers.Adam(0.01), **COMPILE)
    val = (X[:5], [YA[:5], YB[:5]])
    ours = model.fit(X, [YA, YB], epochs=5, batch_size=N, shuffle=False, verbose=0,
                     validation_data=val)
    theirs = kmodel.fit(X, [YA, YB], epochs=5, batch_size=N, shuffle=False, verbose=0,
                        validation_data=val)
    assert sorted(ours.history) == sorted(theirs.history)
    assert {"out_a_loss", "out_b_loss", "out_a_mae", "out_b_accuracy",
            "val_out_b_mse"} <= set(ours.history)
    for k in theirs.history:
        np.testing.assert_allclose(ours.history[k], theirs.history[k], atol=1e-6, err_msg=k)
    for a, b in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    ev_ours = model.evaluate(X, {"out_b": YB, "out_a": YA}, verbose=0)
    ev_theirs = kmodel.evaluate(X, {"out_b": YB, "out_a": YA}, verbose=0)
    np.testing.assert_allclose(ev_ours, ev_theirs, atol=1e-6)  # same order of values
    d_ours = model.evaluate(X, [YA, YB], verbose=0, return_dict=True)
    d_theirs = kmodel.evaluate(X, [YA, YB], verbose=0, return_dict=True)
    assert sorted(d_ours) == sorted(d_theirs)


def test_two_input_shared_encoder_trajectory_matches_keras():
    keras = keras_or_skip()
    model = seqc.Model(pair_graph(), seed=4)
    kmodel = pair_keras(keras)
    kmodel.set_weights(model.get_weights())
    kw = {"loss": "binary_crossentropy", "metrics": ["accuracy"]}
    model.compile(optimizer=seqc.optimizers.SGD(0.1, momentum=0.9), **kw)
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), **kw)
    ours = model.fit({"a": XA, "b": XB}, YS, epochs=5, batch_size=N, shuffle=False, verbose=0)
    theirs = kmodel.fit({"a": XA, "b": XB}, YS, epochs=5, batch_size=N, shuffle=False,
                        verbose=0)
    assert sorted(ours.history) == sorted(theirs.history)
    np.testing.assert_allclose(ours.history["loss"], theirs.history["loss"], atol=1e-6)
    for a, b in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_sample_weight_per_output_and_a_loss_for_every_output_match_keras():
    keras = keras_or_skip()
    model = seqc.Model(two_head_graph(), seed=6)
    kmodel = two_head_keras(keras)
    kmodel.set_weights(model.get_weights())
    kw = {"loss": "mse", "weighted_metrics": [["mae"], []]}
    model.compile(optimizer=seqc.optimizers.SGD(0.05), **kw)
    kmodel.compile(optimizer=keras.optimizers.SGD(0.05), **kw)
    sw = [RNG.random(N).astype(np.float32), RNG.random(N).astype(np.float32)]
    ours = model.fit(X, [YA, YB], sample_weight=sw, epochs=3, batch_size=5, shuffle=False,
                     verbose=0, validation_split=0.25)
    theirs = kmodel.fit(X, [YA, YB], sample_weight=sw, epochs=3, batch_size=5,
                        shuffle=False, verbose=0, validation_split=0.25)
    assert sorted(ours.history) == sorted(theirs.history)
    for k in theirs.history:
        np.testing.assert_allclose(ours.history[k], theirs.history[k], atol=1e-6, err_msg=k)


def test_shuffling_permutes_every_array_alike():
    """One epoch shuffled equals one epoch unshuffled on data permuted by that epoch's
    permutation: inputs, labels and weights of every output move together."""
    kw = {"loss": {"out_a": "mse", "out_b": "categorical_crossentropy"},
          "loss_weights": {"out_a": 0.3, "out_b": 1.0}}
    sw = {"out_a": RNG.random(N), "out_b": RNG.random(N)}
    m1, m2 = seqc.Model(two_head_graph(), seed=1), seqc.Model(two_head_graph(), seed=1)
    for m in (m1, m2):
        m.compile(optimizer="adam", **kw)
    m1.fit(X, {"out_a": YA, "out_b": YB}, sample_weight=sw, batch_size=4, seed=9, verbose=0)
    p = np.random.default_rng([9, 0]).permutation(N)
    m2.fit(X[p], [YA[p], YB[p]], sample_weight=[sw["out_a"][p], sw["out_b"][p]],
           batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_early_stopping_monitors_a_per_output_key():
    model = seqc.Model(two_head_graph(), seed=2)
    model.compile(optimizer=seqc.optimizers.SGD(0.0), **COMPILE)  # nothing improves
    stop = seqc.training.callbacks.EarlyStopping(monitor="val_out_a_loss", patience=1)
    hist = model.fit(X, [YA, YB], epochs=10, validation_split=0.25, callbacks=[stop],
                     verbose=0)
    assert len(hist.history["val_out_a_loss"]) == 2


@pytest.mark.parametrize("kwargs, y, match", [
    ({"loss": ["mse"]}, [YA, YB], "list of 2"),
    ({"loss": {"out_a": "mse"}}, [YA, YB], "missing"),
    ({"loss": ["mse", None]}, [YA, YB], "no loss"),
    ({"loss": "mse", "metrics": ["mae"]}, [YA, YB], "one entry per output"),
    ({"loss": "mse", "metrics": {"out_c": "mae"}}, [YA, YB], "one entry per output"),
    ({"loss": "mse", "loss_weights": 2.0}, [YA, YB], "loss_weights"),
    ({"loss": "mse"}, YA, "one per output"),
    ({"loss": "mse"}, {"out_a": YA, "ot_b": YB}, "out_b"),
])
def test_bad_multi_output_settings_are_refused(kwargs, y, match):
    model = seqc.Model(two_head_graph())
    with pytest.raises(UsageError, match=match):
        model.compile(optimizer="sgd", **kwargs)
        model.fit(X, y, verbose=0)


def test_mismatched_inputs_and_single_weight_array_are_refused():
    model = seqc.Model(pair_graph())
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.raises(seqc.errors.DataError, match="different numbers of samples"):
        model.fit([XA, XB[:5]], YS, verbose=0)
    with pytest.raises(seqc.errors.DataError, match=r"x\['b'\]"):
        model.fit([XA, XB[:, :3]], YS, verbose=0)
    two = seqc.Model(two_head_graph())
    two.compile(optimizer="sgd", loss="mse")
    with pytest.raises(UsageError, match="one array per output"):
        two.fit(X, [YA, YB], sample_weight=np.ones(N), verbose=0)
    with pytest.raises(UsageError, match="single output"):
        two.fit(X, [YA, YB], class_weight={0: 1.0}, verbose=0)


def test_regularizer_penalties_add_once_to_the_total_loss_as_keras():
    """An L2 kernel penalty on the shared trunk and an activity penalty on a softmax head
    (which then trains unfused): added once to `loss`, not to the per-output losses."""
    keras = keras_or_skip()
    l2 = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.05},
          "registered_name": None}
    l1 = {"module": "keras.regularizers", "class_name": "L1", "config": {"l1": 0.01},
          "registered_name": None}
    graph = build_dag("reg_heads", {"x": batched((5,))}, [
        NodeConfig("Dense", {"units": 6, "activation": "tanh", "kernel_regularizer": l2},
                   "trunk", ["x"]),
        NodeConfig("Dense", {"units": 2}, "out_a", ["trunk"]),
        NodeConfig("Dense", {"units": 3, "activation": "softmax", "activity_regularizer": l1},
                   "out_b", ["trunk"]),
    ], ["out_a", "out_b"])
    model = seqc.Model(graph, seed=7)
    inp = keras.Input((5,), name="x")
    h = keras.layers.Dense(6, activation="tanh", name="trunk",
                           kernel_regularizer=keras.regularizers.L2(0.05))(inp)
    kmodel = keras.Model(inp, [keras.layers.Dense(2, name="out_a")(h),
                               keras.layers.Dense(3, activation="softmax", name="out_b",
                                                  activity_regularizer=keras.regularizers.L1(
                                                      0.01))(h)])
    kmodel.set_weights(model.get_weights())
    kw = {"loss": ["mse", "categorical_crossentropy"], "loss_weights": [0.7, 1.3]}
    model.compile(optimizer=seqc.optimizers.Adam(0.02), **kw)
    kmodel.compile(optimizer=keras.optimizers.Adam(0.02), **kw)
    ours = model.fit(X, [YA, YB], epochs=5, batch_size=N, shuffle=False, verbose=0)
    theirs = kmodel.fit(X, [YA, YB], epochs=5, batch_size=N, shuffle=False, verbose=0)
    for k in ("loss", "out_a_loss", "out_b_loss"):
        np.testing.assert_allclose(ours.history[k], theirs.history[k], atol=1e-6, err_msg=k)
    for a, b in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
