"""Initializers: Keras 3's formulas (VarianceScaling family), fans, seeding, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import seqc
from seqc.errors import DefinitionError
from seqc.training.initializers import compute_fans, get, init_params

RNG = np.random.default_rng


def draw(spec, shape=(400, 300), seed=0):
    return np.asarray(get(spec)(shape, RNG(seed), "float32"))


@pytest.mark.parametrize("name,scale,mode", [
    ("glorot_uniform", 1.0, "fan_avg"), ("he_uniform", 2.0, "fan_in"),
    ("lecun_uniform", 1.0, "fan_in")])
def test_uniform_limits(name, scale, mode):
    fan_in, fan_out = 400, 300
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    limit = math.sqrt(3 * scale / n)  # glorot: sqrt(6 / (fan_in + fan_out))
    w = draw(name)
    assert w.min() >= -limit and w.max() <= limit
    assert w.max() > 0.99 * limit and w.min() < -0.99 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.01 * limit


@pytest.mark.parametrize("name,scale,mode", [
    ("glorot_normal", 1.0, "fan_avg"), ("he_normal", 2.0, "fan_in"),
    ("lecun_normal", 1.0, "fan_in")])
def test_truncated_normals_have_the_intended_variance(name, scale, mode):
    n = {"fan_in": 400, "fan_avg": 350}[mode]
    target = math.sqrt(scale / n)
    w = draw(name)
    # Keras divides the stddev by .8796 so the variance after truncation at 2 sigma is scale/n.
    assert abs(w.std() - target) < 0.02 * target
    assert np.abs(w).max() <= 2 * target / 0.87962566103423978 + 1e-12


def test_random_and_truncated_defaults():
    assert abs(draw("random_normal").std() - 0.05) < 0.002
    u = draw("random_uniform")
    assert u.min() >= -0.05 and u.max() <= 0.05
    t = draw("truncated_normal")
    assert np.abs(t).max() <= 0.1 + 1e-12
    w = draw({"type": "random_normal", "mean": 1.0, "stddev": 0.5})
    assert abs(w.mean() - 1.0) < 0.01


def test_constants():
    assert (draw("zeros", (3, 2)) == 0).all() and (draw("ones", (3, 2)) == 1).all()
    assert (draw({"type": "constant", "value": 0.25}, (2,)) == 0.25).all()


@pytest.mark.parametrize("value, shape", [([1, 0, 0, 0, 1, 0], (6,)), ([1.5, -2], (3, 2)),
                                          ([[0.5], [2]], (2, 3)), (3, (2, 2))])
def test_array_constants_broadcast_as_keras(value, shape):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    want = np.asarray(keras.initializers.Constant(value)(shape))
    np.testing.assert_array_equal(draw({"type": "Constant", "value": value}, shape), want)


@pytest.mark.parametrize("value, match", [([1, 2, 3], "does not broadcast"),
                                          ([1, "a"], "finite number"),
                                          ([1, float("nan")], "finite number"),
                                          ([[1, 2], [3]], "finite number")])
def test_bad_array_constants_are_refused(value, match):
    with pytest.raises(DefinitionError, match=match):
        draw({"type": "constant", "value": value}, (3, 2))


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 3, 2, 5)])
def test_orthogonal(shape):
    w = draw({"type": "orthogonal", "gain": 2.0}, shape).reshape(-1, shape[-1])
    small = min(w.shape)
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-10)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5)])
def test_identity_matches_keras(shape):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    want = np.asarray(keras.initializers.Identity(gain=0.5)(shape))
    np.testing.assert_array_equal(draw({"type": "Identity", "gain": 0.5}, shape), want)
    with pytest.raises(DefinitionError, match="needs a 2-D weight"):
        draw("identity", (2, 2, 2))


def test_fans_follow_keras():
    assert compute_fans((5,)) == (5, 5)
    assert compute_fans((3, 4)) == (3, 4)
    assert compute_fans((3, 3, 8, 16)) == (72, 144)  # receptive field 9


def test_keras_spellings_and_serialized_form():
    a = draw("GlorotUniform")
    b = draw({"class_name": "GlorotUniform", "config": {"seed": None}, "module": "keras"})
    np.testing.assert_array_equal(a, b)
    v = draw({"type": "VarianceScaling", "scale": 2.0, "mode": "fan_in",
              "distribution": "uniform"})
    np.testing.assert_array_equal(v, draw("he_uniform"))


def test_errors_suggest():
    with pytest.raises(DefinitionError, match="did you mean 'glorot_uniform'"):
        get("glorot_uniformm")
    with pytest.raises(DefinitionError, match="bad arguments"):
        get({"type": "random_normal", "stdev": 1.0})


def test_seeded_per_parameter():
    m1 = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(4)], seed=1)
    m2 = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(4),
                          seqc.layers.Dense(2)], seed=1)
    m3 = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(4)], seed=2)
    np.testing.assert_array_equal(m1.params["dense/kernel"], m2.params["dense/kernel"])
    assert not np.array_equal(m1.params["dense/kernel"], m3.params["dense/kernel"])
    again = init_params(m1.graph, 1)
    np.testing.assert_array_equal(again["dense/kernel"], m1.params["dense/kernel"])
    assert again["dense/kernel"].dtype == np.float32
