import keras
from keras import layers

max_features = 10000
sequence_length = 250
embedding_dim = 16


def build():
    model = keras.Sequential([
      layers.Embedding(max_features, embedding_dim),
      layers.Dropout(0.2),
      layers.GlobalAveragePooling1D(),
      layers.Dropout(0.2),
      layers.Dense(1, activation='sigmoid')])
    model.build((None, sequence_length))
    return model
