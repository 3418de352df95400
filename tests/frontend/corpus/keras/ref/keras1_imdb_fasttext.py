from keras.models import Sequential
from keras.layers import Dense, Embedding, GlobalAveragePooling1D, Input

max_features = 20000  # ngram_range = 1: the n-gram branch is not taken
maxlen = 400
embedding_dims = 50


def build():
    model = Sequential()
    model.add(Input((maxlen,)))
    model.add(Embedding(max_features, embedding_dims))
    model.add(GlobalAveragePooling1D())
    model.add(Dense(1, activation='sigmoid'))
    return model
