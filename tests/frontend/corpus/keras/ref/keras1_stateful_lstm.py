from keras.models import Sequential
from keras.layers import Dense, LSTM, Input

tsteps = 1
batch_size = 25


def build():
    model = Sequential()
    model.add(Input(batch_shape=(batch_size, tsteps, 1)))  # batch_input_shape=
    model.add(LSTM(50, return_sequences=True, stateful=True))
    model.add(LSTM(50, return_sequences=False, stateful=True))
    model.add(Dense(1))
    return model
