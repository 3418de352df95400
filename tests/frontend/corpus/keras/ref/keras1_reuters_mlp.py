from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation

max_words = 1000
nb_classes = 46  # np.max(y_train) + 1 for reuters


def build():
    model = Sequential()
    model.add(Dense(512, input_shape=(max_words,)))
    model.add(Activation('relu'))
    model.add(Dropout(0.5))
    model.add(Dense(nb_classes))
    model.add(Activation('softmax'))
    return model
