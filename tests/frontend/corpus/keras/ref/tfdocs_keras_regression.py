import keras
from keras import layers


def build_and_compile_model(norm):
  model = keras.Sequential([
      norm,
      layers.Dense(64, activation='relu'),
      layers.Dense(64, activation='relu'),
      layers.Dense(1)
  ])
  model.compile(loss='mean_absolute_error',
                optimizer=keras.optimizers.Adam(0.001))
  return model


def build():
    normalizer = keras.layers.Normalization(axis=-1)
    # normalizer.adapt(np.array(train_features)) -> train_features has 9 columns
    dnn_model = build_and_compile_model(normalizer)
    dnn_model.build((None, 9))
    return dnn_model
