from keras.models import Sequential
from keras.layers import Dense, Dropout, Embedding, LSTM, Bidirectional, Input

max_features = 20000
maxlen = 100


def build():
    model = Sequential()
    model.add(Input((maxlen,)))  # input_length=maxlen
    model.add(Embedding(max_features, 128))
    model.add(Bidirectional(LSTM(64)))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation='sigmoid'))
    return model
