"""seqc against real Keras 3 (torch backend), float32 on both sides.

Optimizers: 5 full-batch steps of a 4 -> 3 -> 2 Dense model from identical weights, via
`Model.train_on_batch` in Keras and executor + losses + optimizers in seqc (with the fused
softmax/sigmoid gradient the trainer uses); weights and per-step losses within 1e-6.
Losses: value and gradient against keras.losses with torch autograd, relative 1e-6.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
if keras.backend.backend() != "torch":
    pytest.skip("these tests need KERAS_BACKEND=torch", allow_module_level=True)

import seqc  # noqa: E402
from seqc.training import executor  # noqa: E402
from seqc.training import losses as L  # noqa: E402
from seqc.training import optimizers as O  # noqa: E402
from seqc.training import schedules as S  # noqa: E402

RNG = np.random.default_rng(7)
X = RNG.normal(size=(8, 4)).astype(np.float32)
Y_CAT = np.eye(2, dtype=np.float32)[RNG.integers(0, 2, 8)]
SW = RNG.uniform(0.5, 1.5, 8).astype(np.float32)
TOL = 1e-6


def make_models(activation: str):
    model = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(3, activation="tanh"),
                             seqc.layers.Dense(2, activation=activation)], seed=3)
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                               keras.layers.Dense(2, activation=activation)])
    kmodel.set_weights(model.get_weights())
    return model, kmodel


def seqc_step(model, loss: L.Loss, opt: O.Optimizer, x, y, sw=None) -> float:
    """One training step as the fit loop does it; returns the loss before the update."""
    graph = model.graph
    y_pred, tape = executor.forward(graph, model.params, x)
    last = graph.nodes[-1]
    act = last.attrs.activation if last.op == "Activation" else None
    fused = loss.value_and_fused_grad(act, y, y_pred, sw) if isinstance(act, str) else None
    if fused is not None:
        value, dz = fused
        grads = executor.backward(graph, model.params, tape, dz, start=len(graph.nodes) - 2)
    else:
        value, dy = loss.value_and_grad(y, y_pred, sw)
        grads = executor.backward(graph, model.params, tape, dy)
    opt.apply(model.params, grads)
    return value


def keras_schedule(spec):
    if not isinstance(spec, dict):
        return spec
    spec = dict(spec)
    return getattr(keras.optimizers.schedules, spec.pop("type"))(**spec)


EXP = {"type": "ExponentialDecay", "initial_learning_rate": 0.05, "decay_steps": 2,
       "decay_rate": 0.5}
COS = {"type": "CosineDecay", "initial_learning_rate": 0.0, "decay_steps": 3,
       "warmup_target": 0.1, "warmup_steps": 2}
RESTARTS = {"type": "CosineDecayRestarts", "initial_learning_rate": 0.1, "first_decay_steps": 2,
            "t_mul": 1.5, "m_mul": 0.5, "alpha": 0.1}
PIECE = {"type": "PiecewiseConstantDecay", "boundaries": [1, 2], "values": [0.1, 0.05, 0.01]}

OPT_CASES = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": PIECE, "clipvalue": 0.05}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("Adam", {"learning_rate": 0.01, "clipnorm": 0.1}),
    ("Adam", {"learning_rate": EXP, "global_clipnorm": 0.2}),
    ("AdamW", {"learning_rate": 0.01}),
    ("AdamW", {"learning_rate": COS, "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adadelta", {"learning_rate": 0.5, "rho": 0.9, "clipnorm": 0.1}),
    ("Adamax", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.01, "weight_decay": 0.05}),
    ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2}),
    ("SGD", {"learning_rate": RESTARTS, "momentum": 0.5}),
    ("Lion", {}),
    ("Lion", {"learning_rate": 0.01, "weight_decay": 0.1, "use_ema": True, "ema_momentum": 0.9}),
    ("Lamb", {"learning_rate": 0.01}),
    ("Lamb", {"learning_rate": 0.05, "clipnorm": 0.1, "gradient_accumulation_steps": 2}),
    ("Ftrl", {"learning_rate": 0.1}),
    ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01,
              "l2_regularization_strength": 0.02, "l2_shrinkage_regularization_strength": 0.05,
              "beta": 0.5, "learning_rate_power": -0.3}),
    # Adafactor divides each gradient by its factored RMS, which turns float32 rounding in the
    # model's gradients (1e-5 relative in the smallest entries) into 1e-5 in the step: large
    # rates are checked on fixed gradients below (test_optimizer_rule_matches_keras).
    ("Adafactor", {}),
    ("Adafactor", {"learning_rate": 0.05, "relative_step": False, "beta_2_decay": -0.5,
                   "global_clipnorm": 0.3, "epsilon_2": 0.1}),
    ("Adafactor", {"learning_rate": COS, "clip_threshold": 0.5}),
]


@pytest.mark.parametrize("name,kw", OPT_CASES, ids=[f"{n}-{k}" for n, k in OPT_CASES])
def test_optimizer_matches_keras(name, kw):
    model, kmodel = make_models("softmax")
    kopt = getattr(keras.optimizers, name)(
        **{k: keras_schedule(v) if k == "learning_rate" else v for k, v in kw.items()})
    kmodel.compile(optimizer=kopt, loss="categorical_crossentropy")
    opt = O.get({"type": name, **kw})
    loss = L.get("categorical_crossentropy")
    for step in range(5):
        k_loss = float(kmodel.train_on_batch(X, Y_CAT))
        s_loss = seqc_step(model, loss, opt, X, Y_CAT)
        assert s_loss == pytest.approx(k_loss, abs=TOL), f"loss at step {step}"
        for kw_, sw_ in zip(kmodel.get_weights(), model.get_weights()):
            np.testing.assert_allclose(sw_, kw_, rtol=0, atol=TOL, err_msg=f"step {step}")
    # Keras' `iterations` counts updates (calls // gradient_accumulation_steps).
    assert opt.iterations // (kw.get("gradient_accumulation_steps") or 1) == int(
        kopt.iterations.numpy())


SCHEDULE_CASES = [
    {"type": "CosineDecay", "initial_learning_rate": 0.1, "decay_steps": 7, "alpha": 0.1},
    {"type": "CosineDecay", "initial_learning_rate": 0.0, "decay_steps": 10,
     "warmup_target": 0.1, "warmup_steps": 5},
    {"type": "CosineDecay", "initial_learning_rate": 0.01, "decay_steps": 13, "alpha": 0.05,
     "warmup_target": 0.2, "warmup_steps": 3, "name": "cos"},
    {"type": "CosineDecayRestarts", "initial_learning_rate": 0.1, "first_decay_steps": 3},
    {"type": "CosineDecayRestarts", "initial_learning_rate": 0.1, "first_decay_steps": 4,
     "t_mul": 1.0, "m_mul": 0.8, "alpha": 0.1},
    {"type": "CosineDecayRestarts", "initial_learning_rate": 0.5, "first_decay_steps": 5,
     "t_mul": 1.5, "m_mul": 0.5, "alpha": 0.05},
    {"type": "CosineDecayRestarts", "initial_learning_rate": 1.0, "first_decay_steps": 2,
     "t_mul": 3.0, "m_mul": 0.9, "name": "sgdr"},
]


@pytest.mark.parametrize("spec", SCHEDULE_CASES, ids=[str(s) for s in SCHEDULE_CASES])
def test_schedule_matches_keras(spec):
    """Over 40 steps (warmup, decay, restarts and after the end), within a float32 ulp or
    two: Keras computes in float32, and float32 cos/log differ by an ulp between libraries."""
    ks = keras_schedule(spec)
    ours = S.get(spec)
    want = np.array([float(ks(step)) for step in range(40)])
    got = np.array([ours(step) for step in range(40)])
    np.testing.assert_allclose(got, want, rtol=3e-7, atol=1e-9)
    assert {k: v for k, v in ours.get_config().items() if k != "type"} == ks.get_config()
    assert S.get(keras.optimizers.schedules.serialize(ks)) == ours


# The update rule alone: the same gradients, fed to both, on parameters of several ranks
# (Adafactor factors rank >= 2 over its last two axes and keeps vectors and scalars whole).
SHAPES = [(4, 3), (3,), (2, 3, 4), ()]
RULE_CASES = [
    ("Adafactor", {"learning_rate": 0.5}),
    ("Adafactor", {"learning_rate": 0.3, "relative_step": False, "clip_threshold": 0.2,
                   "weight_decay": 0.1}),
    ("Lamb", {"learning_rate": 0.1, "use_ema": True}),
    ("Lion", {"learning_rate": 0.1, "clipvalue": 0.5}),
    ("Ftrl", {"learning_rate": 0.5, "l1_regularization_strength": 0.1, "beta": 1.0,
              "initial_accumulator_value": 0.0}),
]


@pytest.mark.parametrize("name,kw", RULE_CASES, ids=[f"{n}-{k}" for n, k in RULE_CASES])
def test_optimizer_rule_matches_keras(name, kw):
    rng = np.random.default_rng(5)
    ps = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    kvars = [keras.Variable(p.copy()) for p in ps]
    kopt = getattr(keras.optimizers, name)(**kw)
    opt = O.get({"type": name, **kw})
    params = {f"p{i}": p.copy() for i, p in enumerate(ps)}
    for step in range(5):
        gs = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
        kopt.apply([torch.tensor(g) for g in gs], kvars)
        opt.apply(params, {f"p{i}": g for i, g in enumerate(gs)})
        for i, v in enumerate(kvars):
            np.testing.assert_allclose(params[f"p{i}"], v.numpy(), rtol=0, atol=TOL,
                                       err_msg=f"step {step}, shape {SHAPES[i]}")
    if kw.get("use_ema"):
        opt.finalize_variable_values(params)
        kopt.finalize_variable_values(kvars)
        for i, v in enumerate(kvars):
            np.testing.assert_allclose(params[f"p{i}"], v.numpy(), rtol=0, atol=TOL)


# ---------------------------------------------------------------- losses

R3 = np.random.default_rng(13)
CTC_LOGITS = (2 * R3.normal(size=(5, 7, 4))).astype(np.float32)
# repeats (a blank between), a single label, an empty sequence, a full-length one
CTC_LABELS = np.array([[1, 2, 2, 0], [3, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0], [2, 3, 1, 2]])
SW5 = R3.uniform(0.5, 1.5, 5).astype(np.float32)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
@pytest.mark.parametrize("weighted", [False, True])
def test_ctc_value_and_grad_match_keras(weighted, reduction):
    sw = SW5 if weighted else None
    t = torch.tensor(CTC_LOGITS, requires_grad=True)
    kv = keras.losses.CTC(reduction=reduction)(torch.tensor(CTC_LABELS), t, sample_weight=sw)
    kv.backward()
    value, grad = L.get({"type": "CTC", "reduction": reduction}).value_and_grad(
        CTC_LABELS, CTC_LOGITS, sw)
    assert value == pytest.approx(float(kv.detach()), rel=TOL, abs=TOL)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=TOL, atol=3 * TOL)
    per_sample = keras.losses.CTC(reduction=None)(torch.tensor(CTC_LABELS),
                                                  torch.tensor(CTC_LOGITS))
    np.testing.assert_allclose(L.get({"type": "ctc", "reduction": None})(CTC_LABELS, CTC_LOGITS),
                               per_sample.numpy(), rtol=TOL)


YB = (RNG.random((8, 2)) > 0.5).astype(np.float32)
Y_REAL = RNG.normal(size=(8, 2)).astype(np.float32)
Y_SPARSE = RNG.integers(0, 2, 8)

# (loss spec, final activation of the model, labels)
LOSS_MODEL_CASES = [
    ({"type": "binary_crossentropy"}, "sigmoid", YB),
    ({"type": "BinaryCrossentropy", "label_smoothing": 0.1}, "sigmoid", YB),
    ({"type": "BinaryCrossentropy", "from_logits": True}, "linear", YB),
    ({"type": "categorical_crossentropy"}, "softmax", Y_CAT),
    ({"type": "CategoricalCrossentropy", "label_smoothing": 0.2}, "softmax", Y_CAT),
    ({"type": "CategoricalCrossentropy", "from_logits": True}, "linear", Y_CAT),
    ({"type": "sparse_categorical_crossentropy"}, "softmax", Y_SPARSE),
    ({"type": "SparseCategoricalCrossentropy", "from_logits": True}, "linear", Y_SPARSE),
    ({"type": "mean_squared_error"}, "linear", Y_REAL),
    ({"type": "mean_absolute_error"}, "linear", Y_REAL),
    ({"type": "Huber", "delta": 0.5}, "linear", Y_REAL),
    ({"type": "log_cosh"}, "linear", Y_REAL),
    ({"type": "binary_focal_crossentropy"}, "sigmoid", YB),
    ({"type": "BinaryFocalCrossentropy", "from_logits": True, "apply_class_balancing": True},
     "linear", YB),
    ({"type": "categorical_focal_crossentropy"}, "softmax", Y_CAT),
    ({"type": "kld"}, "softmax", Y_CAT),
    ({"type": "poisson"}, "softmax", Y_CAT * 2),
    ({"type": "hinge"}, "tanh", YB),
    ({"type": "squared_hinge"}, "linear", YB),
    ({"type": "categorical_hinge"}, "linear", Y_CAT),
    ({"type": "cosine_similarity"}, "softmax", Y_REAL),  # outputs far from the zero vector
    ({"type": "mape"}, "linear", 100 * Y_REAL),  # targets ~100: steps of ~lr
    ({"type": "msle"}, "sigmoid", np.abs(Y_REAL)),
    ({"type": "Dice"}, "sigmoid", YB),
    ({"type": "Tversky", "alpha": 0.7, "beta": 0.3, "axis": 1}, "sigmoid", YB),
]


def keras_loss(spec):
    spec = dict(spec)
    name = spec.pop("type")
    cls = type(L.get(name)).__name__
    return getattr(keras.losses, cls)(**spec)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("spec,act,y", LOSS_MODEL_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in LOSS_MODEL_CASES])
def test_loss_sgd_steps_match_keras(spec, act, y, weighted):
    model, kmodel = make_models(act)
    kmodel.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss=keras_loss(spec))
    opt, loss = O.SGD(learning_rate=0.5), L.get(spec)
    sw = SW if weighted else None
    for step in range(2):
        k_loss = float(kmodel.train_on_batch(X, y, sample_weight=sw))
        s_loss = seqc_step(model, loss, opt, X, y, sw)
        # float32 losses: 1e-6 absolute, or relative for MAPE's percentages (~100)
        assert s_loss == pytest.approx(k_loss, rel=TOL, abs=TOL), f"loss at step {step}"
        for kw_, sw_ in zip(kmodel.get_weights(), model.get_weights()):
            np.testing.assert_allclose(sw_, kw_, rtol=0, atol=TOL, err_msg=f"step {step}")


def _probs(n, c, rng):
    p = rng.dirichlet(np.ones(c) * 2, size=n).astype(np.float32)
    p[0] = [1.0] + [0.0] * (c - 1)  # exercise the clip
    return p


R2 = np.random.default_rng(11)
P4, OH4 = _probs(6, 4, R2), np.eye(4, dtype=np.float32)[R2.integers(0, 4, 6)]
PB = R2.random((6, 3)).astype(np.float32)
PB[0, :2] = [1.0, 0.0]
YB3 = (R2.random((6, 3)) > 0.5).astype(np.float32)
Z = R2.normal(size=(6, 4)).astype(np.float32)
SW6 = R2.uniform(0.2, 2.0, 6).astype(np.float32)

LOSS_CASES = [
    ({"type": "BinaryCrossentropy"}, YB3, PB),
    ({"type": "BinaryCrossentropy", "label_smoothing": 0.2}, YB3, PB),
    ({"type": "BinaryCrossentropy", "from_logits": True}, YB3, Z[:, :3]),
    ({"type": "BinaryCrossentropy"}, YB3[:, 0], PB[:, :1]),
    ({"type": "CategoricalCrossentropy"}, OH4, P4),
    ({"type": "CategoricalCrossentropy", "label_smoothing": 0.1}, OH4, P4 * 1.5),
    ({"type": "CategoricalCrossentropy", "from_logits": True}, OH4, Z),
    ({"type": "SparseCategoricalCrossentropy"}, OH4.argmax(1), P4),
    ({"type": "SparseCategoricalCrossentropy", "from_logits": True},
     OH4.argmax(1)[:, None].astype(np.float32), Z),
    ({"type": "SparseCategoricalCrossentropy", "ignore_class": 1}, OH4.argmax(1), P4),
    ({"type": "MeanSquaredError"}, PB, YB3),
    ({"type": "MeanAbsoluteError"}, PB, YB3),
    ({"type": "Huber", "delta": 0.3}, PB, YB3),
    ({"type": "LogCosh"}, 4 * PB, YB3),
    ({"type": "binary_focal_crossentropy"}, YB3, PB),
    ({"type": "BinaryFocalCrossentropy", "apply_class_balancing": True, "alpha": 0.3,
      "gamma": 1.5, "label_smoothing": 0.1}, YB3, PB),
    ({"type": "BinaryFocalCrossentropy", "from_logits": True, "gamma": 0.0}, YB3, Z[:, :3]),
    # Keras takes the float32 sigmoid, then 1 - p: for large logits an ulp of p (where torch's
    # sigmoid and any other differ) is 1e-3 of 1 - p, so logits stay moderate here.
    ({"type": "BinaryFocalCrossentropy", "from_logits": True, "apply_class_balancing": True},
     YB3, -Z[:, 1:]),
    ({"type": "categorical_focal_crossentropy"}, OH4, P4),
    ({"type": "CategoricalFocalCrossentropy", "alpha": 0.5, "gamma": 3.0,
      "label_smoothing": 0.1}, OH4, P4 * 1.5),
    ({"type": "CategoricalFocalCrossentropy", "from_logits": True}, OH4, Z),
    ({"type": "hinge"}, YB3, Z[:, :3]),
    ({"type": "Hinge"}, 2 * YB3 - 1, Z[:, :3]),
    ({"type": "squared_hinge"}, YB3, Z[:, :3]),
    ({"type": "categorical_hinge"}, OH4, Z),
    ({"type": "CategoricalHinge"}, OH4, P4),
    ({"type": "kld"}, P4[::-1].copy(), P4),
    ({"type": "KLDivergence"}, OH4, P4),
    ({"type": "poisson"}, 3 * YB3, PB + 0.1),
    ({"type": "mape"}, Z[:, :3], PB),
    ({"type": "MAPE"}, np.where(YB3 > 0, Z[:, :3], 0), PB),
    ({"type": "msle"}, 2 * PB, Z[:, :3]),
    ({"type": "MeanSquaredLogarithmicError"}, YB3, PB),
    ({"type": "cosine_similarity"}, Z, P4),
    ({"type": "Dice"}, YB3, PB),
    ({"type": "Dice", "axis": 1}, YB3, PB),
    ({"type": "Tversky"}, YB3, PB),
    ({"type": "Tversky", "alpha": 0.7, "beta": 0.3, "axis": [-1]}, YB3, PB),
]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("spec,yt,yp", LOSS_CASES, ids=[str(c[0]) for c in LOSS_CASES])
def test_loss_value_and_grad_match_keras(spec, yt, yp, weighted, reduction):
    sw = SW6 if weighted else None
    _check_loss(spec, yt, yp, sw, reduction)


# Keras cannot weight per-sample values that keep a non-class axis, so these run unweighted.
UNWEIGHTED_LOSS_CASES = [
    ({"type": "CosineSimilarity", "axis": 0}, Z[:, :3],
     np.vstack([np.zeros((1, 3), np.float32), PB[1:]])),
    ({"type": "CosineSimilarity", "axis": 1}, np.stack([Z, Z[::-1]], -1),
     np.stack([Z[::-1], np.full_like(Z, 1e-9)], -1)),  # norms under eps: the 1/eps cap
]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("spec,yt,yp", UNWEIGHTED_LOSS_CASES,
                         ids=[str(c[0]) for c in UNWEIGHTED_LOSS_CASES])
def test_loss_over_another_axis_matches_keras(spec, yt, yp, reduction):
    if reduction == "none":
        kv = keras_loss({**spec, "reduction": None})(yt, torch.tensor(yp))
        np.testing.assert_allclose(L.get({**spec, "reduction": None})(yt, yp),
                                   kv.numpy(), rtol=TOL, atol=TOL)
    else:
        _check_loss(spec, yt, yp, None, reduction)


def _check_loss(spec, yt, yp, sw, reduction):
    kloss = keras_loss({**spec, "reduction": reduction})
    t = torch.tensor(yp, requires_grad=True)
    kv = kloss(yt, t, sample_weight=sw)
    kv.backward()
    kv, kg = float(kv.detach()), t.grad.numpy()
    loss = L.get({**spec, "reduction": reduction})
    value, grad = loss.value_and_grad(yt, yp, sw)
    assert grad.dtype == np.float32
    # float32 on the Keras side: agreement is relative (a sum of 6 losses is ~30).
    assert value == pytest.approx(kv, rel=TOL, abs=TOL)
    np.testing.assert_allclose(grad, kg, rtol=TOL, atol=TOL)


# ---------------------------------------------------------------- read from Keras files and scripts


def test_keras_json_brings_new_optimizers_schedules_and_losses():
    import json

    from seqc.frontend.keras_json import keras_doc_to_spec

    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="sigmoid")])
    cases = [
        (keras.optimizers.Lamb(learning_rate=0.01, clipnorm=1.0),
         keras.losses.BinaryFocalCrossentropy(gamma=3.0), O.Lamb),
        (keras.optimizers.Adafactor(learning_rate=keras.optimizers.schedules.CosineDecayRestarts(
            0.1, 10, t_mul=1.5)), "kld", O.Adafactor),
        (keras.optimizers.Ftrl(l1_regularization_strength=0.01, beta=0.5), keras.losses.Dice(),
         O.Ftrl),
        (keras.optimizers.Lion(weight_decay=0.1), "categorical_hinge", O.Lion),
    ]
    for kopt, kloss, cls in cases:
        km.compile(optimizer=kopt, loss=kloss)
        _, info = keras_doc_to_spec(json.loads(km.to_json()), "m.json")
        opt, loss = O.get(info.compile["optimizer"]), L.get(info.compile["loss"])
        assert type(opt) is cls
        if cls is O.Adafactor:
            assert opt.schedule == S.CosineDecayRestarts(0.1, 10, t_mul=1.5)
        for k, v in kopt.get_config().items():
            if k in ("name", "learning_rate"):
                continue
            assert opt.get_config()[k] == (pytest.approx(v) if isinstance(v, float) else v), k
        klosses = keras.losses.get(kloss) if isinstance(kloss, str) else kloss
        assert loss.name == getattr(klosses, "name", getattr(klosses, "__name__", None))


def test_python_script_names_new_optimizers_and_losses():
    from seqc.frontend.pyscript import script_to_spec

    spec = script_to_spec(
        "import keras\n"
        "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])\n"
        "sched = keras.optimizers.schedules.CosineDecayRestarts(0.01, 100)\n"
        "model.compile(optimizer=keras.optimizers.Lion(learning_rate=sched, beta_2=0.98),\n"
        "              loss=keras.losses.Tversky(alpha=0.7, beta=0.3))\n", "m.py")
    opt, loss = O.get(spec["compile"]["optimizer"]), L.get(spec["compile"]["loss"])
    assert isinstance(opt, O.Lion) and opt.beta_2 == 0.98
    assert opt.schedule == S.CosineDecayRestarts(0.01, 100)
    assert isinstance(loss, L.Tversky) and (loss.alpha, loss.beta) == (0.7, 0.3)
    for name, cls in (("adafactor", O.Adafactor), ("Ftrl", O.Ftrl), ("lamb", O.Lamb)):
        spec = script_to_spec("import keras\nmodel = keras.Sequential([keras.Input((4,)), "
                              "keras.layers.Dense(3)])\n"
                              f"model.compile(optimizer='{name}', loss='msle')\n", "m.py")
        assert type(O.get(spec["compile"]["optimizer"])) is cls
        assert isinstance(L.get(spec["compile"]["loss"]), L.MeanSquaredLogarithmicError)


@pytest.mark.parametrize("opt,loss", [
    ({"type": "Adafactor", "clip_threshold": 0.5, "learning_rate": RESTARTS},
     {"type": "Tversky", "alpha": 0.7, "beta": 0.3}),
    ({"type": "Lion", "beta_2": 0.98, "weight_decay": 0.01},
     {"type": "BinaryFocalCrossentropy", "gamma": 3.0, "apply_class_balancing": True}),
])
@pytest.mark.filterwarnings("ignore:Skipping variable loading")  # seqc saves no slots
def test_seqc_compile_with_new_optimizers_and_losses_loads_in_keras(tmp_path, opt, loss):
    from seqc.export.keras_file import save_keras

    model = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(2)])
    model.compile(optimizer=opt, loss=loss)
    save_keras(model, tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras")
    ours = O.get(opt).get_config()
    theirs = back.optimizer.get_config()
    assert type(back.optimizer).__name__.endswith(ours["type"])
    for k, v in theirs.items():
        if k == "learning_rate" and isinstance(ours[k], dict):
            assert type(back.optimizer._learning_rate).__name__ == ours[k]["type"]
        elif k != "name":
            assert ours[k] == (pytest.approx(v) if isinstance(v, float) else v), k
    assert L.get(loss).get_config()["name"] == back.loss.name


@pytest.mark.parametrize("kernels", [True, False], ids=["numba", "numpy"])
def test_relu_mlp_adam_steps_match_keras(kernels, monkeypatch):
    """Dense + relu pairs run fused (executor._fused_pairs, ops/_dense_fused.py), with the
    compiled kernels and without: per-step losses and weights within 1e-6 of Keras."""
    from seqc.ops import _dense_fused
    from seqc.training import _fused

    if not kernels:
        monkeypatch.setattr(_dense_fused, "kernel", lambda name: None)
        monkeypatch.setattr(_fused, "kernel", lambda name: None)
    L_ = seqc.layers
    model = seqc.Sequential([L_.Input((4,)), L_.Dense(16, activation="relu"),
                             L_.Dense(16, activation="relu"), L_.Dense(2, activation="softmax")],
                            seed=5)
    assert executor._plan(model.graph).pairs == {0: 1, 2: 3}
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                               keras.layers.Dense(16, activation="relu"),
                               keras.layers.Dense(2, activation="softmax")])
    kmodel.set_weights(model.get_weights())
    kmodel.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy")
    opt, loss = O.get({"type": "Adam", "learning_rate": 0.05}), L.get("categorical_crossentropy")
    for step in range(5):
        k_loss = float(kmodel.train_on_batch(X, Y_CAT))
        assert seqc_step(model, loss, opt, X, Y_CAT) == pytest.approx(k_loss, abs=TOL)
        for kw_, sw_ in zip(kmodel.get_weights(), model.get_weights()):
            np.testing.assert_allclose(sw_, kw_, rtol=0, atol=TOL, err_msg=f"step {step}")
