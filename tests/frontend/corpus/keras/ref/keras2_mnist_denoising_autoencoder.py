from keras.layers import Activation, Dense, Input, Conv2D, Flatten, Reshape, Conv2DTranspose
from keras.models import Model

image_size = 28
input_shape = (image_size, image_size, 1)
kernel_size = 3
latent_dim = 16
layer_filters = [32, 64]


def build():
    inputs = Input(shape=input_shape, name='encoder_input')
    x = inputs
    for filters in layer_filters:
        x = Conv2D(filters=filters, kernel_size=kernel_size, strides=2,
                   activation='relu', padding='same')(x)
    shape = x.shape  # K.int_shape(x) in Keras 2
    x = Flatten()(x)
    latent = Dense(latent_dim, name='latent_vector')(x)
    encoder = Model(inputs, latent, name='encoder')
    latent_inputs = Input(shape=(latent_dim,), name='decoder_input')
    x = Dense(shape[1] * shape[2] * shape[3])(latent_inputs)
    x = Reshape((shape[1], shape[2], shape[3]))(x)
    for filters in layer_filters[::-1]:
        x = Conv2DTranspose(filters=filters, kernel_size=kernel_size, strides=2,
                            activation='relu', padding='same')(x)
    x = Conv2DTranspose(filters=1, kernel_size=kernel_size, padding='same')(x)
    outputs = Activation('sigmoid', name='decoder_output')(x)
    decoder = Model(latent_inputs, outputs, name='decoder')
    autoencoder = Model(inputs, decoder(encoder(inputs)), name='autoencoder')
    return autoencoder
