"""Optimizers and schedules: a few steps on a tiny parameter against Keras' update rules
written out here in float64, clipping, weight decay, accumulation, EMA, lookup and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError, UsageError
from seqc.training import optimizers as O
from seqc.training import schedules as S

P0 = np.array([1.0, -0.5, 2.0])
GRADS = [np.array([0.5, -1.0, 0.25]), np.array([-1.0, 0.3, 0.5]), np.array([0.2, 0.2, -2.0])]


def run(opt, grads=GRADS, p0=P0):
    params = {"w": p0.astype(np.float32)}
    ref = params["w"]
    out = []
    for g in grads:
        opt.apply(params, {"w": g.astype(np.float32)})
        out.append(params["w"].astype(np.float64).copy())
    assert params["w"] is ref, "parameters must be updated in place"
    assert opt.iterations == len(grads)
    return out


def check(opt, expected, tol=1e-6):
    for got, want in zip(run(opt), expected):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# ---------------------------------------------------------------- update rules by hand


def test_sgd_by_hand():
    # p -= lr g, lr = 0.1, scalar check on the first element: 1 - 0.05 = 0.95, + 0.1 = 1.05
    out = run(O.SGD(learning_rate=0.1))
    assert out[0][0] == pytest.approx(0.95) and out[1][0] == pytest.approx(1.05)
    check(O.SGD(learning_rate=0.1), np.cumsum([P0] + [-0.1 * g for g in GRADS], 0)[1:])


def test_sgd_momentum_and_nesterov_by_hand():
    lr, mu = 0.1, 0.9
    for nesterov in (False, True):
        p, m, want = P0.copy(), np.zeros(3), []
        for g in GRADS:
            m = mu * m - lr * g
            p = p + (mu * m - lr * g if nesterov else m)
            want.append(p.copy())
        check(O.SGD(learning_rate=lr, momentum=mu, nesterov=nesterov), want)
    # first element, written out: m1 = -0.05; m2 = 0.9 * -0.05 + 0.1 = 0.055
    out = run(O.SGD(learning_rate=0.1, momentum=0.9))
    assert out[1][0] == pytest.approx(1.0 - 0.05 + 0.055)


def adam_ref(lr=0.001, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=None, grads=GRADS):
    p, m, v, vhat, want = P0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(grads, start=1):
        if wd is not None:
            p = p * (1 - wd * lr)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        if amsgrad:
            vhat = np.maximum(vhat, v)
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        p = p - m * alpha / (np.sqrt(vhat if amsgrad else v) + eps)
        want.append(p.copy())
    return want


def test_adam_by_hand():
    check(O.Adam(), adam_ref())
    check(O.Adam(learning_rate=0.05, beta_1=0.5, beta_2=0.9, epsilon=1e-3),
          adam_ref(lr=0.05, b1=0.5, b2=0.9, eps=1e-3))
    check(O.Adam(learning_rate=0.01, amsgrad=True), adam_ref(lr=0.01, amsgrad=True))
    # first step is lr * sign(g) up to eps: |m| / sqrt(v) = 1 after bias correction
    assert run(O.Adam(learning_rate=0.01))[0][0] == pytest.approx(1.0 - 0.01, abs=1e-6)


def test_adamw_by_hand():
    check(O.AdamW(learning_rate=0.01), adam_ref(lr=0.01, wd=0.004))
    check(O.AdamW(learning_rate=0.1, weight_decay=0.5), adam_ref(lr=0.1, wd=0.5), 2e-6)


def test_rmsprop_by_hand():
    for mom, centered in ((0.0, False), (0.5, False), (0.0, True), (0.5, True)):
        lr, rho, eps = 0.01, 0.9, 1e-7
        p, v, a, m, want = P0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
        for g in GRADS:
            v = rho * v + (1 - rho) * g * g
            if centered:
                a = rho * a + (1 - rho) * g
                denom = v - a * a + eps  # epsilon inside the sqrt
            else:
                denom = v + eps
            inc = lr * g / np.sqrt(denom)
            m = mom * m + inc
            p = p - (m if mom > 0 else inc)
            want.append(p.copy())
        check(O.RMSprop(learning_rate=lr, momentum=mom, centered=centered), want)


def test_adagrad_by_hand():
    lr, acc, p, want = 0.1, np.full(3, 0.1), P0.copy(), []
    for g in GRADS:
        acc = acc + g * g
        p = p - lr * g / np.sqrt(acc + 1e-7)
        want.append(p.copy())
    check(O.Adagrad(learning_rate=0.1), want)
    # first element, step 1: 1 - 0.1 * 0.5 / sqrt(0.1 + 0.25)
    assert run(O.Adagrad(learning_rate=0.1))[0][0] == pytest.approx(
        1 - 0.05 / math.sqrt(0.35 + 1e-7), abs=1e-6)


def test_adamax_by_hand():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    p, m, u, want = P0.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(GRADS, start=1):
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        p = p - lr * m / ((1 - b1**t) * (u + eps))
        want.append(p.copy())
    check(O.Adamax(learning_rate=lr), want)


def test_nadam_by_hand():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    p, m, v, u_prod, want = P0.copy(), np.zeros(3), np.zeros(3), 1.0, []
    for t, g in enumerate(GRADS, start=1):
        u_t = b1 * (1 - 0.5 * 0.96**t)
        u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_prod = u_prod * u_t
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_next * m / (1 - u_prod * u_next) + (1 - u_t) * g / (1 - u_prod)
        v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        want.append(p.copy())
    check(O.Nadam(learning_rate=lr), want)


# ---------------------------------------------------------------- base-optimizer options


def test_clipnorm_is_per_tensor():
    opt = O.SGD(learning_rate=1.0, clipnorm=1.0)
    p = {"a": np.zeros(2, np.float32), "b": np.zeros(1, np.float32)}
    opt.apply(p, {"a": np.array([3.0, 4.0], np.float32), "b": np.array([0.5], np.float32)})
    np.testing.assert_allclose(p["a"], [-0.6, -0.8], rtol=1e-6)  # norm 5 -> 1
    np.testing.assert_allclose(p["b"], [-0.5])  # under the limit: unchanged


def test_global_clipnorm_scales_all_tensors_together():
    opt = O.SGD(learning_rate=1.0, global_clipnorm=2.5)
    p = {"a": np.zeros(1, np.float32), "b": np.zeros(1, np.float32)}
    opt.apply(p, {"a": np.array([3.0], np.float32), "b": np.array([4.0], np.float32)})
    np.testing.assert_allclose([p["a"][0], p["b"][0]], [-1.5, -2.0], rtol=1e-6)


def test_clipvalue():
    opt = O.SGD(learning_rate=1.0, clipvalue=0.5)
    p = {"w": np.zeros(3, np.float32)}
    opt.apply(p, {"w": np.array([3.0, -4.0, 0.2], np.float32)})
    np.testing.assert_allclose(p["w"], [-0.5, 0.5, -0.2], rtol=1e-6)


def test_clip_options_are_exclusive():
    with pytest.raises(DefinitionError, match="only one of"):
        O.Adam(clipnorm=1.0, clipvalue=1.0)


def test_caller_gradients_are_not_modified():
    g = {"w": np.array([3.0, 4.0], np.float32)}
    O.Adam(clipnorm=1.0).apply({"w": np.zeros(2, np.float32)}, g)
    np.testing.assert_array_equal(g["w"], [3.0, 4.0])


def test_weight_decay_is_decoupled():
    # p *= 1 - wd * lr before the update: 2 * (1 - 0.1 * 0.1) - 0.1 * 0.5 = 1.93
    opt = O.SGD(learning_rate=0.1, weight_decay=0.1)
    p = {"w": np.array([2.0], np.float32)}
    opt.apply(p, {"w": np.array([0.5], np.float32)})
    assert p["w"][0] == pytest.approx(1.93, abs=1e-6)


def test_gradient_accumulation():
    opt = O.SGD(learning_rate=1.0, gradient_accumulation_steps=2)
    p = {"w": np.array([0.0], np.float32)}
    opt.apply(p, {"w": np.array([1.0], np.float32)})
    assert p["w"][0] == 0.0 and opt.iterations == 1
    opt.apply(p, {"w": np.array([3.0], np.float32)})
    assert p["w"][0] == -2.0  # mean of the two gradients
    opt.apply(p, {"w": np.array([5.0], np.float32)})
    assert p["w"][0] == -2.0


def test_ema_and_finalize():
    opt = O.SGD(learning_rate=1.0, use_ema=True)
    p = {"w": np.array([0.0], np.float32)}
    for _ in range(2):
        opt.apply(p, {"w": np.array([-1.0], np.float32)})
    assert p["w"][0] == 2.0
    opt.finalize_variable_values(p)
    # average: 1 after the first step (momentum 0 on step 0), then 0.99 * 1 + 0.01 * 2
    assert p["w"][0] == pytest.approx(1.01, abs=1e-6)


def test_slots_are_lazy_and_keyed_by_name():
    opt = O.Adam(amsgrad=True)
    assert opt.slots == {}
    opt.apply({"a": np.zeros(2, np.float32)}, {"a": np.ones(2, np.float32)})
    assert set(opt.slots) == {"a"}
    assert set(opt.slots["a"]) == {"momentum", "velocity", "velocity_hat"}
    assert set(O.SGD().slot_names()) == set()
    assert O.Adagrad().slot_names() == {"accumulator": 0.1}


def test_float32_stays_float32():
    p = {"w": np.zeros(4, np.float32)}
    O.Nadam().apply(p, {"w": np.ones(4, np.float64)})
    assert p["w"].dtype == np.float32


# ---------------------------------------------------------------- defaults (Keras 3)


@pytest.mark.parametrize("name,lr,extra", [
    ("sgd", 0.01, {"momentum": 0.0, "nesterov": False}),
    ("adam", 0.001, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}),
    ("adamw", 0.001, {"weight_decay": 0.004, "beta_1": 0.9, "epsilon": 1e-7}),
    ("rmsprop", 0.001, {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False}),
    ("adagrad", 0.001, {"initial_accumulator_value": 0.1, "epsilon": 1e-7}),
    ("adamax", 0.001, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    ("nadam", 0.001, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    ("lion", 0.001, {"beta_1": 0.9, "beta_2": 0.99}),
    ("lamb", 0.001, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    ("ftrl", 0.001, {"learning_rate_power": -0.5, "initial_accumulator_value": 0.1,
                     "l1_regularization_strength": 0.0, "l2_regularization_strength": 0.0,
                     "l2_shrinkage_regularization_strength": 0.0, "beta": 0.0}),
    ("adafactor", 0.001, {"beta_2_decay": -0.8, "epsilon_1": 1e-30, "epsilon_2": 1e-3,
                          "clip_threshold": 1.0, "relative_step": True}),
])
def test_defaults(name, lr, extra):
    config = O.get(name).get_config()
    assert config["learning_rate"] == lr
    for k, v in extra.items():
        assert config[k] == v
    assert O.get(config).get_config() == config


# ---------------------------------------------------------------- schedules


def test_exponential_decay():
    s = S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    for step, want in ((0, 0.1), (5, 0.1 * 0.5**0.5), (10, 0.05), (20, 0.025)):
        assert s(step) == pytest.approx(want, rel=1e-6)
    assert S.ExponentialDecay(0.1, 10, 0.5, staircase=True)(15) == pytest.approx(0.05)


def test_piecewise_constant_decay():
    s = S.PiecewiseConstantDecay(boundaries=[2, 4], values=[1.0, 0.5, 0.1])
    assert [s(i) for i in range(6)] == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.5, 0.1])
    with pytest.raises(DefinitionError, match="1 less"):
        S.PiecewiseConstantDecay([1, 2], [1.0])


def test_cosine_decay():
    s = S.CosineDecay(1.0, decay_steps=10, alpha=0.1)
    # halfway: 0.5 * (1 + cos(pi / 2)) = 0.5 -> (1 - 0.1) * 0.5 + 0.1
    assert s(5) == pytest.approx(0.55, rel=1e-6)
    assert s(10) == pytest.approx(0.1, rel=1e-6) and s(50) == pytest.approx(0.1, rel=1e-6)
    w = S.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=4)
    assert w(2) == pytest.approx(0.5) and w(4) == pytest.approx(1.0)
    assert w(9) == pytest.approx(0.5, abs=1e-6)


def test_other_schedules():
    assert S.InverseTimeDecay(1.0, 10, 0.5)(20) == pytest.approx(1.0 / (1 + 0.5 * 2))
    assert S.PolynomialDecay(1.0, 10, end_learning_rate=0.0, power=2.0)(5) == \
        pytest.approx(0.25)


def test_optimizer_evaluates_schedule_at_iterations():
    sched = S.PiecewiseConstantDecay([0, 1], [0.1, 0.01, 0.001])
    opt = O.SGD(learning_rate=sched)
    p = {"w": np.array([1.0], np.float32)}
    lrs = []
    for _ in range(3):
        lrs.append(opt.learning_rate)
        opt.apply(p, {"w": np.array([1.0], np.float32)})
    assert lrs == pytest.approx([0.1, 0.01, 0.001])
    assert p["w"][0] == pytest.approx(1 - 0.111, abs=1e-6)


def test_schedule_from_dict_and_config_round_trip():
    opt = O.get({"type": "adam", "learning_rate": {"type": "CosineDecay",
                                                   "initial_learning_rate": 0.1,
                                                   "decay_steps": 100}})
    assert isinstance(opt.schedule, S.CosineDecay)
    again = O.get(opt.get_config())
    assert again.get_config() == opt.get_config()
    keras_style = {"class_name": "ExponentialDecay", "module": "keras.optimizers.schedules",
                   "config": {"initial_learning_rate": 0.1, "decay_steps": 10,
                              "decay_rate": 0.9, "staircase": False,
                              "name": "ExponentialDecay"}, "registered_name": None}
    assert O.Adam(learning_rate=keras_style).learning_rate == pytest.approx(0.1)


def test_learning_rate_setter():
    opt = O.Adam(learning_rate=0.01)
    opt.learning_rate = 0.005
    assert opt.learning_rate == pytest.approx(0.005)
    opt = O.Adam(learning_rate=S.ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(UsageError, match="schedule"):
        opt.learning_rate = 0.01


# ---------------------------------------------------------------- lookup and errors


def test_public_namespace():
    opt = seqc.optimizers.Adam(learning_rate=1e-3)
    assert isinstance(opt, O.Optimizer)
    assert seqc.optimizers.schedules.ExponentialDecay is S.ExponentialDecay
    for name in ("adam", "Adam", "ADAM", "rmsprop", "RMSprop", "sgd", "Nadam", "adamw"):
        assert isinstance(O.get(name), O.Optimizer)
    keras_cfg = {"module": "keras.optimizers", "class_name": "SGD", "registered_name": None,
                 "config": {"name": "SGD", "learning_rate": 0.05, "weight_decay": None,
                            "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                            "use_ema": False, "ema_momentum": 0.99,
                            "ema_overwrite_frequency": None, "loss_scale_factor": None,
                            "gradient_accumulation_steps": None, "momentum": 0.9,
                            "nesterov": True}}
    opt = O.get(keras_cfg)
    assert isinstance(opt, O.SGD) and opt.nesterov and opt.learning_rate == pytest.approx(0.05)
    for cls in (O.Adafactor, O.Ftrl, O.Lion, O.Lamb):
        assert getattr(seqc.optimizers, cls.__name__) is cls
        assert isinstance(O.get(cls.__name__.lower()), cls)


@pytest.mark.parametrize("name", ["Adafactor", "Ftrl", "Lion", "Lamb"])
def test_keras_get_config_keys_and_round_trip(name):
    """seqc's config holds exactly Keras' keys, and Keras' serialized config builds it."""
    keras = pytest.importorskip("keras")
    kcfg = keras.optimizers.serialize(getattr(keras.optimizers, name)())
    opt = O.get(kcfg)
    assert type(opt).__name__ == name
    ours = opt.get_config()
    assert set(ours) - {"type"} == set(kcfg["config"])
    for k, v in kcfg["config"].items():
        if k != "name":
            assert ours[k] == pytest.approx(v) if isinstance(v, float) else ours[k] == v, k


@pytest.mark.parametrize("spec,field", [
    ({"type": "lion", "beta_1": 0.0}, "beta_1"),
    ({"type": "ftrl", "learning_rate_power": 0.5}, "learning_rate_power"),
    ({"type": "ftrl", "l1_regularization_strength": -1.0}, "l1_regularization_strength"),
    ({"type": "ftrl", "initial_accumulator_value": -0.1}, "initial_accumulator_value"),
    ({"type": "adafactor", "clip_threshold": 0.0}, "clip_threshold"),
    ({"type": "adafactor", "relative_step": "yes"}, "relative_step"),
    ({"type": "lamb", "beta_2": 1.0}, "beta_2"),
])
def test_new_optimizers_refuse_bad_arguments(spec, field):
    with pytest.raises(DefinitionError) as e:
        O.get(spec)
    assert e.value.field == field


def test_adafactor_factors_matrices_and_keeps_vectors_whole():
    opt = O.Adafactor()
    p = {"k": np.ones((2, 3, 4), np.float32), "b": np.ones(4, np.float32),
         "s": np.ones((), np.float32)}
    opt.apply(p, {k: np.full_like(v, 0.5) for k, v in p.items()})
    assert {k: v.shape for k, v in opt.slots["k"].items()} == \
        {"velocity": (2, 3, 4), "r": (2, 3), "c": (2, 4)}
    assert list(opt.slots["b"]) == ["velocity"] and list(opt.slots["s"]) == ["velocity"]
    # Step 1: v = g^2 (+ 1e-30), u = sign(g), rms(u) = 1: p -= max(1e-3, rms(p)) * min(lr, 1).
    np.testing.assert_allclose(p["b"], 1 - 0.001, rtol=1e-6)


@pytest.mark.parametrize("spec,match,hint", [
    ("adamm", "unknown optimizer", "did you mean 'adam'"),
    ("rmsprp", "unknown optimizer", "did you mean 'rmsprop'"),
    ({"type": "adam", "beta1": 0.9}, "no argument 'beta1'", "did you mean 'beta_1'"),
    ({"type": "sgd", "momentun": 0.9}, "no argument 'momentun'", "did you mean 'momentum'"),
    ({"type": "adam", "learning_rate": "fast"}, "learning_rate", None),
    ({"type": "adam", "learning_rate": {"type": "ExpDecay"}}, "unknown learning-rate schedule",
     None),
    ({"type": "sgd", "momentum": 1.5}, "momentum", None),
    ({"type": "adamw", "weight_decay": None}, "weight_decay", None),
    (42, "an optimizer must be", None),
])
def test_get_errors(spec, match, hint):
    with pytest.raises(DefinitionError, match=match) as e:
        O.get(spec)
    assert "Received:" in str(e.value)
    if hint:
        assert hint in str(e.value)


def test_apply_rejects_unknown_parameter():
    with pytest.raises(UsageError, match="unknown parameter"):
        O.SGD().apply({"w": np.zeros(1, np.float32)}, {"v": np.zeros(1, np.float32)})


# ---------------------------------------------------------------- one update over all parameters


def _three_params(rng):
    shapes = {"a/kernel": (3, 4), "a/bias": (4,), "b/kernel": (4, 2)}
    return {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adamax",
                                  "nadam", "lion", "ftrl", "lamb", "adafactor"])
def test_flat_step_equals_per_parameter_steps(name):
    """The step runs once over all parameters flattened together: the same numbers, bit for
    bit, as running each parameter alone, and the per-parameter slots see the same state."""
    rng = np.random.default_rng(0)
    together = _three_params(rng)
    alone = {k: v.copy() for k, v in together.items()}
    opt_all = O.get(name)
    opt_each = {k: O.get(name) for k in alone}
    refs = dict(together)
    for _ in range(4):
        grads = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in together.items()}
        opt_all.apply(together, grads)
        for k in alone:
            sub = {k: alone[k]}
            opt_each[k].apply(sub, {k: grads[k]})
    for k in together:
        assert together[k] is refs[k], "parameters must be updated in place"
        np.testing.assert_array_equal(together[k], alone[k])
        for slot, value in opt_each[k].slots[k].items():
            np.testing.assert_array_equal(opt_all.slots[k][slot], value)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adamax",
                                  "nadam", "lion", "ftrl", "lamb", "adafactor"])
def test_large_parameters_in_place_and_on_threads_match_one_at_a_time(name, monkeypatch):
    """Large parameters are updated where they lie, split over threads when larger still:
    bit for bit the numbers of updating each parameter alone on one thread."""
    rng = np.random.default_rng(2)
    shapes = {"a/kernel": (600, 500), "a/bias": (500,), "b/kernel": (300, 256), "b/bias": (3,)}
    together = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    refs = dict(together)
    alone = {k: v.copy() for k, v in together.items()}
    opt_all, opt_each = O.get(name), {k: O.get(name) for k in alone}
    for _ in range(3):
        grads = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in together.items()}
        monkeypatch.setenv("SEQC_UPDATE_THREADS", "3")
        opt_all.apply(together, grads)
        monkeypatch.setenv("SEQC_UPDATE_THREADS", "1")
        for k in alone:
            opt_each[k].apply({k: alone[k]}, {k: grads[k]})
    for k in together:
        assert together[k] is refs[k], "parameters must be updated in place"
        np.testing.assert_array_equal(together[k], alone[k])
        for slot, value in opt_each[k].slots[k].items():
            np.testing.assert_array_equal(opt_all.slots[k][slot], value)


def test_flat_step_follows_a_changing_parameter_set_and_copies():
    """A parameter leaving the step (frozen) and coming back keeps its slots; a deep copy of
    the optimizer (callbacks, checkpoints) updates its own state, not the original's."""
    import copy

    rng = np.random.default_rng(1)
    params = _three_params(rng)
    ref = {k: v.copy() for k, v in params.items()}
    opt, ref_opt = O.Adam(), {k: O.Adam() for k in params}
    schedule = [list(params), ["a/kernel", "b/kernel"], list(params)]
    for keys in schedule:
        grads = {k: rng.normal(size=params[k].shape).astype(np.float32) for k in keys}
        opt.apply(params, grads)
        for k in keys:
            ref_opt[k].apply({k: ref[k]}, {k: grads[k]})
    for k in ("a/kernel", "b/kernel"):  # in every step: the same as alone
        np.testing.assert_array_equal(params[k], ref[k])
    # a/bias skipped a step: Adam's bias correction follows the optimizer's shared iteration
    # count (as in Keras), so compare its moments, which only its gradients drive.
    for slot in ("momentum", "velocity"):
        np.testing.assert_array_equal(opt.slots["a/bias"][slot],
                                      ref_opt["a/bias"].slots["a/bias"][slot])
    twin = copy.deepcopy(opt)
    before = {k: v.copy() for k, v in opt.slots["a/bias"].items()}
    p2 = {k: v.copy() for k, v in params.items()}
    twin.apply(p2, {k: np.ones_like(v) for k, v in p2.items()})
    for slot, value in before.items():
        np.testing.assert_array_equal(opt.slots["a/bias"][slot], value)
    assert not np.array_equal(twin.slots["a/bias"]["momentum"], before["momentum"])


def test_mixed_dtypes_step_each_parameter():
    p = {"a": np.zeros(3, np.float32), "b": np.zeros(2, np.float64)}
    O.Adam().apply(p, {"a": np.ones(3, np.float32), "b": np.ones(2, np.float64)})
    assert p["a"].dtype == np.float32 and p["b"].dtype == np.float64
    np.testing.assert_allclose(p["a"], -0.001, rtol=1e-4)
    np.testing.assert_allclose(p["b"], -0.001, rtol=1e-4)


def test_adadelta_steps_as_torch_adadelta_with_its_defaults():
    """A PyTorch script's optim.Adadelta(params) reads as Adadelta(1.0, rho=0.9, eps=1e-6):
    the same update rule as Keras', so it steps as torch does."""
    torch = pytest.importorskip("torch")
    from seqc.frontend.pyscript import script_to_spec

    spec = script_to_spec("import torch\nfrom torch import nn\nm = nn.Sequential("
                          "nn.Linear(3, 2))\nloss_fn = nn.MSELoss()\nopt = torch.optim."
                          "Adadelta(m.parameters())\n", "m.py")
    assert spec["compile"]["optimizer"] == {"type": "Adadelta", "learning_rate": 1.0,
                                            "rho": 0.9, "epsilon": 1e-6}
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=5).astype(np.float32)
    tw = torch.tensor(w0, requires_grad=True)
    topt = torch.optim.Adadelta([tw])
    p = {"w": w0.copy()}
    opt = O.get(spec["compile"]["optimizer"])
    for _ in range(4):
        g = (2 * p["w"] - 1).astype(np.float32)  # gradient of sum(w^2 - w)
        opt.apply(p, {"w": g})
        topt.zero_grad()
        (tw * tw - tw).sum().backward()
        topt.step()
        np.testing.assert_allclose(p["w"], tw.detach().numpy(), atol=1e-6)


def test_step_lr_schedule_steps_per_epoch_as_torch():
    """PyTorch's StepLR, stepped once per epoch, as a seqc schedule the fit loop feeds its
    steps per epoch: the same weights as a torch training loop, epoch by epoch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = rng.normal(size=(8, 1)).astype(np.float32)
    m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(1)])
    t = torch.nn.Linear(3, 1)
    w, b = m.get_weights()
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(w.T))
        t.bias.copy_(torch.from_numpy(b))
    sched = {"type": "StepLR", "initial_learning_rate": 0.1, "step_size": 1, "gamma": 0.5}
    m.compile(optimizer={"type": "SGD", "learning_rate": sched}, loss="mse")
    m.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    opt = torch.optim.SGD(t.parameters(), lr=0.1)
    step_lr = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        for i in (0, 4):
            opt.zero_grad()
            torch.nn.functional.mse_loss(t(torch.from_numpy(x[i:i + 4])),
                                         torch.from_numpy(y[i:i + 4])).backward()
            opt.step()
        step_lr.step()
    np.testing.assert_allclose(m.get_weights()[0], t.weight.detach().numpy().T, atol=1e-6)
    with pytest.raises(DefinitionError, match="steps per epoch"):
        S.get(sched)(3)


def test_a_keras_file_cannot_hold_a_step_lr_schedule(tmp_path):
    m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(1)])
    m.compile(optimizer={"type": "SGD", "learning_rate": {
        "type": "StepLR", "initial_learning_rate": 0.1, "step_size": 1}}, loss="mse")
    with pytest.raises(UsageError, match="StepLR"):
        m.save(str(tmp_path / "m.keras"))


def test_threaded_update_works_in_a_forked_child(monkeypatch):
    """A child forked after the parent's update pool started makes its own (the inherited
    pool has no threads): the child's update finishes and gives the parent's numbers."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    monkeypatch.setenv("SEQC_UPDATE_THREADS", "2")
    rng = np.random.default_rng(3)
    p0 = rng.normal(size=(600, 500)).astype(np.float32)
    g = rng.normal(size=p0.shape).astype(np.float32)
    parent = {"w": p0.copy()}
    O.Adam().apply(parent, {"w": g})  # starts the pool here
    with mp.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_adam_once, (p0, g)).get(timeout=60)
    np.testing.assert_array_equal(child, parent["w"])


def _adam_once(p0, g):
    p = {"w": p0.copy()}
    O.Adam().apply(p, {"w": g})
    return p["w"]
