"""Every Keras 3 metric seqc has, against real keras.metrics (torch backend) on the same
predictions: three batches of different sizes with sample weights, then reset_state and three
more without. Counts must agree exactly (the weights are multiples of 1/4, so float32 sums are
exact), everything else within 1e-6. Also the default names (history keys), directions
and get_config."""

from __future__ import annotations

import os
import re
import zlib

import numpy as np
import pytest

from seqc.training import metrics as M

BATCHES = (7, 5, 8)
# Keras (and seqc) warn when float weights meet an integer IoU confusion matrix.
pytestmark = pytest.mark.filterwarnings("ignore:You are passing weight as `float`")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype("float32")


def _data(kind, n, rng):
    """(y_true, y_pred) for one batch of n samples."""
    f = np.float32
    if kind == "bin":  # one probability per sample, some on bucket edges
        y = rng.integers(0, 2, (n, 1)).astype(f)
        p = rng.uniform(0, 1, (n, 1)).astype(f)
        p[:3, 0] = rng.choice([0.0, 0.5, 1.0, 0.25, 0.3], 3)
        return y, p
    if kind == "ml":  # multi-label: 3 independent probabilities
        return rng.integers(0, 2, (n, 3)).astype(f), rng.uniform(0, 1, (n, 3)).astype(f)
    if kind == "logit":
        return rng.integers(0, 2, (n, 3)).astype(f), rng.normal(0, 2, (n, 3)).astype(f)
    if kind == "cat":  # one-hot labels, softmax scores over 6 classes
        return np.eye(6, dtype=f)[rng.integers(0, 6, n)], _softmax(rng.normal(0, 1.5, (n, 6)))
    if kind == "cat_logit":
        return np.eye(6, dtype=f)[rng.integers(0, 6, n)], rng.normal(0, 2, (n, 6)).astype(f)
    if kind == "sparse":
        return rng.integers(0, 6, n), _softmax(rng.normal(0, 1.5, (n, 6)))
    if kind == "sparse_col":  # labels of shape (n, 1)
        return rng.integers(0, 6, (n, 1)), _softmax(rng.normal(0, 1.5, (n, 6)))
    if kind == "sorted_ids":  # class ids ordered by score
        return rng.integers(0, 6, n), np.argsort(-rng.normal(size=(n, 6)), axis=1).astype(f)
    if kind == "ids":
        return rng.integers(0, 4, (n, 1)), rng.integers(0, 4, (n, 1))
    if kind == "reg":  # positive targets and predictions (msle, poisson, kld need them)
        return rng.uniform(0.1, 3, (n, 3)).astype(f), rng.uniform(0.1, 3, (n, 3)).astype(f)
    if kind == "signed":
        return rng.normal(0, 1, (n, 3)).astype(f), rng.normal(0, 1, (n, 3)).astype(f)
    if kind == "hinge":
        return rng.integers(0, 2, (n, 3)).astype(f), rng.normal(0, 1, (n, 3)).astype(f)
    if kind == "pm1":  # labels already -1/1
        return rng.choice([-1.0, 1.0], (n, 3)).astype(f), rng.normal(0, 1, (n, 3)).astype(f)
    if kind == "seg":  # class ids per pixel, 4 classes
        return rng.integers(0, 4, (n, 3, 3)), rng.integers(0, 4, (n, 3, 3))
    if kind == "onehot4":  # one-hot labels, scores over 4 classes
        return np.eye(4, dtype=f)[rng.integers(0, 4, n)], _softmax(rng.normal(0, 1, (n, 4)))
    if kind == "sparse4":  # class ids against scores over 4 classes
        return rng.integers(0, 4, n), _softmax(rng.normal(0, 1, (n, 4)))
    if kind == "seq":  # (samples, steps, features): per-sample values are step means
        return rng.normal(0, 1, (n, 4, 3)).astype(f), rng.normal(0, 1, (n, 4, 3)).astype(f)
    if kind == "seq_cat":
        return (np.eye(6, dtype=f)[rng.integers(0, 6, (n, 4))],
                _softmax(rng.normal(0, 1.5, (n, 4, 6))))
    if kind == "seq_bin":
        return rng.integers(0, 2, (n, 4, 1)).astype(f), rng.uniform(0, 1, (n, 4, 1)).astype(f)
    raise ValueError(kind)


def _weights(kind, y, rng):
    n = len(y)
    if kind == "seg":  # Keras' IoU flattens the weights: one per pixel, integers (int dtype)
        return rng.integers(0, 3, y.shape).astype("float32")
    if kind == "seq_bin":  # Keras' confusion metrics need one weight per step here
        return (rng.integers(0, 8, y.shape) / 4).astype("float32")
    if kind in ("ids", "sparse4", "onehot4"):
        return rng.integers(0, 3, n).astype("float32")
    return (rng.integers(0, 8, n) / 4).astype("float32")


COUNTS = {"TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"}

CASES = [
    # confusion counts
    ("TruePositives", {}, "bin"),
    ("TruePositives", {"thresholds": [0.0, 0.5, 1.0]}, "ml"),  # evenly: Keras' bucket path
    ("FalsePositives", {"thresholds": 0.3}, "ml"),
    ("TrueNegatives", {"thresholds": [0.1, 0.7]}, "bin"),
    ("FalseNegatives", {}, "ml"),
    # precision / recall
    ("Precision", {}, "bin"),
    ("Precision", {"thresholds": [0.2, 0.6]}, "ml"),
    ("Precision", {"top_k": 2}, "ml"),
    ("Precision", {"class_id": 1}, "ml"),
    ("Precision", {"top_k": 2, "class_id": 2, "thresholds": 0.3}, "cat"),
    ("Recall", {}, "bin"),
    ("Recall", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, "ml"),
    ("Recall", {"top_k": 1}, "cat"),
    ("Recall", {"class_id": 0, "thresholds": 0.4}, "ml"),
    # AUC
    ("AUC", {}, "bin"),
    ("AUC", {"curve": "PR"}, "bin"),
    ("AUC", {"num_thresholds": 50, "summation_method": "minoring"}, "bin"),
    ("AUC", {"curve": "PR", "summation_method": "majoring", "num_thresholds": 7}, "ml"),
    ("AUC", {"thresholds": [0.1, 0.3, 0.5, 0.8]}, "bin"),
    ("AUC", {"thresholds": [0.75, 0.25, 0.5]}, "ml"),  # evenly once sorted
    ("AUC", {"multi_label": True}, "ml"),
    ("AUC", {"multi_label": True, "num_labels": 3, "label_weights": [0.2, 0.5, 0.3]}, "ml"),
    ("AUC", {"multi_label": True, "curve": "PR", "num_thresholds": 20}, "ml"),
    ("AUC", {"label_weights": [1.0, 2.0, 0.5]}, "ml"),
    ("AUC", {"from_logits": True}, "logit"),
    ("AUC", {"curve": "PRGAIN", "num_thresholds": 30}, "bin"),
    # X at Y
    ("PrecisionAtRecall", {"recall": 0.5}, "bin"),
    ("RecallAtPrecision", {"precision": 0.6, "num_thresholds": 40}, "ml"),
    ("SensitivityAtSpecificity", {"specificity": 0.5, "num_thresholds": 50}, "bin"),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4, "class_id": 1}, "ml"),
    ("PrecisionAtRecall", {"recall": 0.3, "num_thresholds": 1}, "bin"),
    # accuracies
    ("Accuracy", {}, "ids"),
    ("BinaryAccuracy", {}, "bin"),
    ("BinaryAccuracy", {"threshold": 0.7}, "ml"),
    ("CategoricalAccuracy", {}, "cat"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("SparseCategoricalAccuracy", {}, "sparse_col"),
    ("TopKCategoricalAccuracy", {}, "cat"),
    ("TopKCategoricalAccuracy", {"k": 2}, "cat"),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "sparse"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse_col"),
    ("SparseTopKCategoricalAccuracy", {"k": 2, "from_sorted_ids": True}, "sorted_ids"),
    # regression and probabilistic
    ("MeanSquaredError", {}, "signed"),
    ("MeanAbsoluteError", {}, "signed"),
    ("MeanAbsolutePercentageError", {}, "reg"),
    ("MeanSquaredLogarithmicError", {}, "reg"),
    ("RootMeanSquaredError", {}, "signed"),
    ("MeanSquaredError", {}, "seq"),
    ("RootMeanSquaredError", {}, "seq"),
    ("CategoricalAccuracy", {}, "seq_cat"),
    ("BinaryAccuracy", {}, "seq_bin"),
    ("Precision", {"thresholds": [0.3, 0.7]}, "seq_bin"),
    ("AUC", {"num_thresholds": 30}, "seq_bin"),
    ("CosineSimilarity", {}, "signed"),
    ("LogCoshError", {}, "signed"),
    ("PearsonCorrelation", {}, "signed"),
    ("ConcordanceCorrelation", {}, "signed"),
    ("PearsonCorrelation", {}, "seq"),
    ("R2Score", {}, "signed"),
    ("R2Score", {"class_aggregation": "variance_weighted_average"}, "signed"),
    ("R2Score", {"class_aggregation": None}, "signed"),
    ("R2Score", {"num_regressors": 2}, "signed"),
    ("Hinge", {}, "hinge"),
    ("Hinge", {}, "pm1"),
    ("SquaredHinge", {}, "hinge"),
    ("CategoricalHinge", {}, "cat"),
    ("KLDivergence", {}, "cat"),
    ("Poisson", {}, "reg"),
    ("BinaryCrossentropy", {}, "ml"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "logit"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "cat"),
    ("CategoricalCrossentropy", {"from_logits": True}, "cat_logit"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {}, "sparse_col"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 2}, "sparse"),
    # IoU
    ("MeanIoU", {"num_classes": 4}, "ids"),
    ("MeanIoU", {"num_classes": 4}, "seg"),
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, "seg"),
    ("MeanIoU", {"num_classes": 4, "ignore_class": 1}, "seg"),
    ("MeanIoU", {"num_classes": 4, "sparse_y_pred": False}, "sparse4"),
    ("BinaryIoU", {}, "bin"),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, "bin"),
    ("OneHotIoU", {"num_classes": 4, "target_class_ids": [1, 3]}, "onehot4"),
    ("OneHotMeanIoU", {"num_classes": 4}, "onehot4"),
    # F-scores
    ("F1Score", {}, "ml"),
    ("F1Score", {"average": "macro"}, "cat"),
    ("F1Score", {"average": "micro", "threshold": 0.5}, "ml"),
    ("F1Score", {"average": "weighted"}, "ml"),
    ("FBetaScore", {"beta": 2.0, "average": "macro"}, "ml"),
    ("FBetaScore", {"beta": 0.5, "threshold": 0.4}, "cat"),
]


def _keras_result(keras, m):
    return np.asarray(keras.ops.convert_to_numpy(m.result()), dtype=np.float64)


@pytest.mark.parametrize("cls,kwargs,kind", CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_metric_matches_keras(keras, cls, kwargs, kind):
    rng = np.random.default_rng(zlib.crc32(f"{cls}{kwargs}{kind}".encode()))
    ours, theirs = M.NAMES[cls](**kwargs), getattr(keras.metrics, cls)(**kwargs)
    assert ours.name == re.sub(r"_\d+$", "", theirs.name)
    assert ours.direction == getattr(theirs, "_direction", None)  # EarlyStopping's "auto"
    cfg, kcfg = ours.get_config(), theirs.get_config()
    assert cfg.pop("type") == cls
    kcfg["name"] = re.sub(r"_\d+$", "", kcfg["name"])
    if kcfg.get("label_weights") is not None:  # a tensor in Keras' config
        np.testing.assert_allclose(cfg.pop("label_weights"),
                                   keras.ops.convert_to_numpy(kcfg.pop("label_weights")))
    assert cfg == kcfg
    exact = cls in COUNTS
    for weighted in (True, False):
        for n in BATCHES:
            y, p = _data(kind, n, rng)
            sw = _weights(kind, y, rng) if weighted else None
            ours.update_state(y, p, sw)
            theirs.update_state(y, p, sample_weight=sw)
            a, b = np.asarray(ours.result(), np.float64), _keras_result(keras, theirs)
            assert a.shape == b.shape, (a, b)
            if exact:
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        ours.reset_state()
        theirs.reset_state()


def test_per_sample_weights_spread_over_steps():
    """(N,) weights against (N, steps, 1) predictions weight every step of the sample, where
    Keras needs them spelled out per step (and would fail to broadcast)."""
    rng = np.random.default_rng(5)
    y, p = _data("seq_bin", 9, rng)
    sw = (rng.integers(0, 8, 9) / 4).astype("float32")
    for cls, kw in (("Precision", {"thresholds": [0.3, 0.7]}), ("AUC", {}),
                    ("FalseNegatives", {})):
        a, b = M.NAMES[cls](**kw), M.NAMES[cls](**kw)
        a.update_state(y, p, sw)
        b.update_state(y, p, np.broadcast_to(sw[:, None, None], y.shape))
        np.testing.assert_array_equal(a.result(), b.result())


def last_time_step_mse(y_true, y_pred):  # Hands-On ML 2's seq2seq metric, run by Keras here
    import keras

    return keras.metrics.mean_squared_error(y_true[:, -1], y_pred[:, -1])


@pytest.mark.parametrize("weighted", [False, True])
def test_indexed_metric_matches_a_keras_function_metric(keras, weighted):
    """A script's `def f(y_true, y_pred): return mean_squared_error(y_true[:, -1],
    y_pred[:, -1])` in compile(metrics=[f]): Keras wraps it in MeanMetricWrapper; seqc reads
    it as {"type": "MeanSquaredError", "index": [null, -1]} (frontend/_pyscript_compile)."""
    rng = np.random.default_rng(3)
    ours = M.get({"type": "MeanSquaredError", "name": "last_time_step_mse", "index": [None, -1]})
    theirs = keras.metrics.MeanMetricWrapper(fn=last_time_step_mse, name="last_time_step_mse")
    for n in (5, 3):
        y, p = (rng.normal(size=(n, 7, 10)).astype("float32") for _ in range(2))
        w = rng.uniform(0.1, 2.0, size=(n,)).astype("float32") if weighted else None
        ours.update_state(y, p, w)
        theirs.update_state(y, p, sample_weight=w)
    assert ours.name == "last_time_step_mse"
    np.testing.assert_allclose(ours.result(), _keras_result(keras, theirs), rtol=1e-6)
    assert ours.get_config()["index"] == [None, -1]
    with pytest.raises(Exception, match="index"):
        M.get({"type": "MeanSquaredError", "index": [0, -1]})  # the batch axis is kept
