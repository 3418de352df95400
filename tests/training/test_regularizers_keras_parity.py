"""Regularizers and constraints against real Keras 3 (torch backend), float32 on both sides.

Each case builds the same model in seqc and Keras from one list of layer configs (Keras'
serialized regularizer/constraint forms, which both read), copies the weights, and runs 5
full-batch steps of `fit` on each (one epoch each, no shuffling): the reported loss of every
step (penalties included) and the weights after it agree within 1e-6.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("torch")
if keras.backend.backend() != "torch":
    pytest.skip("these tests need KERAS_BACKEND=torch", allow_module_level=True)

import seqc  # noqa: E402

TOL = 1e-6
STEPS = 5


def reg(cls, **config):
    return {"module": "keras.regularizers", "class_name": cls, "config": config,
            "registered_name": None}


def con(cls, **config):
    return {"module": "keras.constraints", "class_name": cls, "config": config,
            "registered_name": None}


def keras_layer(d: dict):
    cfg = {k: v for k, v in d.items() if k != "type"}
    for key in ("layer", "backward_layer"):
        if key in cfg:
            cfg[key] = keras_layer(cfg[key])
    return getattr(keras.layers, d["type"])(**cfg)


def seqc_layer(d: dict):
    cfg = {k: v for k, v in d.items() if k != "type"}
    return getattr(seqc.layers, d["type"])(**cfg)


def models(layers: list[dict], input_shape: tuple, optimizer: dict, loss: str):
    model = seqc.Sequential([seqc.layers.Input(input_shape), *map(seqc_layer, layers)], seed=3)
    kmodel = keras.Sequential([keras.Input(input_shape), *map(keras_layer, layers)])
    kmodel.set_weights(model.get_weights())
    opt = dict(optimizer)
    model.compile(optimizer=dict(opt), loss=loss)
    kmodel.compile(optimizer=getattr(keras.optimizers, opt.pop("type"))(**opt), loss=loss)
    return model, kmodel


def check_steps(layers, input_shape, x, y, optimizer=None, loss="mse"):
    model, kmodel = models(layers, input_shape, optimizer or {"type": "SGD",
                                                               "learning_rate": 0.1}, loss)
    for step in range(STEPS):
        h = model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
        kh = kmodel.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
        ours, theirs = h.history["loss"][0], kh.history["loss"][0]
        assert abs(ours - theirs) <= TOL * max(1.0, abs(theirs)), (step, ours, theirs)
        for a, b in zip(model.get_weights(), kmodel.get_weights()):
            np.testing.assert_allclose(a, b, atol=TOL, rtol=TOL, err_msg=f"step {step}")
    return model, kmodel


RNG = np.random.default_rng(5)
X = RNG.normal(size=(8, 4)).astype(np.float32)
Y = RNG.normal(size=(8, 2)).astype(np.float32)
Y_CAT = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 8)]


def test_l2_kernel_regularizer_with_adam():
    check_steps([{"type": "Dense", "units": 3, "activation": "tanh",
                  "kernel_regularizer": reg("L2", l2=0.05)},
                 {"type": "Dense", "units": 2, "bias_regularizer": reg("L2", l2=0.1)}],
                (4,), X, Y, {"type": "Adam", "learning_rate": 0.05})


def test_max_norm_with_sgd_and_fused_softmax():
    check_steps([{"type": "Dense", "units": 5, "activation": "relu",
                  "kernel_constraint": con("MaxNorm", max_value=0.5, axis=0)},
                 {"type": "Dense", "units": 3, "activation": "softmax",
                  "kernel_constraint": con("MaxNorm", max_value=1, axis=[0, 1])}],
                (4,), X, Y_CAT, {"type": "SGD", "learning_rate": 0.5, "momentum": 0.9},
                "categorical_crossentropy")


def test_l1_l2_and_activity_regularizers():
    # The activity penalty on the softmax output turns the fused softmax gradient off.
    check_steps([{"type": "Dense", "units": 5, "activation": "tanh",
                  "kernel_regularizer": reg("L1L2", l1=0.01, l2=0.02),
                  "activity_regularizer": reg("L2", l2=0.05)},
                 {"type": "Dropout", "rate": 0.0, "activity_regularizer": reg("L1", l1=0.02)},
                 {"type": "Dense", "units": 3, "activation": "softmax",
                  "activity_regularizer": reg("L1L2", l1=0.1, l2=0.1)}],
                (4,), X, Y_CAT, {"type": "Adam", "learning_rate": 0.05},
                "categorical_crossentropy")


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer(mode):
    check_steps([{"type": "Dense", "units": 5, "activation": "tanh",
                  "kernel_regularizer": reg("OrthogonalRegularizer", factor=0.5, mode=mode)},
                 {"type": "Dense", "units": 2,
                  "kernel_regularizer": reg("OrthogonalRegularizer", factor=0.3, mode=mode)}],
                (4,), X, Y)


def test_unit_norm_min_max_norm_non_neg_with_axes():
    check_steps([{"type": "Dense", "units": 5, "activation": "tanh",
                  "kernel_constraint": con("UnitNorm", axis=1),
                  "bias_constraint": con("NonNeg")},
                 {"type": "Dense", "units": 2,
                  "kernel_constraint": con("MinMaxNorm", min_value=0.3, max_value=0.6,
                                           rate=0.7, axis=0)}],
                (4,), X, Y, {"type": "SGD", "learning_rate": 0.3})


XS = RNG.normal(size=(6, 5, 3)).astype(np.float32)
YS = RNG.normal(size=(6, 2)).astype(np.float32)


def test_conv_and_recurrent_regularizers_and_constraints():
    check_steps([{"type": "Conv1D", "filters": 4, "kernel_size": 2, "activation": "relu",
                  "kernel_regularizer": reg("L2", l2=0.05), "bias_regularizer": reg("L1", l1=0.1),
                  "kernel_constraint": con("MaxNorm", max_value=0.6, axis=[0, 1])},
                 {"type": "LSTM", "units": 3, "return_sequences": True,
                  "kernel_regularizer": reg("L2", l2=0.02),
                  "recurrent_regularizer": reg("L1L2", l1=0.01, l2=0.03),
                  "recurrent_constraint": con("UnitNorm", axis=0),
                  "activity_regularizer": reg("L2", l2=0.1)},
                 {"type": "GRU", "units": 2, "bias_regularizer": reg("L2", l2=0.3),
                  "kernel_constraint": con("NonNeg")}],
                (5, 3), XS, YS, {"type": "Adam", "learning_rate": 0.05})


def test_conv_lstm_regularizers_and_constraints():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4, 3, 5, 5, 1)).astype(np.float32)
    y = rng.normal(size=(4, 1)).astype(np.float32)
    check_steps([{"type": "ConvLSTM2D", "filters": 2, "kernel_size": 3,
                  "kernel_regularizer": reg("L2", l2=0.05),
                  "recurrent_regularizer": reg("L1", l1=0.02),
                  "bias_regularizer": reg("L2", l2=0.1),
                  "recurrent_constraint": con("MaxNorm", max_value=0.5, axis=[0, 1, 2]),
                  "activity_regularizer": reg("L2", l2=0.01)},
                 {"type": "Flatten"}, {"type": "Dense", "units": 1}],
                (3, 5, 5, 1), x, y, {"type": "SGD", "learning_rate": 0.05})


def test_normalization_gamma_beta():
    check_steps([{"type": "Dense", "units": 4},
                 {"type": "BatchNormalization", "gamma_regularizer": reg("L2", l2=0.2),
                  "beta_regularizer": reg("L1", l1=0.1),
                  "gamma_constraint": con("MaxNorm", max_value=1.05)},
                 {"type": "LayerNormalization", "beta_constraint": con("NonNeg"),
                  "gamma_regularizer": reg("L2", l2=0.1)},
                 {"type": "Dense", "units": 2}],
                (4,), X, Y, {"type": "SGD", "learning_rate": 0.2})


def test_embedding_prelu_separable_depthwise_and_wrappers():
    ids = RNG.integers(0, 6, size=(6, 5)).astype(np.int32)
    check_steps([{"type": "Embedding", "input_dim": 6, "output_dim": 3,
                  "embeddings_regularizer": reg("L2", l2=0.1),
                  "embeddings_constraint": con("MaxNorm", max_value=0.04, axis=1)},
                 {"type": "SeparableConv1D", "filters": 3, "kernel_size": 2,
                  "depthwise_regularizer": reg("L2", l2=0.1),
                  "pointwise_regularizer": reg("L1", l1=0.05),
                  "pointwise_constraint": con("UnitNorm", axis=[0, 1])},
                 {"type": "DepthwiseConv1D", "kernel_size": 2,
                  "depthwise_regularizer": reg("L2", l2=0.2),
                  "depthwise_constraint": con("NonNeg")},
                 {"type": "PReLU", "alpha_regularizer": reg("L2", l2=0.3),
                  "alpha_constraint": con("MaxNorm", max_value=0.1, axis=0)},
                 {"type": "TimeDistributed",
                  "layer": {"type": "Dense", "units": 2,
                            "kernel_regularizer": reg("L2", l2=0.1)}},
                 {"type": "Bidirectional",
                  "layer": {"type": "SimpleRNN", "units": 2,
                            "kernel_regularizer": reg("L2", l2=0.2),
                            "recurrent_constraint": con("UnitNorm")}}],
                (5,), ids, RNG.normal(size=(6, 4)).astype(np.float32),
                {"type": "SGD", "learning_rate": 0.3})


def test_frozen_layer_adds_no_weight_penalty_but_its_activity_penalty():
    # Keras sums the regularizers of trainable weights only; an activity penalty is added in
    # Layer.__call__, frozen or not, and its gradient reaches the layers below.
    check_steps([{"type": "Dense", "units": 5, "activation": "tanh"},
                 {"type": "Dense", "units": 3, "trainable": False,
                  "kernel_regularizer": reg("L2", l2=1.0),
                  "kernel_constraint": con("NonNeg"),
                  "activity_regularizer": reg("L2", l2=0.2)},
                 {"type": "Dense", "units": 2}], (4,), X, Y)


def test_activity_regularization_layer():
    check_steps([{"type": "Dense", "units": 5},
                 {"type": "ActivityRegularization", "l1": 0.05, "l2": 0.1},
                 {"type": "Dense", "units": 2}], (4,), X, Y)


def test_evaluate_and_validation_loss_include_penalties():
    layers = [{"type": "Dense", "units": 5, "activation": "tanh",
               "kernel_regularizer": reg("L2", l2=0.1),
               "activity_regularizer": reg("L1", l1=0.05)},
              {"type": "Dropout", "rate": 0.5},
              {"type": "Dense", "units": 2, "kernel_constraint": con("MaxNorm", max_value=0.5)}]
    model, kmodel = models(layers, (4,), {"type": "SGD", "learning_rate": 0.1}, "mse")
    x = RNG.normal(size=(20, 4)).astype(np.float32)
    y = RNG.normal(size=(20, 2)).astype(np.float32)
    assert model.evaluate(x, y, batch_size=7, verbose=0) == pytest.approx(
        kmodel.evaluate(x, y, batch_size=7, verbose=0), rel=1e-6)
    # One epoch of mini-batches with validation: Dropout draws differ, so only the
    # validation loss (an inference pass) is compared step for step with its weights.
    h = model.fit(x[:12], y[:12], batch_size=12, epochs=1, verbose=0, shuffle=False,
                  validation_data=(x[12:], y[12:]))
    kmodel.set_weights(model.get_weights())
    assert h.history["val_loss"][0] == pytest.approx(
        kmodel.evaluate(x[12:], y[12:], verbose=0), rel=1e-6)


def test_fit_history_over_minibatches_matches_keras():
    # Two epochs of 3 uneven batches (8, 8, 4) with validation: the epoch loss is Keras'
    # batch-size-weighted mean of the per-step totals (penalties included), val_loss too.
    layers = [{"type": "Dense", "units": 5, "activation": "tanh",
               "kernel_regularizer": reg("L2", l2=0.05),
               "activity_regularizer": reg("L1", l1=0.02),
               "kernel_constraint": con("MaxNorm", max_value=0.8)},
              {"type": "Dense", "units": 3, "activation": "softmax",
               "bias_regularizer": reg("L1L2", l1=0.01, l2=0.01)}]
    model, kmodel = models(layers, (4,), {"type": "Adam", "learning_rate": 0.05},
                           "categorical_crossentropy")
    x = RNG.normal(size=(25, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 25)]
    kw = {"batch_size": 8, "epochs": 2, "shuffle": False, "verbose": 0,
          "validation_split": 0.2}
    h, kh = model.fit(x, y, **kw).history, kmodel.fit(x, y, **kw).history
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(h[key], kh[key], rtol=TOL, atol=TOL, err_msg=key)
    for a, b in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("optimizer", [
    {"type": "SGD", "learning_rate": 0.5, "global_clipnorm": 0.3},
    {"type": "SGD", "learning_rate": 0.5, "use_ema": True, "ema_momentum": 0.5,
     "ema_overwrite_frequency": 2},
    {"type": "SGD", "learning_rate": 0.5, "momentum": 0.5, "gradient_accumulation_steps": 2},
    {"type": "SGD", "learning_rate": 0.5, "weight_decay": 0.1},
], ids=["clip", "ema", "accumulate", "weight_decay"])
def test_penalty_gradients_are_clipped_and_constraints_follow_ema_and_accumulation(optimizer):
    # Keras clips the total gradient (penalties included), projects after the EMA update, and
    # projects on every apply, accumulation steps included. (SGD: Adam's first step divides
    # by |g| + 1e-7, so a near-zero gradient turns float32 rounding into 1e-5 differences.)
    check_steps([{"type": "Dense", "units": 5, "activation": "tanh",
                  "kernel_regularizer": reg("L2", l2=0.3),
                  "kernel_constraint": con("MaxNorm", max_value=0.6)},
                 {"type": "Dense", "units": 2, "bias_regularizer": reg("L1", l1=0.2),
                  "kernel_constraint": con("MinMaxNorm", min_value=0.5, max_value=0.7,
                                           rate=0.5)}], (4,), X, Y, optimizer)
