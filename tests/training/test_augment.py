"""seqc.training.augment against Keras' ImageDataGenerator (apply_transform for fixed
parameters) and Keras 3's epoch iterator (which batches an epoch of steps_per_epoch takes)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import seqc
from seqc.errors import UsageError
from seqc.training import augment
from seqc.training.steps import EpochSteps, data_order

os.environ.setdefault("KERAS_BACKEND", "torch")


def _params(rng, t):
    far = 10 if t % 4 == 0 else 1  # also positions far outside the image (fill_mode's seams)
    return {"theta": rng.uniform(-40, 40), "tx": rng.uniform(-4, 4) * far,
            "ty": rng.uniform(-5, 5) * far,
            "shear": rng.uniform(-20, 20), "zx": rng.uniform(0.7, 1.3),
            "zy": rng.uniform(0.7, 1.3), "flip_horizontal": bool(t % 2),
            "flip_vertical": t % 3 == 0}


@pytest.mark.parametrize("fill_mode", augment.FILL_MODES)
def test_apply_transform_matches_keras(fill_mode):
    pytest.importorskip("scipy")
    image = pytest.importorskip("keras.src.legacy.preprocessing.image")
    gen = image.ImageDataGenerator(fill_mode=fill_mode, cval=0.3)
    rng = np.random.default_rng(0)
    worst = 0.0
    for shape in ((13, 17, 3), (1, 5, 2), (6, 1, 1)):
        x = rng.random(shape).astype(np.float32)
        for t in range(16):
            p = {"tx": 2.0, "ty": -3.0} if t == 0 else {"tx": 2.5, "ty": -3.25} if t == 1 \
                else {"tx": -24.0, "ty": 32.0} if t == 2 else _params(rng, t)
            ours = augment.apply_transform(x, p, fill_mode, 0.3)
            assert ours.shape == x.shape and ours.dtype == x.dtype
            worst = max(worst, float(np.abs(gen.apply_transform(x, p) - ours).max()))
    assert worst <= 1e-5, worst


def test_random_transform_draws_within_keras_ranges():
    cfg = augment.check({"rotation_range": 30, "width_shift_range": 0.1,
                         "height_shift_range": [2, 4], "shear_range": 10,
                         "zoom_range": [0.8, 1.1], "horizontal_flip": True})
    rng = np.random.default_rng(1)
    ps = [augment.random_transform(cfg, (20, 30, 3), rng) for _ in range(300)]
    assert all(-30 <= p["theta"] <= 30 and abs(p["ty"]) <= 3.0 for p in ps)
    assert {abs(p["tx"]) for p in ps} == {2.0, 4.0}  # a list: a choice, in pixels
    assert all(0.8 <= p["zx"] <= 1.1 and 0.8 <= p["zy"] <= 1.1 for p in ps)
    assert 0.3 < np.mean([p["flip_horizontal"] for p in ps]) < 0.7
    assert not any(p["flip_vertical"] for p in ps)


def test_augment_batch_rescales_after_the_transform_and_is_seeded():
    cfg = augment.check({"horizontal_flip": True, "rescale": 0.5})
    x = np.random.default_rng(0).random((8, 4, 5, 1)).astype(np.float32)
    a = augment.augment_batch(x, cfg, np.random.default_rng(3))
    b = augment.augment_batch(x, cfg, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    for i in range(8):
        assert np.allclose(a[i], x[i] * 0.5) or np.allclose(a[i], x[i, :, ::-1] * 0.5)


@pytest.mark.parametrize("cfg, field", [({"fill_mode": "mirror"}, "fill_mode"),
                                        ({"brightness_range": [0.5, 1]}, "augmentation"),
                                        ({"zoom_range": [1, 2, 3]}, "zoom_range"),
                                        ({"horizontal_flip": 1}, "horizontal_flip")])
def test_settings_seqc_does_not_run_are_refused(cfg, field):
    with pytest.raises(UsageError) as e:
        augment.check(cfg)
    assert e.value.field == field


@pytest.mark.parametrize("n, batch, steps", [(10, 4, 2), (10, 4, 5), (8, 4, 2), (10, 3, 3)])
def test_steps_per_epoch_on_arrays_takes_the_batches_keras_3_takes(n, batch, steps):
    ei = pytest.importorskip("keras.src.trainers.epoch_iterator")
    import warnings

    x = np.arange(n, dtype="float32")[:, None]
    it = ei.EpochIterator(x=x, batch_size=batch, steps_per_epoch=steps, shuffle=False)
    per_epoch = EpochSteps(lambda e: (np.arange(n)[lo:lo + batch]
                                      for lo in range(0, n, batch)), steps, -(-n // batch))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras: "your input ran out of data"
        for _ in range(4):
            keras_rows = [np.asarray(d[0][0] if isinstance(d[0], tuple) else d[0]).ravel()
                          .astype(int).tolist() for _, _, d in it]
            ours = [b.tolist() for b in per_epoch.epoch(0)]
            assert keras_rows and ours == keras_rows


def test_steps_per_epoch_on_a_generator_runs_on_across_passes():
    new_pass, _ = data_order(5, [{"batch": 2}, {"repeat": -1}], 0)  # Keras' iterators
    per_epoch = EpochSteps(lambda e: new_pass(), 4, None)
    epochs = [[b.tolist() for b in per_epoch.epoch(e)] for e in range(2)]
    assert epochs == [[[0, 1], [2, 3], [4], [0, 1]], [[2, 3], [4], [0, 1], [2, 3]]]


def _model():
    m = seqc.Sequential([seqc.layers.Input((6, 6, 1)), seqc.layers.Flatten(),
                         seqc.layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    return m


def test_fit_with_augmentation_and_steps_is_deterministic_and_trains_on_transformed_images():
    x = np.random.default_rng(0).random((10, 6, 6, 1)).astype("float32")
    y = np.ones((10, 1), "float32")
    runs = []
    for aug in ({"rotation_range": 30, "horizontal_flip": True}, {"rotation_range": 30,
                "horizontal_flip": True}, None):
        m = _model()
        seen: list = []

        class Count(seqc.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None, seen=seen):
                seen.append(batch)

        m.fit(x, y, batch_size=4, epochs=2, steps_per_epoch=5, repeat="passes", augmentation=aug,
              callbacks=[Count()], verbose=0)
        assert seen == [0, 1, 2, 3, 4] * 2
        runs.append(m.get_weights()[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_augmentation_takes_images():
    m = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    with pytest.raises(UsageError, match="augmentation transforms images"):
        m.fit(np.zeros((4, 4), "float32"), np.zeros((4, 1), "float32"),
              augmentation={"horizontal_flip": True}, verbose=0)


def test_a_spec_with_augmentation_builds_and_reports_it(tmp_path):
    import json

    from seqc.pipeline import BuildOptions, build

    spec = {"input_shape": [6, 6, 1], "layers": [{"type": "Flatten"},
                                                 {"type": "Dense", "units": 2,
                                                  "activation": "softmax"}],
            "compile": {"optimizer": "adam", "loss": "categorical_crossentropy"},
            "fit": {"epochs": 2, "batch_size": 4, "steps_per_epoch": 3, "repeat": "passes",
                    "augmentation": {"zoom_range": 0.1, "vertical_flip": True,
                                     "rescale": 0.5}}}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.random((10, 6, 6, 1)).astype("float32"))
    np.save(tmp_path / "y.npy", np.eye(2, dtype="float32")[np.arange(10) % 2])
    report = build(str(tmp_path / "m.json"), BuildOptions(
        out_dir=str(tmp_path / "out"), x=str(tmp_path / "x.npy"), y=str(tmp_path / "y.npy"),
        verbose=0, log=None, report=False))
    assert report["augmentation"] == {"zoom_range": 0.1, "vertical_flip": True, "rescale": 0.5}
    assert report["trained"] and len(report["history"]["loss"]) == 2


def test_a_spec_with_an_unknown_augmentation_setting_is_refused(tmp_path):
    import json

    from seqc.errors import DefinitionError
    from seqc.frontend import load_definition

    spec = {"input_shape": [6, 6, 1], "layers": [{"type": "Flatten"}],
            "fit": {"augmentation": {"brightness_range": [0.5, 1.5]}}}
    (tmp_path / "m.json").write_text(json.dumps(spec))
    with pytest.raises(DefinitionError, match="brightness_range"):
        load_definition(str(tmp_path / "m.json"))


def test_rescale_first_commutes_with_the_transforms():
    cfg = {"rotation_range": 30, "channel_shift_range": 40.0, "fill_mode": "constant",
           "cval": 100.0, "rescale": 1 / 255}
    x = np.random.default_rng(0).integers(0, 256, (3, 7, 9, 3)).astype("float32")
    per_batch = augment.augment_batch(x, augment.check(cfg), np.random.default_rng(5))
    xr, rest = augment.rescale_first(x, cfg)
    first = augment.augment_batch(xr, augment.check(rest), np.random.default_rng(5))
    np.testing.assert_allclose(first, per_batch, atol=1e-6)


def test_channel_shift_matches_keras():
    image = pytest.importorskip("keras.src.legacy.preprocessing.image")
    x = np.random.default_rng(2).random((5, 6, 3)).astype("float32")
    p = {"channel_shift_intensity": 0.3, "theta": 10.0}
    np.testing.assert_allclose(augment.apply_transform(x, p),
                               image.ImageDataGenerator().apply_transform(x, p), atol=1e-6)


def test_resuming_with_steps_per_epoch_replays_the_uninterrupted_run():
    x = np.random.default_rng(0).random((10, 6, 6, 1)).astype("float32")
    y = np.ones((10, 1), "float32")
    kw = {"batch_size": 4, "steps_per_epoch": 3, "repeat": "passes", "verbose": 0,
          "augmentation": {"horizontal_flip": True}}
    a = _model()
    a.fit(x, y, epochs=3, **kw)
    b = _model()
    b.fit(x, y, epochs=2, **kw)
    b.fit(x, y, epochs=3, initial_epoch=2, **kw)
    np.testing.assert_allclose(a.get_weights()[0], b.get_weights()[0], rtol=1e-6, atol=1e-7)
