import keras

n_features = 29  # train_features.shape[-1]: V1..V28 + 'Log Amount'


def make_model(metrics=None, output_bias=None):
  if output_bias is not None:
    output_bias = keras.initializers.Constant(output_bias)
  model = keras.Sequential([
      keras.layers.Dense(
          16, activation='relu',
          input_shape=(n_features,)),
      keras.layers.Dropout(0.5),
      keras.layers.Dense(1, activation='sigmoid',
                         bias_initializer=output_bias),
  ])
  return model


def build():
    return make_model()
