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


# ---- in compile / fit ----


def _classifier():
    import seqc

    return seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(3, activation="softmax")])


def test_vector_valued_metrics_are_refused_at_compile():
    """A fit log holds one number per metric: F1Score(average=None), R2Score(None) and
    several thresholds are refused with what to pass instead."""
    for spec in ("f1_score", {"type": "R2Score", "class_aggregation": None},
                 {"type": "Precision", "thresholds": [0.3, 0.6]}, M.FBetaScore(beta=2.0)):
        with pytest.raises(DefinitionError, match="one value per class or threshold") as e:
            _classifier().compile("adam", "categorical_crossentropy", metrics=[spec])
        assert "average=" in e.value.hint


def test_full_shape_metrics_in_fit_match_the_metric_on_predictions():
    """F1Score, MeanIoU (scores argmaxed) and top-k accuracy get the whole (batch, classes)
    labels and predictions in fit and evaluate; evaluate equals the metric computed once on
    model.predict."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[np.argmax(x[:, :3] + 0.5 * rng.normal(size=(50, 3)), 1)]
    model = _classifier()
    specs = [{"type": "F1Score", "average": "macro"},
             {"type": "OneHotMeanIoU", "num_classes": 3},
             {"type": "TopKCategoricalAccuracy", "k": 2}, "auc"]
    model.compile("adam", "categorical_crossentropy", metrics=specs)
    hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_split=0.2)
    names = ["f1_score", "one_hot_mean_io_u", "top_k_categorical_accuracy", "auc"]
    assert list(hist.history) == ["loss", *names, "val_loss", *(f"val_{n}" for n in names)]
    got = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    p = model.predict(x)
    for spec, name in zip(specs, names):
        m = M.get(spec)
        m.update_state(y, p)
        assert got[name] == pytest.approx(m.result(), abs=1e-6), name


def test_early_stopping_auto_mode_refuses_a_count_like_keras():
    """Keras gives TruePositives no direction, so EarlyStopping(mode="auto") cannot tell."""
    import seqc
    from seqc.errors import UsageError

    model = seqc.Sequential([seqc.layers.Input((2,)), seqc.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=[{"type": "TruePositives", "name": "tp"}])
    x = np.zeros((4, 2), "float32")
    y = np.zeros((4, 1), "float32")
    stop = {"type": "EarlyStopping", "monitor": "tp"}
    with pytest.raises(UsageError, match="maximized or minimized"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[stop])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[{**stop, "mode": "max"}])


def test_get_refusals_name_the_argument():
    with pytest.raises(DefinitionError, match="needs num_classes") as e:
        M.get("mean_io_u")
    assert e.value.field == "num_classes"
    with pytest.raises(DefinitionError, match="average"):
        M.get({"type": "F1Score", "average": "samples"})
    with pytest.raises(DefinitionError, match="thresholds"):
        M.Precision(thresholds=1.5)
    with pytest.raises(DefinitionError, match="dtype"):
        M.Recall(dtype="float16")
    with pytest.raises(DefinitionError, match="has no argument 'treshold'"):
        M.get({"type": "BinaryAccuracy", "treshold": 0.3})
    with pytest.raises(DefinitionError, match="recall"):
        M.PrecisionAtRecall(recall=2.0)
    # Keras' positional order: TopKCategoricalAccuracy(k, name, dtype).
    assert M.TopKCategoricalAccuracy(3).fn_kwargs == {"k": 3}
    assert M.get("top_k_categorical_accuracy").name == "top_k_categorical_accuracy"
    assert M.get("binary_io_u").name == "binary_io_u"


def test_get_config_is_keras_config():
    assert M.get({"type": "AUC", "name": "prc", "curve": "PR"}).get_config() == {
        "type": "AUC", "name": "prc", "dtype": "float32", "num_thresholds": 200, "curve": "PR",
        "summation_method": "interpolation", "multi_label": False, "num_labels": None,
        "label_weights": None, "from_logits": False}
    assert M.BinaryAccuracy(threshold=0.3).get_config() == {
        "type": "BinaryAccuracy", "name": "binary_accuracy", "dtype": "float32",
        "threshold": 0.3}
    assert M.MeanIoU(3).get_config()["num_classes"] == 3
    from seqc.errors import UsageError

    with pytest.raises(UsageError, match="cannot save the function metric"):
        M.get(lambda yt, yp: yt).get_config()


def test_masked_steps_do_not_count():
    """fit passes the output's timestep mask to the mean metrics: the value is the weighted
    mean over the valid steps only."""
    y = np.zeros((2, 3, 1), "float32")
    p = np.array([[[1.0], [2.0], [9.0]], [[3.0], [9.0], [9.0]]], "float32")
    mask = np.array([[1, 1, 0], [1, 0, 0]], bool)
    m = M.MeanAbsoluteError()
    m.update_state(y, p, sample_weight=np.array([1.0, 2.0]), mask=mask)
    assert m.result() == pytest.approx((1 + 2 + 2 * 3) / (1 + 1 + 2))
    m.reset_state()
    m.update_state(y, p, mask=mask)
    assert m.result() == pytest.approx((1 + 2 + 3) / 3)


def test_a_metric_class_that_needs_an_argument_says_so():
    with pytest.raises(DefinitionError, match="needs recall"):
        M.get(M.PrecisionAtRecall)
    assert M.get(M.Recall).name == "recall"
