from keras.models import Sequential
from keras.layers import Dense, Activation, SimpleRNN
from keras import initializers

nb_classes = 10
hidden_units = 100


def build():
    model = Sequential()
    # Keras 1: SimpleRNN(output_dim=hidden_units, init=..., inner_init=..., ...)
    model.add(SimpleRNN(hidden_units,
                        kernel_initializer=initializers.RandomNormal(stddev=0.001),
                        recurrent_initializer=initializers.Identity(gain=1.0),
                        activation='relu',
                        input_shape=(784, 1)))  # X_train.shape[1:]
    model.add(Dense(nb_classes))
    model.add(Activation('softmax'))
    return model
