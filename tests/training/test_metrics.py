"""Metrics: hand values (Keras' docstring examples), accumulation, "accuracy" resolution, AUC,
and agreement with keras.metrics when keras is importable."""

from __future__ import annotations

import os

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.training import metrics as M


def test_binary_accuracy_keras_docstring_values():
    m = M.BinaryAccuracy()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(0.5)
    assert m.name == "binary_accuracy" and m.direction == "up"


def test_binary_accuracy_rank_mismatch_and_threshold():
    m = M.BinaryAccuracy(threshold=0.7)
    m.update_state(np.array([1, 0, 1]), np.array([[0.8], [0.75], [0.6]]))
    assert m.result() == pytest.approx(1 / 3)


def test_categorical_and_sparse_accuracy():
    y_pred = np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    m = M.CategoricalAccuracy()
    m.update_state(np.array([[0, 0, 1], [0, 1, 0]]), y_pred)
    assert m.result() == pytest.approx(0.5)
    for labels in (np.array([2, 1]), np.array([[2], [1]])):
        s = M.SparseCategoricalAccuracy()
        s.update_state(labels, y_pred)
        assert s.result() == pytest.approx(0.5)
    s = M.SparseCategoricalAccuracy()
    s.update_state(np.array([2, 1]), y_pred, sample_weight=[0.7, 0.3])
    assert s.result() == pytest.approx(0.3)


def test_mean_metrics_accumulate_over_samples_not_batches():
    m = M.BinaryAccuracy()
    m.update_state([[1], [1], [1]], [[0.9], [0.9], [0.9]])  # 3 right
    m.update_state([[1]], [[0.1]])  # 1 wrong
    assert m.result() == pytest.approx(0.75)  # not the batch mean (1 + 0) / 2


def test_regression_metrics_hand_values():
    yt = np.array([[0.0, 1.0], [0.0, 0.0]])
    yp = np.array([[1.0, 1.0], [1.0, 0.0]])
    mse = M.get("mse")
    mse.update_state(yt, yp)
    assert mse.name == "mse" and mse.result() == pytest.approx(0.5)
    assert mse.direction == "down"
    mae = M.get("mean_absolute_error")
    mae.update_state(yt, np.array([[0.5, 1.0], [0.0, -1.0]]))
    assert mae.result() == pytest.approx((0.25 + 0.5) / 2)
    rmse = M.RootMeanSquaredError()
    rmse.update_state(np.array([[0.0], [0.0]]), np.array([[3.0], [4.0]]))
    assert rmse.result() == pytest.approx(np.sqrt(12.5))


def test_accuracy_resolution_follows_keras_compile_utils():
    bce, cce, scce = "binary_crossentropy", "categorical_crossentropy", \
        "sparse_categorical_crossentropy"
    assert type(M.get("accuracy", bce, (None, 1), (8, 1))) is M.BinaryAccuracy
    assert type(M.get("accuracy", bce, (None, 1), (8,))) is M.BinaryAccuracy
    assert type(M.get("acc", scce, (None, 3), (8,))) is M.SparseCategoricalAccuracy
    assert type(M.get("acc", scce, (None, 3), (8, 1))) is M.SparseCategoricalAccuracy
    assert type(M.get("accuracy", cce, (None, 3), (8, 3))) is M.CategoricalAccuracy
    # Without the labels' shape the loss decides.
    assert type(M.get("accuracy", bce, (None, 4))) is M.BinaryAccuracy
    assert type(M.get("accuracy", scce, (None, 4))) is M.SparseCategoricalAccuracy
    assert type(M.get("accuracy", cce, (None, 4))) is M.CategoricalAccuracy
    # Keras names the metric after the string it was given.
    assert M.get("acc", bce, (None, 1)).name == "acc"


def test_get_specs_and_unknown_names():
    assert M.get("AUC").name == "AUC"  # the identifier string, as Keras logs it
    assert M.get("auc").name == "auc"
    auc = M.get({"type": "AUC", "num_thresholds": 50})
    assert auc.name == "auc" and auc.num_thresholds == 50
    assert M.get({"class_name": "Precision", "config": {"thresholds": 0.3}}).thresholds == [0.3]
    with pytest.raises(DefinitionError, match="did you mean 'accuracy'"):
        M.get("acuracy")
    with pytest.raises(DefinitionError, match="num_thresholds"):
        M.get({"type": "AUC", "num_threshold": 3})
    custom = M.get(lambda yt, yp: np.abs(yt - yp))
    custom.update_state(np.zeros((2, 1)), np.ones((2, 1)))
    assert custom.result() == 1.0


def test_auc_keras_docstring_values():
    m = M.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.75)
    np.testing.assert_allclose(m.tp, [2, 1, 0])
    np.testing.assert_allclose(m.fp, [2, 0, 0])
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)


def _exact_roc_auc(y, p):
    """Probability a random positive scores above a random negative (ties count half)."""
    pos, neg = p[y == 1], p[y == 0]
    gt = (pos[:, None] > neg[None, :]).mean()
    eq = (pos[:, None] == neg[None, :]).mean()
    return gt + 0.5 * eq


def test_auc_close_to_exact_roc_auc_and_batch_invariant():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 500), 0, 1)
    m = M.AUC()
    m.update_state(y, p)
    whole = m.result()
    assert whole == pytest.approx(_exact_roc_auc(y, p), abs=5e-3)
    m.reset_state()
    for i in range(0, 500, 64):
        m.update_state(y[i:i + 64], p[i:i + 64])
    assert m.result() == pytest.approx(whole, abs=1e-12)


def test_precision_recall_hand_values():
    y = [0, 1, 1, 1]
    p = [1, 0, 1, 1]
    prec, rec = M.Precision(), M.Recall()
    prec.update_state(y, p)
    rec.update_state(y, p)
    assert prec.result() == pytest.approx(2 / 3)
    assert rec.result() == pytest.approx(2 / 3)
    prec.reset_state()
    prec.update_state(y, p, sample_weight=[0, 0, 1, 0])
    assert prec.result() == pytest.approx(1.0)
    # Nothing predicted positive: 0, not NaN (Keras' divide_no_nan).
    empty = M.Precision()
    empty.update_state([1, 1], [0.1, 0.2])
    assert empty.result() == 0.0


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _k(metric, y, p, sw=None):
    metric.update_state(y, p, sample_weight=sw)
    return float(metric.result())


@pytest.mark.parametrize("curve,summation", [("ROC", "interpolation"), ("PR", "interpolation"),
                                             ("ROC", "minoring"), ("PR", "majoring")])
def test_auc_matches_keras(keras, curve, summation):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (300, 1)).astype("float32")
    p = np.clip(0.25 * y + rng.uniform(0, 0.75, (300, 1)), 0, 1).astype("float32")
    p[:5] = [[0.0], [1.0], [0.5], [0.25], [0.75]]  # bucket edges
    sw = rng.uniform(0, 2, 300).astype("float32")
    for weights in (None, sw):
        ours = M.AUC(num_thresholds=50, curve=curve, summation_method=summation)
        ours.update_state(y, p, weights)
        theirs = _k(keras.metrics.AUC(num_thresholds=50, curve=curve,
                                      summation_method=summation), y, p, weights)
        assert ours.result() == pytest.approx(theirs, abs=1e-5)


def test_confusion_and_accuracy_metrics_match_keras(keras):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (64, 1)).astype("float32")
    p = rng.uniform(0, 1, (64, 1)).astype("float32")
    sw = rng.uniform(0, 1, 64).astype("float32")
    for ours, theirs in [(M.Precision(), keras.metrics.Precision()),
                         (M.Recall(), keras.metrics.Recall()),
                         (M.BinaryAccuracy(), keras.metrics.BinaryAccuracy()),
                         (M.AUC(from_logits=True), keras.metrics.AUC(from_logits=True))]:
        ours.update_state(y, p * 4 - 2 if ours.name == "auc" else p, sw)
        k = _k(theirs, y, p * 4 - 2 if ours.name == "auc" else p, sw)
        assert ours.result() == pytest.approx(k, abs=1e-5), ours.name
    yc = rng.integers(0, 5, 64)
    pc = rng.uniform(0, 1, (64, 5)).astype("float32")
    ours = M.SparseCategoricalAccuracy()
    ours.update_state(yc, pc, sw)
    assert ours.result() == pytest.approx(
        _k(keras.metrics.SparseCategoricalAccuracy(), yc, pc, sw), abs=1e-6)
    onehot = np.eye(5, dtype="float32")[yc]
    for ours, theirs in [(M.CategoricalAccuracy(), keras.metrics.CategoricalAccuracy()),
                         (M.MeanSquaredError(), keras.metrics.MeanSquaredError()),
                         (M.CategoricalCrossentropy(), keras.metrics.CategoricalCrossentropy())]:
        ours.update_state(onehot, pc, sw)
        assert ours.result() == pytest.approx(_k(theirs, onehot, pc, sw), rel=1e-5), ours.name
