"""Regenerate the Keras-written seed files of the fuzz suite (run from the repository root:
`python tests/fuzz/seeds/make_seeds.py`); real Keras 3 (torch backend) writes them, so the
mutations start from what users have."""

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402

OUT = Path(__file__).resolve().parent


def main() -> None:
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu", name="d1"),
                          keras.layers.Dropout(0.1),
                          keras.layers.Dense(2, activation="softmax", name="d2")], name="mlp")
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy",
              metrics=["accuracy"])
    i = keras.Input((5, 3), name="x")
    h = keras.layers.Conv1D(4, 2, padding="same", name="c")(i)
    a = keras.layers.LSTM(3, return_sequences=True, name="l")(h)
    b = keras.layers.GlobalAveragePooling1D(name="g")(a)
    c = keras.layers.Flatten(name="f")(h)
    y = keras.layers.Dense(1, name="o")(keras.layers.Concatenate(name="cat")([b, c]))
    f = keras.Model(i, y, name="func")
    f.compile(optimizer="sgd", loss="mse")
    for name, model in (("mlp", m), ("func", f)):
        model.save(OUT / f"{name}.keras")
        model.save(OUT / f"{name}.h5")  # Keras' legacy full-model HDF5 writer
        (OUT / f"{name}_keras3.json").write_text(model.to_json())


if __name__ == "__main__":
    main()
