from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation, Embedding, Conv1D, GlobalMaxPooling1D, Input

max_features = 5000
maxlen = 400
embedding_dims = 50
nb_filter = 250
filter_length = 3
hidden_dims = 250


def build():
    model = Sequential()
    model.add(Input((maxlen,)))  # Keras 1: input_length=maxlen
    model.add(Embedding(max_features, embedding_dims))
    model.add(Conv1D(filters=nb_filter, kernel_size=filter_length, padding='valid',
                     activation='relu', strides=1))
    model.add(GlobalMaxPooling1D())
    model.add(Dense(hidden_dims))
    model.add(Dropout(0.2))
    model.add(Activation('relu'))
    model.add(Dense(1))
    model.add(Activation('sigmoid'))
    return model
