from keras.models import Sequential
from keras import layers

n_features = 14  # float_data.shape[-1] for jena_climate_2009_2016.csv


def build():
    model = Sequential()
    model.add(layers.GRU(32,
                         dropout=0.1,
                         recurrent_dropout=0.5,
                         return_sequences=True,
                         input_shape=(None, n_features)))
    model.add(layers.GRU(64, activation='relu',
                         dropout=0.1,
                         recurrent_dropout=0.5))
    model.add(layers.Dense(1))
    return model
