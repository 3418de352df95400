import keras
from keras import layers

sequence_length = 120
n_features = 14  # raw_data.shape[-1]


def build():
    inputs = keras.Input(shape=(sequence_length, n_features))
    x = layers.Bidirectional(layers.LSTM(16))(inputs)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    return model
