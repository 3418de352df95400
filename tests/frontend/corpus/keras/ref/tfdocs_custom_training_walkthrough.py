import keras
from keras import ops


def build():
    model = keras.Sequential([
      keras.layers.Dense(10, activation=ops.relu, input_shape=(4,)),  # tf.nn.relu; input shape required
      keras.layers.Dense(10, activation=ops.relu),
      keras.layers.Dense(3)
    ])
    return model
