from keras.models import Sequential
from keras.layers import Dense, LSTM

maxlen = 40
n_chars = 57  # len(chars) of the lower-cased nietzsche.txt


def build():
    model = Sequential()
    model.add(LSTM(128, input_shape=(maxlen, n_chars)))
    model.add(Dense(n_chars, activation='softmax'))
    return model
