from keras.models import Sequential
from keras.layers import Dense, Activation, Embedding, LSTM

max_features = 20000
maxlen = 80


def build():
    model = Sequential()
    # Keras 1: Embedding(max_features, 128, dropout=0.2); LSTM(128, dropout_W=0.2, dropout_U=0.2)
    model.add(Embedding(max_features, 128))
    model.add(LSTM(128, dropout=0.2, recurrent_dropout=0.2))
    model.add(Dense(1))
    model.add(Activation('sigmoid'))
    model.build((None, maxlen))
    return model
