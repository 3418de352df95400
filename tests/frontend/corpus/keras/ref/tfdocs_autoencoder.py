import numpy as np
import keras
from keras import layers
from keras.models import Model


class Autoencoder(Model):
  def __init__(self, latent_dim, shape):
    super(Autoencoder, self).__init__()
    self.latent_dim = latent_dim
    self.shape = shape
    self.encoder = keras.Sequential([
      layers.Flatten(),
      layers.Dense(latent_dim, activation='relu'),
    ])
    self.decoder = keras.Sequential([
      layers.Dense(int(np.prod(shape)), activation='sigmoid'),  # tf.math.reduce_prod(shape).numpy()
      layers.Reshape(shape)
    ])

  def call(self, x):
    encoded = self.encoder(x)
    decoded = self.decoder(encoded)
    return decoded


BUILD_SHAPE = (None, 28, 28)


def build():
    shape = (28, 28)  # x_test.shape[1:]
    latent_dim = 64
    autoencoder = Autoencoder(latent_dim, shape)
    # Keras 3 (torch): Model.build() on a subclassed model creates no weights; call it once
    autoencoder(np.zeros((1, 28, 28), 'float32'))
    return autoencoder
