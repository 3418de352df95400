from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation, Embedding, LSTM, Conv1D, MaxPooling1D, Input

max_features = 20000
maxlen = 100
embedding_size = 128
filter_length = 5
nb_filter = 64
pool_length = 4
lstm_output_size = 70


def build():
    model = Sequential()
    model.add(Input((maxlen,)))
    model.add(Embedding(max_features, embedding_size))
    model.add(Dropout(0.25))
    model.add(Conv1D(filters=nb_filter, kernel_size=filter_length, padding='valid',
                     activation='relu', strides=1))
    model.add(MaxPooling1D(pool_size=pool_length))
    model.add(LSTM(lstm_output_size))
    model.add(Dense(1))
    model.add(Activation('sigmoid'))
    return model
