import numpy as np
import keras
from keras import layers
from keras.models import Model


class AnomalyDetector(Model):
  def __init__(self):
    super(AnomalyDetector, self).__init__()
    self.encoder = keras.Sequential([
      layers.Dense(32, activation="relu"),
      layers.Dense(16, activation="relu"),
      layers.Dense(8, activation="relu")])
    self.decoder = keras.Sequential([
      layers.Dense(16, activation="relu"),
      layers.Dense(32, activation="relu"),
      layers.Dense(140, activation="sigmoid")])

  def call(self, x):
    encoded = self.encoder(x)
    decoded = self.decoder(encoded)
    return decoded


BUILD_SHAPE = (None, 140)


def build():
    autoencoder = AnomalyDetector()
    # Keras 3 (torch): Model.build() on a subclassed model creates no weights; call it once
    autoencoder(np.zeros((1, 140), 'float32'))
    return autoencoder
