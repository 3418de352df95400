from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation, Flatten, Conv2D, MaxPooling2D

num_classes = 5
img_rows, img_cols = 28, 28
filters = 32
pool_size = 2
kernel_size = 3
input_shape = (img_rows, img_cols, 1)


def build():
    feature_layers = [
        Conv2D(filters, kernel_size,
               padding='valid',
               input_shape=input_shape),
        Activation('relu'),
        Conv2D(filters, kernel_size),
        Activation('relu'),
        MaxPooling2D(pool_size=pool_size),
        Dropout(0.25),
        Flatten(),
    ]
    classification_layers = [
        Dense(128),
        Activation('relu'),
        Dropout(0.5),
        Dense(num_classes),
        Activation('softmax')
    ]
    model = Sequential(feature_layers + classification_layers)
    # freeze feature layers and rebuild model
    for l in feature_layers:
        l.trainable = False
    return model
