from keras.models import Sequential
from keras.layers import Dense, Activation, Dropout, AlphaDropout

max_words = 1000


def create_network(n_dense=6, dense_units=16, activation='selu', dropout=AlphaDropout,
                   dropout_rate=0.1, kernel_initializer='lecun_normal', optimizer='adam',
                   num_classes=1, max_words=max_words):
    model = Sequential()
    model.add(Dense(dense_units, input_shape=(max_words,),
                    kernel_initializer=kernel_initializer))
    model.add(Activation(activation))
    model.add(dropout(dropout_rate))
    for i in range(n_dense - 1):
        model.add(Dense(dense_units, kernel_initializer=kernel_initializer))
        model.add(Activation(activation))
        model.add(dropout(dropout_rate))
    model.add(Dense(num_classes))
    model.add(Activation('softmax'))
    return model


network1 = {'n_dense': 6, 'dense_units': 16, 'activation': 'relu', 'dropout': Dropout,
            'dropout_rate': 0.5, 'kernel_initializer': 'glorot_uniform', 'optimizer': 'sgd'}


def build():
    num_classes = 46  # np.max(y_train) + 1
    return create_network(num_classes=num_classes, **network1)  # model1
