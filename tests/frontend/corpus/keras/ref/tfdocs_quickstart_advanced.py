import numpy as np
from keras.layers import Dense, Flatten, Conv2D
from keras import Model


class MyModel(Model):
  def __init__(self):
    super().__init__()
    self.conv1 = Conv2D(32, 3, activation='relu')
    self.flatten = Flatten()
    self.d1 = Dense(128, activation='relu')
    self.d2 = Dense(10)

  def call(self, x):
    x = self.conv1(x)
    x = self.flatten(x)
    x = self.d1(x)
    return self.d2(x)


BUILD_SHAPE = (None, 28, 28, 1)


def build():
    model = MyModel()
    # Keras 3 (torch): Model.build() on a subclassed model creates no weights; call it once
    model(np.zeros((1, 28, 28, 1), 'float32'))
    return model
